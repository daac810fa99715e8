package encryptionclient_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/s3ec/s3ec-go/encryptionclient"
)

// A resumable upload of a file, interrupted after two parts and resumed
// from the token file: only the parts S3 did not hold are sent again.
func ExampleClient_Upload_resume() {
	client, stop := exampleClient()
	defer stop()
	dir, err := os.MkdirTemp("", "example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path, tokenPath := filepath.Join(dir, "backup.tar"), filepath.Join(dir, "backup.tar.s3ec-resume")
	if err := os.WriteFile(path, bytes.Repeat([]byte("backup"), 5<<20), 0o600); err != nil { // 30 MiB
		log.Fatal(err)
	}
	saveToken := func(tok []byte) error { // durable before the parts it records are sent
		if err := os.WriteFile(tokenPath+".tmp", tok, 0o600); err != nil {
			return err
		}
		return os.Rename(tokenPath+".tmp", tokenPath)
	}
	upload := func(ctx context.Context, token []byte, progress func(int64)) (*encryptionclient.UploadOutput, error) {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		return client.Upload(ctx, &s3.PutObjectInput{Bucket: aws.String("example-bucket"), Key: aws.String("backup.tar"), Body: f},
			func(o *encryptionclient.UploadOptions) {
				o.PartSize, o.Concurrency = encryptionclient.MinPartSize, 1
				o.ResumeToken, o.OnResumeToken, o.Progress = token, saveToken, progress
			})
	}

	// The first run is cut off (here: cancelled) after two parts.
	ctx, cancel := context.WithCancel(context.Background())
	_, err = upload(ctx, nil, func(done int64) {
		if done >= 2*encryptionclient.MinPartSize {
			cancel()
		}
	})
	var interrupted *encryptionclient.UploadInterruptedError
	fmt.Println("first run interrupted:", errors.As(err, &interrupted))

	// The next run finds the token and continues.
	token, err := os.ReadFile(tokenPath)
	if err != nil {
		log.Fatal(err)
	}
	onS3 := int64(-1) // the first progress call counts the parts S3 holds
	out, err := upload(context.Background(), token, func(done int64) {
		if onS3 < 0 {
			onS3 = done
		}
	})
	if err != nil {
		log.Fatal(err)
	}
	os.Remove(tokenPath)
	fmt.Println(out.Size, "bytes in", out.Parts, "parts; the same upload:", out.UploadID == interrupted.UploadID)
	fmt.Println("the first two parts were not sent again:", onS3 >= 2*encryptionclient.MinPartSize)
	// Output:
	// first run interrupted: true
	// 31457280 bytes in 6 parts; the same upload: true
	// the first two parts were not sent again: true
}
