package encryptionclient

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/internal/printable"
	"github.com/s3ec/s3ec-go/materials"
)

// The error classes of the library, re-exported so that callers need only
// this package. Test for them with errors.Is.
var (
	// ErrNotEncrypted: the object has no encryption envelope in its metadata
	// and no instruction file. It was not written by an S3 Encryption Client.
	ErrNotEncrypted = envelope.ErrNotEncrypted
	// ErrAuthentication: the content failed authentication (altered, truncated
	// or read with the wrong key). No plaintext is released in the default
	// mode.
	ErrAuthentication = envelope.ErrAuthentication
	// ErrCommitmentMismatch: a V3 object's key commitment does not match.
	ErrCommitmentMismatch = envelope.ErrCommitmentMismatch
	// ErrMalformed: the envelope is unusable; the *envelope.MalformedError
	// names the field.
	ErrMalformed = envelope.ErrMalformed
	// ErrPolicy: a policy refused the object or request; the
	// *envelope.PolicyError names the option that would allow it (a field
	// of Options, such as Options.CommitmentPolicy, or a keyring's option)
	// and, for the commitment and legacy-content rules, says which in its
	// Setting.
	ErrPolicy = envelope.ErrPolicy
	// ErrInvalidCiphertext: a legacy CBC body with a bad length or padding.
	ErrInvalidCiphertext = envelope.ErrInvalidCiphertext
	// ErrUnwrap: the keyring could not unwrap the data key.
	ErrUnwrap = materials.ErrUnwrap
	// ErrContextMismatch: the stored encryption context is not the expected
	// one.
	ErrContextMismatch = materials.ErrContextMismatch
	// ErrInvalidDescription: an encryption context or material description
	// that could not be stored so that it reads back exactly (text that is
	// not UTF-8); the *envelope.DescriptionError names the field. Refused
	// before any key is generated or anything is written.
	ErrInvalidDescription = envelope.ErrInvalidDescription
	// ErrFIPS: the Go Cryptographic Module runs in FIPS 140-3 "only" mode
	// (GODEBUG=fips140=only) and refuses the algorithm: GCM under a nonce
	// chosen outside the module (every S3EC object), RSA PKCS#1 v1.5 and
	// RSA-OAEP-SHA1 wraps. See SECURITY.md.
	ErrFIPS = materials.ErrFIPS
)

// Errors of the client itself.
var (
	// ErrInvalidInput reports a request that cannot be sent: a missing
	// bucket or key, a reserved metadata name, a checksum or MD5 of the
	// plaintext, an SSE-C request over plain HTTP.
	ErrInvalidInput = errors.New("encryptionclient: invalid input")

	// ErrUnknownLength reports a PutObject body whose length is unknown: it
	// is neither seekable nor has ContentLength set. Set ContentLength, pass
	// a seekable body, or use a multipart upload.
	ErrUnknownLength = errors.New("encryptionclient: body length unknown: set ContentLength or pass an io.ReadSeeker")

	// ErrBodyLength reports a body whose length is not the one declared:
	// it ended before ContentLength bytes (or before the length found by
	// seeking), or it holds more. The body is read to its end, as net/http
	// reads it for the plain SDK, which refuses such a request too;
	// encrypting only the first ContentLength bytes would store a silently
	// truncated object.
	ErrBodyLength = errors.New("encryptionclient: body length differs from ContentLength")

	// ErrBodyChanged reports a seekable body that returned different bytes
	// when the SDK rewound it (for signing or a retry). Sending them would
	// encrypt two plaintexts under one key and IV, so the request fails.
	ErrBodyChanged = errors.New("encryptionclient: body changed between reads")

	// ErrTooLarge reports a size beyond its bound: an object too large to
	// buffer for authentication before release (see Options.BufferSize and
	// Options.EnableDelayedAuthentication), a size answered by S3
	// (Content-Length, Content-Range, x-amz-unencrypted-content-length)
	// beyond the GCM limit of envelope.MaxGCMPlaintextSize bytes, a body
	// longer than its Content-Length or than the range asked, or a
	// plaintext to encrypt beyond the GCM limit. It is one value: the
	// envelope package's and the engine's ErrTooLarge are this one.
	ErrTooLarge = envelope.ErrTooLarge

	// ErrTruncated reports a response body that ended before its
	// Content-Length, the range asked, or the plaintext length the envelope
	// records: a cut connection or a lying server. Nothing of it is
	// released as a complete object. It wraps io.ErrUnexpectedEOF.
	ErrTruncated = envelope.ErrTruncated

	// ErrBadResponse reports an S3 response that does not answer the
	// request: a ranged GET answered with another status than 206 or
	// another range than the one asked, a Content-Length that contradicts
	// the range or the HeadObject seen, a whole-object GET answered with a
	// range, or a missing or negative object size. Nothing is decrypted
	// from it.
	ErrBadResponse = errors.New("encryptionclient: S3 response does not match the request")

	// ErrMetadataTooLarge reports an envelope that does not fit in S3's
	// user-metadata limit while Options.EnvelopeStorage is StoreMetadata.
	ErrMetadataTooLarge = errors.New("encryptionclient: envelope does not fit in object metadata")
)

// ErrSpool reports a failure of the temporary file that
// Options.SpoolLargeObjects reads large objects through: it could not be
// created in Options.SpoolDir (missing, not writable), written (the disk
// is full: syscall.ENOSPC stays reachable with errors.Is) or read back.
// From GetObject it means nothing was released; from a Read of the body
// (the file could not be read back), only authenticated bytes were. In
// both cases the file is gone.
var ErrSpool = errors.New("encryptionclient: ciphertext spool failed")

// Errors of encrypted multipart uploads (see Client.CreateMultipartUpload).
// They come wrapped in a *PartError that names the upload and the part.
var (
	// ErrUnknownUpload reports an upload id this Client does not hold: it
	// was not created by this Client (or this process), or it was already
	// completed or aborted.
	ErrUnknownUpload = errors.New("encryptionclient: multipart upload unknown to this client (not created by it, or already completed or aborted)")

	// ErrPartSize reports a part whose plaintext is not the upload's part
	// size (every part but the last), or is larger than it (the last).
	ErrPartSize = errors.New("encryptionclient: part has the wrong size")

	// ErrPartOrder reports a part that breaks the rule of the last part: it
	// must be uploaded (with WithLastPart) after every earlier part was
	// uploaded, and no part may follow it.
	ErrPartOrder = errors.New("encryptionclient: part out of order")

	// ErrPartConflict reports a part number sent again with other bytes.
	// Re-sending identical bytes is allowed (a retry).
	ErrPartConflict = errors.New("encryptionclient: part re-sent with different data")

	// ErrMissingPart reports a CompleteMultipartUpload while a part is
	// missing: not uploaded, failed, or left out of the parts list.
	ErrMissingPart = errors.New("encryptionclient: part missing")
)

// ObjectError wraps any error of an object operation with the operation
// and the object's address. errors.Is and errors.As see through it (SDK
// errors such as smithy.APIError stay reachable).
type ObjectError struct {
	Op     string // e.g. "GetObject"
	Bucket string
	Key    string
	Err    error
}

func (e *ObjectError) Error() string {
	// The key is the bucket writer's choice: printed with its control
	// characters escaped, it cannot forge a line of the caller's log.
	return fmt.Sprintf("encryptionclient: %s s3://%s/%s: %v", e.Op, printable.Text(e.Bucket), printable.Text(e.Key), e.Err)
}

func (e *ObjectError) Unwrap() error { return e.Err }

func objectError(op string, bucket, key *string, err error) error {
	if err == nil {
		return nil
	}
	return &ObjectError{Op: op, Bucket: aws.ToString(bucket), Key: aws.ToString(key), Err: err}
}

// cleanupTimeout bounds the requests that undo a failed operation (deleting
// an unreadable object, aborting a multipart upload). They run even when
// the caller's context was cancelled, but never block indefinitely.
const cleanupTimeout = 30 * time.Second

// cleanupContext returns a context for such a request.
func cleanupContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidInput, fmt.Sprintf(format, args...))
}

// Errors of re-wrapping (Client.Rewrap, Client.RotatePrefix) and of reads
// pinned to the object version their envelope came from.
var (
	// ErrSameWrappingKey: the new wrapping key is the one that already wraps
	// the object's data key (the same KMS key, or the same local key, as
	// the new keyring proves; a material description proves nothing).
	// RotatePrefix counts such objects as already rotated.
	ErrSameWrappingKey = materials.ErrSameWrappingKey

	// ErrObjectChanged reports an object (or instruction file) that was
	// replaced or deleted between the moment its envelope was read and a
	// later request pinned to what was read: a re-wrap's conditional write
	// (nothing was written), a ranged GetObject, or one of a Download's
	// ranges (nothing was released). Run the operation again.
	ErrObjectChanged = errors.New("encryptionclient: object changed since its envelope was read")

	// ErrNotCurrentVersion reports a ReEncrypt, an Adopt or a bulk Rewrap
	// that names a version which is not the object's current version:
	// only the current version can be rewritten in place. It is a case of
	// ErrObjectChanged (errors.Is reports both), one that running the
	// operation again does not cure.
	ErrNotCurrentVersion = fmt.Errorf("%w: the version named is not the current version", ErrObjectChanged)
)

// ErrInstructionFileMismatch reports an object whose envelope is in an
// instruction file when the instruction file that belongs to it (to this
// version of it) cannot be found or proven: the current instruction file
// was written for another object or version, and no older version of it
// belongs to this one. Nothing is decrypted with an instruction file that
// does not belong to the object, and a CopyObject writes nothing. A
// ReEncrypt or Adopt that would store the new envelope in an instruction
// file where an object the source did not use is stored (an unrelated
// object named key+suffix) fails with it too, before anything is written.
var ErrInstructionFileMismatch = errors.New("encryptionclient: the instruction file does not belong to this object version")

// Errors of re-encryption and adoption (Client.ReEncrypt, Client.Adopt).
var (
	// ErrAlreadyCurrent: ReEncrypt found the object already in the format
	// the client writes (V3, a committing suite) with its data key wrapped
	// by the target keyring, as that keyring proved by unwrapping it (or
	// KMS by a ReEncrypt from and to its key). Nothing was written; a bulk
	// job counts the object as done. ReEncryptInput.Force rewrites it
	// anyway.
	ErrAlreadyCurrent = errors.New("encryptionclient: object already in the written format under the target key")

	// ErrAlreadyEncrypted: Adopt found an encryption envelope on the
	// object (in its metadata or an instruction file). Nothing was
	// written.
	ErrAlreadyEncrypted = errors.New("encryptionclient: object already encrypted")

	// ErrUnauthenticatedSource: ReEncrypt found a source whose content
	// carries no authentication tag (AES-CBC: V1 objects, V2 objects with
	// CBC content), so that what it would write again, authenticated from
	// then on, may have been altered undetectably. Nothing was written.
	// ReEncryptInput.AllowUnauthenticatedSource allows it, for objects the
	// caller trusts.
	ErrUnauthenticatedSource = errors.New("encryptionclient: source content is not authenticated (AES-CBC)")

	// ErrObjectLocked: the source object is under Object Lock (a retention
	// date in the future, or a legal hold ON), so that it cannot be
	// rewritten in place without changing what the lock protects. A
	// permanent failure: nothing was written.
	ErrObjectLocked = errors.New("encryptionclient: object is under object-lock retention or legal hold")
)

// Errors of resumable uploads (UploadOptions.ResumeToken,
// Client.ResumeMultipartUpload). They come wrapped in a *ResumeError that
// names the upload and, where it matters, the part.
var (
	// ErrInvalidResumeToken reports a resume token that is not one, was
	// altered or cut, or was not sealed under the data key of the upload it
	// names. Nothing was sent.
	ErrInvalidResumeToken = errors.New("encryptionclient: invalid resume token (malformed, altered, or not sealed for this upload)")

	// ErrResumeMismatch reports a valid token that does not fit: another
	// bucket, key or upload than the request's; a source of another size,
	// or whose bytes differ from those sealed for a part before (resuming
	// needs the unchanged source); a part on S3 that the token does not
	// record, or beyond the object's last part. Nothing was sent.
	ErrResumeMismatch = errors.New("encryptionclient: resume token does not match the upload, the object or the source")

	// ErrResumeStale reports a token whose multipart upload is no longer
	// open: completed, or aborted (S3 answered NoSuchUpload). Start a new
	// upload.
	ErrResumeStale = errors.New("encryptionclient: the upload of the resume token is no longer open (completed or aborted)")

	// ErrResumeUnseekable reports a resume whose source cannot be read
	// again at the parts' offsets: resuming needs an io.ReaderAt or an
	// io.ReadSeeker body.
	ErrResumeUnseekable = errors.New("encryptionclient: resuming needs a body that can be re-read at any offset (io.ReaderAt or io.ReadSeeker)")
)

// ErrTransferManager reports a request of the SDK's transfer manager
// (feature/s3/transfermanager) that TransferManagerAPI refuses because it
// cannot be served without releasing unauthenticated plaintext: a part of
// an object other than the first (answered whole), an object too large to
// authenticate in memory, a ranged GET without
// Options.EnableUnauthenticatedRanges. It comes in a *TransferManagerError,
// which names the method to use instead. Nothing was released.
var ErrTransferManager = errors.New("encryptionclient: transfer manager request refused")

// TransferManagerError is the error of a TransferManagerAPI request that
// was refused. errors.Is finds ErrTransferManager and, when there is one,
// the cause (ErrTooLarge, ErrPolicy).
type TransferManagerError struct {
	Reason string // why the request cannot be served
	Use    string // what to call instead, e.g. "Client.Download"
	Err    error  // the cause, or nil
}

func (e *TransferManagerError) Error() string {
	s := fmt.Sprintf("%v: %s; use %s", ErrTransferManager, e.Reason, e.Use)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *TransferManagerError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrTransferManager}
	}
	return []error{ErrTransferManager, e.Err}
}
