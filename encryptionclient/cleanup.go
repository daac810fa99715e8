package encryptionclient

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/s3ec/s3ec-go/envelope"
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

// unreadable is the error of a write whose instruction file could not be
// written (err): the object it wrote cannot be read, and is removed again
// when this call created it (cleanupCreated). The error says which.
func (c *Client) unreadable(ctx context.Context, o createdObject, err error, optFns []func(*s3.Options)) error {
	switch {
	case c.cleanupCreated(ctx, o, optFns):
		return fmt.Errorf("%w (the object written was removed again)", err)
	case o.existedBefore && !createdVersion(o.version):
		return fmt.Errorf("%w; the object existed before this call and was left in place, with its content replaced and its instruction file not: it cannot be read until the call is repeated", err)
	}
	return fmt.Errorf("%w; the object written, which cannot be read without it, could not be removed: delete it, or repeat the call", err)
}

// removeOwnPartial deletes what a PutObject whose body failed may have left:
// only an object that carries this call's own envelope (its IV and wrapped
// key are unique to the call), never whatever else the key holds.
func (c *Client) removeOwnPartial(ctx context.Context, in *s3.PutObjectInput, sent map[string]string, optFns []func(*s3.Options)) {
	cctx, cancel := cleanupContext(ctx)
	defer cancel()
	head, err := c.s3.HeadObject(cctx, &s3.HeadObjectInput{
		Bucket: in.Bucket, Key: in.Key, ExpectedBucketOwner: in.ExpectedBucketOwner, RequestPayer: in.RequestPayer,
		SSECustomerAlgorithm: in.SSECustomerAlgorithm, SSECustomerKey: in.SSECustomerKey, SSECustomerKeyMD5: in.SSECustomerKeyMD5,
	}, optFns...)
	if err != nil || !sameEnvelope(sent, head.Metadata) {
		return
	}
	c.cleanupCreated(ctx, createdObject{
		bucket: in.Bucket, key: in.Key, version: head.VersionId,
		owner: in.ExpectedBucketOwner, payer: in.RequestPayer,
	}, optFns)
}

// sameEnvelope reports whether stored holds every envelope entry of sent,
// with the same value (names compared case-insensitively).
func sameEnvelope(sent, stored map[string]string) bool {
	n := 0
	for k, v := range sent {
		if !envelope.IsReservedKey(k) {
			continue
		}
		n++
		found := false
		for sk, sv := range stored {
			if strings.EqualFold(sk, k) {
				found = sv == v
				break
			}
		}
		if !found {
			return false
		}
	}
	return n > 0
}
