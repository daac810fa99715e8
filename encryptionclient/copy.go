package encryptionclient

import (
	"context"
	"fmt"
	"maps"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/s3ec/s3ec-go/envelope"
)

// CopyObject copies an encrypted object within S3 so that the copy stays
// decryptable with the same keys: the envelope metadata travels with it
// (also under MetadataDirective REPLACE, where it is carried over from the
// source), and so does the instruction file. The source must be encrypted
// (ErrNotEncrypted otherwise); the content is not re-encrypted. Copies up
// to S3's 5 GiB CopyObject limit.
//
// A copy of an object onto itself (to change its metadata with REPLACE,
// or its storage class) leaves its instruction file as it is. When the
// instruction file of a copy cannot be written, the copy is removed again
// only if this call created it: the version it wrote (versioned buckets),
// or an object that did not exist before; an object that existed before is
// never deleted, and the error says it was left unreadable.
func (c *Client) CopyObject(ctx context.Context, in *s3.CopyObjectInput, optFns ...func(*s3.Options)) (*s3.CopyObjectOutput, error) {
	if in == nil {
		return nil, invalid("nil CopyObjectInput")
	}
	out, err := c.copyObject(ctx, in, withSafety(optFns))
	return out, objectError("CopyObject", in.Bucket, in.Key, err)
}

func (c *Client) copyObject(ctx context.Context, in *s3.CopyObjectInput, optFns []func(*s3.Options)) (*s3.CopyObjectOutput, error) {
	if err := checkObjectWrite(c.s3, in.Bucket, in.Key, in.Metadata, in.SSECustomerKey, in.CopySourceSSECustomerKey); err != nil {
		return nil, err
	}
	srcBucket, srcKey, srcVersion, err := parseCopySource(aws.ToString(in.CopySource))
	if err != nil {
		return nil, err
	}
	head, err := c.s3.HeadObject(ctx, &s3.HeadObjectInput{
		Bucket: aws.String(srcBucket), Key: aws.String(srcKey), VersionId: srcVersion,
		SSECustomerAlgorithm: in.CopySourceSSECustomerAlgorithm, SSECustomerKey: in.CopySourceSSECustomerKey,
		SSECustomerKeyMD5: in.CopySourceSSECustomerKeyMD5, ExpectedBucketOwner: in.ExpectedSourceBucketOwner,
		RequestPayer: in.RequestPayer,
		// The caller's conditions on the source are checked here, on the
		// object whose envelope is read; the copy is then pinned to it.
		IfMatch: in.CopySourceIfMatch, IfNoneMatch: in.CopySourceIfNoneMatch,
		IfModifiedSince: in.CopySourceIfModifiedSince, IfUnmodifiedSince: in.CopySourceIfUnmodifiedSince,
	}, optFns...)
	if err != nil {
		return nil, err
	}
	layout, err := envelope.Detect(head.Metadata)
	if err != nil {
		return nil, err
	}
	src := objectRef{
		bucket: aws.String(srcBucket), key: aws.String(srcKey), versionID: srcVersion,
		sseAlg: in.CopySourceSSECustomerAlgorithm, sseKey: in.CopySourceSSECustomerKey, sseMD5: in.CopySourceSSECustomerKeyMD5,
		owner: in.ExpectedSourceBucketOwner, payer: in.RequestPayer,
	}
	var instr *instructionFile
	if layout != envelope.LayoutObject {
		// The instruction file of the version copied (not necessarily the
		// current one), proven to belong to it; a copy that could not be
		// read back is refused before anything is written.
		if instr, err = c.findInstructionFile(ctx, src, head.Metadata, optFns); err != nil {
			return nil, err
		}
		if instr == nil && layout == envelope.LayoutNone {
			// The envelope can only be in an instruction file; without one
			// the source is not encrypted.
			return nil, ErrNotEncrypted
		}
		var body []byte
		if instr != nil {
			body = instr.body
		}
		if _, err := envelope.Decode(head.Metadata, body); err != nil {
			return nil, err
		}
	}

	req := *in
	if in.MetadataDirective == types.MetadataDirectiveReplace {
		meta := maps.Clone(in.Metadata)
		if meta == nil {
			meta = map[string]string{}
		}
		for k, v := range head.Metadata {
			if envelope.IsReservedKey(k) || strings.EqualFold(k, instrBindingKey) {
				meta[strings.ToLower(k)] = v
			}
		}
		req.Metadata = meta
	}
	if head.ETag != nil {
		// Copy the object whose envelope was read (a caller's "*", or a
		// condition other than an ETag, pins nothing: HeadObject checked
		// them).
		req.CopySourceIfMatch = head.ETag
		req.CopySourceIfNoneMatch, req.CopySourceIfModifiedSince, req.CopySourceIfUnmodifiedSince = nil, nil, nil
	}
	// A copy onto itself (the usual way to edit metadata or the storage
	// class) keeps the instruction file where it is: the envelope does not
	// change, and S3 refuses a copy of an object onto itself that changes
	// nothing. The same holds when an old version is restored onto its key
	// and the current instruction file is the one that belongs to it.
	sameKey := srcBucket == aws.ToString(in.Bucket) && srcKey == aws.ToString(in.Key)
	needInstr := instr != nil && !(sameKey && instr.current)
	existed := true
	if needInstr && !sameKey {
		// For the clean-up: it may remove only what this copy creates.
		existed = c.existsBefore(ctx, in.Bucket, in.Key, in.ExpectedBucketOwner, in.RequestPayer, optFns)
	}
	out, err := c.s3.CopyObject(ctx, &req, optFns...)
	if head.ETag != nil && isPreconditionFailed(err) {
		// Pinned to the ETag HeadObject read: the source was replaced
		// in between.
		err = fmt.Errorf("%w: copy: %w", ErrObjectChanged, err)
	}
	if err == nil {
		err = requireETag("CopyObject", copyETag(out))
	}
	if err != nil {
		return nil, err
	}
	if needInstr {
		suffix := c.suffix(ctx)
		instrSource := url.PathEscape(srcBucket) + "/" + escapeKey(srcKey+suffix)
		if !instr.current && createdVersion(instr.version) {
			instrSource += "?versionId=" + url.QueryEscape(*instr.version)
		}
		_, err := c.s3.CopyObject(ctx, &s3.CopyObjectInput{
			Bucket:                         in.Bucket,
			Key:                            aws.String(aws.ToString(in.Key) + suffix),
			CopySource:                     aws.String(instrSource),
			CopySourceIfMatch:              instr.etag,
			ExpectedBucketOwner:            in.ExpectedBucketOwner,
			ExpectedSourceBucketOwner:      in.ExpectedSourceBucketOwner,
			RequestPayer:                   in.RequestPayer,
			ACL:                            in.ACL,
			StorageClass:                   in.StorageClass,
			ServerSideEncryption:           in.ServerSideEncryption,
			SSEKMSKeyId:                    in.SSEKMSKeyId,
			SSEKMSEncryptionContext:        in.SSEKMSEncryptionContext,
			BucketKeyEnabled:               in.BucketKeyEnabled,
			SSECustomerAlgorithm:           in.SSECustomerAlgorithm,
			SSECustomerKey:                 in.SSECustomerKey,
			SSECustomerKeyMD5:              in.SSECustomerKeyMD5,
			CopySourceSSECustomerAlgorithm: in.CopySourceSSECustomerAlgorithm,
			CopySourceSSECustomerKey:       in.CopySourceSSECustomerKey,
			CopySourceSSECustomerKeyMD5:    in.CopySourceSSECustomerKeyMD5,
		}, optFns...)
		if err != nil {
			var etag *string
			if out.CopyObjectResult != nil {
				etag = out.CopyObjectResult.ETag
			}
			return nil, c.unreadable(ctx, createdObject{
				bucket: in.Bucket, key: in.Key, version: out.VersionId, existedBefore: existed,
				sent: head.Metadata, etag: etag, // the source's envelope, copied with it
				owner: in.ExpectedBucketOwner, payer: in.RequestPayer,
				sseAlg: in.SSECustomerAlgorithm, sseKey: in.SSECustomerKey, sseMD5: in.SSECustomerKeyMD5,
			}, fmt.Errorf("copy instruction file: %w", err), optFns)
		}
	}
	return out, nil
}

// parseCopySource splits a CopySource value: "bucket/key", optionally with a
// leading slash and "?versionId=…"; the key is URL-encoded.
func parseCopySource(s string) (bucket, key string, version *string, err error) {
	s = strings.TrimPrefix(s, "/")
	if i := strings.Index(s, "?versionId="); i >= 0 {
		version = aws.String(s[i+len("?versionId="):])
		s = s[:i]
	}
	bucket, rawKey, ok := strings.Cut(s, "/")
	if !ok || bucket == "" || rawKey == "" {
		return "", "", nil, invalid("CopySource %q is not bucket/key", s)
	}
	if key, err = url.PathUnescape(rawKey); err != nil {
		return "", "", nil, invalid("CopySource key %q: %v", rawKey, err)
	}
	return bucket, key, version, nil
}

// escapeKey URL-encodes an object key for CopySource, keeping slashes.
// '+' is encoded too (%2B): url.PathEscape keeps it, and some servers
// (versitygw) read a bare '+' in x-amz-copy-source as a space; AWS S3
// decodes %2B as '+'.
func escapeKey(k string) string {
	parts := strings.Split(k, "/")
	for i, p := range parts {
		parts[i] = strings.ReplaceAll(url.PathEscape(p), "+", "%2B")
	}
	return strings.Join(parts, "/")
}
