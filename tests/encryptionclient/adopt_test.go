package encryptionclient_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/envelope"
)

// Adopt encrypts unencrypted objects in place, small and multipart-sized,
// keeping their metadata and content headers; the GET asks for checksum
// validation and is pinned to the ETag read, and the write is conditional
// on it.
func TestAdoptEncryptsInPlace(t *testing.T) {
	e := newEnv(t)
	partSize, threshold, size := e.mpSizes()
	for _, name := range []string{"kms", "aes"} {
		for _, n := range []int{0, 33, size} {
			key := "plain-" + name
			pt := randBytes(t, n)
			_, err := e.plain.PutObject(context.Background(), &s3.PutObjectInput{
				Bucket: &e.bucket, Key: &key, Body: bytes.NewReader(pt),
				Metadata: map[string]string{"owner": "carol"}, ContentType: aws.String("application/x-plain"),
			})
			if err != nil {
				t.Fatal(err)
			}
			etag := aws.ToString(e.head(key).ETag)
			h := newRW(e)
			var gets []*s3.GetObjectInput
			h.onGet = func(in *s3.GetObjectInput, _ *s3.GetObjectOutput) {
				if aws.ToString(in.Key) == key {
					gets = append(gets, in)
				}
			}
			kr := e.krs[name]
			ec := map[string]string{"adopted": "yes"}
			if name == "aes" {
				ec = nil
			}
			out, err := e.rwClient(h, kr).Adopt(e.smallParts(context.Background()), &encryptionclient.AdoptInput{
				Bucket: &e.bucket, Key: &key, EncryptionContext: ec, MultipartThreshold: threshold, PartSize: partSize,
			})
			if err != nil {
				t.Fatalf("%s %d bytes: %v", name, n, err)
			}
			if out.To != envelope.FormatV3 || out.Size != int64(n) || out.Multipart != (int64(n) > threshold) || out.ETag == nil || !slicesEqual(out.NotKept, []string{"ACL"}) {
				t.Fatalf("%s %d bytes: output %+v", name, n, out)
			}
			if len(gets) != 1 || gets[0].ChecksumMode != types.ChecksumModeEnabled || aws.ToString(gets[0].IfMatch) != etag {
				t.Fatalf("%s %d bytes: the GET is not pinned with checksums: %+v", name, n, gets)
			}
			if out.Multipart {
				if aws.ToString(h.completes[0].IfMatch) != etag {
					t.Fatal("CompleteMultipartUpload not conditional")
				}
			} else if aws.ToString(h.puts[0].IfMatch) != etag {
				t.Fatal("PutObject not conditional")
			}
			raw, meta, err := e.raw(key)
			if err != nil {
				t.Fatal(err)
			}
			if n > 0 && bytes.Contains(raw, pt) {
				t.Fatalf("%s %d bytes: the plaintext is still stored", name, n)
			}
			if meta["owner"] != "carol" || aws.ToString(e.head(key).ContentType) != "application/x-plain" {
				t.Fatalf("%s %d bytes: metadata or headers lost: %v", name, n, meta)
			}
			ctx := encryptionclient.WithEncryptionContext(context.Background(), ec)
			if got, err := e.get(e.client(kr), ctx, key); err != nil || !bytes.Equal(got, pt) {
				t.Fatalf("%s %d bytes: read back: %v", name, n, err)
			}
		}
	}
	if n := e.leftUploads(); n != 0 {
		t.Fatalf("%d multipart uploads left", n)
	}
}

// An object that carries an envelope is never adopted (encrypted twice):
// ErrAlreadyEncrypted for envelopes in metadata, in an instruction file
// only (V2), for instruction files themselves, and nothing is written.
func TestAdoptRefusesEncryptedObjects(t *testing.T) {
	e := newEnv(t)
	kr := e.krs["aes"]
	if err := e.put(e.client(kr), context.Background(), "v3", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := e.put(e.client(kr, writeV2, func(o *encryptionclient.Options) { o.EnvelopeStorage = encryptionclient.StoreInstructionFile }), context.Background(), "v2instr", []byte("y")); err != nil {
		t.Fatal(err)
	}
	h := newRW(e)
	c := e.rwClient(h, kr)
	for _, key := range []string{"v3", "v2instr", "v2instr.instruction"} {
		_, err := c.Adopt(context.Background(), &encryptionclient.AdoptInput{Bucket: &e.bucket, Key: aws.String(key)})
		mustErrorIs(t, err, encryptionclient.ErrAlreadyEncrypted)
		var oe *encryptionclient.ObjectError
		if !errors.As(err, &oe) || oe.Op != "Adopt" {
			t.Fatalf("%s: %v is not an ObjectError of Adopt", key, err)
		}
	}
	// Dry runs write nothing either.
	e.putRaw("plain", []byte("plain"), nil)
	out, err := c.Adopt(context.Background(), &encryptionclient.AdoptInput{Bucket: &e.bucket, Key: aws.String("plain"), DryRun: true})
	if err != nil || out.ETag != nil || out.Size != 5 {
		t.Fatalf("dry run: %+v %v", out, err)
	}
	if h.nWrites() != 0 {
		t.Fatalf("writes %v", h.writes)
	}
	if got, _, _ := e.raw("plain"); string(got) != "plain" {
		t.Fatal("the dry run changed the object")
	}
}

// shortBody ends after n bytes although the response announced more.
type shortBody struct {
	r io.Reader
	c io.Closer
}

func (s *shortBody) Read(p []byte) (int, error) { return s.r.Read(p) }
func (s *shortBody) Close() error               { return s.c.Close() }

// A source body shorter than its Content-Length (a cut connection, a lying
// server) is refused, on both paths, and nothing is stored: no PutObject,
// no completed upload, no upload left, the source untouched.
func TestAdoptTruncatedSourceWritesNothing(t *testing.T) {
	e := newEnv(t)
	partSize, threshold, size := e.mpSizes()
	for _, n := range []int{100, size} {
		key := "cut"
		pt := randBytes(t, n)
		e.putRaw(key, pt, nil)
		h := newRW(e)
		h.onGet = func(in *s3.GetObjectInput, out *s3.GetObjectOutput) {
			if aws.ToString(in.Key) == key {
				out.Body = &shortBody{r: io.LimitReader(out.Body, int64(n-10)), c: out.Body}
			}
		}
		_, err := e.rwClient(h, e.krs["aes"]).Adopt(e.smallParts(context.Background()), &encryptionclient.AdoptInput{
			Bucket: &e.bucket, Key: &key, MultipartThreshold: threshold, PartSize: partSize,
		})
		mustErrorIs(t, err, encryptionclient.ErrTruncated)
		if h.writes["PutObject"] != 0 || h.writes["CompleteMultipartUpload"] != 0 {
			t.Fatalf("%d bytes: writes %v", n, h.writes)
		}
		if got, _, _ := e.raw(key); !bytes.Equal(got, pt) {
			t.Fatalf("%d bytes: the source changed", n)
		}
		if m := e.leftUploads(); m != 0 {
			t.Fatalf("%d multipart uploads left", m)
		}
	}
}

// A concurrent writer's object survives an Adopt.
func TestAdoptConcurrentWriterWins(t *testing.T) {
	e := newEnv(t)
	e.putRaw("raced", []byte("original"), nil)
	h := newRW(e)
	h.beforeWrite = func(k string) {
		if k == "raced" {
			h.beforeWrite = nil
			e.putRaw("raced", []byte("theirs"), nil)
		}
	}
	_, err := e.rwClient(h, e.krs["aes"]).Adopt(context.Background(), &encryptionclient.AdoptInput{Bucket: &e.bucket, Key: aws.String("raced")})
	mustErrorIs(t, err, encryptionclient.ErrObjectChanged)
	if got, _, _ := e.raw("raced"); string(got) != "theirs" {
		t.Fatalf("stored %q", got)
	}
}
