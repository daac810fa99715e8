package encryptionclient_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3ec/s3ec-go/encryptionclient"
)

// An object key is the bucket writer's choice, and S3 allows line breaks
// and terminal controls in it: an error that names the key prints it
// with those escaped, so that an application logging the error cannot be
// made to log a forged line. ObjectError.Key keeps the key as it is.
func TestAttackErrorMessagesEscapeKeys(t *testing.T) {
	e := newEnv(t)
	key := "a\n2026-12-03T00:00:00Z INFO all objects verified\x1b[2J\u202e"
	c := e.client(e.krs["aes"])
	_, err := c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String(key)})
	if err == nil {
		t.Fatal("GetObject of a missing key succeeded")
	}
	msg := err.Error()
	if strings.ContainsAny(msg, "\n\x1b\u202e") || !strings.Contains(msg, `a\x0a2026-12-03T00:00:00Z INFO all objects verified\x1b[2J\u202e`) {
		t.Fatalf("error message %q does not escape the key", msg)
	}
	oe, ok := err.(*encryptionclient.ObjectError)
	if !ok || oe.Key != key {
		t.Fatalf("ObjectError.Key %q, want the key unchanged", oe.Key)
	}
	for _, e := range []error{
		&encryptionclient.UploadInterruptedError{Bucket: "b", Key: key, UploadID: "u\nx", Err: context.Canceled},
		&encryptionclient.UploadAbortError{Bucket: "b", Key: key, UploadID: "u", Err: context.Canceled, AbortErr: context.Canceled},
		&encryptionclient.ResumeError{Bucket: "b", Key: key, UploadID: "u", Err: encryptionclient.ErrResumeStale},
	} {
		if m := e.Error(); strings.ContainsAny(m, "\n\x1b\u202e") {
			t.Errorf("%T prints %q", e, m)
		}
	}
}
