package encryptionclient

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/s3ec/s3ec-go/envelope"
)

// A clean-up undoes a write that left an object unreadable (its instruction
// file could not be written). It may remove only what the failed call
// created, never what may be the only copy of someone's data. What the
// call created is known from its answer (a version id, an ETag), which a
// network that forges answers controls, and from a HeadObject made before
// the write, which a concurrent writer outdates; neither names what is
// stored now. So the clean-up first asks S3 (HeadObject: the version the
// answer named, or the current object when S3 has no version of that id or
// none was named) and removes an object only when
// it carries this call's envelope (its IV and wrapped key, or the binding
// id of its instruction file, are unique to the call; sameEnvelope) and,
// for a copy, the ETag the copy reported:
//
//   - the version HeadObject showed, by its version id, when the write's
//     answer named a version too (a versioned bucket): the version that
//     was current before becomes current again;
//   - otherwise the object, but only when it did not exist before the call
//     (an unversioned bucket, a new key), conditional on the ETag
//     HeadObject saw (If-Match), so that an object stored meanwhile stays;
//     a server that does not implement conditional deletes (501
//     NotImplemented) gets the delete without the condition, and the
//     HeadObject check alone stands.
//
// An object that existed before, in a bucket that reported no version id,
// is left in place: the write already replaced its content, and deleting
// it could destroy the only copy (a copy onto itself, a rewrite). An object
// that does not carry this call's envelope (another writer's, or a version
// the answer named wrongly) is left in place too. The caller's error says
// which.

// createdObject describes what a write created, for its clean-up.
type createdObject struct {
	bucket, key *string
	// version is the version id the write's answer reported: where to
	// look first, never proof; nil, empty or "null" when the bucket is
	// not versioned.
	version *string
	// sent holds the envelope entries the write stored on the object (its
	// metadata as sent, or the binding id of its instruction file): the
	// clean-up removes only an object that carries them all. nil for a
	// caller that names no envelope (the instruction file Rewrap wrote
	// before a copy): then the version or key is removed unchecked, as the
	// rules above allow.
	sent map[string]string
	// etag, when set, is the ETag the write reported (a copy's): the
	// object removed must have it too.
	etag *string
	// existedBefore reports that the key held an object before the write
	// (or that it could not be told: then the clean-up keeps it).
	existedBefore bool
	owner         *string
	payer         types.RequestPayer
	// The SSE-C key of the object written, for its HeadObject.
	sseAlg, sseKey, sseMD5 *string
}

// createdVersion reports a version id that names exactly the version a
// write created.
func createdVersion(v *string) bool {
	s := aws.ToString(v)
	return s != "" && s != "null"
}

// cleanupOutcome is what cleanupCreated did.
type cleanupOutcome int

const (
	cleanupRemoved cleanupOutcome = iota // the object written was removed
	cleanupFailed                        // it could not be told or removed
	cleanupExisted                       // unversioned, existed before: kept
	cleanupNotOurs                       // what is stored is not what the call wrote: kept
	cleanupGone                          // nothing is stored there any more
)

// cleanupCreated removes what a failed call created (o), on a context that
// outlives the caller's cancellation (cleanupContext), and reports what it
// did.
func (c *Client) cleanupCreated(ctx context.Context, o createdObject, optFns []func(*s3.Options)) cleanupOutcome {
	cctx, cancel := cleanupContext(ctx)
	defer cancel()
	in := &s3.DeleteObjectInput{Bucket: o.bucket, Key: o.key, ExpectedBucketOwner: o.owner, RequestPayer: o.payer}
	if o.sent == nil {
		switch {
		case createdVersion(o.version):
			in.VersionId = o.version
		case o.existedBefore:
			return cleanupExisted
		}
		if _, err := c.s3.DeleteObject(cctx, in, optFns...); err != nil {
			return cleanupFailed
		}
		return cleanupRemoved
	}
	head := func(version *string) (*s3.HeadObjectOutput, error) {
		return c.s3.HeadObject(cctx, &s3.HeadObjectInput{
			Bucket: o.bucket, Key: o.key, VersionId: version, ExpectedBucketOwner: o.owner, RequestPayer: o.payer,
			SSECustomerAlgorithm: o.sseAlg, SSECustomerKey: o.sseKey, SSECustomerKeyMD5: o.sseMD5,
		}, optFns...)
	}
	ours := func(h *s3.HeadObjectOutput) bool {
		return sameEnvelope(o.sent, h.Metadata) && (o.etag == nil || sameETag(o.etag, h.ETag))
	}
	var h *s3.HeadObjectOutput
	var err error
	if createdVersion(o.version) {
		// The version the answer named; when S3 has none of that id, the
		// current object may be the one written.
		if h, err = head(o.version); isNotFound(err) {
			h, err = nil, nil
		} else if err != nil {
			return cleanupFailed
		}
	}
	if h == nil {
		if h, err = head(nil); isNotFound(err) {
			return cleanupGone
		} else if err != nil {
			return cleanupFailed
		}
	}
	switch {
	case !ours(h):
		return cleanupNotOurs
	case createdVersion(o.version) && createdVersion(h.VersionId):
		// A versioned bucket (the write named a version, HeadObject shows
		// one): the version HeadObject showed.
		in.VersionId = h.VersionId
	case o.existedBefore:
		return cleanupExisted
	default:
		in.IfMatch = h.ETag
	}
	// Without conditional deletes (501), the HeadObject check stands alone.
	_, err = c.deleteIfMatch(cctx, in, optFns)
	switch {
	case err == nil:
		return cleanupRemoved
	case isPreconditionFailed(err):
		return cleanupNotOurs // replaced since the HeadObject
	}
	return cleanupFailed
}

// sameETag compares two ETags, quoted or not.
func sameETag(a, b *string) bool {
	x, y := strings.Trim(aws.ToString(a), `"`), strings.Trim(aws.ToString(b), `"`)
	return x != "" && x == y
}

// notImplemented reports a request refused as not implemented (501, or the
// NotImplemented code): an S3-compatible server without conditional
// deletes.
func notImplemented(err error) bool {
	var api smithy.APIError
	var re *awshttp.ResponseError
	return (errors.As(err, &api) && api.ErrorCode() == "NotImplemented") || (errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotImplemented)
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
// when this call created it and it is still stored (cleanupCreated). The
// error says what happened.
func (c *Client) unreadable(ctx context.Context, o createdObject, err error, optFns []func(*s3.Options)) error {
	switch c.cleanupCreated(ctx, o, optFns) {
	case cleanupRemoved:
		return fmt.Errorf("%w (the object written was removed again)", err)
	case cleanupExisted:
		return fmt.Errorf("%w; the object existed before this call and was left in place, with its content replaced and its instruction file not: it cannot be read until the call is repeated", err)
	case cleanupNotOurs:
		return fmt.Errorf("%w; nothing was removed: the object stored at the key (or the version the write's answer named) does not carry the envelope this call wrote, so it is not this call's (another writer's, or a version the answer named wrongly) and was left in place; the object this call wrote, if still stored, cannot be read: repeat the call", err)
	case cleanupGone:
		return fmt.Errorf("%w; nothing was removed: no object is stored at the key any more", err)
	}
	return fmt.Errorf("%w; the object written, which cannot be read without it, could not be removed (or not be told from another writer's): delete it, or repeat the call", err)
}

// removeOwnPartial deletes what a PutObject whose body failed may have left:
// only an object that carries this call's own envelope (its IV and wrapped
// key are unique to the call), never whatever else the key holds.
func (c *Client) removeOwnPartial(ctx context.Context, in *s3.PutObjectInput, sent map[string]string, optFns []func(*s3.Options)) {
	// The failed PutObject answered no version id: the one HeadObject
	// shows stands for it, so that in a versioned bucket exactly that
	// version goes (a delete without it would put a delete marker over
	// the version that was current before). cleanupCreated checks it.
	cctx, cancel := cleanupContext(ctx)
	head, err := c.s3.HeadObject(cctx, &s3.HeadObjectInput{
		Bucket: in.Bucket, Key: in.Key, ExpectedBucketOwner: in.ExpectedBucketOwner, RequestPayer: in.RequestPayer,
		SSECustomerAlgorithm: in.SSECustomerAlgorithm, SSECustomerKey: in.SSECustomerKey, SSECustomerKeyMD5: in.SSECustomerKeyMD5,
	}, optFns...)
	cancel()
	if err != nil || !sameEnvelope(sent, head.Metadata) {
		return
	}
	c.cleanupCreated(ctx, createdObject{
		bucket: in.Bucket, key: in.Key, version: head.VersionId, sent: sent,
		owner: in.ExpectedBucketOwner, payer: in.RequestPayer,
		sseAlg: in.SSECustomerAlgorithm, sseKey: in.SSECustomerKey, sseMD5: in.SSECustomerKeyMD5,
	}, optFns)
}

// sameEnvelope reports whether stored holds every envelope entry of sent
// (its reserved names and the instruction-file binding id, which hashes
// the call's own wrapped key and IV), with the same value (names compared
// case-insensitively).
func sameEnvelope(sent, stored map[string]string) bool {
	n := 0
	for k, v := range sent {
		if !envelope.IsReservedKey(k) && !strings.EqualFold(k, instrBindingKey) {
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
