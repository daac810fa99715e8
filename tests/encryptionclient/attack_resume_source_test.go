package encryptionclient_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/internal/engine/streamio"
	"github.com/s3ec/s3ec-go/internal/testkit/s3test"
)

// errSourceTail is the error a verifying source (a gzip.Reader, a reader
// that checks a digest at its end) returns together with its last bytes.
var errSourceTail = errors.New("test source: the digest over the last bytes does not match")

// tailErrSeeker is an io.ReadSeeker, and no io.ReaderAt, whose Read
// returns the last bytes of its data together with errSourceTail.
type tailErrSeeker struct{ r *bytes.Reader }

func (s *tailErrSeeker) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if n > 0 && s.r.Len() == 0 {
		return n, errSourceTail
	}
	return n, err
}

func (s *tailErrSeeker) Seek(off int64, whence int) (int64, error) { return s.r.Seek(off, whence) }

// tailErrReaderAt is an io.ReaderAt whose ReadAt returns the last bytes of
// its data, all of them, together with errSourceTail.
type tailErrReaderAt struct {
	*tailErrSeeker
	data []byte
}

func (s tailErrReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(s.data)) {
		return 0, io.EOF
	}
	n := copy(p, s.data[off:])
	switch {
	case n < len(p):
		return n, io.EOF
	case off+int64(n) == int64(len(s.data)):
		return n, errSourceTail
	}
	return n, nil
}

// badCountSeeker is an io.ReadSeeker whose Read reports a negative count.
type badCountSeeker struct{ r *bytes.Reader }

func (s *badCountSeeker) Read([]byte) (int, error)                  { return -1, nil }
func (s *badCountSeeker) Seek(off int64, whence int) (int64, error) { return s.r.Seek(off, whence) }

// The caller's source, read again by a resume: a resumed Upload treats
// its errors as Upload does (TestSourceErrorFailsUpload). An error that a
// source returns together with the last bytes of a part (io.ReaderAt or
// io.ReadSeeker alike) fails the resume, and those bytes are neither
// encrypted nor sent; a source that reports an impossible count fails
// with streamio.ErrInvalidCount instead of panicking. No object is
// stored. The same sources fail a fresh Upload the same way.
func TestAttackResumeSourceErrorsAreKept(t *testing.T) {
	e := newEnv(t)
	kr := e.krs["aes"]
	data := e.resumeData()
	for _, tc := range []struct {
		name string
		body func() io.Reader
		want error
	}{
		{"ReadSeeker, error with the last bytes", func() io.Reader { return &tailErrSeeker{bytes.NewReader(data)} }, errSourceTail},
		{"ReaderAt, error with the last bytes", func() io.Reader { return tailErrReaderAt{&tailErrSeeker{bytes.NewReader(data)}, data} }, errSourceTail},
		{"ReadSeeker, negative count", func() io.Reader { return &badCountSeeker{bytes.NewReader(data)} }, streamio.ErrInvalidCount},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := "resume-source-" + strings.ReplaceAll(tc.name, " ", "-")
			// A fresh Upload of the source fails with its error.
			_, err := e.client(kr).Upload(e.uploadCtx(context.Background()), &s3.PutObjectInput{Bucket: &e.bucket, Key: aws.String(key), Body: tc.body()}, e.uploadOpts()...)
			if !errors.Is(err, tc.want) {
				t.Fatalf("fresh Upload: %v, want %v", err, tc.want)
			}

			tok, id := e.interruptedUpload(e.client(kr), key, data, 3)
			liar := &s3test.Liar{}
			c, err := encryptionclient.New(e.srv.LiarClient(liar), kr)
			if err != nil {
				t.Fatal(err)
			}
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Fatalf("the resume panicked: %v", r)
					}
				}()
				_, err = c.Upload(e.uploadCtx(context.Background()), &s3.PutObjectInput{Bucket: &e.bucket, Key: aws.String(key), Body: tc.body()},
					e.uploadOpts(func(o *encryptionclient.UploadOptions) { o.ResumeToken = tok })...)
			}()
			if !errors.Is(err, tc.want) {
				t.Fatalf("resume: %v, want %v", err, tc.want)
			}
			for _, r := range liar.Requests() {
				if strings.HasPrefix(r, "POST ") && strings.Contains(r, "uploadId=") {
					t.Fatalf("the upload was completed: %s", r)
				}
			}
			if _, err := e.plain.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &e.bucket, Key: aws.String(key)}); err == nil {
				t.Fatal("an object was stored from a source that failed")
			}
			// The resume aborted the upload (it failed after sending) or
			// left it as it was (it failed before); either way, clean up.
			_, _ = e.plain.AbortMultipartUpload(context.Background(), &s3.AbortMultipartUploadInput{Bucket: &e.bucket, Key: aws.String(key), UploadId: aws.String(id)})
		})
	}
	e.mustHaveNoUploads()
}
