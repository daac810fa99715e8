package materials

import (
	"context"
	"maps"

	"github.com/s3ec/s3ec-go/envelope"
)

// This file holds the optional interfaces that re-wrapping uses: moving an
// object's existing data key under another wrapping key, without touching
// the content it encrypts. [Keyring] itself never grows; keyrings that can
// do more say so by implementing these interfaces, and callers find out
// with a type assertion.

// KeyWrapper is implemented by keyrings that can wrap a data key they did
// not generate. [AESKeyring], [RSAKeyring] (a public key suffices) and
// [KMSKeyring] (KMS Encrypt) implement it.
type KeyWrapper interface {
	// WrapDataKey wraps req.Plaintext under the keyring's current wrapping
	// key for req.Suite, binding the suite as GenerateDataKey does, and
	// returns the wrapped key with the Description to store beside it. It
	// never keeps or modifies req.Plaintext.
	WrapDataKey(ctx context.Context, req *WrapRequest) (*EncryptedDataKey, error)
}

// WrapRequest asks a [KeyWrapper] to wrap an existing data key.
type WrapRequest struct {
	// Suite is the content suite the data key is used with.
	Suite envelope.Suite

	// EncryptionContext is the caller's encryption context, as in
	// [EncryptionRequest]: KMS binds it, local keyrings refuse a non-empty
	// one with [ErrContextNotSupported].
	EncryptionContext map[string]string

	// Plaintext is the data key, [envelope.DataKeySize] bytes. The caller
	// owns it and zeroes it.
	Plaintext []byte

	// Replaces, if not nil, is the wrapped key that the new one is to
	// replace. The keyring then refuses, with an error wrapping
	// [ErrSameWrappingKey], to wrap under the key that wrapped Replaces, as
	// far as it can tell without a service call: local keyrings compare the
	// material description and try their own key on it (an RSA keyring only
	// when it holds the private key). [KMSKeyring] cannot tell which KMS key
	// wrapped a KMS blob; use [ReEncrypter], which reports both keys.
	Replaces *EncryptedDataKey
}

// ReEncrypter is implemented by keyrings whose service can move a wrapped
// data key to another wrapping key without returning the plaintext key to
// the caller. [KMSKeyring] implements it with KMS ReEncrypt: the source
// wrapped key goes in, the same data key wrapped under the keyring's KMS
// key comes out, and the plaintext never leaves KMS.
type ReEncrypter interface {
	// ReEncryptDataKey re-wraps req.Key under the keyring's wrapping key.
	// It makes the checks DecryptDataKey makes on req.Key (wrap algorithm,
	// stored context against req.SourceEncryptionContext) before it calls
	// the service. Unless req.AllowSameKey is set, it fails with an error
	// wrapping [ErrSameWrappingKey] when the service reports that the
	// source and destination wrapping keys are the same.
	ReEncryptDataKey(ctx context.Context, req *ReEncryptRequest) (*ReEncryptedDataKey, error)
}

// ReEncryptRequest asks a [ReEncrypter] to re-wrap a stored data key.
type ReEncryptRequest struct {
	// Suite is the content suite named by the object's envelope.
	Suite envelope.Suite

	// Key is the wrapped data key as stored with the object.
	Key EncryptedDataKey

	// SourceEncryptionContext is the context the caller expects the stored
	// key to carry, compared as [DecryptionRequest.EncryptionContext] is.
	SourceEncryptionContext map[string]string

	// EncryptionContext is the caller context to bind the re-wrapped key
	// to. Nil and empty both mean none.
	EncryptionContext map[string]string

	// SourceKeyID, if not empty, is sent to the service as the key that
	// must have wrapped Key (KMS SourceKeyId). Leave it empty after an
	// alias move: an alias names the key it points to now, not the one
	// that wrapped old objects. Default: empty (KMS finds the key from the
	// wrapped key itself).
	SourceKeyID string

	// AllowSameKey lets the source and destination wrapping keys be the
	// same (to change only the encryption context, for instance). Default
	// false: such a request fails with [ErrSameWrappingKey].
	AllowSameKey bool
}

// ReEncryptedDataKey is the result of [ReEncrypter.ReEncryptDataKey].
type ReEncryptedDataKey struct {
	EncryptedDataKey

	// SourceKeyID and KeyID identify the source and destination wrapping
	// keys as the service reports them (KMS key ARNs).
	SourceKeyID string
	KeyID       string
}

var (
	_ KeyWrapper  = (*AESKeyring)(nil)
	_ KeyWrapper  = (*RSAKeyring)(nil)
	_ KeyWrapper  = (*KMSKeyring)(nil)
	_ ReEncrypter = (*KMSKeyring)(nil)
)

// sameLocalDescription reports whether replaced was written by a local
// keyring of one of the wrap algorithms in family with the material
// description desc. Material descriptions select local keys on
// decryption, so a new key must come with a new description.
func sameLocalDescription(replaced *EncryptedDataKey, desc map[string]string, family ...envelope.WrapAlgorithm) bool {
	for _, w := range family {
		if replaced.WrapAlgorithm == w {
			return maps.Equal(cloneContext(replaced.Description), desc)
		}
	}
	return false
}
