package encryptionclient_test

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3ec/s3ec-go/encryptionclient"
)

// A defect an outside review found, fixed (the comment says what the code
// did before); a sibling of the unbounded Concurrency:
// DownloadOptions.PartSize is checked for a positive multiple of 16 only.
// A huge one (math.MaxInt64 &^ 15, "one range for everything") reaches
// downloader.run, where each worker sizes its chunk buffers as
// min(downloadChunk, PartSize+TagSize): the sum overflows to a negative
// length, make panics ("makeslice: len out of range") in a worker
// goroutine, and the caller's process dies (no recover can catch it).
// The part count, (size+PartSize-1)/PartSize, overflows the same way.
// Invariant (g): an out-of-range option is ErrInvalidInput (or capped at
// the object's size), never a panic.
//
// When this test fails on the defect, the test binary itself dies with
// the panic: that is the failure.
func TestAttackDownloadHugePartSize(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.client(e.krs["aes"])
	data := randBytes(t, 5000)
	if err := e.put(c, ctx, "obj", data); err != nil {
		t.Fatal(err)
	}
	for _, ps := range []int64{math.MaxInt64 &^ 15, math.MaxInt64 - 15} {
		ps := ps &^ 15
		opt := func(o *encryptionclient.DownloadOptions) { o.PartSize = ps }
		in := &s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String("obj")}
		w := &memAt{}
		n, err := c.Download(ctx, w, in, opt)
		switch {
		case errors.Is(err, encryptionclient.ErrInvalidInput):
		case err != nil:
			t.Errorf("Download with PartSize %d: %v, want ErrInvalidInput or the object", ps, err)
		case n != int64(len(data)) || string(w.b) != string(data):
			t.Errorf("Download with PartSize %d: %d bytes, want the object's %d", ps, n, len(data))
		}
		dir := t.TempDir()
		if _, err := c.DownloadFile(ctx, filepath.Join(dir, "dst"), in, opt); err != nil && !errors.Is(err, encryptionclient.ErrInvalidInput) {
			t.Errorf("DownloadFile with PartSize %d: %v", ps, err)
		}
	}
}

// memAt is an io.WriterAt into memory.
type memAt struct{ b []byte }

func (m *memAt) WriteAt(p []byte, off int64) (int, error) {
	if end := off + int64(len(p)); end > int64(len(m.b)) {
		m.b = append(m.b, make([]byte, end-int64(len(m.b)))...)
	}
	copy(m.b[off:], p)
	return len(p), nil
}
