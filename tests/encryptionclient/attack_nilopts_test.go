package encryptionclient_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/materials"
)

// A nil option function (say, from a helper that returns nil when there
// is nothing to set) sets nothing: every constructor and operation that
// takes option functions ignores it, instead of panicking. (The SDK's own
// constructors call each function unconditionally.)
func TestAttackNilOptionFuncs(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	noPanic := func(name string, f func() error) {
		t.Helper()
		defer func() {
			if r := recover(); r != nil {
				t.Errorf("%s panicked on a nil option function: %v", name, r)
			}
		}()
		if err := f(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	var c *encryptionclient.Client
	noPanic("encryptionclient.New", func() error {
		var err error
		c, err = encryptionclient.New(e.plain, e.krs["aes"], nil, func(o *encryptionclient.Options) { o.BufferSize = 1 << 20 }, nil)
		if err == nil && c.Options().BufferSize != 1<<20 {
			t.Errorf("the option after a nil one was not applied: BufferSize %d", c.Options().BufferSize)
		}
		return err
	})
	if c == nil {
		t.FailNow()
	}
	want := []byte("nil options set nothing")
	noPanic("PutObject", func() error {
		_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &e.bucket, Key: aws.String("k"), Body: bytes.NewReader(want)}, nil)
		return err
	})
	noPanic("GetObject", func() error {
		out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String("k")}, nil)
		if err != nil {
			return err
		}
		defer out.Body.Close()
		var got bytes.Buffer
		if _, err := got.ReadFrom(out.Body); err != nil {
			return err
		}
		if !bytes.Equal(got.Bytes(), want) {
			t.Errorf("GetObject returned %q, want %q", got.Bytes(), want)
		}
		return nil
	})
	noPanic("HeadObject", func() error {
		_, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &e.bucket, Key: aws.String("k")}, nil)
		return err
	})
	noPanic("Download", func() error {
		w := &sliceWriterAt{}
		_, err := c.Download(ctx, w, &s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String("k")}, nil)
		return err
	})
	noPanic("Upload", func() error {
		_, err := c.Upload(ctx, &s3.PutObjectInput{Bucket: &e.bucket, Key: aws.String("u"), Body: bytes.NewReader(want)}, nil)
		return err
	})
	noPanic("ForTransferManager", func() error {
		_, err := c.ForTransferManager(nil)
		return err
	})
	noPanic("DownloadFile", func() error {
		_, err := c.DownloadFile(ctx, filepath.Join(t.TempDir(), "f"), &s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String("k")}, nil)
		return err
	})
	noPanic("materials.NewAESKeyring", func() error {
		_, err := materials.NewAESKeyring(make([]byte, 32), nil)
		return err
	})
	noPanic("materials.NewRSAKeyring", func() error {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return err
		}
		_, err = materials.NewRSAKeyring(&k.PublicKey, k, nil)
		return err
	})
	noPanic("materials.NewKMSKeyring", func() error {
		_, err := materials.NewKMSKeyring(e.kms.Client(), e.keyARN, nil)
		return err
	})
	noPanic("materials.NewKMSDiscoveryKeyring", func() error {
		_, err := materials.NewKMSDiscoveryKeyring(e.kms.Client(), nil)
		return err
	})
	noPanic("materials.NewCachingKeyring", func() error {
		_, err := materials.NewCachingKeyring(e.krs["aes"], nil)
		return err
	})
}

// sliceWriterAt is an io.WriterAt into memory.
type sliceWriterAt struct{ b []byte }

func (w *sliceWriterAt) WriteAt(p []byte, off int64) (int, error) {
	if end := int(off) + len(p); end > len(w.b) {
		w.b = append(w.b, make([]byte, end-len(w.b))...)
	}
	return copy(w.b[off:], p), nil
}
