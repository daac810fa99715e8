package encryptionclient

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// A clean-up undoes a write that left an object unreadable (its instruction
// file could not be written). It may remove only what the failed call
// created, never what may be the only copy of someone's data:
//
//   - the version the call wrote, by its version id, when S3 reported one
//     (a versioned bucket): the version that was current before becomes
//     current again;
//   - otherwise the object, but only when it did not exist before the call
//     (an unversioned bucket, a new key).
//
// An object that existed before, in a bucket that reported no version id,
// is left in place: the write already replaced its content, and deleting
// it could destroy the only copy (a copy onto itself, an object another
// writer just replaced). The caller's error says so.

// createdObject describes what a write created, for its clean-up.
type createdObject struct {
	bucket, key *string
	// version is the version id the write reported; nil, empty or "null"
	// when the bucket is not versioned.
	version *string
	// existedBefore reports that the key held an object before the write
	// (or that it could not be told: then the clean-up keeps it).
	existedBefore bool
	owner         *string
	payer         types.RequestPayer
}

// createdVersion reports a version id that names exactly the version a
// write created.
func createdVersion(v *string) bool {
	s := aws.ToString(v)
	return s != "" && s != "null"
}

// cleanupCreated removes what o says a failed call created, on a context
// that outlives the caller's cancellation (cleanupContext). It reports
// whether it removed anything.
func (c *Client) cleanupCreated(ctx context.Context, o createdObject, optFns []func(*s3.Options)) bool {
	in := &s3.DeleteObjectInput{Bucket: o.bucket, Key: o.key, ExpectedBucketOwner: o.owner, RequestPayer: o.payer}
	switch {
	case createdVersion(o.version):
		in.VersionId = o.version
	case o.existedBefore:
		return false
	}
	cctx, cancel := cleanupContext(ctx)
	defer cancel()
	_, err := c.s3.DeleteObject(cctx, in, optFns...)
	return err == nil
}

// existsBefore reports whether an object is stored at bucket/key before a
// write. Anything but a 404 (access denied, an SSE-C object read without
// its key, a network error) counts as "exists": a clean-up then keeps it.
func (c *Client) existsBefore(ctx context.Context, bucket, key, owner *string, payer types.RequestPayer, optFns []func(*s3.Options)) bool {
	_, err := c.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: bucket, Key: key, ExpectedBucketOwner: owner, RequestPayer: payer}, optFns...)
	return !isNotFound(err)
}
