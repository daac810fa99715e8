package materials

import (
	"context"
	"maps"

	"github.com/s3ec/s3ec-go/envelope"
)

// A Keyring produces data keys for new objects and unwraps the data keys of
// stored ones. Implementations must be safe for concurrent use.
//
// A keyring that is handed a wrapped key it does not handle (another wrap
// algorithm, another material description) returns an error that wraps
// [ErrNotMine], so that [MultiKeyring] tries the next keyring.
type Keyring interface {
	// GenerateDataKey returns a fresh data key of [envelope.DataKeySize]
	// bytes for req.Suite, together with its wrapped form. The caller zeroes
	// the plaintext with [DataKey.Zero] when done.
	GenerateDataKey(ctx context.Context, req *EncryptionRequest) (*DataKey, error)

	// DecryptDataKey unwraps req.Key and returns the plaintext data key,
	// which the caller zeroes when done. It checks req.Key.WrapAlgorithm
	// before it unwraps anything.
	DecryptDataKey(ctx context.Context, req *DecryptionRequest) ([]byte, error)
}

// EncryptionRequest asks a keyring for a data key.
type EncryptionRequest struct {
	// Suite is the content suite the data key will be used with. Keyrings
	// bind it to the wrapped key (KMS context entry, AES-GCM AAD, RSA pseudo
	// key), so that the key cannot be moved to another suite.
	Suite envelope.Suite

	// EncryptionContext is the caller's per-request encryption context. KMS
	// keyrings send it to KMS (which binds it to the wrapped key) and store
	// it with the object. Keyrings that cannot bind a context refuse a
	// non-empty one with [ErrContextNotSupported].
	EncryptionContext map[string]string

	// PlaintextLength is the number of plaintext bytes the data key will
	// encrypt, or -1 when the caller does not know it. Keyrings that limit
	// how much one data key may encrypt ([CachingKeyring]) use it; the
	// others ignore it. The zero value means an empty object: callers that
	// do not know the length must set -1.
	PlaintextLength int64
}

// DecryptionRequest asks a keyring to unwrap a stored data key.
type DecryptionRequest struct {
	// Suite is the content suite named by the object's envelope.
	Suite envelope.Suite

	// Key is the wrapped data key as stored with the object.
	Key EncryptedDataKey

	// EncryptionContext is the context the caller expects. KMS keyrings
	// compare it with the stored one (without the reserved entries); nil and
	// empty both mean "the object must have no user context".
	EncryptionContext map[string]string
}

// EncryptedDataKey is a wrapped data key and what is stored beside it.
type EncryptedDataKey struct {
	// WrapAlgorithm says how Ciphertext was produced.
	WrapAlgorithm envelope.WrapAlgorithm

	// Ciphertext is the wrapped data key.
	Ciphertext []byte

	// Description is stored with the object: the complete KMS encryption
	// context (reserved entries included) for KMS wraps, or the material
	// description of a local keyring (x-amz-matdesc, x-amz-t or x-amz-m).
	// Never nil after a successful GenerateDataKey.
	Description map[string]string
}

// DataKey is a plaintext data key with its wrapped form.
type DataKey struct {
	// Plaintext is the data key. Zero it with [DataKey.Zero] after use.
	Plaintext []byte
	EncryptedDataKey
}

// Zero overwrites the plaintext data key with zeros.
func (k *DataKey) Zero() {
	if k != nil {
		clear(k.Plaintext)
	}
}

// Zero overwrites b with zeros. Use it for plaintext data keys returned by
// [Keyring.DecryptDataKey].
func Zero(b []byte) { clear(b) }

// cloneContext copies a context map, returning a non-nil map.
func cloneContext(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return maps.Clone(m)
}
