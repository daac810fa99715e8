package encryptionclient_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/materials"
)

// Moving one object from a local AES key to AWS KMS without re-uploading
// it: only the wrapped data key in its envelope is replaced.
func ExampleClient_Rewrap() {
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		log.Fatal(err)
	}
	// The old 256-bit key, kept by the application (here, in a file).
	aesKey, err := os.ReadFile("old-master.key")
	if err != nil {
		log.Fatal(err)
	}
	oldKeyring, err := materials.NewAESKeyring(aesKey)
	if err != nil {
		log.Fatal(err)
	}
	newKeyring, err := materials.NewKMSKeyring(kms.NewFromConfig(cfg), "alias/example")
	if err != nil {
		log.Fatal(err)
	}
	// The client's keyring unwraps the old key; RewrapInput.Keyring wraps
	// it anew.
	client, err := encryptionclient.New(s3.NewFromConfig(cfg), oldKeyring)
	if err != nil {
		log.Fatal(err)
	}

	out, err := client.Rewrap(ctx, &encryptionclient.RewrapInput{
		Bucket: aws.String("example-bucket"), Key: aws.String("report.csv"), Keyring: newKeyring,
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(out.Format, out.From, "->", out.To)
}

// Rotating every object under a prefix to a new KMS key. Running it again
// is safe: objects already under the new key are skipped.
func ExampleClient_RotatePrefix() {
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		log.Fatal(err)
	}
	kmsClient := kms.NewFromConfig(cfg)
	oldKeyring, err := materials.NewKMSKeyring(kmsClient, "alias/example-2025")
	if err != nil {
		log.Fatal(err)
	}
	newKeyring, err := materials.NewKMSKeyring(kmsClient, "alias/example-2026")
	if err != nil {
		log.Fatal(err)
	}
	client, err := encryptionclient.New(s3.NewFromConfig(cfg), oldKeyring)
	if err != nil {
		log.Fatal(err)
	}

	out, err := client.RotatePrefix(ctx, &encryptionclient.RotatePrefixInput{
		Bucket: aws.String("example-bucket"), Prefix: aws.String("logs/"), Keyring: newKeyring,
	})
	if err != nil {
		// Pass out.ResumeAfter as StartAfter to continue where it stopped.
		log.Fatal(err)
	}
	fmt.Printf("%d rotated, %d already current, %d failed\n", out.Rotated, out.SkippedCurrent, out.Failed)
	for _, f := range out.Failures {
		fmt.Println(f.Key, f.Err)
	}
}

// Caching data keys for many small objects: one KMS GenerateDataKey call
// serves up to MaxObjects puts, and a reader with its own cache makes one
// Decrypt call for the objects that share a data key.
func Example_dataKeyCaching() {
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		log.Fatal(err)
	}
	kmsKeyring, err := materials.NewKMSKeyring(kms.NewFromConfig(cfg), "alias/example")
	if err != nil {
		log.Fatal(err)
	}
	keyring, err := materials.NewCachingKeyring(kmsKeyring, func(o *materials.CachingOptions) {
		o.MaxObjects = 1000  // a data key encrypts at most 1000 objects…
		o.MaxBytes = 1 << 30 // …and 1 GiB, for at most MaxAge (5 minutes)
	})
	if err != nil {
		log.Fatal(err)
	}
	defer keyring.Close() // zeroes the cached keys
	client, err := encryptionclient.New(s3.NewFromConfig(cfg), keyring)
	if err != nil {
		log.Fatal(err)
	}

	for i := range 100 {
		_, err := client.PutObject(ctx, &s3.PutObjectInput{
			Bucket: aws.String("example-bucket"), Key: aws.String(fmt.Sprintf("small/%03d", i)), Body: strings.NewReader("tiny"),
		})
		if err != nil {
			log.Fatal(err)
		}
	}
	stats := keyring.Stats()
	fmt.Printf("%d KMS calls for %d objects\n", stats.EncryptMisses, stats.EncryptHits+stats.EncryptMisses)
}
