package encryptionclient_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"log"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/materials"
)

// Reading an object over BufferSize authenticated, through the spool (here
// a BufferSize of 1 MiB and a 3 MiB object).
func ExampleOptions_spoolLargeObjects() {
	s3Client, stop := exampleS3()
	defer stop()
	dir, err := os.MkdirTemp("", "spool")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	keyring, _ := materials.NewAESKeyring(bytes.Repeat([]byte{0x42}, 32))
	client, err := encryptionclient.New(s3Client, keyring, func(o *encryptionclient.Options) {
		o.BufferSize = 1 << 20
		o.SpoolLargeObjects = true
		o.SpoolDir = dir
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	_, err = client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String("example-bucket"), Key: aws.String("backup.tar"), Body: bytes.NewReader(bytes.Repeat([]byte("s3ec"), 3<<18)),
	})
	if err != nil {
		log.Fatal(err)
	}

	out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("example-bucket"), Key: aws.String("backup.tar")})
	if err != nil {
		log.Fatal(err)
	}
	defer out.Body.Close()
	h := sha256.New()
	n, err := io.Copy(h, out.Body)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d bytes, sha256 %x\n", n, h.Sum(nil)[:4])
	left, _ := os.ReadDir(dir)
	fmt.Println("files left in the spool directory:", len(left))
	// Output:
	// 3145728 bytes, sha256 e31f4794
	// files left in the spool directory: 0
}
