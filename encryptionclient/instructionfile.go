package encryptionclient

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/s3ec/s3ec-go/envelope"
)

// maxInstructionFile bounds what is read of an instruction file: a real one
// is well under 4 KiB.
const maxInstructionFile = 64 << 10

// completeWithInstructionFile writes the instruction file of the object a
// PutObject, an Upload or a CompleteMultipartUpload (in, its settings) has
// just stored as version; when it cannot be written, the object, which
// cannot be read without it, is removed again (unreadable). In a rewrite
// (instrPlan) of a source whose instruction file was read, the write is
// conditional on that file's ETag, so that the instruction file of a
// concurrent writer is never overwritten, and the rewritten object, which
// existed before, is never deleted (only the version written).
func (c *Client) completeWithInstructionFile(ctx context.Context, in *s3.PutObjectInput, body []byte, version *string, optFns []func(*s3.Options)) error {
	var cond instrCond
	existed := false
	if plan := instrPlanFrom(ctx); plan != nil {
		existed = true
		if plan.read != nil {
			cond.ifMatch = plan.read.etag
		}
	}
	if _, err := c.putInstructionFile(ctx, in, body, cond, optFns); err != nil {
		return c.unreadable(ctx, createdObject{
			bucket: in.Bucket, key: in.Key, version: version, existedBefore: existed,
			sent:  map[string]string{instrBindingKey: instructionID(body)}, // what the object written carries
			owner: in.ExpectedBucketOwner, payer: in.RequestPayer,
			sseAlg: in.SSECustomerAlgorithm, sseKey: in.SSECustomerKey, sseMD5: in.SSECustomerKeyMD5,
		}, err, optFns)
	}
	return nil
}

// instrCond are the conditions of an instruction file's write.
type instrCond struct {
	ifMatch, ifNoneMatch *string
}

// putInstructionFile stores the instruction file of the object in, with
// the object's server-side encryption, access and storage settings, and
// the binding id that placeEnvelope put on the object (instructionID),
// under cond; it returns the output of the write.
func (c *Client) putInstructionFile(ctx context.Context, in *s3.PutObjectInput, body []byte, cond instrCond, optFns []func(*s3.Options)) (*s3.PutObjectOutput, error) {
	out, err := c.s3.PutObject(ctx, &s3.PutObjectInput{
		Bucket:                  in.Bucket,
		Key:                     aws.String(aws.ToString(in.Key) + c.suffix(ctx)),
		Body:                    bytes.NewReader(body),
		ContentLength:           aws.Int64(int64(len(body))),
		ContentType:             aws.String("application/json"),
		Metadata:                map[string]string{envelope.KeyInstrFileMark: "", instrBindingKey: instructionID(body)},
		IfMatch:                 cond.ifMatch,
		IfNoneMatch:             cond.ifNoneMatch,
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
	if err == nil {
		err = requireETag("PutObject of the instruction file", out.ETag)
	}
	if err != nil {
		return nil, fmt.Errorf("write instruction file: %w", err)
	}
	return out, nil
}

// instrPlan tells the write path of a rewrite (ReEncrypt, Adopt) which
// instruction file the source used, so that a new envelope stored in an
// instruction file never overwrites an object the rewrite did not read.
type instrPlan struct {
	// read is the source's instruction file as read; nil when the source
	// used none (its envelope was in its metadata, or it had none).
	read *instructionFile
}

type instrPlanKey struct{}

func withInstrPlan(ctx context.Context, p *instrPlan) context.Context {
	return context.WithValue(ctx, instrPlanKey{}, p)
}

func instrPlanFrom(ctx context.Context) *instrPlan {
	p, _ := ctx.Value(instrPlanKey{}).(*instrPlan)
	return p
}

// instrFirst writes the instruction file (body) of a rewrite whose source
// used none, before the object: key+suffix must not exist (a HeadObject
// first, then the write with If-None-Match "*"), else nothing is written
// and the error is ErrInstructionFileMismatch. Written first, it is never
// missing for the new object; until the object is written, the source
// (whose envelope is in its metadata) does not read it. first reports
// that it was written; undo removes it again after the object's write
// failed (only the version written, or the file while its ETag is still
// the one written). Outside such a rewrite, or with no body, it does
// nothing.
func (c *Client) instrFirst(ctx context.Context, in *s3.PutObjectInput, body []byte, optFns []func(*s3.Options)) (first bool, undo func(), err error) {
	plan := instrPlanFrom(ctx)
	if plan == nil || plan.read != nil || body == nil {
		return false, nil, nil
	}
	key := aws.ToString(in.Key) + c.suffix(ctx)
	conflict := func(detail string) error {
		return fmt.Errorf("%w: %s already exists%s and is no instruction file that the source used: storing the new envelope there would overwrite it; nothing was written (rename that object, or store envelopes in metadata)", ErrInstructionFileMismatch, key, detail)
	}
	_, herr := c.s3.HeadObject(ctx, &s3.HeadObjectInput{
		Bucket: in.Bucket, Key: aws.String(key),
		SSECustomerAlgorithm: in.SSECustomerAlgorithm, SSECustomerKey: in.SSECustomerKey, SSECustomerKeyMD5: in.SSECustomerKeyMD5,
		ExpectedBucketOwner: in.ExpectedBucketOwner, RequestPayer: in.RequestPayer,
	}, optFns...)
	switch {
	case herr == nil:
		return false, nil, conflict("")
	case !isNotFound(herr):
		return false, nil, fmt.Errorf("HeadObject of %s, where the new instruction file would go (nothing was written): %w", key, herr)
	}
	out, err := c.putInstructionFile(ctx, in, body, instrCond{ifNoneMatch: aws.String("*")}, optFns)
	if err != nil {
		if isPreconditionFailed(err) {
			return false, nil, conflict(" (created meanwhile)")
		}
		return false, nil, err
	}
	id := instructionID(body)
	undo = func() {
		// The object's write failed, or was answered as refused; an answer
		// alone proves nothing, so the file goes only when the object at
		// the key does not carry its binding id (the write did not
		// happen), and only if the file is still this call's: the version
		// a HeadObject shows carrying its id (the answer's version id is
		// where it looks first), or the current file conditional on its
		// ETag (cleanupCreated).
		if c.objectNeedsInstructionFile(ctx, objectRef{
			bucket: in.Bucket, key: in.Key, sseAlg: in.SSECustomerAlgorithm, sseKey: in.SSECustomerKey, sseMD5: in.SSECustomerKeyMD5,
			owner: in.ExpectedBucketOwner, payer: in.RequestPayer,
		}, id, optFns) {
			return
		}
		c.cleanupCreated(ctx, createdObject{
			bucket: in.Bucket, key: aws.String(key), version: out.VersionId,
			sent:  map[string]string{instrBindingKey: id},
			owner: in.ExpectedBucketOwner, payer: in.RequestPayer,
			sseAlg: in.SSECustomerAlgorithm, sseKey: in.SSECustomerKey, sseMD5: in.SSECustomerKeyMD5,
		}, optFns)
	}
	return true, undo, nil
}

// objectNeedsInstructionFile reports whether the object ref names (its
// current version) carries binding, the id of an instruction file this
// call wrote, or cannot be told: a write answered as failed or refused may
// have happened anyway (a network forges answers as easily as it drops
// them), and an object that carries the id reads only with that file.
func (c *Client) objectNeedsInstructionFile(ctx context.Context, ref objectRef, binding string, optFns []func(*s3.Options)) bool {
	cctx, cancel := cleanupContext(ctx)
	defer cancel()
	h, err := c.s3.HeadObject(cctx, &s3.HeadObjectInput{
		Bucket: ref.bucket, Key: ref.key,
		SSECustomerAlgorithm: ref.sseAlg, SSECustomerKey: ref.sseKey, SSECustomerKeyMD5: ref.sseMD5,
		ExpectedBucketOwner: ref.owner, RequestPayer: ref.payer,
	}, optFns...)
	switch {
	case isNotFound(err):
		return false
	case err != nil:
		return true // cannot be told: an extra file is harmless, a missing one is not
	}
	return sameEnvelope(map[string]string{instrBindingKey: binding}, h.Metadata)
}

// serverRefused reports an error the server answered with a 4xx status:
// the write was refused, nothing was stored. A network error or a 5xx may
// have followed a stored write.
func serverRefused(err error) bool {
	var re *awshttp.ResponseError
	return errors.As(err, &re) && re.HTTPStatusCode() >= 400 && re.HTTPStatusCode() < 500
}

// isPreconditionFailed reports a 412 (a conditional write refused).
func isPreconditionFailed(err error) bool {
	var api smithy.APIError
	var re *awshttp.ResponseError
	return (errors.As(err, &api) && api.ErrorCode() == "PreconditionFailed") || (errors.As(err, &re) && re.HTTPStatusCode() == http.StatusPreconditionFailed)
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
	listOpts := append(slices.Clip(optFns), limitResponseBody(maxListingAnswer))
	looked := 0
	for pages := 1; ; pages++ {
		out, err := lister.ListObjectVersions(ctx, in, listOpts...)
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
		// The markers must move on, within a bounded number of pages:
		// a server that answers the same page again, or pages of delete
		// markers without end, would keep the search going forever.
		next := [2]string{aws.ToString(out.NextKeyMarker), aws.ToString(out.NextVersionIdMarker)}
		switch {
		case next[0] == "" || next == [2]string{aws.ToString(in.KeyMarker), aws.ToString(in.VersionIdMarker)}:
			return nil, fmt.Errorf("%w: %w: a truncated listing of the instruction file's versions without new markers", ErrInstructionFileMismatch, ErrBadResponse)
		case next[0] > name:
			return nil, nil // the next page starts past ours
		case pages >= maxInstructionVersionPages:
			return nil, fmt.Errorf("%w: none of %d pages of the instruction file's versions holds the one that carries the object's id", ErrInstructionFileMismatch, pages)
		}
		in.KeyMarker, in.VersionIdMarker = out.NextKeyMarker, out.NextVersionIdMarker
	}
}

// maxInstructionVersionPages bounds the pages of versions (and delete
// markers) searchInstructionVersions reads: 1,000 entries a page, far more
// than maxInstructionVersions versions.
const maxInstructionVersionPages = 100

// instructionFileOf reports whether an object with metadata instrMeta,
// stored at the instruction-file name of an object with metadata baseMeta,
// is that object's instruction file rather than an object of its own that
// happens to end in the suffix: yes, no, or maybeInstr when only its
// content can tell (envelopeOfBase). RotatePrefix skips only such files,
// DeleteObject(s) removes only such files, and Adopt refuses them.
func instructionFileOf(baseMeta, instrMeta map[string]string) instrVerdict {
	if l, err := envelope.Detect(instrMeta); err != nil || l != envelope.LayoutNone {
		return notInstr // an envelope of its own (or a broken one): an object
	}
	switch l, err := envelope.Detect(baseMeta); {
	case err != nil, l == envelope.LayoutObject:
		return notInstr
	case l == envelope.LayoutNone:
		// A V2 object keeps its whole envelope in the instruction file;
		// so may an unencrypted object's namesake. The mark says so, but
		// AWS SDK Go v1's s3crypto (and s3ec v1) write instruction files
		// without it: then the content decides.
		if envelope.HasInstructionFileMark(instrMeta) {
			return isInstr
		}
		return maybeInstr
	}
	return isInstr // V3 content keys, or an incomplete envelope, on the object
}

// instrVerdict is instructionFileOf's answer.
type instrVerdict int

const (
	notInstr instrVerdict = iota
	isInstr
	maybeInstr // unmarked, beside an object without an envelope in its metadata
)

// envelopeOfBase reports whether the object at instrKey (whose HeadObject
// is instrHead), unmarked and beside an object without an envelope in its
// metadata (baseMeta), holds that object's envelope: it is read (at most
// maxInstructionFile bytes, its size checked before anything is
// allocated, pinned to the ETag HEAD saw) and decoded with baseMeta. One
// that is larger, or does not decode, is an object of its own. A file
// deleted meanwhile is none; other errors are returned.
func (c *Client) envelopeOfBase(ctx context.Context, in *s3.HeadObjectInput, instrKey string, instrHead *s3.HeadObjectOutput, baseMeta map[string]string, optFns []func(*s3.Options)) (bool, error) {
	if instrHead.ContentLength == nil || *instrHead.ContentLength < 0 || *instrHead.ContentLength > maxInstructionFile {
		return false, nil // a real instruction file is well under 4 KiB
	}
	out, err := c.s3.GetObject(ctx, &s3.GetObjectInput{
		Bucket: in.Bucket, Key: aws.String(instrKey), IfMatch: instrHead.ETag,
		SSECustomerAlgorithm: in.SSECustomerAlgorithm, SSECustomerKey: in.SSECustomerKey, SSECustomerKeyMD5: in.SSECustomerKeyMD5,
		ExpectedBucketOwner: in.ExpectedBucketOwner, RequestPayer: in.RequestPayer,
	}, optFns...)
	if isNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read %s to tell whether it is an instruction file: %w", instrKey, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(io.LimitReader(out.Body, maxInstructionFile+1))
	if err != nil {
		return false, fmt.Errorf("read %s to tell whether it is an instruction file: %w", instrKey, err)
	}
	if len(b) > maxInstructionFile {
		return false, nil
	}
	_, err = envelope.Decode(baseMeta, b)
	return err == nil, nil
}

// ownInstructionFile reports whether the object at key+suffix is key's
// instruction file (isInstructionFile), and the ETag it had then: its
// delete is conditional on it. An object that only ends in the suffix (an
// ordinary object named like an instruction file) is not, and neither is
// anything that cannot be read (missing, access denied, SSE-C without its
// key): a delete never removes what it cannot prove is an instruction
// file.
func (c *Client) ownInstructionFile(ctx context.Context, bucket, key, owner *string, payer types.RequestPayer, optFns []func(*s3.Options)) (bool, *string) {
	suffix := c.suffix(ctx)
	ok, etag, err := c.instructionFileETag(ctx, &s3.HeadObjectInput{
		Bucket: bucket, Key: aws.String(aws.ToString(key) + suffix), ExpectedBucketOwner: owner, RequestPayer: payer,
	}, suffix, optFns)
	return err == nil && ok, etag
}
