package encryptionclient

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/internal/objectcrypto"
	"github.com/s3ec/s3ec-go/internal/printable"
	"github.com/s3ec/s3ec-go/materials"
)

// Limits of S3's copy operations.
const (
	maxCopyObjectSize = 5 << 30 // the largest object one CopyObject copies
	minCopyPartSize   = 5 << 20 // the smallest part but the last
	maxCopyPartSize   = 5 << 30
	maxCopyParts      = 10000
	defaultCopyPart   = 512 << 20
	copyConcurrency   = 4 // parallel UploadPartCopy requests of one object
)

// RewrapInput names an object and the keyring its data key moves to.
type RewrapInput struct {
	// Bucket and Key name the object. Required.
	Bucket *string
	Key    *string

	// VersionId, when set, is the version the caller means to re-wrap
	// (a version id from a listing or an inventory). Only the current
	// version can be rewritten in place: when HeadObject finds another
	// one current, Rewrap fails with ErrNotCurrentVersion and writes
	// nothing. The rewrite is conditional on the ETag HeadObject saw, so
	// a write after that check fails too (ErrObjectChanged).
	VersionId *string

	// Keyring is the new keyring. It must implement
	// [materials.KeyWrapper], or, for objects whose data key KMS wrapped,
	// [materials.ReEncrypter]; the keyrings of the materials package for
	// KMS, AES and RSA implement what applies (an RSA public key suffices).
	// Required.
	Keyring materials.Keyring

	// EncryptionContext is the encryption context to bind the re-wrapped
	// key to (KMS keyrings). Nil keeps the object's current context; an
	// empty map removes it, as a move from KMS to a local keyring, which
	// cannot bind a context, requires. A context that is changed or
	// removed must be named with WithEncryptionContext (none for an object
	// without one), exactly as a read requires.
	EncryptionContext map[string]string

	// AllowSameKey lets the new wrapping key be the one that already wraps
	// the data key, for example to change only the encryption context.
	// Default false: Rewrap then fails with [ErrSameWrappingKey].
	AllowSameKey bool

	// DryRun makes every read, check and key-service call of a re-wrap
	// (KMS ReEncrypt included, whose result is discarded) but writes
	// nothing. Default false.
	DryRun bool

	// MultipartThreshold is the size above which an object whose envelope
	// is in its metadata is rewritten with a multipart copy
	// (UploadPartCopy) instead of CopyObject. Default and maximum 5 GiB,
	// S3's CopyObject limit.
	MultipartThreshold int64

	// PartSize is the part size of multipart copies, 5 MiB to 5 GiB.
	// Default 512 MiB, or more when the object would need more than 10,000
	// parts.
	PartSize int64

	// DestinationInstructionFileSuffix, when set, writes the re-wrapped key
	// to an additional instruction file, KEY + this suffix (for example
	// ".instruction-rsa", to share the object with a partner's RSA key),
	// instead of replacing the stored one: the envelope is read as usual
	// (from the metadata, or from the instruction file of the client's
	// suffix or WithInstructionFileSuffix's), and the object and that
	// instruction file are left untouched. It must differ from the source
	// suffix. The new file holds the whole envelope of a V1/V2 object, or
	// the wrapped-key part of a V3 one (the content keys stay on the
	// object), with the instruction-file marker and the object's binding
	// id (s3ec-instruction-id) when the object has one, so that a read
	// with WithInstructionFileSuffix(suffix) pairs it with the object as
	// it pairs the default one; it keeps the source instruction file's
	// other metadata and settings (or, for a metadata envelope, the
	// object's storage class and server-side encryption). The write is
	// conditional on the file not existing (If-None-Match: *): an existing
	// one fails with ErrObjectChanged unless OverwriteDestination is set.
	// Readers find it only with WithInstructionFileSuffix(suffix).
	DestinationInstructionFileSuffix string

	// OverwriteDestination lets a re-wrap into
	// DestinationInstructionFileSuffix replace an existing file of that
	// name (unconditionally). Default false.
	OverwriteDestination bool

	ExpectedBucketOwner *string
	RequestPayer        types.RequestPayer

	// SSECustomerAlgorithm, SSECustomerKey and SSECustomerKeyMD5 give the
	// customer key of an SSE-C object; it stays encrypted under it.
	SSECustomerAlgorithm *string
	SSECustomerKey       *string
	SSECustomerKeyMD5    *string
}

// RewrapOutput describes a re-wrap.
type RewrapOutput struct {
	// Format is the object's envelope format (V2 or V3); it does not
	// change.
	Format envelope.Format

	// InstructionFile reports that the envelope is in an instruction file,
	// and that only the instruction file was rewritten: the object itself
	// was not touched. Also set for a re-wrap into
	// RewrapInput.DestinationInstructionFileSuffix, which only writes that
	// file.
	InstructionFile bool

	// DestinationKey is the instruction file written by a re-wrap into
	// RewrapInput.DestinationInstructionFileSuffix; empty otherwise.
	DestinationKey string

	// MovedToInstructionFile reports that the new envelope did not fit the
	// object's metadata (Options.MetadataLimit), so the wrapped key was
	// moved to an instruction file. Never with Options.EnvelopeStorage
	// StoreMetadata, which fails with ErrMetadataTooLarge instead.
	MovedToInstructionFile bool

	// Multipart reports a multipart copy (objects above
	// RewrapInput.MultipartThreshold).
	Multipart bool

	// From and To are the old and the new wrap algorithm.
	From, To envelope.WrapAlgorithm

	// SourceKeyID and KeyID are the old and new KMS key ARNs as KMS
	// ReEncrypt reported them; empty for re-wraps that did not use it.
	SourceKeyID, KeyID string

	// ETag and VersionId are those of the object written: the object, or
	// its instruction file when InstructionFile is set. Nil in a dry run.
	ETag, VersionId *string
}

// Rewrap replaces the wrapped data key of an encrypted object with one
// wrapped by in.Keyring, without reading or re-uploading the content: the
// data key, the ciphertext and, for V3 objects, the message id and key
// commitment stay as they are, so the object reads with the new keyring and
// no longer with the old one (with KMS: the new blob only opens under the
// new key; the old KMS key still opens old copies of the envelope).
//
// Nothing is re-wrapped unless the client's keyring (the current one)
// would authorize reading the object, with the checks of a read: the
// client's commitment policy (a V2 object needs one that reads V2, such as
// RequireEncryptAllowDecrypt; V1 and AES-CBC objects are never re-wrapped,
// as the library never writes their formats), the keyring's key identity
// or allow-list, and the encryption context. When both the old and the new
// wrap are KMS, the key moves with KMS ReEncrypt and the plaintext data key
// never reaches this process: ReEncrypt names the client's KMS key as
// SourceKeyId (for a discovery keyring: its one allowed key), and KMS's
// answer is kept only when the source key it reports is one the client's
// keyring reads and the destination is the new keyring's key (see
// [materials.ReEncryptAuthorizer]; a keyring of another package that cannot
// answer is asked to unwrap instead). Any other pair unwraps the key with
// the client's keyring (checking a V3 object's commitment) and wraps it
// with the new one. An object the client's keyring refuses fails with its
// error, unless the new keyring proves that it already wraps the data key
// (it unwraps it, or KMS reports a ReEncrypt from and to the new key):
// then ErrSameWrappingKey.
//
// The stored encryption context is checked against the one from
// WithEncryptionContext; without one, an object must have no caller
// context, as on a read, except when the re-wrap keeps the stored context
// (RewrapInput.EncryptionContext nil): any stored context is then accepted
// and moves unchanged to the new wrap, where readers keep checking it.
//
// Objects whose envelope is in their metadata are rewritten in place with
// CopyObject (MetadataDirective REPLACE, conditional on the ETag read,
// so that a concurrent write is never overwritten: ErrObjectChanged
// instead), keeping the other user metadata, the content headers (type,
// encoding, disposition, language, cache control, expiry, website
// redirect), the tags, the storage class, server-side encryption and
// object-lock settings; objects over RewrapInput.MultipartThreshold go
// through a multipart copy, aborted on failure. ACLs are not copied, as
// with any S3 copy. Objects whose envelope is in an instruction file keep
// their object untouched: only the instruction file is rewritten
// (conditionally on its ETag), and for V3 objects the content keys
// x-amz-c, x-amz-d and x-amz-i stay on the object, as the format requires.
// In a versioned bucket the rewrite is a new version; older versions keep
// the old wrapped key.
//
// With in.DestinationInstructionFileSuffix the re-wrapped key goes to an
// additional instruction file instead, and nothing stored is rewritten (see
// the field).
//
// It fails with ErrSameWrappingKey when the new wrapping key is the one that
// already wraps the data key (unless in.AllowSameKey): the same KMS key as
// KMS reports it, or the same local key, proven by unwrapping or by
// comparing the keys; two local keys with the same material description
// are two keys. It fails with ErrNotEncrypted for an object without an
// envelope.
func (c *Client) Rewrap(ctx context.Context, in *RewrapInput, optFns ...func(*s3.Options)) (*RewrapOutput, error) {
	if in == nil {
		return nil, invalid("nil RewrapInput")
	}
	out, err := c.rewrap(ctx, in, withSafety(optFns))
	return out, objectError("Rewrap", in.Bucket, in.Key, err)
}

func (c *Client) rewrap(ctx context.Context, in *RewrapInput, optFns []func(*s3.Options)) (*RewrapOutput, error) {
	if err := checkRewrapInput(c.s3, in); err != nil {
		return nil, err
	}
	if d := in.DestinationInstructionFileSuffix; d != "" && d == c.suffix(ctx) {
		return nil, invalid("DestinationInstructionFileSuffix %q is the suffix the envelope is read from; leave it empty to re-wrap in place", d)
	}
	head, err := c.s3.HeadObject(ctx, &s3.HeadObjectInput{
		Bucket: in.Bucket, Key: in.Key,
		SSECustomerAlgorithm: in.SSECustomerAlgorithm, SSECustomerKey: in.SSECustomerKey, SSECustomerKeyMD5: in.SSECustomerKeyMD5,
		ExpectedBucketOwner: in.ExpectedBucketOwner, RequestPayer: in.RequestPayer,
	}, optFns...)
	if err != nil {
		return nil, err
	}
	if in.VersionId != nil && !sameVersion(in.VersionId, head.VersionId) {
		return nil, fmt.Errorf("%w: version %s; only the current version can be rewritten in place", ErrNotCurrentVersion, printable.Text(*in.VersionId))
	}
	env, instr, err := c.loadEnvelope(ctx, rewrapRef(in), head.Metadata, forRewrite, optFns)
	if err != nil {
		return nil, err
	}
	if head.ContentLength != nil {
		// The size decides the copy and sizes its part table: bound it
		// by the format before any of that.
		if err := envelope.CheckBodyLength(env.Suite, *head.ContentLength, env.PlaintextLength); err != nil {
			return nil, err
		}
	}

	expected, given := ctx.Value(encryptionContextKey{}).(map[string]string)
	rw, err := objectcrypto.Rewrap(ctx, env, objectcrypto.RewrapRequest{
		Current: c.keyring, Policy: c.opts.policy(), Next: in.Keyring,
		ExpectedContext: expected, ContextGiven: given, NewContext: in.EncryptionContext,
		AllowSameKey: in.AllowSameKey,
	})
	if errors.Is(err, objectcrypto.ErrCannotWrap) {
		return nil, fmt.Errorf("%w: RewrapInput.Keyring: %w", ErrInvalidInput, err)
	}
	if err != nil {
		return nil, err
	}
	newEnv := rw.Envelope
	out := &RewrapOutput{
		Format: env.Format, From: env.WrapAlgorithm, To: newEnv.WrapAlgorithm,
		SourceKeyID: rw.SourceKeyID, KeyID: rw.KeyID,
	}
	out.InstructionFile = env.InInstructionFile
	if in.DestinationInstructionFileSuffix != "" {
		return c.rewrapToNewInstructionFile(ctx, in, head, instr, env, newEnv, out, optFns)
	}

	if env.InInstructionFile {
		body, err := newEnv.RewrapInstructionFile(instr.body)
		if err != nil {
			return nil, err
		}
		// One meaning: the new file must read, beside the object's
		// metadata as it is, exactly as the new envelope. An object that
		// carries copies of envelope keys (which must agree with the
		// file) would contradict a file re-wrapped alone, and no reader
		// could decrypt it any more (the old wrapped key gone).
		if got, err := envelope.Decode(head.Metadata, body); err != nil || !sameWrap(got, newEnv) {
			if err == nil {
				err = errors.New("reads with another wrapped key")
			}
			return nil, fmt.Errorf("%w: the re-wrapped instruction file would not read beside the object's metadata (%w): the object carries envelope keys of its own; ReEncrypt it instead (nothing was written)", ErrMalformed, err)
		}
		if in.DryRun {
			return out, nil
		}
		put, err := c.s3.PutObject(ctx, instr.putInput(in, c.suffix(ctx), body), optFns...)
		if err == nil {
			err = requireETag("PutObject of the instruction file", put.ETag)
		}
		if err != nil {
			return nil, changedError("write instruction file", err)
		}
		out.ETag, out.VersionId = put.ETag, put.VersionId
		return out, nil
	}

	meta, err := newEnv.RewrapMetadata(head.Metadata)
	if err != nil {
		return nil, err
	}
	var movedBody []byte
	var movedVersion *string
	if metadataSize(meta) > c.opts.MetadataLimit {
		if c.opts.EnvelopeStorage == StoreMetadata {
			return nil, ErrMetadataTooLarge
		}
		var body []byte
		if meta, body, err = c.inInstructionFile(newEnv, envelope.WithoutEnvelope(head.Metadata)); err != nil {
			return nil, err
		}
		movedBody, out.MovedToInstructionFile = body, true
	}
	if in.DryRun {
		return out, nil
	}
	if movedBody != nil {
		// The instruction file first: until the copy below removes the
		// envelope from the metadata, readers ignore it.
		put, err := c.s3.PutObject(ctx, headInstructionInput(in, head, c.suffix(ctx), movedBody), optFns...)
		if err == nil {
			err = requireETag("PutObject of the instruction file", put.ETag)
		}
		if err != nil {
			return nil, fmt.Errorf("write instruction file: %w", err)
		}
		movedVersion = put.VersionId
	}
	if aws.ToInt64(head.ContentLength) > rewrapThreshold(in) {
		out.Multipart = true
		out.ETag, out.VersionId, err = c.multipartCopy(ctx, in, head, meta, optFns)
	} else {
		var cp *s3.CopyObjectOutput
		if cp, err = c.s3.CopyObject(ctx, copyInPlaceInput(in, head, meta), optFns...); err == nil {
			out.VersionId, out.ETag = cp.VersionId, copyETag(cp)
			err = requireETag("CopyObject", out.ETag)
		}
	}
	if err != nil {
		if movedBody != nil && serverRefused(err) && !c.objectNeedsInstructionFile(ctx, objectRef{
			bucket: in.Bucket, key: in.Key, sseAlg: in.SSECustomerAlgorithm, sseKey: in.SSECustomerKey, sseMD5: in.SSECustomerKeyMD5,
			owner: in.ExpectedBucketOwner, payer: in.RequestPayer,
		}, instructionID(movedBody), optFns) {
			// Refused, and the object does not carry the new file's
			// binding id (a forged refusal of a copy S3 made would leave
			// an object that reads only with it): the object still holds
			// its envelope in its metadata, and the instruction file this
			// call wrote goes (in a versioned bucket, exactly its version,
			// and only if it is still this call's). After any other
			// failure (a timeout, an answer without a result) the copy
			// may have happened, and the object would need the file;
			// kept, it is ignored by readers while the metadata holds the
			// envelope.
			c.cleanupCreated(ctx, createdObject{
				bucket: in.Bucket, key: aws.String(aws.ToString(in.Key) + c.suffix(ctx)), version: movedVersion,
				sent:  map[string]string{instrBindingKey: instructionID(movedBody)},
				owner: in.ExpectedBucketOwner, payer: in.RequestPayer,
			}, optFns)
		}
		return nil, changedError("copy", err)
	}
	return out, nil
}

// sameWrap reports whether a decodes to b's wrapped key, wrapping and
// description.
func sameWrap(a, b *envelope.Envelope) bool {
	return a.WrapAlgorithm == b.WrapAlgorithm && bytes.Equal(a.EncryptedKey, b.EncryptedKey) && maps.Equal(a.Description, b.Description)
}

// rewrapToNewInstructionFile writes newEnv's wrapped key to the
// additional instruction file in.DestinationInstructionFileSuffix names,
// leaving the object and its instruction file as they are.
func (c *Client) rewrapToNewInstructionFile(ctx context.Context, in *RewrapInput, head *s3.HeadObjectOutput, instr *instructionFile, env, newEnv *envelope.Envelope, out *RewrapOutput, optFns []func(*s3.Options)) (*RewrapOutput, error) {
	dest := in.DestinationInstructionFileSuffix
	var p *s3.PutObjectInput
	meta := map[string]string{envelope.KeyInstrFileMark: ""}
	if id := bindingOf(head.Metadata); id != "" {
		meta[instrBindingKey] = id // pairs it with the object, as the source is
	}
	if env.InInstructionFile {
		body, err := newEnv.RewrapInstructionFile(instr.body)
		if err != nil {
			return nil, err
		}
		p = instr.putInput(in, dest, body)
		for k, v := range instr.meta {
			if !strings.EqualFold(k, instrBindingKey) && !strings.EqualFold(k, envelope.KeyInstrFileMark) {
				meta[k] = v
			}
		}
	} else {
		_, body, err := newEnv.InstructionFile()
		if err != nil {
			return nil, err
		}
		p = headInstructionInput(in, head, dest, body)
	}
	p.Metadata, p.IfMatch = meta, nil
	if !in.OverwriteDestination {
		p.IfNoneMatch = aws.String("*")
	}
	out.InstructionFile, out.DestinationKey = true, aws.ToString(p.Key)
	if in.DryRun {
		return out, nil
	}
	put, err := c.s3.PutObject(ctx, p, optFns...)
	if err == nil {
		err = requireETag("PutObject of the instruction file", put.ETag)
	}
	if err != nil {
		if !in.OverwriteDestination && errors.Is(changedError("", err), ErrObjectChanged) {
			return nil, fmt.Errorf("%w: the instruction file %s exists (set RewrapInput.OverwriteDestination to replace it): %w", ErrObjectChanged, out.DestinationKey, err)
		}
		return nil, fmt.Errorf("write instruction file %s: %w", out.DestinationKey, err)
	}
	out.ETag, out.VersionId = put.ETag, put.VersionId
	return out, nil
}

func checkRewrapInput(client S3API, in *RewrapInput) error {
	switch {
	case aws.ToString(in.Bucket) == "" || aws.ToString(in.Key) == "":
		return invalid("bucket and key are required")
	case in.Keyring == nil:
		return invalid("RewrapInput.Keyring is nil")
	case in.MultipartThreshold < 0 || in.MultipartThreshold > maxCopyObjectSize:
		return invalid("MultipartThreshold %d is not between 0 and 5 GiB", in.MultipartThreshold)
	case in.PartSize != 0 && (in.PartSize < minCopyPartSize || in.PartSize > maxCopyPartSize):
		return invalid("PartSize %d is not between 5 MiB and 5 GiB", in.PartSize)
	}
	return checkSSEC(client, in.SSECustomerKey)
}

func rewrapThreshold(in *RewrapInput) int64 {
	if in.MultipartThreshold == 0 {
		return maxCopyObjectSize
	}
	return in.MultipartThreshold
}

func isSSEKMS(s types.ServerSideEncryption) bool {
	return s == types.ServerSideEncryptionAwsKms || s == types.ServerSideEncryptionAwsKmsDsse
}

// multipartCopy copies the object onto itself with new metadata through a
// multipart upload of UploadPartCopy parts, each conditional on the ETag
// read; the upload is aborted on any failure.
func (c *Client) multipartCopy(ctx context.Context, in *RewrapInput, head *s3.HeadObjectOutput, meta map[string]string, optFns []func(*s3.Options)) (etag, version *string, err error) {
	size := aws.ToInt64(head.ContentLength)
	tagging, err := c.objectTagging(ctx, in, head, optFns)
	if err != nil {
		return nil, nil, err
	}
	create := &s3.CreateMultipartUploadInput{
		Bucket: in.Bucket, Key: in.Key, Metadata: meta, Tagging: tagging,
		ContentType: head.ContentType, CacheControl: head.CacheControl, ContentDisposition: head.ContentDisposition,
		ContentEncoding: head.ContentEncoding, ContentLanguage: head.ContentLanguage, Expires: expiresOf(head),
		WebsiteRedirectLocation: head.WebsiteRedirectLocation,
		StorageClass:            head.StorageClass,
		ServerSideEncryption:    head.ServerSideEncryption,
		ObjectLockMode:          head.ObjectLockMode, ObjectLockRetainUntilDate: head.ObjectLockRetainUntilDate,
		ObjectLockLegalHoldStatus: head.ObjectLockLegalHoldStatus,
		SSECustomerAlgorithm:      in.SSECustomerAlgorithm, SSECustomerKey: in.SSECustomerKey, SSECustomerKeyMD5: in.SSECustomerKeyMD5,
		ExpectedBucketOwner: in.ExpectedBucketOwner, RequestPayer: in.RequestPayer,
	}
	if isSSEKMS(head.ServerSideEncryption) {
		create.SSEKMSKeyId, create.BucketKeyEnabled = head.SSEKMSKeyId, head.BucketKeyEnabled
	}
	up, err := c.s3.CreateMultipartUpload(ctx, create, optFns...)
	if err != nil {
		return nil, nil, err
	}
	abort := func(err error) (*string, *string, error) {
		return nil, nil, c.abortUpload(ctx, partsQuery{
			bucket: in.Bucket, key: in.Key, id: up.UploadId, owner: in.ExpectedBucketOwner, payer: in.RequestPayer,
			sseAlg: in.SSECustomerAlgorithm, sseKey: in.SSECustomerKey, sseMD5: in.SSECustomerKeyMD5,
		}, err, optFns)
	}

	partSize := copyPartSize(in.PartSize, size)
	n := int((size + partSize - 1) / partSize)
	parts := make([]types.CompletedPart, n)
	ctx2, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		next     = make(chan int)
	)
	for range min(copyConcurrency, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				first := int64(i) * partSize
				last := min(first+partSize, size) - 1
				res, err := c.s3.UploadPartCopy(ctx2, &s3.UploadPartCopyInput{
					Bucket: in.Bucket, Key: in.Key, UploadId: up.UploadId, PartNumber: aws.Int32(int32(i + 1)),
					CopySource: copySource(in), CopySourceIfMatch: head.ETag,
					CopySourceRange:                aws.String(fmt.Sprintf("bytes=%d-%d", first, last)),
					CopySourceSSECustomerAlgorithm: in.SSECustomerAlgorithm, CopySourceSSECustomerKey: in.SSECustomerKey,
					CopySourceSSECustomerKeyMD5: in.SSECustomerKeyMD5,
					SSECustomerAlgorithm:        in.SSECustomerAlgorithm, SSECustomerKey: in.SSECustomerKey, SSECustomerKeyMD5: in.SSECustomerKeyMD5,
					ExpectedBucketOwner: in.ExpectedBucketOwner, ExpectedSourceBucketOwner: in.ExpectedBucketOwner,
					RequestPayer: in.RequestPayer,
				}, optFns...)
				if err == nil && (res.CopyPartResult == nil || res.CopyPartResult.ETag == nil) {
					err = fmt.Errorf("part %d: the server returned no ETag", i+1)
				}
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
						cancel()
					}
					mu.Unlock()
					continue
				}
				parts[i] = types.CompletedPart{ETag: res.CopyPartResult.ETag, PartNumber: aws.Int32(int32(i + 1))}
			}
		}()
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case <-ctx2.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	if firstErr != nil {
		return abort(firstErr)
	}
	// Once sent, the completion is awaited even if ctx is cancelled
	// meanwhile: only its answer tells whether the object was replaced.
	cctx, ccancel := cleanupContext(ctx)
	defer ccancel()
	done, err := c.s3.CompleteMultipartUpload(cctx, &s3.CompleteMultipartUploadInput{
		Bucket: in.Bucket, Key: in.Key, UploadId: up.UploadId,
		MultipartUpload:      &types.CompletedMultipartUpload{Parts: parts},
		IfMatch:              head.ETag,
		SSECustomerAlgorithm: in.SSECustomerAlgorithm, SSECustomerKey: in.SSECustomerKey, SSECustomerKeyMD5: in.SSECustomerKeyMD5,
		ExpectedBucketOwner: in.ExpectedBucketOwner, RequestPayer: in.RequestPayer,
	}, optFns...)
	if err == nil {
		err = requireETag("CompleteMultipartUpload", done.ETag)
	}
	if err != nil {
		return abort(err)
	}
	return done.ETag, done.VersionId, nil
}

// copyPartSize is the part size for a multipart copy of size bytes.
func copyPartSize(want, size int64) int64 {
	if want == 0 {
		want = defaultCopyPart
	}
	if least := (size + maxCopyParts - 1) / maxCopyParts; want < least {
		want = (least + 1<<20 - 1) &^ (1<<20 - 1) // whole MiB
	}
	return want
}

// taggingGetter is the optional S3 call that a multipart copy needs to keep
// an object's tags; *s3.Client has it.
type taggingGetter interface {
	GetObjectTagging(ctx context.Context, in *s3.GetObjectTaggingInput, optFns ...func(*s3.Options)) (*s3.GetObjectTaggingOutput, error)
}

// objectTagging returns the object's tags as a Tagging header value, for a
// multipart copy (which, unlike CopyObject, cannot copy them).
func (c *Client) objectTagging(ctx context.Context, in *RewrapInput, head *s3.HeadObjectOutput, optFns []func(*s3.Options)) (*string, error) {
	if aws.ToInt32(head.TagCount) == 0 {
		return nil, nil
	}
	tg, ok := c.s3.(taggingGetter)
	if !ok {
		return nil, fmt.Errorf("the object has %d tags and the S3 client cannot read them for a multipart copy (it has no GetObjectTagging method)", aws.ToInt32(head.TagCount))
	}
	out, err := tg.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{
		Bucket: in.Bucket, Key: in.Key, VersionId: head.VersionId,
		ExpectedBucketOwner: in.ExpectedBucketOwner, RequestPayer: in.RequestPayer,
	}, optFns...)
	if err != nil {
		return nil, fmt.Errorf("read tags: %w", err)
	}
	v := url.Values{}
	for _, t := range out.TagSet {
		v.Add(aws.ToString(t.Key), aws.ToString(t.Value))
	}
	return aws.String(v.Encode()), nil
}
