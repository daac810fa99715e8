package materials

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"maps"

	"github.com/s3ec/s3ec-go/envelope"
)

var _ Keyring = (*AESKeyring)(nil)

// AESKeyringOptions configures an [AESKeyring].
type AESKeyringOptions struct {
	// MaterialDescription is stored with every object this keyring
	// encrypts (x-amz-matdesc in V2, x-amz-m in V3). It is not
	// authenticated: it only tells a reader which key to use, so never put
	// anything in it that a reader must be able to trust. Change it when you
	// change the key, and keep the old key in AdditionalKeys under the old
	// description. Default: none (stored as {}). Names and values must be
	// valid UTF-8 ([ErrInvalidDescription] otherwise).
	MaterialDescription map[string]string

	// AdditionalKeys are older wrapping keys, used only for decryption. An
	// object whose stored material description equals one entry's
	// MaterialDescription exactly is unwrapped with that entry's key; every
	// other object with the default key. Descriptions must be distinct from
	// each other and from MaterialDescription. Default: none.
	AdditionalKeys []AESKey

	// EnableLegacyWrapping allows unwrapping data keys written by the legacy
	// Java SDK v1 clients: RFC 3394 "AESWrap" and the V1 "AES"
	// (AES/ECB/PKCS5Padding) wrap. Neither binds the wrapped key to the
	// content algorithm. Without it such objects fail with an
	// [*envelope.PolicyError]. Default false; the keyring never writes them.
	EnableLegacyWrapping bool
}

// AESKey is a wrapping key with the material description that selects it.
type AESKey struct {
	// Key is a 16-, 24- or 32-byte AES key. The keyring keeps its own copy.
	Key []byte
	// MaterialDescription is the description stored with the objects this
	// key wrapped.
	MaterialDescription map[string]string
}

// AESKeyring wraps data keys with a local AES key using AES-GCM (wrap
// algorithm AES/GCM), byte-compatible with the AesKeyring of the Java and
// .NET S3 Encryption Clients. The wrap binds the data key to the content
// suite (the suite's cipher name is the AES-GCM additional data) but not to
// the material description. It is safe for concurrent use.
type AESKeyring struct {
	def        aesWrappingKey
	desc       map[string]string
	additional []aesWrappingKey
	legacy     bool
}

// aesWrappingKey is one expanded wrapping key. The raw key bytes are not
// kept.
type aesWrappingKey struct {
	block cipher.Block
	gcm   cipher.AEAD
	desc  map[string]string
	fp    []byte // keyed fingerprint: the key's identity, never the key
}

// aesFingerprintLabel is the message of the HMAC-SHA256 that identifies an
// AES wrapping key (keyed with it): two keyrings hold the same key exactly
// when their fingerprints are equal.
const aesFingerprintLabel = "s3ec-go AES wrapping key identity v1"

// aesGCMWrappedSize is the size of an AES/GCM-wrapped data key: IV, data key
// and tag.
const aesGCMWrappedSize = envelope.GCMIVSize + envelope.DataKeySize + envelope.TagSize

// NewAESKeyring returns a keyring that wraps data keys with key, a 16-, 24-
// or 32-byte AES key. The keyring copies key; the caller may zero it
// afterwards.
func NewAESKeyring(key []byte, optFns ...func(*AESKeyringOptions)) (*AESKeyring, error) {
	var o AESKeyringOptions
	for _, fn := range optFns {
		if fn != nil { // a nil option sets nothing
			fn(&o)
		}
	}
	def, err := newAESWrappingKey(key, o.MaterialDescription)
	if err != nil {
		return nil, err
	}
	// The description is stored with every object and selects the key on
	// read: it must read back exactly.
	if err := envelope.CheckDescription("AESKeyringOptions.MaterialDescription", o.MaterialDescription); err != nil {
		return nil, err
	}
	k := &AESKeyring{def: def, desc: def.desc, legacy: o.EnableLegacyWrapping}
	for i, ak := range o.AdditionalKeys {
		wk, err := newAESWrappingKey(ak.Key, ak.MaterialDescription)
		if err != nil {
			return nil, fmt.Errorf("materials: additional key %d: %w", i, rawUnprefix(err))
		}
		if err := envelope.CheckDescription(fmt.Sprintf("AESKeyringOptions.AdditionalKeys[%d].MaterialDescription", i), ak.MaterialDescription); err != nil {
			return nil, err
		}
		if maps.Equal(wk.desc, k.desc) {
			return nil, fmt.Errorf("materials: additional key %d has the same material description as the default key", i)
		}
		for j, prev := range k.additional {
			if maps.Equal(wk.desc, prev.desc) {
				return nil, fmt.Errorf("materials: additional keys %d and %d have the same material description", j, i)
			}
		}
		k.additional = append(k.additional, wk)
	}
	return k, nil
}

func newAESWrappingKey(key []byte, desc map[string]string) (aesWrappingKey, error) {
	switch len(key) {
	case 16, 24, 32:
	default:
		return aesWrappingKey{}, fmt.Errorf("materials: AES wrapping key is %d bytes, want 16, 24 or 32", len(key))
	}
	block, err := aes.NewCipher(key) // expands a copy; key is not retained
	if err != nil {
		return aesWrappingKey{}, fmt.Errorf("materials: AES wrapping key: %w", err)
	}
	// The module's GCM with random nonces: it draws the IV inside the Go
	// Cryptographic Module and lays the wrap out as S3EC's AES/GCM wrap
	// does (IV ‖ ciphertext ‖ tag), so AES/GCM wrapping is the module's
	// approved AES-GCM in FIPS 140-3 mode and works under fips140=only.
	gcm, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return aesWrappingKey{}, fmt.Errorf("materials: AES wrapping key: %w", err)
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(aesFingerprintLabel))
	return aesWrappingKey{block: block, gcm: gcm, desc: cloneContext(desc), fp: mac.Sum(nil)}, nil
}

// rawUnprefix strips the package prefix from a constructor error so that it can
// be wrapped in another materials error without repeating it.
func rawUnprefix(err error) error {
	const p = "materials: "
	if s := err.Error(); len(s) > len(p) && s[:len(p)] == p {
		return errors.New(s[len(p):])
	}
	return err
}

// GenerateDataKey returns a new random data key wrapped with AES-GCM under
// the default key. req.Suite must be [envelope.SuiteAESGCM] or
// [envelope.SuiteAESGCMCommitting]. A non-empty req.EncryptionContext is
// refused with [ErrContextNotSupported]: the material description is
// configured on the keyring and is not authenticated.
func (k *AESKeyring) GenerateDataKey(ctx context.Context, req *EncryptionRequest) (*DataKey, error) {
	if req == nil {
		return nil, errors.New("materials: nil EncryptionRequest")
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("materials: AES keyring: %w", err)
	}
	if err := rawCheckEncryptSuite(req.Suite); err != nil {
		return nil, err
	}
	if len(req.EncryptionContext) > 0 {
		return nil, rawErrNoContext("AES")
	}

	dk := make([]byte, envelope.DataKeySize)
	if _, err := rand.Read(dk); err != nil {
		return nil, fmt.Errorf("materials: generating data key: %w", err)
	}
	wrapped, err := k.def.wrapGCM(req.Suite, dk)
	if err != nil {
		clear(dk)
		return nil, err
	}
	return &DataKey{
		Plaintext: dk,
		EncryptedDataKey: EncryptedDataKey{
			WrapAlgorithm: envelope.WrapAESGCM,
			Ciphertext:    wrapped,
			Description:   cloneContext(k.desc),
		},
	}, nil
}

// DecryptDataKey unwraps an AES/GCM-wrapped data key (and, with
// EnableLegacyWrapping, an AESWrap or AES one). The key is chosen by the
// stored material description: the additional key whose description equals
// it exactly, otherwise the default key. Other wrap algorithms fail with
// [ErrNotMine]; a wrapped key that does not unwrap fails with [ErrUnwrap].
func (k *AESKeyring) DecryptDataKey(ctx context.Context, req *DecryptionRequest) ([]byte, error) {
	if req == nil {
		return nil, errors.New("materials: nil DecryptionRequest")
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("materials: AES keyring: %w", err)
	}
	w := req.Key.WrapAlgorithm
	switch w {
	case envelope.WrapAESGCM:
	case envelope.WrapAESWrap, envelope.WrapAESECB:
		if !k.legacy {
			return nil, rawLegacyPolicyError(w, "materials.AESKeyringOptions.EnableLegacyWrapping")
		}
	default:
		return nil, fmt.Errorf("%w: the AES keyring does not read wrap algorithm %q", ErrNotMine, w)
	}
	if len(req.EncryptionContext) > 0 {
		return nil, rawErrNoContext("AES")
	}

	wk := k.selectKey(req.Key.Description)
	var (
		dk  []byte
		err error
	)
	switch w {
	case envelope.WrapAESGCM:
		dk, err = wk.unwrapGCM(req.Suite, req.Key.Ciphertext)
	case envelope.WrapAESWrap:
		dk, err = aesKeyUnwrap(wk.block, req.Key.Ciphertext)
	case envelope.WrapAESECB:
		dk, err = aesECBUnwrap(wk.block, req.Key.Ciphertext)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s wrap does not open with the selected key", ErrUnwrap, w)
	}
	if len(dk) != envelope.DataKeySize {
		clear(dk)
		return nil, fmt.Errorf("%w: %s: unwrapped data key has the wrong size", ErrUnwrap, w)
	}
	return dk, nil
}

// WrapDataKey wraps req.Plaintext with AES-GCM under the default key, as
// GenerateDataKey wraps a new key, and returns it with the keyring's
// material description. A non-empty req.EncryptionContext is refused with
// [ErrContextNotSupported]. It fails with [ErrSameWrappingKey] when the
// default key is the one that wraps req.Replaces: when it opens it (AES/GCM,
// or a legacy AESWrap or AES wrap), or when req.Current's AES key that opens
// it is the same key (compared in constant time). The material description
// is not compared: two keys may share one.
func (k *AESKeyring) WrapDataKey(ctx context.Context, req *WrapRequest) (*EncryptedDataKey, error) {
	if req == nil {
		return nil, errors.New("materials: nil WrapRequest")
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("materials: AES keyring: %w", err)
	}
	if err := rawCheckWrap(req, "AES"); err != nil {
		return nil, err
	}
	if r := req.Replaces; r != nil {
		if k.def.opens(req.Suite, r) {
			return nil, fmt.Errorf("%w: the AES keyring's key already wraps the data key", ErrSameWrappingKey)
		}
		if id, ok := openingKeyOf(req.Current, req.Suite, r); ok && id.aes != nil && subtle.ConstantTimeCompare(id.aes, k.def.fp) == 1 {
			return nil, fmt.Errorf("%w: the AES keyring's key is the current keyring's key that wraps the data key", ErrSameWrappingKey)
		}
	}
	wrapped, err := k.def.wrapGCM(req.Suite, req.Plaintext)
	if err != nil {
		return nil, err
	}
	return &EncryptedDataKey{
		WrapAlgorithm: envelope.WrapAESGCM,
		Ciphertext:    wrapped,
		Description:   cloneContext(k.desc),
	}, nil
}

// opens reports whether wk unwraps edk (any AES wrap algorithm; the result
// is discarded).
func (wk *aesWrappingKey) opens(s envelope.Suite, edk *EncryptedDataKey) bool {
	var (
		dk  []byte
		err error
	)
	switch edk.WrapAlgorithm {
	case envelope.WrapAESGCM:
		dk, err = wk.unwrapGCM(s, edk.Ciphertext)
	case envelope.WrapAESWrap:
		dk, err = aesKeyUnwrap(wk.block, edk.Ciphertext)
	case envelope.WrapAESECB:
		dk, err = aesECBUnwrap(wk.block, edk.Ciphertext)
	default:
		return false
	}
	clear(dk)
	return err == nil
}

// openingKey returns the fingerprint of the key DecryptDataKey would use on
// edk when it opens it.
func (k *AESKeyring) openingKey(s envelope.Suite, edk *EncryptedDataKey) (keyIdentity, bool) {
	switch edk.WrapAlgorithm {
	case envelope.WrapAESGCM:
	case envelope.WrapAESWrap, envelope.WrapAESECB:
		if !k.legacy {
			return keyIdentity{}, false
		}
	default:
		return keyIdentity{}, false
	}
	wk := k.selectKey(edk.Description)
	if !wk.opens(s, edk) {
		return keyIdentity{}, false
	}
	return keyIdentity{aes: wk.fp}, true
}

// ReEncryptSources always fails with [ErrNotMine]: the keyring reads only
// its own AES wraps, which no key service moves.
func (k *AESKeyring) ReEncryptSources(req *DecryptionRequest) ([]ReEncryptSource, error) {
	return nil, errNoServiceReEncrypt("AES", req.Key.WrapAlgorithm)
}

// wrapGCM wraps a data key for suite s: random IV || AES-GCM(dk) || tag,
// with the suite's cipher name as additional data. The module draws the IV.
func (wk *aesWrappingKey) wrapGCM(s envelope.Suite, dk []byte) ([]byte, error) {
	return wk.gcm.Seal(make([]byte, 0, aesGCMWrappedSize), nil, dk, []byte(s.CipherName())), nil
}

// rawCheckWrap checks a WrapRequest for a local keyring.
func rawCheckWrap(req *WrapRequest, kind string) error {
	if err := rawCheckEncryptSuite(req.Suite); err != nil {
		return err
	}
	if len(req.EncryptionContext) > 0 {
		return rawErrNoContext(kind)
	}
	if len(req.Plaintext) != envelope.DataKeySize {
		return fmt.Errorf("materials: data key to wrap is %d bytes, want %d", len(req.Plaintext), envelope.DataKeySize)
	}
	return nil
}

func (k *AESKeyring) selectKey(desc map[string]string) *aesWrappingKey {
	for i := range k.additional {
		if maps.Equal(k.additional[i].desc, desc) {
			return &k.additional[i]
		}
	}
	return &k.def
}

func (wk *aesWrappingKey) unwrapGCM(s envelope.Suite, wrapped []byte) ([]byte, error) {
	if !s.Known() || len(wrapped) != aesGCMWrappedSize {
		return nil, errRawUnwrap
	}
	dk, err := wk.gcm.Open(nil, nil, wrapped, []byte(s.CipherName()))
	if err != nil {
		return nil, err
	}
	return dk, nil
}

// rawCheckEncryptSuite refuses suites that no keyring may generate keys for.
func rawCheckEncryptSuite(s envelope.Suite) error {
	if s != envelope.SuiteAESGCM && s != envelope.SuiteAESGCMCommitting {
		return fmt.Errorf("materials: cannot generate a data key for content suite %v", s)
	}
	return nil
}

func rawErrNoContext(kind string) error {
	return fmt.Errorf("%w (%s keyring: its material description is not authenticated; use a KMS keyring to bind a context)", ErrContextNotSupported, kind)
}
