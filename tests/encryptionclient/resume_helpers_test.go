package encryptionclient_test

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/materials"
)

// tokenBox keeps the resume tokens an Upload delivers.
type tokenBox struct {
	mu   sync.Mutex
	last []byte
	n    int
	// fail, when set, is returned by the call with that number (1-based).
	failAt int
	err    error
}

func (b *tokenBox) save(tok []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.n++
	if b.failAt != 0 && b.n >= b.failAt {
		return b.err
	}
	b.last = bytes.Clone(tok)
	return nil
}

func (b *tokenBox) token() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.last)
}

// resumeParts is the number of parts of the resume tests' objects: the
// last one short, so that it is no multiple of the part size.
const resumeParts = 8

// resumeData returns the plaintext of a resume test: resumeParts parts.
func (e *env) resumeData() []byte {
	return randBytes(e.t, int(e.testPartSize())*(resumeParts-1)+1234)
}

// interruptedUpload starts a resumable Upload of data and cancels it once
// `after` parts were uploaded; it returns the last token delivered and the
// upload id left open.
func (e *env) interruptedUpload(c *encryptionclient.Client, key string, data []byte, after int) ([]byte, string) {
	e.t.Helper()
	return e.interruptedUploadOf(c, &s3.PutObjectInput{Bucket: &e.bucket, Key: aws.String(key), Body: bytes.NewReader(data)}, after)
}

// interruptedUploadOf is interruptedUpload of in.
func (e *env) interruptedUploadOf(c *encryptionclient.Client, in *s3.PutObjectInput, after int) ([]byte, string) {
	e.t.Helper()
	ctx, cancel := context.WithCancel(e.uploadCtx(context.Background()))
	defer cancel()
	box := &tokenBox{}
	_, err := c.Upload(ctx, in,
		e.uploadOpts(func(o *encryptionclient.UploadOptions) {
			o.Concurrency = 2
			o.OnResumeToken = box.save
			o.Progress = func(done int64) {
				if done >= int64(after)*e.testPartSize() {
					cancel()
				}
			}
		})...)
	var left *encryptionclient.UploadInterruptedError
	if !errors.As(err, &left) || !errors.Is(err, context.Canceled) {
		e.t.Fatalf("interrupted Upload: %v, want an *UploadInterruptedError for context.Canceled", err)
	}
	if box.n == 0 {
		e.t.Fatal("no token was delivered")
	}
	found := false
	for _, u := range e.multipartUploads() {
		found = found || aws.ToString(u.UploadId) == left.UploadID
	}
	if !found {
		e.t.Fatalf("upload %s was not left open", left.UploadID)
	}
	return box.token(), left.UploadID
}

// resume continues an Upload from tok.
func (e *env) resume(c *encryptionclient.Client, key string, data []byte, tok []byte, more ...func(*encryptionclient.UploadOptions)) (*encryptionclient.UploadOutput, error) {
	return c.Upload(e.uploadCtx(context.Background()), &s3.PutObjectInput{Bucket: &e.bucket, Key: aws.String(key), Body: bytes.NewReader(data)},
		e.uploadOpts(append([]func(*encryptionclient.UploadOptions){func(o *encryptionclient.UploadOptions) { o.ResumeToken = tok }}, more...)...)...)
}

// mustStoreExactly checks that key holds the ciphertext an uninterrupted
// encryption of data under the stored envelope's data key gives: the
// stored bytes equal crypto/cipher's AES-GCM Seal of the whole plaintext
// with the key, nonce and additional data the envelope yields (kr unwraps
// the key). It also reads the object back through the client.
func (e *env) mustStoreExactly(c *encryptionclient.Client, kr materials.Keyring, key string, data []byte) {
	e.t.Helper()
	raw, meta, err := e.raw(key)
	if err != nil {
		e.t.Fatal(err)
	}
	var instr []byte // the instruction file, when the envelope is there
	if envelope.HasInstructionFileMark(meta) || meta["x-amz-3"] == "" && meta["x-amz-key-v2"] == "" {
		if instr, _, err = e.raw(key + envelope.DefaultInstructionSuffix); err != nil {
			e.t.Fatal(err)
		}
	}
	env, err := envelope.Decode(meta, instr)
	if err != nil {
		e.t.Fatal(err)
	}
	dk, err := kr.DecryptDataKey(context.Background(), &materials.DecryptionRequest{
		Suite: env.Suite,
		Key:   materials.EncryptedDataKey{WrapAlgorithm: env.WrapAlgorithm, Ciphertext: env.EncryptedKey, Description: env.Description},
	})
	if err != nil {
		e.t.Fatal(err)
	}
	params, err := env.ContentParams(dk)
	if err != nil {
		e.t.Fatal(err)
	}
	block, err := aes.NewCipher(params.Key)
	if err != nil {
		e.t.Fatal(err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		e.t.Fatal(err)
	}
	if want := gcm.Seal(nil, params.Nonce, data, params.AAD); !bytes.Equal(raw, want) {
		e.t.Fatalf("the stored %d bytes are not the AES-GCM encryption of the %d bytes of plaintext under the envelope's key", len(raw), len(data))
	}
	got, err := e.get(c, context.Background(), key)
	if err != nil {
		e.t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		e.t.Fatal("the object does not read back as the plaintext")
	}
}

// uploadParts counts the UploadPart requests among a Liar's.
func uploadParts(reqs []string) int {
	n := 0
	for _, r := range reqs {
		if strings.HasPrefix(r, "PUT ") && strings.Contains(r, "partNumber=") {
			n++
		}
	}
	return n
}
