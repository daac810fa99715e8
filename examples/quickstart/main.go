// Command quickstart shows s3ec-go end to end: it generates a local AES
// key, uploads a file through the encryption client, shows what S3 stored
// (the ciphertext, and each envelope entry with what it means) beside the
// decrypted text, and checks that they match.
//
// The example itself is Quickstart, in quickstart.go: it takes an
// *s3.Client and uses only public packages, so that you can copy it into
// your own module. This file only sets up an S3 to run it against: with
// nothing configured, an S3 server in this process; with -bucket (or
// $S3EC_EXAMPLE_BUCKET), that bucket on AWS or, with -endpoint (or
// $AWS_ENDPOINT_URL_S3), on MinIO or another S3-compatible server, with
// credentials and region from the AWS default configuration (environment,
// ~/.aws). The object it writes to a real bucket is deleted at the end.
//
//	go -C examples run ./quickstart [file]
//	AWS_ACCESS_KEY_ID=minioadmin AWS_SECRET_ACCESS_KEY=minioadmin AWS_REGION=us-east-1 \
//	  go -C examples run ./quickstart -endpoint http://localhost:9000 -bucket my-bucket
package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3ec/s3ec-go/internal/testkit/s3test"
)

func main() {
	log.SetFlags(0)
	bucket := flag.String("bucket", os.Getenv("S3EC_EXAMPLE_BUCKET"), "an existing `BUCKET` to write to (default: an in-process S3 server)")
	endpoint := flag.String("endpoint", cmp.Or(os.Getenv("AWS_ENDPOINT_URL_S3"), os.Getenv("AWS_ENDPOINT_URL")), "with -bucket, the `URL` of an S3-compatible server (MinIO: http://localhost:9000); default AWS")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: quickstart [-bucket BUCKET [-endpoint URL]] [file]")
		flag.PrintDefaults()
	}
	flag.Parse()
	plaintext := []byte("Attack at dawn. Nobody at the storage provider can read this line.\n")
	if flag.NArg() > 0 {
		b, err := os.ReadFile(flag.Arg(0))
		if err != nil {
			log.Fatal(err)
		}
		plaintext = b
	}
	if err := run(context.Background(), os.Stdout, *bucket, *endpoint, plaintext); err != nil {
		log.Fatal("quickstart: ", err)
	}
}

// run gives Quickstart an S3: the bucket on AWS or at endpoint, or with no
// bucket an in-process server.
func run(ctx context.Context, w io.Writer, bucket, endpoint string, plaintext []byte) error {
	key := "notes/secret.txt"
	var plain *s3.Client
	if bucket == "" {
		// --- Setup for running without S3: an S3 server in this
		// process (the project's test server, an internal package you
		// cannot import; use your own client instead). ---
		srv := s3test.NewFake()
		defer srv.Close()
		plain, bucket = srv.Client(), "quickstart"
		if _, err := plain.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
			return err
		}
		fmt.Fprintf(w, "S3: in-process test server (give -bucket to use AWS or MinIO)\n")
	} else {
		// --- What you would write: a client from the AWS default
		// configuration. ---
		cfg, err := config.LoadDefaultConfig(ctx)
		if err != nil {
			return err
		}
		plain = s3.NewFromConfig(cfg, func(o *s3.Options) {
			if endpoint != "" {
				o.BaseEndpoint = aws.String(endpoint)
				o.UsePathStyle = true // as MinIO and most S3-compatible servers need
			}
		})
		key = fmt.Sprintf("s3ec-examples/quickstart/%d/%s", time.Now().UnixNano(), key)
		defer func() {
			// Remove what the example wrote.
			if _, err := plain.DeleteObject(context.WithoutCancel(ctx), &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}); err != nil {
				log.Printf("quickstart: deleting s3://%s/%s: %v", bucket, key, err)
			}
		}()
		fmt.Fprintf(w, "S3: %s, bucket %s\n", cmp.Or(endpoint, "AWS, region "+cfg.Region), bucket)
	}
	return Quickstart(ctx, w, plain, bucket, key, plaintext)
}
