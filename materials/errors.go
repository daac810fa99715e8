package materials

import (
	"errors"
	"strings"

	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/internal/fipsmode"
)

var (
	// ErrNotMine reports a wrapped key that the keyring does not handle:
	// another wrap algorithm, or a material description it has no key for.
	// [MultiKeyring] skips keyrings that return it.
	ErrNotMine = errors.New("materials: wrapped key is not for this keyring")

	// ErrUnwrap reports a wrapped key that the keyring handles but could not
	// unwrap: the wrapped key or its bound context was altered, it was
	// wrapped for another suite, or the key is wrong. KMS errors are wrapped
	// inside it and stay reachable with errors.As.
	ErrUnwrap = errors.New("materials: data key could not be unwrapped")

	// ErrContextMismatch reports that the encryption context stored with an
	// object differs from the one the caller expects.
	ErrContextMismatch = errors.New("materials: encryption context mismatch")

	// ErrContextNotSupported reports a per-request encryption context given to
	// a keyring that cannot bind one (local AES and RSA keyrings: their
	// material description is not authenticated).
	ErrContextNotSupported = errors.New("materials: keyring does not support an encryption context")

	// ErrReservedContextKey reports a caller context that uses a name the
	// client reserves (aws:x-amz-cek-alg, kms_cmk_id).
	ErrReservedContextKey = errors.New("materials: encryption context uses a reserved key")

	// ErrInvalidDescription reports an encryption context or material
	// description that cannot be stored so that it reads back exactly (a
	// name or value that is not valid UTF-8). The *envelope.DescriptionError
	// names the field. It is refused before anything is wrapped or stored.
	ErrInvalidDescription = envelope.ErrInvalidDescription

	// ErrKMSResponse reports a KMS answer the KMS keyrings refused before
	// the SDK decoded it: a body longer than 64 KiB (an honest answer is a
	// few KiB), from a lying or broken endpoint. It is not retried.
	ErrKMSResponse = errors.New("materials: KMS answer refused")

	// ErrEncryptOnly reports a decryption asked of a keyring that holds only a
	// public key.
	ErrEncryptOnly = errors.New("materials: keyring can only encrypt")

	// ErrDecryptOnly reports a data key asked of a keyring that can only
	// unwrap (discovery keyrings, Multi without a generator).
	ErrDecryptOnly = errors.New("materials: keyring can only decrypt")

	// ErrFIPS reports an operation refused because the program runs in FIPS
	// 140-only mode (GODEBUG=fips140=only), where the Go Cryptographic
	// Module refuses algorithms it does not approve: RSA PKCS #1 v1.5 and
	// RSA-OAEP with SHA-1 wraps, MGF1 with SHA-1, RSA keys below 2048 bits,
	// and the S3EC content cipher (GCM under a nonce chosen outside the
	// module). It is the one FIPS error class of the library: content
	// errors match it too.
	ErrFIPS = fipsmode.ErrRefused
)

// NoMatchError reports that no keyring of a [MultiKeyring] could unwrap a data key.
// Errors holds each keyring's error, in order; errors.Is and errors.As see
// through to them.
type NoMatchError struct {
	Errors []error
}

func (e *NoMatchError) Error() string {
	var b strings.Builder
	b.WriteString("materials: no keyring could unwrap the data key")
	for i, err := range e.Errors {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(err.Error())
	}
	return b.String()
}

// Unwrap returns every keyring's error.
func (e *NoMatchError) Unwrap() []error { return e.Errors }

var (
	// ErrSameWrappingKey reports a re-wrap that would put a data key under
	// the wrapping key that already wraps it: the same KMS key (as KMS
	// reports its ARN) or the same local key (proven by unwrapping, or by
	// comparing the keys; never by the material description, which two keys
	// may share). Re-wrapping is for moving to another key; a prefix
	// rotation counts such objects as already rotated.
	ErrSameWrappingKey = errors.New("materials: the new wrapping key is the one that already wraps the data key")
)
