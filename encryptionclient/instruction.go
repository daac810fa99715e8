package encryptionclient

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/s3ec/s3ec-go/envelope"
)

// maxInstructionFile bounds what is read of an instruction file: a real one
// is well under 4 KiB.
const maxInstructionFile = 64 << 10

// putInstructionFile stores the instruction file of the object in, with
// the object's server-side encryption, access and storage settings, and
// the binding id that placeEnvelope put on the object (instructionID).
func (c *Client) putInstructionFile(ctx context.Context, in *s3.PutObjectInput, body []byte, optFns []func(*s3.Options)) error {
	_, err := c.s3.PutObject(ctx, &s3.PutObjectInput{
		Bucket:                  in.Bucket,
		Key:                     aws.String(aws.ToString(in.Key) + c.suffix(ctx)),
		Body:                    bytes.NewReader(body),
		ContentLength:           aws.Int64(int64(len(body))),
		ContentType:             aws.String("application/json"),
		Metadata:                map[string]string{envelope.KeyInstrFileMark: "", instrBindingKey: instructionID(body)},
		ACL:                     in.ACL,
		GrantFullControl:        in.GrantFullControl,
		GrantRead:               in.GrantRead,
		GrantReadACP:            in.GrantReadACP,
		GrantWriteACP:           in.GrantWriteACP,
		StorageClass:            in.StorageClass,
		ExpectedBucketOwner:     in.ExpectedBucketOwner,
		RequestPayer:            in.RequestPayer,
		ServerSideEncryption:    in.ServerSideEncryption,
		SSEKMSKeyId:             in.SSEKMSKeyId,
		SSEKMSEncryptionContext: in.SSEKMSEncryptionContext,
		BucketKeyEnabled:        in.BucketKeyEnabled,
		SSECustomerAlgorithm:    in.SSECustomerAlgorithm,
		SSECustomerKey:          in.SSECustomerKey,
		SSECustomerKeyMD5:       in.SSECustomerKeyMD5,
	}, optFns...)
	if err != nil {
		return fmt.Errorf("write instruction file: %w", err)
	}
	return nil
}

// objectRef addresses an object and carries what reading it needs.
type objectRef struct {
	bucket, key, versionID *string
	sseAlg, sseKey, sseMD5 *string
	owner                  *string
	payer                  types.RequestPayer
}

// instructionFile is one version of an instruction file, as read, with
// what rewriting it (Rewrap) keeps.
type instructionFile struct {
	body    []byte
	binding string  // its instrBindingKey metadata, "" if none
	version *string // its version id (nil or "null" when unversioned)
	etag    *string
	current bool // read as the current version (without a version id)

	meta        map[string]string
	contentType *string
	class       types.StorageClass
	sse         types.ServerSideEncryption
	sseKMSKeyID *string
	bucketKey   *bool
}

// readInstructionFile reads the instruction file of ref, the given version
// of it or (nil) the current one; nil and no error when there is none.
func (c *Client) readInstructionFile(ctx context.Context, ref objectRef, version *string, optFns []func(*s3.Options)) (*instructionFile, error) {
	out, err := c.s3.GetObject(ctx, &s3.GetObjectInput{
		Bucket:               ref.bucket,
		Key:                  aws.String(aws.ToString(ref.key) + c.suffix(ctx)),
		VersionId:            version,
		SSECustomerAlgorithm: ref.sseAlg,
		SSECustomerKey:       ref.sseKey,
		SSECustomerKeyMD5:    ref.sseMD5,
		ExpectedBucketOwner:  ref.owner,
		RequestPayer:         ref.payer,
	}, optFns...)
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read instruction file: %w", err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(io.LimitReader(out.Body, maxInstructionFile+1))
	if err != nil {
		return nil, fmt.Errorf("read instruction file: %w", err)
	}
	if len(b) > maxInstructionFile {
		return nil, &envelope.MalformedError{Field: "instruction file", Reason: "larger than 64 KiB"}
	}
	v := out.VersionId
	if version != nil {
		v = version
	}
	return &instructionFile{
		body: b, binding: bindingOf(out.Metadata), version: v, etag: out.ETag, current: version == nil,
		meta: out.Metadata, contentType: out.ContentType,
		class: out.StorageClass, sse: out.ServerSideEncryption, sseKMSKeyID: out.SSEKMSKeyId, bucketKey: out.BucketKeyEnabled,
	}, nil
}

// envelopeUse says which instruction file an envelope is read from.
type envelopeUse int

const (
	// forRead: the instruction file that belongs to the object version
	// read (findInstructionFile), or an additional one that a suffix
	// named for this read selects.
	forRead envelopeUse = iota
	// forRewrite: the current instruction file, which a re-wrap rewrites;
	// one bound to another write of the key is refused.
	forRewrite
)

// loadEnvelope decodes the envelope of an object from its metadata, reading
// the instruction file when the metadata does not hold the wrapped key,
// and returns the instruction file it used (nil when none).
func (c *Client) loadEnvelope(ctx context.Context, ref objectRef, meta map[string]string, use envelopeUse, optFns []func(*s3.Options)) (*envelope.Envelope, *instructionFile, error) {
	layout, err := envelope.Detect(meta)
	if err != nil {
		return nil, nil, err
	}
	if layout == envelope.LayoutObject && use == forRead && c.customSuffix(ctx) {
		// A suffix named for this read (WithInstructionFileSuffix) that is
		// not the client's: an additional instruction file (a re-wrap with
		// RewrapInput.DestinationInstructionFileSuffix, or Java's
		// re-encryption into a custom suffix) holds the wrapped key to use
		// when it exists, with the object's content keys.
		f, err := c.findInstructionFile(ctx, ref, meta, optFns)
		if err != nil {
			return nil, nil, err
		}
		if f != nil {
			env, err := envelope.Decode(envelope.WithoutWrappedKey(meta), f.body)
			return env, f, err
		}
	}
	var f *instructionFile
	switch {
	case layout == envelope.LayoutObject:
	case use == forRewrite:
		if f, err = c.readInstructionFile(ctx, ref, nil, optFns); err != nil {
			return nil, nil, err
		}
		// The current instruction file must be the object's own: one that
		// another write left (a bound id that differs) is not rewritten.
		if want := bindingOf(meta); f != nil && want != "" && f.binding != "" && f.binding != want {
			return nil, nil, fmt.Errorf("%w: the current instruction file was written for another write of this key", ErrInstructionFileMismatch)
		}
	default:
		if f, err = c.findInstructionFile(ctx, ref, meta, optFns); err != nil {
			return nil, nil, err
		}
	}
	var body []byte
	if f != nil {
		body = f.body
	}
	env, err := envelope.Decode(meta, body)
	if err != nil {
		return nil, nil, err
	}
	if !env.InInstructionFile {
		f = nil
	}
	return env, f, nil
}

// Which instruction file belongs to which object version.
//
// An instruction file is an object of its own, with versions of its own:
// in a versioned bucket, the current instruction file belongs to the
// current object, and an older object version needs the instruction-file
// version written with it. s3ec-go binds the two when it writes them: the
// object's user metadata and the instruction file's both carry
// instrBindingKey, an id taken from the instruction file's first contents
// (instructionID). A re-wrap rewrites the instruction file and keeps the
// id. The reader (findInstructionFile):
//
//  1. reads the current instruction file; if its id is the object's, it is
//     the one (no extra request);
//  2. if the object or the current instruction file has no id (written by
//     another client, or re-wrapped by one), the current instruction file
//     is used for the current object version only; an older version of an
//     object without an id cannot be paired: ErrInstructionFileMismatch;
//  3. otherwise it looks through the versions of the instruction file
//     (ListObjectVersions, newest first, at most maxInstructionVersions of
//     them) for the newest one with the object's id; none:
//     ErrInstructionFileMismatch.
//
// The id is not authenticated and need not be: it only selects which
// instruction file to try. A wrong one still fails authentication (and
// the key commitment of V3 objects), as a replaced instruction file does.
// It lets a wrong pairing be reported as what it is, and an old version be
// read, copied and restored.

// instrBindingKey is the user-metadata name of the id that binds an object
// to its instruction file (on both).
const instrBindingKey = "s3ec-instruction-id"

// maxInstructionVersions bounds the instruction-file versions looked at
// for one object version.
const maxInstructionVersions = 100

// instructionID is the binding id of an instruction file with body: 16
// bytes of its SHA-256, base64url.
func instructionID(body []byte) string {
	sum := sha256.Sum256(body)
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

// bindingOf returns the binding id in user metadata, "" if none.
func bindingOf(meta map[string]string) string {
	for k, v := range meta {
		if strings.EqualFold(k, instrBindingKey) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// versionLister is the optional S3 call the search of step 3 needs;
// *s3.Client has it.
type versionLister interface {
	ListObjectVersions(ctx context.Context, in *s3.ListObjectVersionsInput, optFns ...func(*s3.Options)) (*s3.ListObjectVersionsOutput, error)
}

// findInstructionFile returns the instruction file that belongs to the
// object version ref names, whose metadata is meta (see above); nil and
// no error when the object has none at all.
func (c *Client) findInstructionFile(ctx context.Context, ref objectRef, meta map[string]string, optFns []func(*s3.Options)) (*instructionFile, error) {
	want := bindingOf(meta)
	cur, err := c.readInstructionFile(ctx, ref, nil, optFns)
	if err != nil {
		return nil, err
	}
	if want != "" && cur != nil && cur.binding == want {
		return cur, nil
	}
	if want == "" || (cur != nil && cur.binding == "") {
		current, err := c.isCurrentVersion(ctx, ref, optFns)
		if err != nil {
			return nil, err
		}
		if current {
			return cur, nil
		}
		if want == "" {
			if cur == nil {
				return nil, nil
			}
			return nil, fmt.Errorf("%w: version %s is not the current one and was written without a binding to its instruction file (by another client), so which version of the instruction file belongs to it cannot be told", ErrInstructionFileMismatch, aws.ToString(ref.versionID))
		}
	}
	f, err := c.searchInstructionVersions(ctx, ref, want, optFns)
	if err != nil || f != nil {
		return f, err
	}
	if cur == nil {
		return nil, nil // no instruction file at all
	}
	what := "the object"
	if ref.versionID != nil {
		what = "version " + aws.ToString(ref.versionID)
	}
	return nil, fmt.Errorf("%w: the current instruction file was written for another object or version, and no version of it carries the id of %s (%s %s)", ErrInstructionFileMismatch, what, instrBindingKey, want)
}

// isCurrentVersion reports whether ref names the current version of its
// object: no version id, or the current one's.
func (c *Client) isCurrentVersion(ctx context.Context, ref objectRef, optFns []func(*s3.Options)) (bool, error) {
	if ref.versionID == nil {
		return true, nil
	}
	head, err := c.s3.HeadObject(ctx, &s3.HeadObjectInput{
		Bucket: ref.bucket, Key: ref.key,
		SSECustomerAlgorithm: ref.sseAlg, SSECustomerKey: ref.sseKey, SSECustomerKeyMD5: ref.sseMD5,
		ExpectedBucketOwner: ref.owner, RequestPayer: ref.payer,
	}, optFns...)
	if isNotFound(err) {
		return false, nil // the current version is a delete marker
	}
	if err != nil {
		return false, err
	}
	norm := func(v *string) string {
		if s := aws.ToString(v); s != "" {
			return s
		}
		return "null"
	}
	return norm(head.VersionId) == norm(ref.versionID), nil
}

// searchInstructionVersions returns the newest version of ref's
// instruction file whose binding id is want; nil if none.
func (c *Client) searchInstructionVersions(ctx context.Context, ref objectRef, want string, optFns []func(*s3.Options)) (*instructionFile, error) {
	lister, ok := c.s3.(versionLister)
	if !ok {
		return nil, fmt.Errorf("%w: the current instruction file does not belong to the object, and the S3 client (%T) has no ListObjectVersions to look for the one that does", ErrInstructionFileMismatch, c.s3)
	}
	name := aws.ToString(ref.key) + c.suffix(ctx)
	in := &s3.ListObjectVersionsInput{Bucket: ref.bucket, Prefix: aws.String(name), ExpectedBucketOwner: ref.owner, RequestPayer: ref.payer}
	looked := 0
	for {
		out, err := lister.ListObjectVersions(ctx, in, optFns...)
		if err != nil {
			return nil, fmt.Errorf("%w: list the versions of the instruction file: %w", ErrInstructionFileMismatch, err)
		}
		for _, v := range out.Versions {
			k := aws.ToString(v.Key)
			if k > name {
				return nil, nil // S3 lists keys in order: past ours
			}
			if k != name || v.VersionId == nil || aws.ToBool(v.IsLatest) {
				// The latest version is the current instruction file,
				// already read (in an unversioned bucket, the only one;
				// some servers refuse its "null" version id).
				continue
			}
			if looked++; looked > maxInstructionVersions {
				return nil, fmt.Errorf("%w: none of the newest %d versions of the instruction file carries the object's id", ErrInstructionFileMismatch, maxInstructionVersions)
			}
			f, err := c.readInstructionFile(ctx, ref, v.VersionId, optFns)
			if err != nil {
				return nil, err
			}
			if f != nil && f.binding == want {
				return f, nil
			}
		}
		if !aws.ToBool(out.IsTruncated) {
			return nil, nil
		}
		in.KeyMarker, in.VersionIdMarker = out.NextKeyMarker, out.NextVersionIdMarker
	}
}

// isNotFound reports an S3 404.
func isNotFound(err error) bool {
	if err == nil {
		return false
	}
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	if errors.As(err, &nsk) || errors.As(err, &nf) {
		return true
	}
	var api smithy.APIError
	if errors.As(err, &api) && (api.ErrorCode() == "NoSuchKey" || api.ErrorCode() == "NotFound") {
		return true
	}
	var re *awshttp.ResponseError
	return errors.As(err, &re) && re.HTTPStatusCode() == 404
}
