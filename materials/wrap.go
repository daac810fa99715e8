package materials

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"

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
	// far as it can tell without a service call: local keyrings try their
	// own key on it (an RSA keyring only when it holds the private key), and
	// compare their key with the key of Current that opens it. The
	// material description is not a key's identity and is not compared.
	// [KMSKeyring] cannot tell which KMS key wrapped a KMS blob; use
	// [ReEncrypter], which reports both keys.
	Replaces *EncryptedDataKey

	// Current, if not nil, is the keyring that reads Replaces (the
	// encryption client's keyring in a re-wrap). An [AESKeyring] compares
	// its key, in constant time, with the AES key of Current that opens
	// Replaces; an [RSAKeyring] compares its public key with that of the
	// private key of Current that opens it, which lets an encrypt-only RSA
	// keyring recognize its own key pair. Only the keyrings of this package
	// (also inside a [MultiKeyring] or [CachingKeyring]) are looked into.
	Current Keyring
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

	// AuthorizeSource, if not nil, is called with the source key ARN that
	// the service reports before anything is returned; an error refuses
	// the re-encryption (the new wrapped key is discarded) and is returned.
	// Set it, with SourceKeyID, from the [ReEncryptSource] of the keyring
	// that is to authorize reading Key (see [ReEncryptSourcesOf]): ReEncrypt
	// alone checks only that the caller may use the source key, which any
	// key whose key policy allows everyone passes.
	AuthorizeSource func(sourceKeyARN string) error

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

// ReEncryptAuthorizer is implemented by keyrings that can say on what terms
// a key service may move a stored data key that they would read, without
// the key being unwrapped in this process: which key to name as the source
// (KMS SourceKeyId) and which source keys the service may report. A re-wrap
// asks the client's current keyring, so that an object is moved by KMS
// ReEncrypt only if that keyring would authorize reading it. Every keyring
// of this package implements it.
type ReEncryptAuthorizer interface {
	// ReEncryptSources makes the checks DecryptDataKey makes on req before
	// any service call (wrap algorithm, legacy opt-in, stored context
	// against req.EncryptionContext) and fails as DecryptDataKey would
	// ([ErrNotMine] for a key it does not read, [ErrContextMismatch],
	// [*envelope.PolicyError]). Otherwise it returns the sources to try, in
	// order: each one that the service accepts and whose reported source
	// key passes [ReEncryptSource.Authorize] is authorized. A keyring that
	// can decide only by unwrapping returns an error wrapping
	// [errors.ErrUnsupported].
	ReEncryptSources(req *DecryptionRequest) ([]ReEncryptSource, error)
}

// ReEncryptSource is one way a keyring authorizes a service re-encryption
// of a stored data key.
type ReEncryptSource struct {
	// KeyID is sent as the source key (KMS SourceKeyId), so that the
	// service refuses a key wrapped by any other; empty for a discovery
	// keyring that allows several keys or any.
	KeyID string

	authorize func(reported string) error
}

// Authorize checks the source key ARN the service reported against the
// keyring's key identity or allow-list. A ReEncryptSource that did not come
// from a keyring authorizes nothing.
func (s ReEncryptSource) Authorize(reported string) error {
	if s.authorize == nil {
		return fmt.Errorf("%w: no keyring authorized this re-encryption source", ErrNotMine)
	}
	return s.authorize(reported)
}

// ReEncryptSourcesOf asks kr on what terms req.Key may be moved by a key
// service; see [ReEncryptAuthorizer]. A keyring that does not implement the
// interface gives an error wrapping [errors.ErrUnsupported]: authorize
// with its DecryptDataKey instead.
func ReEncryptSourcesOf(kr Keyring, req *DecryptionRequest) ([]ReEncryptSource, error) {
	if req == nil {
		return nil, errors.New("materials: nil DecryptionRequest")
	}
	a, ok := kr.(ReEncryptAuthorizer)
	if !ok {
		return nil, fmt.Errorf("materials: keyring %T cannot authorize a service re-encryption: %w", kr, errors.ErrUnsupported)
	}
	return a.ReEncryptSources(req)
}

// errNoServiceReEncrypt is the answer of local keyrings: they read only
// their own wraps, which no key service can move.
func errNoServiceReEncrypt(kind string, w envelope.WrapAlgorithm) error {
	return fmt.Errorf("%w: the %s keyring authorizes no key-service re-encryption (wrap algorithm %q)", ErrNotMine, kind, w)
}

var (
	_ ReEncryptAuthorizer = (*AESKeyring)(nil)
	_ ReEncryptAuthorizer = (*RSAKeyring)(nil)
	_ ReEncryptAuthorizer = (*KMSKeyring)(nil)
	_ ReEncryptAuthorizer = (*KMSDiscoveryKeyring)(nil)
	_ ReEncryptAuthorizer = (*MultiKeyring)(nil)
	_ ReEncryptAuthorizer = (*CachingKeyring)(nil)
)

var (
	_ KeyWrapper  = (*AESKeyring)(nil)
	_ KeyWrapper  = (*RSAKeyring)(nil)
	_ KeyWrapper  = (*KMSKeyring)(nil)
	_ ReEncrypter = (*KMSKeyring)(nil)
)

// localKeyOpener is implemented by keyrings with local wrapping keys:
// openingKey returns the identity of the key of the keyring that opens edk
// for suite s, as DecryptDataKey would select it, and false when none does.
type localKeyOpener interface {
	openingKey(s envelope.Suite, edk *EncryptedDataKey) (keyIdentity, bool)
}

// keyIdentity identifies a local wrapping key without holding it: an AES
// key's fingerprint (a keyed hash, compared in constant time) or an RSA
// public key.
type keyIdentity struct {
	aes []byte
	rsa *rsa.PublicKey
}

// openingKeyOf returns the identity of the key of kr that opens edk.
func openingKeyOf(kr Keyring, s envelope.Suite, edk *EncryptedDataKey) (keyIdentity, bool) {
	if o, ok := kr.(localKeyOpener); ok && edk != nil {
		return o.openingKey(s, edk)
	}
	return keyIdentity{}, false
}
