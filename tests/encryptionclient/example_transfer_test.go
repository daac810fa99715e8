package encryptionclient_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/materials"
)

// exampleClient returns an encryption client with a local AES keyring over
// an in-process S3 server; use NewKMSKeyring and real S3 in production.
func exampleClient() (*encryptionclient.Client, func()) {
	s3Client, stop := exampleS3()
	keyring, err := materials.NewAESKeyring(bytes.Repeat([]byte{0x42}, 32))
	if err != nil {
		log.Fatal(err)
	}
	client, err := encryptionclient.New(s3Client, keyring)
	if err != nil {
		log.Fatal(err)
	}
	return client, stop
}

// Uploading a stream of unknown length: above the threshold it becomes a
// multipart upload whose parts are encrypted and sent in parallel.
func ExampleClient_Upload() {
	client, stop := exampleClient()
	defer stop()

	// 20 MiB that cannot seek and has no ContentLength, like a pipe.
	body := io.LimitReader(strings.NewReader(strings.Repeat("log line\n", 3<<20)), 20<<20)
	out, err := client.Upload(context.Background(), &s3.PutObjectInput{
		Bucket:      aws.String("example-bucket"),
		Key:         aws.String("logs/today.txt"),
		Body:        body,
		ContentType: aws.String("text/plain"),
	}, func(o *encryptionclient.UploadOptions) {
		o.Concurrency = 2 // memory: about 2 × 8 MiB part buffers
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(out.Size, "bytes in", out.Parts, "parts")
	// Output: 20971520 bytes in 3 parts
}

// Downloading into a file: the object is fetched with parallel ranged GETs
// and authenticated before the file appears.
func ExampleClient_DownloadFile() {
	client, stop := exampleClient()
	defer stop()
	ctx := context.Background()
	_, err := client.Upload(ctx, &s3.PutObjectInput{
		Bucket: aws.String("example-bucket"), Key: aws.String("report.csv"),
		Body: strings.NewReader(strings.Repeat("a,b,c\n", 100_000)),
	})
	if err != nil {
		log.Fatal(err)
	}

	dir, err := os.MkdirTemp("", "example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "report.csv")
	n, err := client.DownloadFile(ctx, path, &s3.GetObjectInput{Bucket: aws.String("example-bucket"), Key: aws.String("report.csv")},
		func(o *encryptionclient.DownloadOptions) { o.PartSize = 64 << 10 })
	if errors.Is(err, encryptionclient.ErrAuthentication) {
		log.Fatal("the object was altered; no file was written")
	}
	if err != nil {
		log.Fatal(err)
	}
	fi, _ := os.Stat(path)
	fmt.Println(n, fi.Size())
	// Output: 600000 600000
}

// The low-level multipart API: the part size is fixed at creation, parts
// go in any order and at once, the last part is declared and sent after
// the others.
func ExampleClient_CreateMultipartUpload() {
	client, stop := exampleClient()
	defer stop()
	bucket, key := aws.String("example-bucket"), aws.String("video.mp4")
	const partSize = encryptionclient.MinPartSize
	data := bytes.Repeat([]byte("frame"), 3*partSize/5+1000) // 3 full parts and 5000 bytes

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

	head, err := client.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: bucket, Key: key})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(aws.ToInt64(head.ContentLength) == int64(len(data)))
	// Output: true
}
