package encryptionclient

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/materials"
)

// AdoptInput names an unencrypted object to encrypt in place.
type AdoptInput struct {
	// Bucket and Key name the object. Required.
	Bucket *string
	Key    *string
	// VersionId is the version to read; it must be the current one
	// (ErrNotCurrentVersion, an ErrObjectChanged, otherwise).
	VersionId *string
	// IfMatch is the ETag the caller expects (default: the one HeadObject
	// reads); the read is pinned to it and the write is conditional on it.
	IfMatch *string
	// Keyring wraps the new data key. Nil: the client's keyring.
	Keyring materials.Keyring
	// EncryptionContext is bound to the new data key. Nil: none.
	EncryptionContext map[string]string
	// DryRun reads and checks the whole object and writes nothing.
	DryRun bool
	// MultipartThreshold, PartSize and Concurrency are those of
	// ReEncryptInput.
	MultipartThreshold int64
	PartSize           int64
	Concurrency        int

	ExpectedBucketOwner *string
	RequestPayer        types.RequestPayer

	// SSECustomerAlgorithm, SSECustomerKey and SSECustomerKeyMD5 give the
	// customer key of an SSE-C object.
	SSECustomerAlgorithm *string
	SSECustomerKey       *string
	SSECustomerKeyMD5    *string
}

// AdoptOutput describes an adoption.
type AdoptOutput struct {
	// To is the new object's envelope format.
	To envelope.Format
	// Size is the object's size (plaintext) in bytes.
	Size int64
	// Multipart reports a multipart write.
	Multipart bool
	// ETag and VersionId are those of the object written; nil in a dry run.
	ETag, VersionId *string
	// NotKept lists the attributes that could not be carried over ("ACL").
	NotKept []string
}

// Adopt encrypts an existing unencrypted object in place: an explicit
// opt-in, as a method of its own, since it turns an object that every
// reader could read into one that only readers with the key can.
//
// The object must carry no encryption envelope (in its metadata or an
// instruction file), else ErrAlreadyEncrypted and nothing is written;
// an instruction file itself is refused the same way, marked or not (an
// unmarked one is told by its content, as IsInstructionFile tells it).
// Only an envelope that decodes counts: metadata with part of an envelope
// that does not decode, or an object named key+suffix that is no
// envelope, fails with ErrMalformed (or ErrInstructionFileMismatch), and
// nothing is written: the object is neither adopted nor reported as
// encrypted. It is read with
// GetObject pinned to the version and ETag HeadObject saw, with
// ChecksumMode ENABLED (the SDK checks a stored checksum), and must hold
// exactly its Content-Length: a short body fails (ErrTruncated) and
// nothing is written. It is then written as Upload writes, under a new
// data key from in.Keyring (default: the client's keyring), bound to
// in.EncryptionContext (nil: none), in the format the client writes: at
// most in.MultipartThreshold bytes (default 16 MiB) are read whole first
// and stored with one PutObject, larger objects stream into a parallel
// multipart upload that is aborted on any failure. The write is
// conditional on the ETag read (ErrObjectChanged when a concurrent writer
// replaced the object; the writer's object stays); in.VersionId, when
// set, must be the current version. That guarantee needs a server that
// honours If-Match on PutObject and CompleteMultipartUpload (AWS S3,
// MinIO and versitygw do): on a store that accepts and ignores it, a
// concurrent writer's object is overwritten undetected.
//
// When the client stores envelopes in instruction files, the new one is
// written before the object, and only where no object is named key+suffix
// (HeadObject, then If-None-Match "*"): an unrelated object of that name
// fails the call with ErrInstructionFileMismatch, nothing written.
//
// The user metadata, content headers, tags, server-side encryption and
// storage class are kept as ReEncrypt keeps them; ACLs are not ("ACL" in
// NotKept), and an object under Object Lock fails with ErrObjectLocked.
// Stored checksums of the plaintext are not carried over (the new object
// holds ciphertext). in.DryRun reads and checks everything, asks the
// keyring for a data key, and writes nothing.
func (c *Client) Adopt(ctx context.Context, in *AdoptInput, optFns ...func(*s3.Options)) (*AdoptOutput, error) {
	if in == nil {
		return nil, invalid("nil AdoptInput")
	}
	out, err := c.adopt(ctx, in, withSafety(optFns))
	return out, objectError("Adopt", in.Bucket, in.Key, err)
}

func (c *Client) adopt(ctx context.Context, in *AdoptInput, optFns []func(*s3.Options)) (*AdoptOutput, error) {
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
	head, err := c.headCurrent(ctx, p, optFns)
	if err != nil {
		return nil, err
	}
	if envelope.HasInstructionFileMark(head.Metadata) {
		return nil, fmt.Errorf("%w: the object is an instruction file", ErrAlreadyEncrypted)
	}
	// An unmarked instruction file (AWS SDK Go v1's s3crypto writes them
	// so) is told by its content: encrypting it would make its object
	// unreadable for every client.
	if instr, err := c.isInstructionFile(ctx, &s3.HeadObjectInput{
		Bucket: p.bucket, Key: p.key,
		SSECustomerAlgorithm: p.sseAlg, SSECustomerKey: p.sseKey, SSECustomerKeyMD5: p.sseMD5,
		ExpectedBucketOwner: p.owner, RequestPayer: p.payer,
	}, c.suffix(ctx), optFns); err != nil {
		return nil, err
	} else if instr {
		return nil, fmt.Errorf("%w: the object is the instruction file of the object named without the suffix %q", ErrAlreadyEncrypted, c.suffix(ctx))
	}
	// Only an envelope that decodes counts as encrypted: one that does
	// not (a broken envelope, or an unrelated object named key+suffix that
	// is no envelope) fails, so that a plaintext object is never reported
	// as already encrypted.
	switch _, _, err := c.loadEnvelope(ctx, p.ref(head.VersionId), head.Metadata, forRead, optFns); {
	case err == nil:
		return nil, ErrAlreadyEncrypted
	case errors.Is(err, ErrNotEncrypted):
	case errors.Is(err, ErrMalformed), errors.Is(err, ErrInstructionFileMismatch):
		return nil, fmt.Errorf("the object carries part of an envelope, or an object named like its instruction file, that does not decode: it is neither adopted nor known to be encrypted (rename or remove what does not belong to it): %w", err)
	default:
		return nil, err
	}
	size := *head.ContentLength
	if size > MaxObjectSize {
		return nil, fmt.Errorf("%w: %d bytes exceed the GCM limit of %d bytes", ErrTooLarge, size, int64(MaxObjectSize))
	}
	put, err := c.rewritePut(ctx, p, head, head.Metadata, optFns)
	if err != nil {
		return nil, err
	}
	w := c.writer(in.Keyring)
	wctx := withInstrPlan(WithEncryptionContext(ctx, in.EncryptionContext), &instrPlan{})
	small := size <= p.threshold
	out := &AdoptOutput{To: envelope.FormatV2, Size: size, Multipart: !small, NotKept: notKept()}
	if c.opts.policy().EncryptSuite().Committing() {
		out.To = envelope.FormatV3
	}

	body, err := c.getPinned(ctx, p, head, true, optFns)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	var res *rewritten
	if small {
		// Grown as the bytes arrive: the size is the server's claim.
		var buf []byte
		if buf, err = readSized(body, size); err != nil {
			return nil, fmt.Errorf("read the object: %w", err)
		}
		defer clear(buf)
		if p.dryRun {
			return out, c.dryRunKey(wctx, w, size)
		}
		res, err = c.rewrite(wctx, w, p, put, buf, nil, -1, optFns)
	} else {
		src := maybeReadAhead(body, size)
		defer src.Close()
		if p.dryRun {
			if _, err := io.Copy(io.Discard, src); err != nil {
				return nil, fmt.Errorf("read the object: %w", err)
			}
			return out, c.dryRunKey(wctx, w, size)
		}
		res, err = c.rewrite(wctx, w, p, put, nil, src, size, optFns)
	}
	if err != nil {
		return nil, err
	}
	out.ETag, out.VersionId = res.etag, res.version
	return out, nil
}
