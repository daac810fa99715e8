package encryptionclient_test

// The runnable versions of the package's examples: the same calls as
// encryptionclient/example*_test.go, on the in-process S3 server and the
// KMS test server, with checked output. (The package's own examples only
// compile: they need AWS.)

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/internal/testkit/kmstest"
	"github.com/s3ec/s3ec-go/internal/testkit/s3test"
	"github.com/s3ec/s3ec-go/materials"
)

// exampleS3 starts an in-process S3 server with a bucket; with real S3 use
// s3.NewFromConfig(cfg).
func exampleS3() (*s3.Client, func()) {
	srv := s3test.NewFake()
	c := srv.Client()
	if _, err := c.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String("example-bucket")}); err != nil {
		log.Fatal(err)
	}
	return c, srv.Close
}

func Example() {
	s3Client, stop := exampleS3()
	defer stop()
	ctx := context.Background()

	// A local AES master key; use NewKMSKeyring with AWS KMS in production.
	keyring, err := materials.NewAESKeyring(bytes.Repeat([]byte{0x42}, 32))
	if err != nil {
		log.Fatal(err)
	}
	client, err := encryptionclient.New(s3Client, keyring)
	if err != nil {
		log.Fatal(err)
	}

	_, err = client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String("example-bucket"),
		Key:    aws.String("hello.txt"),
		Body:   strings.NewReader("hello, encrypted world"),
	})
	if err != nil {
		log.Fatal(err)
	}
	out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("example-bucket"), Key: aws.String("hello.txt")})
	if err != nil {
		log.Fatal(err)
	}
	defer out.Body.Close()
	text, _ := io.ReadAll(out.Body)
	fmt.Println(string(text))
	// Output: hello, encrypted world
}

// Encrypting with AWS KMS and an encryption context. The KMS here is the
// project's test server; with AWS use kms.NewFromConfig(cfg).
func ExampleWithEncryptionContext() {
	s3Client, stop := exampleS3()
	defer stop()
	kmsServer := kmstest.NewServer()
	defer kmsServer.Close()
	keyID := kmsServer.CreateKey()

	keyring, err := materials.NewKMSKeyring(kmsServer.Client(), keyID)
	if err != nil {
		log.Fatal(err)
	}
	client, err := encryptionclient.New(s3Client, keyring)
	if err != nil {
		log.Fatal(err)
	}
	ctx := encryptionclient.WithEncryptionContext(context.Background(), map[string]string{"tenant": "acme"})
	_, err = client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String("example-bucket"), Key: aws.String("invoice.pdf"), Body: strings.NewReader("%PDF…"),
	})
	if err != nil {
		log.Fatal(err)
	}

	// Reading needs the same context.
	_, err = client.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String("example-bucket"), Key: aws.String("invoice.pdf")})
	fmt.Println("without the context:", errors.Is(err, encryptionclient.ErrContextMismatch))
	out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("example-bucket"), Key: aws.String("invoice.pdf")})
	if err != nil {
		log.Fatal(err)
	}
	defer out.Body.Close()
	fmt.Println("with the context:", aws.ToInt64(out.ContentLength), "bytes")
	// Output:
	// without the context: true
	// with the context: 7 bytes
}

// Reading part of an object. Ranges cannot be authenticated, so the client
// must opt in.
func ExampleOptions_enableUnauthenticatedRanges() {
	s3Client, stop := exampleS3()
	defer stop()
	keyring, _ := materials.NewAESKeyring(bytes.Repeat([]byte{0x42}, 32))
	client, err := encryptionclient.New(s3Client, keyring, func(o *encryptionclient.Options) {
		o.EnableUnauthenticatedRanges = true
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	_, err = client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String("example-bucket"), Key: aws.String("alphabet"), Body: strings.NewReader("abcdefghijklmnopqrstuvwxyz"),
	})
	if err != nil {
		log.Fatal(err)
	}
	out, err := client.GetObject(ctx, &s3.GetObjectInput{
		Bucket: aws.String("example-bucket"), Key: aws.String("alphabet"), Range: aws.String("bytes=-6"),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer out.Body.Close()
	part, _ := io.ReadAll(out.Body)
	fmt.Println(string(part), aws.ToString(out.ContentRange))
	// Output: uvwxyz bytes 20-25/26
}
