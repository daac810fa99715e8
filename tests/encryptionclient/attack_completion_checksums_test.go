package encryptionclient_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/s3ec/s3ec-go/encryptionclient"
)

// completionRecorder records the CompleteMultipartUpload inputs that leave
// the Client.
type completionRecorder struct {
	*s3.Client
	mu   sync.Mutex
	sent []*s3.CompleteMultipartUploadInput
}

func (r *completionRecorder) CompleteMultipartUpload(ctx context.Context, in *s3.CompleteMultipartUploadInput, optFns ...func(*s3.Options)) (*s3.CompleteMultipartUploadOutput, error) {
	r.mu.Lock()
	r.sent = append(r.sent, in)
	r.mu.Unlock()
	return r.Client.CompleteMultipartUpload(ctx, in, optFns...)
}

// TestAttackCompletionPartsListPlaintextChecksums: the Client
// refuses a checksum or ContentMD5 of the plaintext on UploadPart and on
// CompleteMultipartUpload's own fields, before anything is sent (such a
// value cannot match the ciphertext, and it is a digest of the plaintext
// handed to the server). The parts list of CompleteMultipartUpload carries
// the same fields per part (ChecksumSHA256, ChecksumCRC32, …), and the
// Client sends the caller's list as given: a SHA-256 and a CRC32 of each
// plaintext part reach S3 (which can confirm a guessed plaintext with
// them), although the Client holds the ciphertext checksums S3 answered
// and needs none from the caller.
func TestAttackCompletionPartsListPlaintextChecksums(t *testing.T) {
	e := newEnv(t)
	rec := &completionRecorder{Client: e.plain}
	c, err := encryptionclient.New(rec, e.krs["aes"])
	if err != nil {
		t.Fatal(err)
	}
	m := e.createMP(c, "mpu-list-checksums")
	defer m.abort()
	ps := e.testPartSize()
	data := randBytes(t, int(ps)+100)
	var list []types.CompletedPart
	for num, last := range []bool{false, true} {
		p := chunk(data, ps, num+1)
		out := m.mustPart(int32(num+1), p, last)
		sum := sha256.Sum256(p)
		var crc [4]byte
		binary.BigEndian.PutUint32(crc[:], crc32.ChecksumIEEE(p))
		list = append(list, types.CompletedPart{
			PartNumber: aws.Int32(int32(num + 1)), ETag: out.ETag,
			ChecksumSHA256: aws.String(base64.StdEncoding.EncodeToString(sum[:])),
			ChecksumCRC32:  aws.String(base64.StdEncoding.EncodeToString(crc[:])),
		})
	}
	_, err = m.complete(list)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, in := range rec.sent {
		for _, p := range in.MultipartUpload.Parts {
			for i, q := range list {
				if aws.ToInt32(p.PartNumber) != int32(i+1) {
					continue
				}
				if aws.ToString(p.ChecksumSHA256) == aws.ToString(q.ChecksumSHA256) || aws.ToString(p.ChecksumCRC32) == aws.ToString(q.ChecksumCRC32) {
					t.Errorf("part %d: the completion sent to S3 carries the caller's checksum of the plaintext (SHA-256 %s, CRC32 %s); Client's error: %v",
						i+1, aws.ToString(p.ChecksumSHA256), aws.ToString(p.ChecksumCRC32), err)
				}
			}
		}
	}
	if len(rec.sent) == 0 && !errors.Is(err, encryptionclient.ErrInvalidInput) {
		t.Errorf("refused, but not with ErrInvalidInput: %v", err)
	}
}
