package encryptionclient

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// abortTries bounds how often the abort of a failed upload is sent, and
// abortWait is the pause before the second (four times as long before
// each later one).
const (
	abortTries = 3
	abortWait  = 250 * time.Millisecond
)

// abortUpload gives up a multipart upload this client created for an
// operation that failed with cause, and returns the operation's error:
// cause itself once the upload is gone, else an *UploadAbortError naming
// the upload left behind.
//
// S3 documents that a part still in progress when the abort arrives may
// land after it, so that the abort may have to be repeated to free every
// part, and that ListParts is how to tell. A part cut mid-request by a
// cancellation is such a part: the client has given up on it, but the
// server may still be storing it. So each successful abort is checked with
// a ListParts of one part and repeated (abortTries in all, with pauses in
// between) while the server still lists a part of the upload. An answer
// that lists none (NoSuchUpload, or an empty list) ends it, and so does a
// ListParts the caller may not send (AccessDenied: the check is best
// effort, and the abort was answered). Every request runs on a context
// that outlives the caller's cancellation, within cleanupTimeout in all.
func (c *Client) abortUpload(ctx context.Context, q partsQuery, cause error, optFns []func(*s3.Options)) error {
	cctx, cancel := cleanupContext(ctx)
	defer cancel()
	left := func(aerr error) error {
		return &UploadAbortError{Bucket: aws.ToString(q.bucket), Key: aws.ToString(q.key), UploadID: aws.ToString(q.id), Err: cause, AbortErr: aerr}
	}
	lister, canList := c.s3.(partLister)
	listOpts := append(slices.Clip(optFns), limitResponseBody(maxListPartsAnswer))
	wait := abortWait
	for try := 1; ; try++ {
		_, aerr := c.s3.AbortMultipartUpload(cctx, &s3.AbortMultipartUploadInput{
			Bucket: q.bucket, Key: q.key, UploadId: q.id, ExpectedBucketOwner: q.owner, RequestPayer: q.payer,
		}, optFns...)
		switch {
		case aerr != nil && try > 1 && isNoSuchUpload(aerr):
			return cause // gone since the check
		case aerr != nil:
			return left(aerr)
		case !canList:
			return cause
		}
		out, lerr := lister.ListParts(cctx, &s3.ListPartsInput{
			Bucket: q.bucket, Key: q.key, UploadId: q.id, MaxParts: aws.Int32(1),
			ExpectedBucketOwner: q.owner, RequestPayer: q.payer,
			SSECustomerAlgorithm: q.sseAlg, SSECustomerKey: q.sseKey, SSECustomerKeyMD5: q.sseMD5,
		}, listOpts...)
		if lerr != nil || len(out.Parts) == 0 {
			return cause
		}
		if try == abortTries {
			return left(fmt.Errorf("S3 still lists part %d of the upload after %d aborts", aws.ToInt32(out.Parts[0].PartNumber), abortTries))
		}
		select {
		case <-time.After(wait):
		case <-cctx.Done():
			return left(fmt.Errorf("S3 still lists part %d of the upload after %d aborts: %w", aws.ToInt32(out.Parts[0].PartNumber), try, cctx.Err()))
		}
		wait *= 4
	}
}
