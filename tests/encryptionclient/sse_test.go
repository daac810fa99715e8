package encryptionclient_test

import (
	"bytes"
	"context"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/internal/testkit/s3test"
)

// recorder is an S3API that records the inputs of the calls the client
// makes and passes them on to a real client.
type recorder struct {
	*s3.Client
	mu   sync.Mutex
	puts []*s3.PutObjectInput
	gets []*s3.GetObjectInput
	cops []*s3.CopyObjectInput
}

func (r *recorder) PutObject(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	r.mu.Lock()
	r.puts = append(r.puts, in)
	r.mu.Unlock()
	return r.Client.PutObject(ctx, in, optFns...)
}

func (r *recorder) GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	r.mu.Lock()
	r.gets = append(r.gets, in)
	r.mu.Unlock()
	return r.Client.GetObject(ctx, in, optFns...)
}

func (r *recorder) CopyObject(ctx context.Context, in *s3.CopyObjectInput, optFns ...func(*s3.Options)) (*s3.CopyObjectOutput, error) {
	r.mu.Lock()
	r.cops = append(r.cops, in)
	r.mu.Unlock()
	return r.Client.CopyObject(ctx, in, optFns...)
}

// Server-side encryption settings ride on every request the client makes,
// instruction files included; SSE-C works over HTTPS.
func TestSSESettingsKeptOnEveryCall(t *testing.T) {
	srv := s3test.NewFakeTLS()
	defer srv.Close()
	plain := srv.Client()
	bucket := srv.CreateBucket(t, plain)
	rec := &recorder{Client: plain}
	e := newEnv(t)
	c, err := encryptionclient.New(rec, e.krs["aes"], func(o *encryptionclient.Options) {
		o.EnvelopeStorage = encryptionclient.StoreInstructionFile
	})
	if err != nil {
		t.Fatal(err)
	}
	ssecKey := aws.String("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
	ssecMD5 := aws.String("jsZ9oKDLHx5VpZcc+8Vu7Q==")
	in := &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String("sse"), Body: bytes.NewReader([]byte("payload")),
		SSECustomerAlgorithm: aws.String("AES256"), SSECustomerKey: ssecKey, SSECustomerKeyMD5: ssecMD5,
		StorageClass: types.StorageClassStandardIa,
	}
	if _, err := c.PutObject(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	if len(rec.puts) != 2 {
		t.Fatalf("%d PutObject calls, want object + instruction file", len(rec.puts))
	}
	for _, p := range rec.puts {
		if aws.ToString(p.SSECustomerKey) != *ssecKey || aws.ToString(p.SSECustomerAlgorithm) != "AES256" || p.StorageClass != types.StorageClassStandardIa {
			t.Fatalf("PutObject of %s lost SSE-C or storage class", aws.ToString(p.Key))
		}
	}
	out, err := c.GetObject(context.Background(), &s3.GetObjectInput{
		Bucket: aws.String(bucket), Key: aws.String("sse"),
		SSECustomerAlgorithm: aws.String("AES256"), SSECustomerKey: ssecKey, SSECustomerKeyMD5: ssecMD5,
	})
	if err != nil {
		t.Fatal(err)
	}
	out.Body.Close()
	if len(rec.gets) != 2 {
		t.Fatalf("%d GetObject calls, want object + instruction file", len(rec.gets))
	}
	for _, g := range rec.gets {
		if aws.ToString(g.SSECustomerKey) != *ssecKey {
			t.Fatalf("GetObject of %s lost SSE-C", aws.ToString(g.Key))
		}
	}
	if _, err := c.CopyObject(context.Background(), &s3.CopyObjectInput{
		Bucket: aws.String(bucket), Key: aws.String("sse-copy"), CopySource: aws.String(bucket + "/sse"),
		ServerSideEncryption:           types.ServerSideEncryptionAes256,
		CopySourceSSECustomerAlgorithm: aws.String("AES256"), CopySourceSSECustomerKey: ssecKey, CopySourceSSECustomerKeyMD5: ssecMD5,
	}); err != nil {
		t.Fatal(err)
	}
	if len(rec.cops) != 2 {
		t.Fatalf("%d CopyObject calls, want object + instruction file", len(rec.cops))
	}
	for _, cp := range rec.cops {
		if cp.ServerSideEncryption != types.ServerSideEncryptionAes256 || aws.ToString(cp.CopySourceSSECustomerKey) != *ssecKey {
			t.Fatalf("CopyObject of %s lost SSE settings", aws.ToString(cp.Key))
		}
	}
}
