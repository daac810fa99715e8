package encryptionclient_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
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
			key := "resume-source-" + strings.NewReplacer(" ", "-", ",", "").Replace(tc.name)
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
	if e.srv.Real {
		// The interrupted upload had a part cut mid-request; a real
		// server may still list the upload after it was aborted, when
		// that part landed after the abort (S3 documents that an abort
		// may have to be repeated; versitygw then lists an upload it
		// answers NoSuchUpload for). Clean up; the in-process server
		// checks that nothing is left.
		for _, u := range e.multipartUploads() {
			_, _ = e.plain.AbortMultipartUpload(context.Background(), &s3.AbortMultipartUploadInput{Bucket: &e.bucket, Key: u.Key, UploadId: u.UploadId})
		}
		return
	}
	e.mustHaveNoUploads()
}

// hugePartsPage is a ListParts answer of about size bytes: parts 1, 2, …
// in order, generated as it is read; read counts the bytes taken.
type hugePartsPage struct {
	head, tail string
	size       int64
	n          int
	pending    []byte
	read       *atomic.Int64
	done       bool
}

func (h *hugePartsPage) Read(p []byte) (int, error) {
	for len(h.pending) == 0 {
		switch {
		case h.done:
			return 0, io.EOF
		case h.n == 0:
			h.pending = []byte(h.head)
		case h.read.Load() >= h.size:
			h.pending, h.done = []byte(h.tail), true
		default:
			h.pending = fmt.Appendf(nil, `<Part><PartNumber>%d</PartNumber><ETag>"x"</ETag><Size>16</Size></Part>`, h.n)
		}
		h.n++
	}
	k := copy(p, h.pending)
	h.pending = h.pending[k:]
	h.read.Add(int64(k))
	return k, nil
}

func (h *hugePartsPage) Close() error { return nil }

// A ListParts answer is decoded by the SDK before any of its parts can be
// checked, so its size is bounded before it is read: a page of tens of
// MiB (hundreds of thousands of parts, where an honest page holds at most
// the 1,000 asked for) is ErrBadResponse once a few MiB were read, for
// Upload's resume and ResumeMultipartUpload alike, and nothing is sent.
func TestAttackResumeListPartsPageBounded(t *testing.T) {
	e := newEnv(t)
	kr := e.krs["aes"]
	data := e.resumeData()
	const offered = 24 << 20
	const most = 4<<20 + 1<<20 // the bound, and room for the reads' buffers
	key := "resume-huge-list"
	tok, id := e.interruptedUpload(e.client(kr), key, data, 3)
	var read, listed atomic.Int64
	liar := &s3test.Liar{}
	liar.On(isListParts, 0, func(req *http.Request, resp *http.Response) (*http.Response, error) {
		listed.Add(1)
		resp.Body.Close()
		read.Store(0)
		resp.Body = &hugePartsPage{
			head: fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?><ListPartsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Bucket>%s</Bucket><Key>%s</Key><UploadId>%s</UploadId><MaxParts>1000</MaxParts><IsTruncated>false</IsTruncated>`, e.bucket, key, id),
			tail: `</ListPartsResult>`, size: offered, read: &read,
		}
		resp.ContentLength = -1
		resp.Header.Del("Content-Length")
		return resp, nil
	})
	c, err := encryptionclient.New(e.srv.LiarClient(liar), kr)
	if err != nil {
		t.Fatal(err)
	}
	check := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, encryptionclient.ErrBadResponse) {
			t.Fatalf("%s: %v, want ErrBadResponse", what, err)
		}
		if n := read.Load(); n > most {
			t.Fatalf("%s: %d bytes of the ListParts answer read, want at most %d", what, n, most)
		}
		if n := uploadParts(liar.Requests()); n != 0 {
			t.Fatalf("%s: %d parts sent", what, n)
		}
		if n := listed.Swap(0); n != 1 {
			t.Fatalf("%s: %d ListParts requests, want 1 (a refused answer is not retried)", what, n)
		}
	}
	_, err = e.resume(c, key, data, tok)
	check("Upload", err)
	_, err = c.ResumeMultipartUpload(e.uploadCtx(context.Background()), &encryptionclient.ResumeMultipartUploadInput{Token: tok})
	check("ResumeMultipartUpload", err)
	if _, err := e.plain.AbortMultipartUpload(context.Background(), &s3.AbortMultipartUploadInput{Bucket: &e.bucket, Key: aws.String(key), UploadId: aws.String(id)}); err != nil {
		t.Fatal(err)
	}
	e.mustHaveNoUploads()
}
