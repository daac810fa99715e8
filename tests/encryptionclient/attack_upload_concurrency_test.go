package encryptionclient_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3ec/s3ec-go/encryptionclient"
)

// TestAttackUploadHugeConcurrencyRefused: a defect an outside review found, fixed; the
// comment says what the code did before the fix.
//
// UploadOptions.Concurrency is checked for a negative value only. A huge
// one (math.MaxInt; the CLI's --concurrency takes any N ≥ 1 and passes it
// on) reaches uploader.run, which makes a channel of Concurrency + 1 part
// buffers: the runtime panics ("makechan: size out of range") and the
// process dies. Invariant (g): no panic on any input; an out-of-range
// option must be ErrInvalidInput (or be capped, e.g. at MaxUploadParts).
func TestAttackUploadHugeConcurrencyRefused(t *testing.T) {
	e := newEnv(t)
	primeUploads(t, e)
	ctx := e.uploadCtx(context.Background())
	c := e.client(e.krs["aes"])
	data := randBytes(t, 2*int(e.testPartSize())+1)
	for _, n := range []int{math.MaxInt, math.MaxInt / 2} {
		err := func() (err error) {
			defer func() {
				if r := recover(); r != nil {
					err = fmt.Errorf("panic: %v", r)
				}
			}()
			_, err = c.Upload(ctx, uploadInput(e.bucket, "rv2/conc", data, "seekable"), e.uploadOpts(func(o *encryptionclient.UploadOptions) { o.Concurrency = n })...)
			return err
		}()
		if !errors.Is(err, encryptionclient.ErrInvalidInput) {
			t.Errorf("Upload with Concurrency %d: %v, want ErrInvalidInput", n, err)
		}
	}
	if ups := e.multipartUploads(); len(ups) != 0 {
		t.Errorf("%d multipart uploads left behind", len(ups))
	}
}

// The siblings: every Concurrency has the same bound. RotatePrefix started
// one goroutine per unit of it (math.MaxInt: the process died), and
// Download and ReEncrypt take the same value from the CLI's flags.
func TestHugeConcurrencyRefusedEverywhere(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.client(e.krs["aes"])
	if err := e.put(c, ctx, "obj", randBytes(t, 100)); err != nil {
		t.Fatal(err)
	}
	n := math.MaxInt
	_, err := c.RotatePrefix(ctx, &encryptionclient.RotatePrefixInput{Bucket: &e.bucket, Keyring: e.krs["aes"], Concurrency: n})
	if !errors.Is(err, encryptionclient.ErrInvalidInput) {
		t.Errorf("RotatePrefix with Concurrency %d: %v, want ErrInvalidInput", n, err)
	}
	_, err = c.ReEncrypt(ctx, &encryptionclient.ReEncryptInput{Bucket: &e.bucket, Key: aws.String("obj"), Concurrency: n})
	if !errors.Is(err, encryptionclient.ErrInvalidInput) {
		t.Errorf("ReEncrypt with Concurrency %d: %v, want ErrInvalidInput", n, err)
	}
	_, err = c.Download(ctx, discardAt{}, &s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String("obj")}, func(o *encryptionclient.DownloadOptions) { o.Concurrency = n })
	if !errors.Is(err, encryptionclient.ErrInvalidInput) {
		t.Errorf("Download with Concurrency %d: %v, want ErrInvalidInput", n, err)
	}
}

type discardAt struct{}

func (discardAt) WriteAt(p []byte, _ int64) (int, error) { return len(p), nil }
