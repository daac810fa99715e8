package encryptionclient_test

import (
	"context"
	"errors"
	"log"
	"os"
	"path/filepath"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3ec/s3ec-go/encryptionclient"
)

// saveToken makes a resume token durable before the upload sends the
// parts it records: written to a temporary file (0600), synced, renamed
// over the previous token.
func saveToken(path string) func([]byte) error {
	return func(tok []byte) error {
		tmp := path + ".tmp"
		f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return err
		}
		if _, err := f.Write(tok); err != nil {
			f.Close()
			return err
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		return os.Rename(tmp, path)
	}
}

// A resumable upload of a large file: the token is saved as the upload
// goes; when the process dies or the link drops, running it again
// continues the upload where it stopped, from the token file, instead of
// starting over. A token that no longer applies (the upload completed or
// was aborted, or the file changed) is dropped and the upload starts anew.
func ExampleClient_Upload_resume() {
	ctx := context.Background()
	client := newExampleClient(ctx)
	path := "backup.tar"
	tokenPath := filepath.Join(os.TempDir(), "backup.tar.s3ec-resume")

	f, err := os.Open(path) // an *os.File can be re-read at any offset
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	in := &s3.PutObjectInput{Bucket: aws.String("example-bucket"), Key: aws.String("backups/backup.tar"), Body: f}
	upload := func(token []byte) error {
		_, err := client.Upload(ctx, in, func(o *encryptionclient.UploadOptions) {
			o.ResumeToken = token // nil: a new upload
			o.OnResumeToken = saveToken(tokenPath)
		})
		return err
	}

	token, _ := os.ReadFile(tokenPath) // none the first time
	err = upload(token)
	var refused *encryptionclient.ResumeError
	if errors.As(err, &refused) {
		if errors.Is(err, encryptionclient.ErrResumeMismatch) {
			// The file changed: the old upload can never complete.
			client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
				Bucket: &refused.Bucket, Key: &refused.Key, UploadId: &refused.UploadID,
			})
		}
		err = upload(nil) // the resume read f with ReadAt: its offset has not moved
	}
	var interrupted *encryptionclient.UploadInterruptedError
	if errors.As(err, &interrupted) {
		log.Fatalf("interrupted; run again to resume upload %s: %v", interrupted.UploadID, err)
	}
	if err != nil {
		log.Fatal(err)
	}
	os.Remove(tokenPath) // stored: the token is stale now
}

// Several workers upload the parts of one object: the coordinator creates
// the upload and hands each worker a token; a worker (another process with
// the same keyring) takes the upload up, uploads its parts, and hands its
// token back; the coordinator merges the tokens, sends the last part, and
// completes.
func ExampleClient_ResumeMultipartUpload() {
	ctx := encryptionclient.WithPartSize(context.Background(), 64<<20)
	coordinator := newExampleClient(ctx)
	bucket, key := "example-bucket", "datasets/big.bin"
	created, err := coordinator.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &bucket, Key: &key})
	if err != nil {
		log.Fatal(err)
	}
	token, err := coordinator.ResumeToken(bucket, key, *created.UploadId)
	if err != nil {
		log.Fatal(err)
	}

	// On a worker, given token and its part numbers:
	worker := newExampleClient(ctx)
	if _, err := worker.ResumeMultipartUpload(ctx, &encryptionclient.ResumeMultipartUploadInput{Token: token}); err != nil {
		log.Fatal(err)
	}
	// … worker.UploadPart for each of its parts, then:
	handBack, err := worker.ResumeToken(bucket, key, *created.UploadId)
	if err != nil {
		log.Fatal(err)
	}

	// On the coordinator, for each worker's token:
	out, err := coordinator.ResumeMultipartUpload(ctx, &encryptionclient.ResumeMultipartUploadInput{Token: handBack})
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("parts on S3: %v; to send again: %v", out.Uploaded, out.Pending)
	// … then the last part (WithLastPart) and CompleteMultipartUpload.
}
