package encryptionclient_test

import (
	"context"
	"errors"
	"log"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3ec/s3ec-go/encryptionclient"
)

// Handing the Client to the SDK's transfer manager
// (github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager): pass the
// adapter, with the transfer manager's part size, to transfermanager.New:
//
//	tm := transfermanager.New(api, func(o *transfermanager.Options) { o.PartSizeBytes = 16 << 20 })
//	_, err = tm.UploadObject(ctx, &transfermanager.UploadObjectInput{Bucket: &bucket, Key: &key, Body: f})
//	_, err = tm.DownloadObject(ctx, &transfermanager.DownloadObjectInput{Bucket: &bucket, Key: &key, WriterAt: f})
//
// A download the adapter cannot authenticate (here: the first part GET
// the transfer manager sends, of an object over Options.BufferSize) fails
// with a *TransferManagerError that names what to use instead.
func ExampleClient_ForTransferManager() {
	ctx := context.Background()
	client := newExampleClient(ctx)
	api, err := client.ForTransferManager(func(o *encryptionclient.TransferManagerOptions) {
		o.PartSize = 16 << 20 // the transfer manager's PartSizeBytes
	})
	if err != nil {
		log.Fatal(err)
	}
	in := &s3.GetObjectInput{Bucket: aws.String("example-bucket"), Key: aws.String("backups/db.tar")}
	out, err := api.GetObject(ctx, &s3.GetObjectInput{Bucket: in.Bucket, Key: in.Key, PartNumber: aws.Int32(1)})
	var refused *encryptionclient.TransferManagerError
	if errors.As(err, &refused) {
		log.Printf("%s; using %s", refused.Reason, refused.Use)
		if _, err := client.DownloadFile(ctx, "db.tar", in); err != nil {
			log.Fatal(err)
		}
		return
	}
	if err != nil {
		log.Fatal(err)
	}
	defer out.Body.Close() // the whole object, authenticated
}
