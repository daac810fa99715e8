package encryptionclient

import (
	"fmt"

	"github.com/s3ec/s3ec-go/internal/printable"
)

// UploadAbortError reports a failed Upload whose multipart upload could
// not be aborted, or whose parts S3 still listed after the abort was
// repeated (a part in progress during an abort may land after it; the
// abort is checked with ListParts and sent up to three times): its parts
// stay stored, and billed, until the upload is aborted
// (Client.AbortMultipartUpload, `aws s3api abort-multipart-upload`) or a
// lifecycle rule removes it. No object was stored. errors.Is and
// errors.As see Err, the reason the upload failed (context.Canceled when it
// was interrupted).
type UploadAbortError struct {
	Bucket, Key, UploadID string
	// Err is why the upload failed; AbortErr why its abort failed.
	Err, AbortErr error
}

func (e *UploadAbortError) Error() string {
	return fmt.Sprintf("%v; the abort of multipart upload %s of s3://%s/%s failed too: %v", e.Err, printable.Text(e.UploadID), printable.Text(e.Bucket), printable.Text(e.Key), e.AbortErr)
}

func (e *UploadAbortError) Unwrap() error { return e.Err }
