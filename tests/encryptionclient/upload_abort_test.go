package encryptionclient_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3ec/s3ec-go/encryptionclient"
)

// slowAbortS3 delays or refuses AbortMultipartUpload, and can cancel the
// caller's context when CompleteMultipartUpload is sent.
type slowAbortS3 struct {
	encryptionclient.S3API
	abortDelay time.Duration
	abortErr   error
	onComplete func()
}

func (s *slowAbortS3) AbortMultipartUpload(ctx context.Context, in *s3.AbortMultipartUploadInput, optFns ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error) {
	select {
	case <-time.After(s.abortDelay):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if s.abortErr != nil {
		return nil, s.abortErr
	}
	return s.S3API.AbortMultipartUpload(ctx, in, optFns...)
}

func (s *slowAbortS3) CompleteMultipartUpload(ctx context.Context, in *s3.CompleteMultipartUploadInput, optFns ...func(*s3.Options)) (*s3.CompleteMultipartUploadOutput, error) {
	if s.onComplete != nil {
		s.onComplete()
		time.Sleep(50 * time.Millisecond)
	}
	return s.S3API.CompleteMultipartUpload(ctx, in, optFns...)
}

// A cancelled Upload returns only once its abort was answered, however
// slow (issue 10 #11: it returned after a second and left the abort to a
// goroutine, which a command exiting on return cut short).
func TestUploadCancelWaitsForAbort(t *testing.T) {
	e := newEnv(t)
	slow := &slowAbortS3{S3API: e.plain, abortDelay: 1500 * time.Millisecond}
	c, err := encryptionclient.New(slow, e.krs["aes"])
	if err != nil {
		t.Fatal(err)
	}
	data := randBytes(t, 3*int(e.testPartSize()))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err = c.Upload(e.uploadCtx(ctx), uploadInput(e.bucket, "cancelled", data, "seekable"), e.uploadOpts(func(o *encryptionclient.UploadOptions) {
		o.Concurrency = 1
		o.Progress = func(int64) { cancel() }
	})...)
	mustErrorIs(t, err, context.Canceled)
	var ua *encryptionclient.UploadAbortError
	if errors.As(err, &ua) {
		t.Fatalf("the abort succeeded, yet: %v", err)
	}
	// At once, without polling: the abort is done.
	e.mustHaveNoUploads()
	if e.exists("cancelled") {
		t.Error("a cancelled upload stored the object")
	}
}

// An abort that fails is reported with the upload it left behind.
func TestUploadAbortFailureNamesUpload(t *testing.T) {
	e := newEnv(t)
	errRefused := errors.New("abort refused")
	slow := &slowAbortS3{S3API: e.plain, abortErr: errRefused}
	c, err := encryptionclient.New(slow, e.krs["aes"])
	if err != nil {
		t.Fatal(err)
	}
	data := randBytes(t, 3*int(e.testPartSize()))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err = c.Upload(e.uploadCtx(ctx), uploadInput(e.bucket, "left", data, "seekable"), e.uploadOpts(func(o *encryptionclient.UploadOptions) {
		o.Concurrency = 1
		o.Progress = func(int64) { cancel() }
	})...)
	mustErrorIs(t, err, context.Canceled)
	var ua *encryptionclient.UploadAbortError
	if !errors.As(err, &ua) || !errors.Is(ua.AbortErr, errRefused) || ua.Bucket != e.bucket || ua.Key != "left" {
		t.Fatalf("error %v (%#v), want an *UploadAbortError for s3://%s/left", err, ua, e.bucket)
	}
	out, lerr := e.plain.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: &e.bucket})
	if lerr != nil {
		t.Fatal(lerr)
	}
	if len(out.Uploads) != 1 || aws.ToString(out.Uploads[0].UploadId) != ua.UploadID {
		t.Fatalf("uploads %+v, want the one named, %s", out.Uploads, ua.UploadID)
	}
	e.plain.AbortMultipartUpload(context.Background(), &s3.AbortMultipartUploadInput{Bucket: &e.bucket, Key: aws.String("left"), UploadId: &ua.UploadID})
}

// A context cancelled while CompleteMultipartUpload is under way does not
// cut it short: Upload reports what the server did, here the object
// stored (issue 10 #11: the command reported it interrupted).
func TestUploadCancelDuringComplete(t *testing.T) {
	for _, storage := range []encryptionclient.EnvelopeStorage{encryptionclient.StoreMetadata, encryptionclient.StoreInstructionFile} {
		e := newEnv(t)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		slow := &slowAbortS3{S3API: e.plain, onComplete: cancel}
		c, err := encryptionclient.New(slow, e.krs["aes"], func(o *encryptionclient.Options) { o.EnvelopeStorage = storage })
		if err != nil {
			t.Fatal(err)
		}
		data := randBytes(t, 2*int(e.testPartSize())+5)
		out, err := c.Upload(e.uploadCtx(ctx), uploadInput(e.bucket, "completed", data, "seekable"), e.uploadOpts()...)
		if err != nil {
			t.Fatalf("storage %v: Upload: %v, although the completion was sent", storage, err)
		}
		if out.UploadID == "" || !e.exists("completed") {
			t.Fatalf("storage %v: output %+v; object stored: %v", storage, out, e.exists("completed"))
		}
		// The object is whole and readable: its instruction file, if any,
		// was written although the context was cancelled.
		if got, err := e.get(e.client(e.krs["aes"]), context.Background(), "completed"); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("storage %v: the completed upload does not read back: %v", storage, err)
		}
		e.mustHaveNoUploads()
	}
}

// The multipart copy of a Rewrap (objects over 5 GiB, or over
// MultipartThreshold) follows the rules of Upload: a cancellation during
// its completion does not cut it short, and a failed abort names the
// upload left behind.
func TestRewrapMultipartCopyInterrupted(t *testing.T) {
	e := newEnv(t)
	old := e.krs["kms"]
	newWrap, _ := e.newKeyrings(t)
	data := randBytes(t, 11<<20+5)
	if _, err := e.client(old).PutObject(context.Background(), &s3.PutObjectInput{Bucket: &e.bucket, Key: aws.String("big"), Body: bytes.NewReader(data)}); err != nil {
		t.Fatal(err)
	}
	in := &encryptionclient.RewrapInput{Bucket: &e.bucket, Key: aws.String("big"), Keyring: newWrap["kms"], MultipartThreshold: 1 << 20, PartSize: 5 << 20}

	// Cancelled at the first part copy, with the abort refused: the
	// error names the upload left behind.
	ctx, cancel := context.WithCancel(context.Background())
	h := newHook(e) // emulates UploadPartCopy on the fake server
	h.onPartCopy = func(*s3.UploadPartCopyInput) error { cancel(); return nil }
	c, err := encryptionclient.New(&slowAbortS3{S3API: h, abortErr: errors.New("abort refused")}, old)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Rewrap(ctx, in)
	var ua *encryptionclient.UploadAbortError
	if !errors.As(err, &ua) || ua.UploadID == "" || ua.Key != "big" {
		t.Fatalf("Rewrap with a refused abort: %v", err)
	}
	e.plain.AbortMultipartUpload(context.Background(), &s3.AbortMultipartUploadInput{Bucket: &e.bucket, Key: aws.String("big"), UploadId: &ua.UploadID})

	// Cancelled once the completion is sent: the object is rotated.
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	c, err = encryptionclient.New(&slowAbortS3{S3API: newHook(e), onComplete: cancel}, old)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Rewrap(ctx, in); err != nil {
		t.Fatalf("Rewrap cancelled during its completion: %v", err)
	}
	if got, err := e.get(e.client(newWrap["kms"]), context.Background(), "big"); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("the rotated object does not read with the new key: %v", err)
	}
	e.mustHaveNoUploads()
}
