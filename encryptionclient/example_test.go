package encryptionclient_test

// These examples compile with the package but do not run in go test: they
// need AWS credentials, a bucket and a KMS key. Their runnable versions, on
// in-process servers with checked output, are in the repository's
// tests/encryptionclient; the programs of examples/ run with no setup.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/materials"
)

// Writing and reading one object, its data key wrapped by AWS KMS.
func Example() {
	ctx := context.Background()
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
	text, err := io.ReadAll(out.Body)
	if err != nil {
		log.Fatal(err) // ErrAuthentication if the object was altered
	}
	fmt.Println(string(text))
}

// Binding an object to an encryption context: KMS refuses to unwrap its
// data key for a reader that does not name the same context.
func ExampleWithEncryptionContext() {
	cfg, err := config.LoadDefaultConfig(context.Background())
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

	ctx := encryptionclient.WithEncryptionContext(context.Background(), map[string]string{"tenant": "acme"})
	_, err = client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String("example-bucket"), Key: aws.String("invoice.pdf"), Body: strings.NewReader("%PDF…"),
	})
	if err != nil {
		log.Fatal(err)
	}

	out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("example-bucket"), Key: aws.String("invoice.pdf")})
	if errors.Is(err, encryptionclient.ErrContextMismatch) {
		log.Fatal("the object was written with another encryption context")
	}
	if err != nil {
		log.Fatal(err)
	}
	defer out.Body.Close()
	fmt.Println(aws.ToInt64(out.ContentLength), "bytes")
}

// Reading part of an object. A range cannot be authenticated (the tag
// covers the whole object), so the client must opt in.
func ExampleOptions_enableUnauthenticatedRanges() {
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		log.Fatal(err)
	}
	keyring, err := materials.NewKMSKeyring(kms.NewFromConfig(cfg), "alias/example")
	if err != nil {
		log.Fatal(err)
	}
	client, err := encryptionclient.New(s3.NewFromConfig(cfg), keyring, func(o *encryptionclient.Options) {
		o.EnableUnauthenticatedRanges = true
	})
	if err != nil {
		log.Fatal(err)
	}

	out, err := client.GetObject(ctx, &s3.GetObjectInput{
		Bucket: aws.String("example-bucket"), Key: aws.String("alphabet.txt"), Range: aws.String("bytes=-6"),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer out.Body.Close()
	part, err := io.ReadAll(out.Body)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(part), aws.ToString(out.ContentRange))
}
