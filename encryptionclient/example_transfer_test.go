package encryptionclient_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/materials"
)

// newExampleClient is the client of the transfer examples: the default AWS
// configuration and a KMS key.
func newExampleClient(ctx context.Context) *encryptionclient.Client {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		log.Fatal(err)
	}
	keyring, err := materials.NewKMSKeyring(kms.NewFromConfig(cfg), "alias/example")
	if err != nil {
		log.Fatal(err)
	}
	client, err := encryptionclient.New(s3.NewFromConfig(cfg), keyring)
	if err != nil {
		log.Fatal(err)
	}
	return client
}

// Uploading a stream of unknown length, such as standard input: above the
// threshold it becomes a multipart upload whose parts are encrypted and
// sent in parallel.
func ExampleClient_Upload() {
	ctx := context.Background()
	client := newExampleClient(ctx)

	out, err := client.Upload(ctx, &s3.PutObjectInput{
		Bucket:      aws.String("example-bucket"),
		Key:         aws.String("logs/today.txt"),
		Body:        os.Stdin,
		ContentType: aws.String("text/plain"),
	}, func(o *encryptionclient.UploadOptions) {
		o.Concurrency = 2 // memory: about 2 × 8 MiB part buffers
	})
	var left *encryptionclient.UploadAbortError
	if errors.As(err, &left) {
		log.Fatalf("upload %s could not be aborted: %v", left.UploadID, err)
	}
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(out.Size, "bytes in", out.Parts, "parts")
}

// Downloading into a file: the object is fetched with parallel ranged GETs
// and authenticated before the file appears.
func ExampleClient_DownloadFile() {
	ctx := context.Background()
	client := newExampleClient(ctx)

	n, err := client.DownloadFile(ctx, "report.csv", &s3.GetObjectInput{Bucket: aws.String("example-bucket"), Key: aws.String("report.csv")},
		func(o *encryptionclient.DownloadOptions) { o.Concurrency = 8 }) // default 4
	if errors.Is(err, encryptionclient.ErrAuthentication) {
		log.Fatal("the object was altered; no file was written")
	}
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(n, "bytes written to report.csv")
}

// The low-level multipart API: the part size is fixed at creation, parts
// go in any order and at once, the last part is declared and sent after
// the others.
func ExampleClient_CreateMultipartUpload() {
	client := newExampleClient(context.Background())
	bucket, key := aws.String("example-bucket"), aws.String("video.mp4")
	const partSize = encryptionclient.MinPartSize
	data, err := os.ReadFile("video.mp4") // here: more than 3 parts, at most 4
	if err != nil {
		log.Fatal(err)
	}

	ctx := encryptionclient.WithPartSize(context.Background(), partSize)
	created, err := client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: bucket, Key: key})
	if err != nil {
		log.Fatal(err)
	}
	upload := func(ctx context.Context, num int32) error {
		part := data[int(num-1)*partSize : min(len(data), int(num)*partSize)]
		_, err := client.UploadPart(ctx, &s3.UploadPartInput{
			Bucket: bucket, Key: key, UploadId: created.UploadId, PartNumber: aws.Int32(num), Body: bytes.NewReader(part),
		})
		return err
	}
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for num := int32(1); num <= 3; num++ {
		wg.Add(1)
		go func() { defer wg.Done(); errs[num-1] = upload(context.Background(), num) }()
	}
	wg.Wait()
	if err := errors.Join(append(errs, upload(encryptionclient.WithLastPart(context.Background()), 4))...); err != nil {
		client.AbortMultipartUpload(context.Background(), &s3.AbortMultipartUploadInput{Bucket: bucket, Key: key, UploadId: created.UploadId})
		log.Fatal(err)
	}
	// With no parts list, the client completes with the parts it sent.
	if _, err := client.CompleteMultipartUpload(context.Background(), &s3.CompleteMultipartUploadInput{
		Bucket: bucket, Key: key, UploadId: created.UploadId,
	}); err != nil {
		log.Fatal(err)
	}
}
