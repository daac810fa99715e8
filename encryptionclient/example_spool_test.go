package encryptionclient_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"log"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/materials"
)

// Reading an object of any size authenticated before release, in constant
// memory: objects over BufferSize go through a temporary file of
// ciphertext in SpoolDir, which is gone when the body is closed.
func ExampleOptions_spoolLargeObjects() {
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
		o.SpoolLargeObjects = true
		o.SpoolDir = "/var/tmp" // needs free space for the largest object read
	})
	if err != nil {
		log.Fatal(err)
	}

	// GetObject returns once the whole object was spooled and its tag
	// verified: an altered object fails here, with ErrAuthentication.
	out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("example-bucket"), Key: aws.String("backup.tar")})
	if err != nil {
		log.Fatal(err) // ErrSpool when SpoolDir cannot hold it
	}
	defer out.Body.Close() // removes the spool file
	h := sha256.New()
	n, err := io.Copy(h, out.Body)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d bytes, sha256 %x\n", n, h.Sum(nil))
}
