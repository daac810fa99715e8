package transfermanager_test

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	tmtypes "github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/internal/testkit/s3test"
	"github.com/s3ec/s3ec-go/materials"
)

// The transfer manager over the encryption client, against an in-process
// S3 server (use your own *s3.Client and a KMS keyring in production): a
// 12 MiB upload in three encrypted parts, read back authenticated.
func Example_transferManager() {
	srv := s3test.NewFake()
	defer srv.Close()
	plain := srv.Client()
	bucket := "example-bucket"
	if _, err := plain.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: &bucket}); err != nil {
		log.Fatal(err)
	}
	keyring, err := materials.NewAESKeyring(bytes.Repeat([]byte{0x42}, 32))
	if err != nil {
		log.Fatal(err)
	}
	client, err := encryptionclient.New(plain, keyring)
	if err != nil {
		log.Fatal(err)
	}

	const partSize = 5 << 20
	api, err := client.ForTransferManager(func(o *encryptionclient.TransferManagerOptions) { o.PartSize = partSize })
	if err != nil {
		log.Fatal(err)
	}
	tm := transfermanager.New(api, func(o *transfermanager.Options) {
		o.PartSizeBytes, o.MultipartUploadThreshold = partSize, partSize
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired // the in-process server takes no trailing checksums
	})
	ctx := context.Background()
	data := []byte(strings.Repeat("twelve MiB of plaintext ", 12<<20/24))
	up, err := tm.UploadObject(ctx, &transfermanager.UploadObjectInput{Bucket: &bucket, Key: aws.String("big"), Body: bytes.NewReader(data)})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("uploaded parts:", len(up.CompletedParts))

	stored, err := plain.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: aws.String("big")})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("stored bytes over plaintext:", aws.ToInt64(stored.ContentLength)-int64(len(data)))

	w := tmtypes.NewWriteAtBuffer(nil)
	if _, err := tm.DownloadObject(ctx, &transfermanager.DownloadObjectInput{Bucket: &bucket, Key: aws.String("big"), WriterAt: w}); err != nil {
		log.Fatal(err)
	}
	fmt.Println("downloaded equals uploaded:", bytes.Equal(w.Bytes(), data))
	// Output:
	// uploaded parts: 3
	// stored bytes over plaintext: 16
	// downloaded equals uploaded: true
}
