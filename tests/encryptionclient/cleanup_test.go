package encryptionclient_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/s3ec/s3ec-go/encryptionclient"
)

// failInstructionPuts makes the server refuse (403) every plain PutObject
// of an instruction file (not copies).
type failInstructionPuts struct{ next http.RoundTripper }

func (f failInstructionPuts) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPut && r.Header.Get("X-Amz-Copy-Source") == "" && strings.HasSuffix(r.URL.Path, ".instruction") {
		if r.Body != nil {
			io.Copy(io.Discard, r.Body)
			r.Body.Close()
		}
		return accessDenied(r), nil
	}
	return f.next.RoundTrip(r)
}

// A write whose instruction file fails is removed again, but in a versioned
// bucket only the version it wrote: the version that was current before
// stays current and readable (no delete marker hides it). For PutObject,
// Upload (multipart) and CompleteMultipartUpload.
func TestUnreadableWriteCleanupKeepsPreviousVersion(t *testing.T) {
	writes := map[string]func(c *encryptionclient.Client, bucket, key string, data []byte) error{
		"PutObject": func(c *encryptionclient.Client, bucket, key string, data []byte) error {
			_, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(data)})
			return err
		},
		"Upload": func(c *encryptionclient.Client, bucket, key string, data []byte) error {
			_, err := c.Upload(context.Background(), &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(data)},
				func(o *encryptionclient.UploadOptions) { o.PartSize = 5 << 20; o.Threshold = 1 })
			return err
		},
		"CompleteMultipartUpload": func(c *encryptionclient.Client, bucket, key string, data []byte) error {
			ctx := context.Background()
			cr, err := c.CreateMultipartUpload(encryptionclient.WithPartSize(ctx, 5<<20), &s3.CreateMultipartUploadInput{Bucket: &bucket, Key: &key})
			if err != nil {
				return err
			}
			up, err := c.UploadPart(encryptionclient.WithLastPart(ctx), &s3.UploadPartInput{
				Bucket: &bucket, Key: &key, UploadId: cr.UploadId, PartNumber: aws.Int32(1), Body: bytes.NewReader(data),
			})
			if err != nil {
				return err
			}
			_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
				Bucket: &bucket, Key: &key, UploadId: cr.UploadId,
				MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: up.ETag}}},
			})
			return err
		},
	}
	for name, write := range writes {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			e.enableVersioning()
			opt := func(o *encryptionclient.Options) { o.EnvelopeStorage = encryptionclient.StoreInstructionFile }
			c := e.client(e.krs["aes"], opt)
			if err := e.put(c, context.Background(), "obj", []byte("first version")); err != nil {
				t.Fatal(err)
			}
			failing, err := encryptionclient.New(e.srv.Client(func(o *s3.Options) {
				o.HTTPClient = &http.Client{Transport: failInstructionPuts{http.DefaultTransport}}
			}), e.krs["aes"], opt)
			if err != nil {
				t.Fatal(err)
			}
			err = write(failing, e.bucket, "obj", []byte("second version, never readable"))
			if err == nil {
				t.Fatal("the write succeeded without its instruction file")
			}
			if !strings.Contains(err.Error(), "denied by test") {
				t.Fatalf("the write failed, but not at its instruction file: %v", err)
			}
			got, err := e.get(c, context.Background(), "obj")
			if err != nil || string(got) != "first version" {
				t.Fatalf("after the failed write the key reads %q, %v; want the previous version", got, err)
			}
		})
	}
}
