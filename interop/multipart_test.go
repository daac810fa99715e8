package interop

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/envelope"
)

// multipartSize spans three 5 MiB parts with an odd last part.
const multipartSize = 2*encryptionclient.MinPartSize + 1<<20 + 5

// oursUpload stores data with the parallel Upload, in 5 MiB parts.
func oursUpload(policy envelope.CommitmentPolicy) putter {
	return func(ctx context.Context, t *testing.T, h *harness, key string, data []byte, ec map[string]string) error {
		if ec != nil {
			ctx = encryptionclient.WithEncryptionContext(ctx, ec)
		}
		out, err := ours(t, h, policy, encryptionclient.StoreAuto).Upload(ctx, &s3.PutObjectInput{
			Bucket: aws.String(h.bucket), Key: aws.String(key), Body: bytes.NewReader(data),
		}, func(o *encryptionclient.UploadOptions) {
			o.PartSize = encryptionclient.MinPartSize
			o.Concurrency = 3
		})
		if err == nil && out.UploadID == "" {
			return fmt.Errorf("Upload of %d bytes did not use a multipart upload", len(data))
		}
		return err
	}
}

// oursLowLevel stores data with the encrypting low-level multipart calls,
// uploading the parts in reverse order but the last one last.
func oursLowLevel(policy envelope.CommitmentPolicy) putter {
	return func(ctx context.Context, t *testing.T, h *harness, key string, data []byte, ec map[string]string) error {
		if ec != nil {
			ctx = encryptionclient.WithEncryptionContext(ctx, ec)
		}
		c := ours(t, h, policy, encryptionclient.StoreAuto)
		const part = encryptionclient.MinPartSize
		created, err := c.CreateMultipartUpload(encryptionclient.WithPartSize(ctx, part), &s3.CreateMultipartUploadInput{
			Bucket: aws.String(h.bucket), Key: aws.String(key),
		})
		if err != nil {
			return err
		}
		n := (len(data) + part - 1) / part
		parts := make([]types.CompletedPart, n)
		upload := func(i int) error {
			pctx := ctx
			if i == n-1 {
				pctx = encryptionclient.WithLastPart(ctx)
			}
			body := data[i*part : min((i+1)*part, len(data))]
			out, err := c.UploadPart(pctx, &s3.UploadPartInput{
				Bucket: aws.String(h.bucket), Key: aws.String(key), UploadId: created.UploadId,
				PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(body),
			})
			if err != nil {
				return err
			}
			parts[i] = types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.ETag}
			return nil
		}
		for i := n - 2; i >= 0; i-- {
			if err := upload(i); err != nil {
				return err
			}
		}
		if err := upload(n - 1); err != nil {
			return err
		}
		_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
			Bucket: aws.String(h.bucket), Key: aws.String(key), UploadId: created.UploadId,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
		})
		return err
	}
}

// TestOursMultipartTheirsRead: objects written by our parallel Upload and
// by our low-level multipart API are one GCM message that AWS's clients
// decrypt.
func TestOursMultipartTheirsRead(t *testing.T) {
	writers := []struct {
		name    string
		put     putter
		layout  layout
		readers []namedGetter
	}{
		{"upload-v3", oursUpload(requireBoth), v3Metadata, []namedGetter{awsV4DefaultReader, awsV4AllowDecryptReader, awsV3Reader}},
		{"upload-v2", oursUpload(forbidEnc), v2Metadata, []namedGetter{awsV3Reader, awsV4AllowDecryptReader, s3cryptoCMKReader}},
		{"low-level-v3", oursLowLevel(requireBoth), v3Metadata, []namedGetter{awsV4DefaultReader, awsV3Reader}},
		{"low-level-v2", oursLowLevel(forbidEnc), v2Metadata, []namedGetter{awsV4AllowDecryptReader, s3cryptoCMKReader}},
	}
	for _, w := range writers {
		for _, c := range contexts {
			t.Run(w.name+"/"+c.name, func(t *testing.T) {
				t.Parallel()
				ctx := context.Background()
				h := newHarness(t)
				data := plaintext(t, multipartSize)
				key := objectKey(multipartSize)
				if err := w.put(ctx, t, h, key, data, c.ec); err != nil {
					t.Fatalf("s3ec-go %s of %d bytes: %v", w.name, len(data), err)
				}
				checkStored(t, h, key, len(data), w.layout, c.ec)
				for _, r := range w.readers {
					got, err := r.get(ctx, t, h, key, c.ec)
					wantPlaintext(t, r.name+" GetObject", got, err, data)
				}
			})
		}
	}
}
