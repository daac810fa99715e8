package encryptionclient

import (
	"context"
	"fmt"
	"io"
	"maps"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/internal/objectcrypto"
	"github.com/s3ec/s3ec-go/materials"
)

// DefaultReEncryptThreshold is the plaintext size above which ReEncrypt
// and Adopt write the new object with a parallel multipart Upload; at or
// below it the whole plaintext is buffered and authenticated before a
// single PutObject. It is also the bound of that buffer: 16 MiB.
const DefaultReEncryptThreshold = 16 << 20

// ReEncryptInput names an object to rewrite under a new data key in the
// format the client writes (V3 by default).
type ReEncryptInput struct {
	// Bucket and Key name the object. Required.
	Bucket *string
	Key    *string

	// VersionId is the version to read. Optional; it must be the current
	// version, as only the current version can be rewritten in place:
	// another fails with ErrNotCurrentVersion (an ErrObjectChanged).
	VersionId *string

	// IfMatch is the ETag the caller expects. Optional: by default the
	// ETag the GetObject of the source reads. The read is pinned to it and
	// the write is conditional on it (ErrObjectChanged otherwise).
	IfMatch *string

	// Keyring wraps the new data key. Nil: the client's keyring.
	Keyring materials.Keyring

	// EncryptionContext is bound to the new data key (KMS keyrings). Nil
	// keeps the stored context, as Rewrap does; an empty map writes none.
	EncryptionContext map[string]string

	// DryRun makes every read, verification and key-service call, and
	// writes nothing.
	DryRun bool

	// Force rewrites an object that is already current (default:
	// ErrAlreadyCurrent).
	Force bool

	// AllowUnauthenticatedSource allows a source whose content carries no
	// authentication tag: AES-CBC (V1 objects, and V2 objects with CBC
	// content). Without it such a source fails with
	// ErrUnauthenticatedSource and nothing is written. CBC objects carry
	// no tag: what ReEncrypt reads is authenticated from then on (the new
	// object's tag covers whatever the stored bytes decrypted to, altered
	// or not); use it only for objects you trust, ideally after comparing
	// with an independent checksum. ReEncryptOutput.SourceAuthenticated
	// reports which it was.
	AllowUnauthenticatedSource bool

	// MultipartThreshold is the plaintext size above which the new object
	// is written by parallel multipart Upload; it is also the bound of the
	// in-memory buffer of smaller objects. Default DefaultReEncryptThreshold.
	MultipartThreshold int64

	// PartSize is the plaintext part size of the multipart path. Default
	// DefaultUploadPartSize.
	PartSize int64

	// Concurrency is the number of parts in flight. Default
	// DefaultConcurrency (4); at most 10,000.
	Concurrency int

	ExpectedBucketOwner *string
	RequestPayer        types.RequestPayer

	// SSECustomerAlgorithm, SSECustomerKey and SSECustomerKeyMD5 give the
	// customer key of an SSE-C object: it is read with it and the new
	// object is written under it.
	SSECustomerAlgorithm *string
	SSECustomerKey       *string
	SSECustomerKeyMD5    *string
}

// ReEncryptOutput describes a re-encryption.
type ReEncryptOutput struct {
	// From and To are the source's and the new object's envelope formats.
	From, To envelope.Format
	// FromSuite and ToSuite are their content suites.
	FromSuite, ToSuite envelope.Suite
	// Size is the plaintext size in bytes.
	Size int64
	// Multipart reports that the new object was (in a dry run: would be)
	// written by multipart upload.
	Multipart bool
	// ETag and VersionId are those of the object written; nil in a dry run.
	ETag, VersionId *string
	// NotKept lists the attributes of the source that could not be carried
	// over to the new object: always "ACL".
	NotKept []string
	// SourceAuthenticated reports that the source's content was
	// authenticated (a GCM tag, and the key commitment of V3) before it
	// was written again. False for an AES-CBC source (V1, or V2 with CBC
	// content), re-encrypted only with
	// ReEncryptInput.AllowUnauthenticatedSource: its content was decrypted
	// and its padding checked, nothing more, and the new object
	// authenticates whatever it held.
	SourceAuthenticated bool
}

// ReEncrypt rewrites an encrypted object under a new data key, in the
// format the client writes (V3, key-committing, by default): the way to
// move V1 (AES-CBC) and V2 objects to V3, or to give an object a fresh
// data key. Unlike Rewrap, which only re-wraps the stored data key, the
// content is decrypted and encrypted again.
//
// Reading is authorized exactly as GetObject authorizes it: the client's
// keyring must unwrap the data key, under the client's commitment policy
// and legacy opt-ins (a V2 object needs RequireEncryptAllowDecrypt, a
// V1/CBC one also EnableLegacyUnauthenticatedModes), and the stored
// encryption context must be the one from WithEncryptionContext (none
// for an object without one). The new object's data key comes from
// in.Keyring (default: the client's keyring), bound to
// in.EncryptionContext; a nil in.EncryptionContext keeps the stored KMS
// context (the caller's part of it), as Rewrap does, and an empty map
// writes none (a move from KMS to a local keyring, which cannot bind one,
// needs it).
//
// An object already in the written format (V3 with the committing suite,
// or V2 for a client that writes V2) whose data key in.Keyring proves to
// wrap already (it unwraps it, or KMS reports a ReEncrypt from and to its
// key; a material description proves nothing), with the context asked,
// fails with ErrAlreadyCurrent and nothing is written, unless in.Force: a
// rerun of a finished job writes nothing. A target that cannot unwrap
// (an RSA keyring with only a public key) proves nothing, so every run
// rewrites the object again.
//
// The plaintext streams in constant memory. An object of at most
// in.MultipartThreshold bytes of plaintext (default 16 MiB) is read whole
// and authenticated before a single PutObject is sent; a larger one is
// decrypted as a stream into a parallel multipart upload (Upload's) whose
// CompleteMultipartUpload is sent only after the source's tag verified
// (CBC: its padding and length checked). Any failure aborts the
// multipart upload; nothing unauthenticated is ever stored as the object.
//
// The source is read with one GetObject of the current version, whose
// headers describe it (its envelope, size, metadata, lock) and are checked
// before a byte of its body is read (when those checks need S3 again, for
// an instruction file or the tags, that body is closed unread and read
// after them with a GetObject pinned to its version and ETag, so that no
// request waits for the connection the open body holds); the PutObject or the
// CompleteMultipartUpload is conditional on its ETag (If-Match), so that
// an object a concurrent writer replaced is never overwritten:
// ErrObjectChanged instead, and the writer's object stays. in.IfMatch, when set, must be
// that ETag; in.VersionId, when set, must be the current version (only
// the current version can be rewritten in place), else
// ErrNotCurrentVersion (a case of ErrObjectChanged).
// In a versioned bucket the new object is a new version; older versions
// keep their old encryption.
//
// Kept: the user metadata (without the envelope's entries), Content-Type,
// Content-Encoding, Content-Disposition, Content-Language, Cache-Control,
// Expires, WebsiteRedirectLocation, the tags, server-side encryption
// (AES256, or aws:kms with its key id and bucket-key setting; SSE-C with
// in's customer key) and the storage class. ACLs are not kept (S3 does not
// return them with the object; the new object gets the bucket's default):
// the output lists "ACL" in NotKept. An object under Object Lock (a
// retention date in the future, or a legal hold ON) fails with
// ErrObjectLocked: rewriting it would change what the lock protects.
//
// When the source's envelope was (partly) in an instruction file and the
// new one is in the object's metadata, the old instruction file is
// deleted after the new object was stored (a read of the new object never
// uses it: its metadata holds the whole envelope), provided the object is
// still the one written and the instruction file still the one read (a
// writer who replaced both meanwhile keeps its instruction file; in a
// versioned bucket the delete is a delete marker, older versions stay).
// If that delete fails, the object is re-encrypted, and the output is
// returned with an error that says so. When the client stores envelopes
// in instruction files (Options.EnvelopeStorage), the new one replaces the
// old one read, conditionally on its ETag (If-Match); when the source used
// none, the new instruction file is written before the object, and only
// where no object is named key+suffix (a HeadObject, then If-None-Match
// "*"): an unrelated object of that name fails the call with
// ErrInstructionFileMismatch before anything is written, and a failed
// write of the object removes the new instruction file again, so that the
// object is never left without its envelope.
//
// in.DryRun makes every read, verification and key-service call (the new
// data key included) and writes nothing.
//
// A source without an authentication tag (AES-CBC: V1 objects, V2 with
// CBC content) fails with ErrUnauthenticatedSource, before anything is
// written or read of its body, unless in.AllowUnauthenticatedSource: a
// re-encryption would turn content that may have been altered into an
// authenticated object. ReEncryptOutput.SourceAuthenticated says whether
// the source was authenticated.
//
// The no-lost-update guarantee rests on the server: it must honour
// If-Match on PutObject and CompleteMultipartUpload (AWS S3, MinIO and
// versitygw do). On a store that accepts and ignores the condition, a
// concurrent writer's object that replaced the source between the read
// and the write is overwritten with the old content, and nothing
// afterwards can tell: use ReEncrypt only against stores with
// conditional writes, or where no one else writes the keys meanwhile.
//
// Errors are *ObjectError: ErrNotEncrypted for an object without an
// envelope, ErrAuthentication for a body that fails authentication
// (nothing written), ErrUnauthenticatedSource for a CBC source without
// the opt-in, and the errors of GetObject and PutObject.
func (c *Client) ReEncrypt(ctx context.Context, in *ReEncryptInput, optFns ...func(*s3.Options)) (*ReEncryptOutput, error) {
	if in == nil {
		return nil, invalid("nil ReEncryptInput")
	}
	out, err := c.reEncrypt(ctx, in, withSafety(optFns))
	return out, objectError("ReEncrypt", in.Bucket, in.Key, err)
}

// notKept lists what a rewrite cannot carry over.
func notKept() []string { return []string{"ACL"} }

// rewriteParams are the fields ReEncryptInput and AdoptInput share.
type rewriteParams struct {
	bucket, key, versionID, ifMatch *string
	keyring                         materials.Keyring
	dryRun                          bool
	threshold, partSize             int64
	concurrency                     int
	owner                           *string
	payer                           types.RequestPayer
	sseAlg, sseKey, sseMD5          *string
}

func (p *rewriteParams) check(ctx context.Context, client S3API) error {
	switch {
	case aws.ToString(p.bucket) == "" || aws.ToString(p.key) == "":
		return invalid("bucket and key are required")
	case p.threshold < 0:
		return invalid("negative MultipartThreshold")
	case p.threshold > envelope.MaxGCMPlaintextSize:
		return invalid("MultipartThreshold %d exceeds the largest object", p.threshold)
	case checkConcurrency(p.concurrency) != nil:
		return checkConcurrency(p.concurrency)
	case p.partSize < 0:
		return invalid("negative PartSize")
	case p.versionID != nil && *p.versionID == "":
		return invalid("empty VersionId")
	case p.ifMatch != nil && *p.ifMatch == "":
		return invalid("empty IfMatch")
	}
	if p.threshold == 0 {
		p.threshold = DefaultReEncryptThreshold
	}
	if p.partSize != 0 {
		if err := checkPartSize(p.partSize, limitsFrom(ctx)); err != nil {
			return err
		}
	}
	return checkSSEC(client, p.sseKey)
}

func (p *rewriteParams) ref(version *string) objectRef {
	return objectRef{
		bucket: p.bucket, key: p.key, versionID: version,
		sseAlg: p.sseAlg, sseKey: p.sseKey, sseMD5: p.sseMD5,
		owner: p.owner, payer: p.payer,
	}
}

// headCurrent reads the current version of the object and checks that it
// is the one the caller named (version, ETag) and that it may be
// rewritten in place (no object lock).
func (c *Client) headCurrent(ctx context.Context, p *rewriteParams, optFns []func(*s3.Options)) (*s3.HeadObjectOutput, error) {
	head, err := c.s3.HeadObject(ctx, &s3.HeadObjectInput{
		Bucket: p.bucket, Key: p.key, IfMatch: p.ifMatch,
		SSECustomerAlgorithm: p.sseAlg, SSECustomerKey: p.sseKey, SSECustomerKeyMD5: p.sseMD5,
		ExpectedBucketOwner: p.owner, RequestPayer: p.payer,
	}, optFns...)
	if err != nil {
		if p.ifMatch != nil {
			return nil, changedError("HeadObject", err)
		}
		return nil, err
	}
	if err := checkCurrent(p, head, "HeadObject"); err != nil {
		return nil, err
	}
	return head, nil
}

// getCurrent is headCurrent and the read in one request, as ReEncrypt
// reads: a GetObject of the current version, whose headers are checked as
// headCurrent checks HeadObject's, and whose body, which must hold exactly
// the bytes announced, is the source. The caller closes it; one that
// stops before reading it (a check that fails, an object already current)
// costs the bytes already in flight, nothing more.
func (c *Client) getCurrent(ctx context.Context, p *rewriteParams, optFns []func(*s3.Options)) (*s3.HeadObjectOutput, *exactBody, error) {
	out, err := c.s3.GetObject(ctx, &s3.GetObjectInput{
		Bucket: p.bucket, Key: p.key, IfMatch: p.ifMatch,
		SSECustomerAlgorithm: p.sseAlg, SSECustomerKey: p.sseKey, SSECustomerKeyMD5: p.sseMD5,
		ExpectedBucketOwner: p.owner, RequestPayer: p.payer,
	}, optFns...)
	if err != nil {
		if p.ifMatch != nil {
			return nil, nil, changedError("GetObject", err)
		}
		return nil, nil, err
	}
	head := headOf(out)
	if err := checkCurrent(p, head, "GetObject"); err != nil {
		out.Body.Close()
		return nil, nil, err
	}
	if err := checkWholeResponse(out, *head.ContentLength); err != nil {
		out.Body.Close()
		return nil, nil, err
	}
	return head, newExactBody(out.Body, *head.ContentLength), nil
}

// headOf is what a GetObject answer says of the object, as HeadObject
// would have said it: what a rewrite checks and carries over.
func headOf(out *s3.GetObjectOutput) *s3.HeadObjectOutput {
	return &s3.HeadObjectOutput{
		ETag: out.ETag, VersionId: out.VersionId, ContentLength: out.ContentLength,
		Metadata: out.Metadata, TagCount: out.TagCount, StorageClass: out.StorageClass,
		ContentType: out.ContentType, CacheControl: out.CacheControl, ContentDisposition: out.ContentDisposition,
		ContentEncoding: out.ContentEncoding, ContentLanguage: out.ContentLanguage,
		ExpiresString: out.ExpiresString, WebsiteRedirectLocation: out.WebsiteRedirectLocation,
		ServerSideEncryption: out.ServerSideEncryption, SSEKMSKeyId: out.SSEKMSKeyId, BucketKeyEnabled: out.BucketKeyEnabled,
		SSECustomerAlgorithm: out.SSECustomerAlgorithm, SSECustomerKeyMD5: out.SSECustomerKeyMD5,
		ObjectLockMode: out.ObjectLockMode, ObjectLockRetainUntilDate: out.ObjectLockRetainUntilDate,
		ObjectLockLegalHoldStatus: out.ObjectLockLegalHoldStatus,
		LastModified:              out.LastModified, DeleteMarker: out.DeleteMarker,
	}
}

// checkCurrent checks what HeadObject (or GetObject, op) said of the
// object a rewrite reads: the version and ETag the caller named, an ETag
// for the conditional write, a size, and no object lock.
func checkCurrent(p *rewriteParams, head *s3.HeadObjectOutput, op string) error {
	if p.versionID != nil && !sameVersion(p.versionID, head.VersionId) {
		return fmt.Errorf("%w: version %s; only the current version can be rewritten in place", ErrNotCurrentVersion, *p.versionID)
	}
	if p.ifMatch != nil && *p.ifMatch != "*" && head.ETag != nil && !sameETag(head.ETag, p.ifMatch) {
		return fmt.Errorf("%w: ETag %s, expected %s", ErrObjectChanged, *head.ETag, *p.ifMatch)
	}
	if aws.ToString(head.ETag) == "" {
		return fmt.Errorf("%w: %s returned no ETag, which the conditional write needs", ErrBadResponse, op)
	}
	if head.ContentLength == nil || *head.ContentLength < 0 {
		return fmt.Errorf("%w: %s returned no object size", ErrBadResponse, op)
	}
	return checkLock(head, time.Now())
}

// sameVersion compares version ids; "null" is an unversioned object's.
func sameVersion(a, b *string) bool {
	norm := func(v *string) string {
		if s := aws.ToString(v); s != "null" {
			return s
		}
		return ""
	}
	return norm(a) == norm(b)
}

// checkLock refuses an object under Object Lock.
func checkLock(head *s3.HeadObjectOutput, now time.Time) error {
	if head.ObjectLockLegalHoldStatus == types.ObjectLockLegalHoldStatusOn {
		return fmt.Errorf("%w: legal hold ON", ErrObjectLocked)
	}
	if head.ObjectLockMode != "" && head.ObjectLockRetainUntilDate != nil && head.ObjectLockRetainUntilDate.After(now) {
		return fmt.Errorf("%w: %s retention until %s", ErrObjectLocked, head.ObjectLockMode, head.ObjectLockRetainUntilDate.UTC().Format(time.RFC3339))
	}
	return nil
}

// getPinned GETs the whole object head describes, pinned to its version
// and ETag, and returns its body, which must hold exactly ctLen bytes.
func (c *Client) getPinned(ctx context.Context, p *rewriteParams, head *s3.HeadObjectOutput, checksums bool, optFns []func(*s3.Options)) (*exactBody, error) {
	req := &s3.GetObjectInput{
		Bucket: p.bucket, Key: p.key, VersionId: head.VersionId, IfMatch: head.ETag,
		SSECustomerAlgorithm: p.sseAlg, SSECustomerKey: p.sseKey, SSECustomerKeyMD5: p.sseMD5,
		ExpectedBucketOwner: p.owner, RequestPayer: p.payer,
	}
	if checksums {
		req.ChecksumMode = types.ChecksumModeEnabled
	}
	out, err := c.s3.GetObject(ctx, req, optFns...)
	if err != nil {
		return nil, changedError("GetObject", err)
	}
	ctLen := aws.ToInt64(head.ContentLength)
	if err := checkWholeResponse(out, ctLen); err != nil {
		out.Body.Close()
		return nil, err
	}
	if out.ETag != nil && aws.ToString(out.ETag) != aws.ToString(head.ETag) {
		out.Body.Close()
		return nil, fmt.Errorf("%w: GetObject returned ETag %s, HeadObject %s", ErrObjectChanged, aws.ToString(out.ETag), aws.ToString(head.ETag))
	}
	return newExactBody(out.Body, ctLen), nil
}

// writer returns a client that writes as c does, with kr as its keyring.
func (c *Client) writer(kr materials.Keyring) *Client {
	if kr == nil {
		return c
	}
	return &Client{s3: c.s3, keyring: kr, opts: c.opts}
}

// rewriteInput is the PutObject of the rewritten object: the source's
// metadata (meta, without envelope entries), content headers, tags,
// server-side encryption and storage class, conditional on its ETag.
func rewriteInput(p *rewriteParams, head *s3.HeadObjectOutput, meta map[string]string, tagging *string) *s3.PutObjectInput {
	put := &s3.PutObjectInput{
		Bucket: p.bucket, Key: p.key, Metadata: meta, Tagging: tagging, IfMatch: head.ETag,
		ContentType: head.ContentType, CacheControl: head.CacheControl, ContentDisposition: head.ContentDisposition,
		ContentEncoding: head.ContentEncoding, ContentLanguage: head.ContentLanguage, Expires: expiresOf(head),
		WebsiteRedirectLocation: head.WebsiteRedirectLocation,
		StorageClass:            head.StorageClass,
		SSECustomerAlgorithm:    p.sseAlg, SSECustomerKey: p.sseKey, SSECustomerKeyMD5: p.sseMD5,
		ExpectedBucketOwner: p.owner, RequestPayer: p.payer,
	}
	if p.sseKey == nil {
		put.ServerSideEncryption = head.ServerSideEncryption
		if isSSEKMS(head.ServerSideEncryption) {
			put.SSEKMSKeyId, put.BucketKeyEnabled = head.SSEKMSKeyId, head.BucketKeyEnabled
		}
	}
	return put
}

// rewritePut reads the source's tags and builds the PutObject of the
// rewritten object, checked as PutObject checks it: before the body is
// read, so that a failure writes nothing.
func (c *Client) rewritePut(ctx context.Context, p *rewriteParams, head *s3.HeadObjectOutput, meta map[string]string, optFns []func(*s3.Options)) (*s3.PutObjectInput, error) {
	tagging, err := c.objectTagging(ctx, &RewrapInput{Bucket: p.bucket, Key: p.key, ExpectedBucketOwner: p.owner, RequestPayer: p.payer}, head, optFns)
	if err != nil {
		return nil, err
	}
	put := rewriteInput(p, head, meta, tagging)
	if err := checkPutInput(c.s3, put); err != nil {
		return nil, err
	}
	return put, nil
}

// rewritten is the result of a rewrite's write.
type rewritten struct {
	etag, version   *string
	size            int64 // plaintext bytes written
	multipart       bool
	instructionFile bool // the new envelope is in an instruction file
}

// rewrite writes plaintext (size bytes, -1 when unknown; from src, or in
// buf when it was read whole) as the new object with w, conditionally on
// the source's ETag; wctx carries the new encryption context.
func (c *Client) rewrite(wctx context.Context, w *Client, p *rewriteParams, put *s3.PutObjectInput, buf []byte, src io.Reader, size int64, optFns []func(*s3.Options)) (*rewritten, error) {
	if buf != nil || src == nil {
		req := *put
		req.Body, req.ContentLength = newOwnedPlaintext(buf), aws.Int64(int64(len(buf)))
		out, instr, err := w.putObjectPlaced(wctx, &req, optFns)
		if err != nil {
			return nil, changedError("PutObject", err)
		}
		return &rewritten{etag: out.ETag, version: out.VersionId, size: int64(len(buf)), instructionFile: instr}, nil
	}
	o := UploadOptions{PartSize: p.partSize, Concurrency: p.concurrency, ClientOptions: optFns, limits: limitsFrom(wctx)}
	if err := o.resolve(); err != nil {
		return nil, err
	}
	out, err := w.uploadMultipart(wctx, put, src, size, &o, &progress{})
	if err != nil {
		return nil, changedError("multipart upload", err)
	}
	return &rewritten{etag: out.ETag, version: out.VersionID, size: out.Size, multipart: true, instructionFile: out.inInstructionFile}, nil
}

func (c *Client) reEncrypt(ctx context.Context, in *ReEncryptInput, optFns []func(*s3.Options)) (*ReEncryptOutput, error) {
	p := &rewriteParams{
		bucket: in.Bucket, key: in.Key, versionID: in.VersionId, ifMatch: in.IfMatch,
		keyring: in.Keyring, dryRun: in.DryRun,
		threshold: in.MultipartThreshold, partSize: in.PartSize, concurrency: in.Concurrency,
		owner: in.ExpectedBucketOwner, payer: in.RequestPayer,
		sseAlg: in.SSECustomerAlgorithm, sseKey: in.SSECustomerKey, sseMD5: in.SSECustomerKeyMD5,
	}
	if err := p.check(ctx, c.s3); err != nil {
		return nil, err
	}
	// One GetObject both describes the object and brings its body; no
	// byte of the body is read before every check below passed.
	head, body, err := c.getCurrent(ctx, p, optFns)
	if err != nil {
		return nil, err
	}
	defer func() {
		if body != nil {
			body.Close()
		}
	}()
	if layout, err := envelope.Detect(head.Metadata); err == nil && (layout != envelope.LayoutObject || c.customSuffix(ctx) || aws.ToInt32(head.TagCount) > 0) {
		// The checks ask S3 more (the instruction file, the tags): the
		// open body would hold its connection meanwhile, which an HTTP
		// client with one connection per host (or as many as the job's
		// workers) never gets back. Its body is read, after the checks,
		// with a GET pinned to its version and ETag instead.
		body.Close()
		body = nil
	}
	env, instr, err := c.loadEnvelope(ctx, p.ref(head.VersionId), head.Metadata, forRead, optFns)
	if err != nil {
		return nil, err
	}
	ctLen := *head.ContentLength
	if err := envelope.CheckBodyLength(env.Suite, ctLen, env.PlaintextLength); err != nil {
		return nil, err
	}
	// The read is authorized as GetObject authorizes it.
	op, err := objectcrypto.Open(ctx, c.keyring, objectcrypto.DecryptOptions{
		Policy: c.opts.policy(), EncryptionContext: EncryptionContextFrom(ctx),
	}, env)
	if err != nil {
		return nil, err
	}
	defer op.Close()
	if !op.Authenticated() && !in.AllowUnauthenticatedSource {
		return nil, fmt.Errorf("%w: %v %v content carries no authentication tag; set ReEncryptInput.AllowUnauthenticatedSource for objects you trust", ErrUnauthenticatedSource, env.Format, env.Suite)
	}

	target := in.Keyring
	if target == nil {
		target = c.keyring
	}
	toSuite := c.opts.policy().EncryptSuite()
	toFormat := envelope.FormatV2
	if toSuite.Committing() {
		toFormat = envelope.FormatV3
	}
	newContext := in.EncryptionContext
	if newContext == nil {
		newContext = env.UserContext()
	}
	if !in.Force && env.Format == toFormat && env.Suite == toSuite &&
		sameContext(env.UserContext(), newContext) && objectcrypto.WrappedBy(ctx, env, target) {
		return nil, fmt.Errorf("%w: %v %v, and the target keyring unwraps its data key", ErrAlreadyCurrent, env.Format, env.Suite)
	}

	size := int64(-1)
	if n, exact, err := envelope.PlaintextLength(env.Suite, ctLen); err == nil && exact {
		size = n
	} else if env.PlaintextLength >= 0 {
		size = env.PlaintextLength
	}
	// A CBC plaintext of unknown length is at most its ciphertext's.
	small := size <= p.threshold && (size >= 0 || ctLen <= p.threshold)
	out := &ReEncryptOutput{
		From: env.Format, To: toFormat, FromSuite: env.Suite, ToSuite: toSuite,
		Size: size, Multipart: !small, NotKept: notKept(),
		SourceAuthenticated: op.Authenticated(),
	}

	put, err := c.rewritePut(ctx, p, head, withoutEnvelope(head.Metadata), optFns)
	if err != nil {
		return nil, err
	}
	w := c.writer(in.Keyring)
	wctx := withInstrPlan(WithEncryptionContext(ctx, newContext), &instrPlan{read: instr})

	if body == nil {
		if body, err = c.getPinned(ctx, p, head, false, optFns); err != nil {
			return nil, err
		}
	}
	var res *rewritten
	if small {
		pt, err := op.ReadVerified(body, p.threshold, max(size, 0))
		if err != nil {
			return nil, err
		}
		defer clear(pt)
		out.Size = int64(len(pt))
		if p.dryRun {
			// The new data key is asked for, as a real run would.
			return out, c.dryRunKey(wctx, w, int64(len(pt)))
		}
		if res, err = c.rewrite(wctx, w, p, put, pt, nil, -1, optFns); err != nil {
			return nil, err
		}
	} else {
		ra := maybeReadAhead(body, ctLen)
		defer ra.Close()
		r, err := op.UnverifiedReader(ra)
		if err != nil {
			return nil, err
		}
		defer r.Close()
		if p.dryRun {
			n, err := io.Copy(io.Discard, r)
			if err != nil {
				return nil, err
			}
			out.Size = n
			return out, c.dryRunKey(wctx, w, n)
		}
		if res, err = c.rewrite(wctx, w, p, put, nil, r, size, optFns); err != nil {
			return nil, err
		}
	}
	out.ETag, out.VersionId, out.Size = res.etag, res.version, res.size
	if env.InInstructionFile && !res.instructionFile && instr != nil {
		if err := c.deleteOldInstructionFile(ctx, p, instr, res.etag, optFns); err != nil {
			return out, err
		}
	}
	return out, nil
}

// sameContext compares encryption contexts; nil and empty are the same.
func sameContext(a, b map[string]string) bool {
	return len(a) == len(b) && maps.Equal(a, b)
}

// withoutEnvelope is the source's user metadata without the envelope's
// entries and the instruction-file binding.
func withoutEnvelope(meta map[string]string) map[string]string {
	m := envelope.WithoutEnvelope(meta)
	for k := range m {
		if equalFoldASCII(k, instrBindingKey) || equalFoldASCII(k, envelope.KeyInstrFileMark) {
			delete(m, k)
		}
	}
	if len(m) == 0 {
		return nil
	}
	return m
}

func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range len(a) {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// dryRunKey makes the key-service call of a write (a new data key from
// w's keyring, under the context of wctx) and discards its result.
func (c *Client) dryRunKey(wctx context.Context, w *Client, size int64) error {
	_, err := objectcrypto.NewSealer(wctx, w.keyring, w.opts.policy(), EncryptionContextFrom(wctx), size)
	return err
}

// deleteOldInstructionFile removes the instruction file of the source,
// which the new object (whose envelope is in its metadata) no longer uses:
// only while the object is still the one just written (etag) and the
// instruction file still the one read (old), so that the instruction file
// of a writer who replaced both meanwhile is left alone.
func (c *Client) deleteOldInstructionFile(ctx context.Context, p *rewriteParams, old *instructionFile, etag *string, optFns []func(*s3.Options)) error {
	key := aws.ToString(p.key) + c.suffix(ctx)
	cctx, cancel := cleanupContext(ctx)
	defer cancel()
	// Each HEAD must show what this call expects: the object with the
	// ETag its write was answered with and a whole envelope in its
	// metadata (what the answer alone cannot prove: one that never came
	// from S3 may name the source's own ETag), and the instruction file as
	// it was read. Otherwise the file stays: an object that still needs it
	// would never decrypt again.
	still := func(k string, want *string, envelopeInMetadata bool) (bool, error) {
		if aws.ToString(want) == "" {
			return false, nil
		}
		h, err := c.s3.HeadObject(cctx, &s3.HeadObjectInput{
			Bucket: p.bucket, Key: aws.String(k),
			SSECustomerAlgorithm: p.sseAlg, SSECustomerKey: p.sseKey, SSECustomerKeyMD5: p.sseMD5,
			ExpectedBucketOwner: p.owner, RequestPayer: p.payer,
		}, optFns...)
		if isNotFound(err) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		if envelopeInMetadata {
			if layout, lerr := envelope.Detect(h.Metadata); lerr != nil || layout != envelope.LayoutObject {
				return false, nil
			}
		}
		return aws.ToString(h.ETag) == aws.ToString(want), nil
	}
	ok, err := still(aws.ToString(p.key), etag, true)
	if err == nil && ok {
		ok, err = still(key, old.etag, false)
	}
	if err == nil && ok {
		// Conditional on the ETag just seen: a writer that stores a new
		// object with its own instruction file after these checks keeps
		// it (412: nothing deleted). A server without conditional deletes
		// (501) gets the delete without the condition.
		_, err = c.deleteIfMatch(cctx, &s3.DeleteObjectInput{
			Bucket: p.bucket, Key: aws.String(key), IfMatch: old.etag, ExpectedBucketOwner: p.owner, RequestPayer: p.payer,
		}, optFns)
		if isPreconditionFailed(err) {
			return nil // replaced since: no longer the old file
		}
	}
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("the object was re-encrypted (its envelope is now in its metadata), but its old instruction file %s could not be deleted: %w", key, err)
	}
	return nil
}
