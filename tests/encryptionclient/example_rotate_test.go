package encryptionclient_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/internal/testkit/kmstest"
	"github.com/s3ec/s3ec-go/materials"
)

// Moving one object from a local AES key to AWS KMS without re-uploading
// it. The KMS here is the project's test server; with AWS use
// kms.NewFromConfig(cfg).
func ExampleClient_Rewrap() {
	s3Client, stop := exampleS3()
	defer stop()
	kmsServer := kmstest.NewServer()
	defer kmsServer.Close()
	ctx := context.Background()

	oldKeyring, _ := materials.NewAESKeyring(bytes.Repeat([]byte{0x42}, 32))
	client, err := encryptionclient.New(s3Client, oldKeyring)
	if err != nil {
		log.Fatal(err)
	}
	_, err = client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String("example-bucket"), Key: aws.String("report.csv"), Body: strings.NewReader("a,b,c"),
	})
	if err != nil {
		log.Fatal(err)
	}

	newKeyring, _ := materials.NewKMSKeyring(kmsServer.Client(), kmsServer.CreateKey())
	out, err := client.Rewrap(ctx, &encryptionclient.RewrapInput{
		Bucket: aws.String("example-bucket"), Key: aws.String("report.csv"), Keyring: newKeyring,
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(out.Format, out.From, "->", out.To)

	// The object now reads with the KMS keyring only.
	reader, _ := encryptionclient.New(s3Client, newKeyring)
	got, err := reader.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("example-bucket"), Key: aws.String("report.csv")})
	if err != nil {
		log.Fatal(err)
	}
	defer got.Body.Close()
	text, _ := io.ReadAll(got.Body)
	fmt.Println(string(text))
	// Output:
	// V3 AES/GCM -> kms+context
	// a,b,c
}

// Rotating every object under a prefix to a new KMS key, then running the
// same rotation again: it finds nothing left to do.
func ExampleClient_RotatePrefix() {
	s3Client, stop := exampleS3()
	defer stop()
	kmsServer := kmstest.NewServer()
	defer kmsServer.Close()
	ctx := context.Background()

	oldKeyring, _ := materials.NewKMSKeyring(kmsServer.Client(), kmsServer.CreateKey())
	newKeyring, _ := materials.NewKMSKeyring(kmsServer.Client(), kmsServer.CreateKey())
	client, _ := encryptionclient.New(s3Client, oldKeyring)
	for i := range 5 {
		_, err := client.PutObject(ctx, &s3.PutObjectInput{
			Bucket: aws.String("example-bucket"), Key: aws.String(fmt.Sprintf("logs/%d.txt", i)), Body: strings.NewReader("entry"),
		})
		if err != nil {
			log.Fatal(err)
		}
	}

	for run := 1; run <= 2; run++ {
		out, err := client.RotatePrefix(ctx, &encryptionclient.RotatePrefixInput{
			Bucket: aws.String("example-bucket"), Prefix: aws.String("logs/"), Keyring: newKeyring,
		})
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("run %d: %d rotated, %d already current, %d failed; resume after %s\n",
			run, out.Rotated, out.SkippedCurrent, out.Failed, out.ResumeAfter)
	}
	// Every ReEncrypt names the client's (old) key as its source, so that
	// KMS refuses an object of any other key. In the second run KMS
	// refuses each object that way, and a second ReEncrypt, from the new
	// key to itself, proves it already rotated: the data keys never leave
	// KMS.
	fmt.Println("KMS ReEncrypt calls:", kmsServer.Calls("ReEncrypt"), "Decrypt calls:", kmsServer.Calls("Decrypt"))
	// Output:
	// run 1: 5 rotated, 0 already current, 0 failed; resume after logs/4.txt
	// run 2: 0 rotated, 5 already current, 0 failed; resume after logs/4.txt
	// KMS ReEncrypt calls: 15 Decrypt calls: 0
}

// Caching data keys for many small objects: one KMS call serves many
// puts, and a reader with its own cache makes one Decrypt for them.
func Example_dataKeyCaching() {
	s3Client, stop := exampleS3()
	defer stop()
	kmsServer := kmstest.NewServer()
	defer kmsServer.Close()
	ctx := context.Background()
	keyID := kmsServer.CreateKey()

	newCachingKMS := func() *materials.CachingKeyring {
		kr, _ := materials.NewKMSKeyring(kmsServer.Client(), keyID)
		cached, err := materials.NewCachingKeyring(kr, func(o *materials.CachingOptions) {
			o.MaxObjects = 1000  // a data key encrypts at most 1000 objects…
			o.MaxBytes = 1 << 30 // …and 1 GiB, for at most MaxAge (5 minutes)
		})
		if err != nil {
			log.Fatal(err)
		}
		return cached
	}
	writerKeyring := newCachingKMS()
	defer writerKeyring.Close() // zeroes the cached keys
	writer, _ := encryptionclient.New(s3Client, writerKeyring)
	for i := range 100 {
		_, err := writer.PutObject(ctx, &s3.PutObjectInput{
			Bucket: aws.String("example-bucket"), Key: aws.String(fmt.Sprintf("small/%03d", i)), Body: strings.NewReader("tiny"),
		})
		if err != nil {
			log.Fatal(err)
		}
	}
	readerKeyring := newCachingKMS()
	defer readerKeyring.Close()
	reader, _ := encryptionclient.New(s3Client, readerKeyring)
	for i := range 100 {
		out, err := reader.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("example-bucket"), Key: aws.String(fmt.Sprintf("small/%03d", i))})
		if err != nil {
			log.Fatal(err)
		}
		out.Body.Close()
	}
	fmt.Println("GenerateDataKey calls:", kmsServer.Calls("GenerateDataKey"), "Decrypt calls:", kmsServer.Calls("Decrypt"))
	ws, rs := writerKeyring.Stats(), readerKeyring.Stats()
	fmt.Printf("writer: %d hits, %d misses; reader: %d hits, %d misses\n", ws.EncryptHits, ws.EncryptMisses, rs.DecryptHits, rs.DecryptMisses)
	// Output:
	// GenerateDataKey calls: 1 Decrypt calls: 1
	// writer: 99 hits, 1 misses; reader: 99 hits, 1 misses
}
