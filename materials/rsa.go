package materials

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/subtle"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"

	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/internal/fipsmode"
)

var _ Keyring = (*RSAKeyring)(nil)

// MinRSAKeyBits is the smallest RSA modulus, in bits, that an [RSAKeyring]
// accepts.
const MinRSAKeyBits = 2048

// RSAKeyringOptions configures an [RSAKeyring].
type RSAKeyringOptions struct {
	// MaterialDescription is stored with every object this keyring
	// encrypts (x-amz-matdesc in V2, x-amz-m in V3). It is not
	// authenticated: it only tells a reader which key to use. Change it
	// when you change the key pair, and keep the old private key in
	// AdditionalKeys under the old description. Default: none (stored as
	// {}). Names and values must be valid UTF-8 ([ErrInvalidDescription]
	// otherwise).
	MaterialDescription map[string]string

	// AdditionalKeys are older private keys, used only for decryption. An
	// object whose stored material description equals one entry's
	// MaterialDescription exactly is unwrapped with that entry's key; every
	// other object with the default private key. Descriptions must be
	// distinct from each other and from MaterialDescription. Default: none.
	AdditionalKeys []RSAKey

	// EnableLegacyWrapping allows unwrapping data keys written by the legacy
	// Java SDK v1 clients: the V1 "RSA" wrap (PKCS #1 v1.5) and
	// "RSA/ECB/OAEPWithSHA-256AndMGF1Padding". Neither binds the wrapped key
	// to the content algorithm, and PKCS #1 v1.5 decryption is a padding
	// oracle if an attacker can submit many objects and observe the
	// errors. Without it such objects fail with an [*envelope.PolicyError].
	// Default false; the keyring never writes them.
	EnableLegacyWrapping bool
}

// RSAKey is a private key with the material description that selects it.
type RSAKey struct {
	PrivateKey          *rsa.PrivateKey
	MaterialDescription map[string]string
}

// RSAKeyring wraps data keys with RSA-OAEP (SHA-1, MGF1-SHA-1, wrap
// algorithm RSA-OAEP-SHA1) of a "pseudo data key" that binds the content
// suite, byte-compatible with the RsaKeyring of the Java and .NET S3
// Encryption Clients. It is safe for concurrent use. The keyring keeps
// references to the keys it is given; do not modify them afterwards.
type RSAKeyring struct {
	pub        *rsa.PublicKey
	priv       *rsa.PrivateKey // nil: encrypt-only
	desc       map[string]string
	additional []RSAKey
	legacy     bool
}

// NewRSAKeyring returns an RSA keyring. With only pub it can only encrypt
// (DecryptDataKey fails with [ErrEncryptOnly]); with only priv it encrypts
// to priv's public key and decrypts. When both are given they must be the
// same key pair. Keys must have at least [MinRSAKeyBits] bits.
func NewRSAKeyring(pub *rsa.PublicKey, priv *rsa.PrivateKey, optFns ...func(*RSAKeyringOptions)) (*RSAKeyring, error) {
	var o RSAKeyringOptions
	for _, fn := range optFns {
		if fn != nil { // a nil option sets nothing
			fn(&o)
		}
	}
	if pub == nil && priv == nil {
		return nil, errors.New("materials: RSA keyring needs a public key, a private key or both")
	}
	if priv != nil {
		if err := checkRSAPrivateKey(priv); err != nil {
			return nil, err
		}
		if pub == nil {
			pub = &priv.PublicKey
		} else if !pub.Equal(&priv.PublicKey) {
			return nil, errors.New("materials: RSA public and private keys are not a key pair")
		}
	}
	if err := checkRSAPublicKey(pub); err != nil {
		return nil, err
	}
	// The description is stored with every object and selects the key on
	// read: it must read back exactly.
	if err := envelope.CheckDescription("RSAKeyringOptions.MaterialDescription", o.MaterialDescription); err != nil {
		return nil, err
	}
	k := &RSAKeyring{pub: pub, priv: priv, desc: cloneContext(o.MaterialDescription), legacy: o.EnableLegacyWrapping}
	for i, ak := range o.AdditionalKeys {
		if ak.PrivateKey == nil {
			return nil, fmt.Errorf("materials: additional key %d has no private key", i)
		}
		if err := checkRSAPrivateKey(ak.PrivateKey); err != nil {
			return nil, fmt.Errorf("materials: additional key %d: %w", i, rawUnprefix(err))
		}
		if err := envelope.CheckDescription(fmt.Sprintf("RSAKeyringOptions.AdditionalKeys[%d].MaterialDescription", i), ak.MaterialDescription); err != nil {
			return nil, err
		}
		desc := cloneContext(ak.MaterialDescription)
		if maps.Equal(desc, k.desc) {
			return nil, fmt.Errorf("materials: additional key %d has the same material description as the default key", i)
		}
		for j, prev := range k.additional {
			if maps.Equal(desc, prev.MaterialDescription) {
				return nil, fmt.Errorf("materials: additional keys %d and %d have the same material description", j, i)
			}
		}
		k.additional = append(k.additional, RSAKey{PrivateKey: ak.PrivateKey, MaterialDescription: desc})
	}
	return k, nil
}

func checkRSAPublicKey(pub *rsa.PublicKey) error {
	if pub.N == nil || pub.E < 3 {
		return errors.New("materials: invalid RSA public key")
	}
	if n := pub.N.BitLen(); n < MinRSAKeyBits {
		return fmt.Errorf("materials: RSA key is %d bits, want at least %d", n, MinRSAKeyBits)
	}
	return nil
}

func checkRSAPrivateKey(priv *rsa.PrivateKey) error {
	if err := checkRSAPublicKey(&priv.PublicKey); err != nil {
		return err
	}
	if err := priv.Validate(); err != nil {
		return fmt.Errorf("materials: invalid RSA private key: %w", err)
	}
	return nil
}

// GenerateDataKey returns a new random data key wrapped with RSA-OAEP-SHA1
// to the public key. req.Suite must be [envelope.SuiteAESGCM] or
// [envelope.SuiteAESGCMCommitting]. A non-empty req.EncryptionContext is
// refused with [ErrContextNotSupported].
func (k *RSAKeyring) GenerateDataKey(ctx context.Context, req *EncryptionRequest) (*DataKey, error) {
	if req == nil {
		return nil, errors.New("materials: nil EncryptionRequest")
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("materials: RSA keyring: %w", err)
	}
	if err := rawCheckEncryptSuite(req.Suite); err != nil {
		return nil, err
	}
	if len(req.EncryptionContext) > 0 {
		return nil, rawErrNoContext("RSA")
	}

	plaintext := make([]byte, envelope.DataKeySize)
	if _, err := rand.Read(plaintext); err != nil {
		return nil, fmt.Errorf("materials: generating data key: %w", err)
	}
	wrapped, err := rsaOAEPSHA1Wrap(k.pub, req.Suite, plaintext)
	if err != nil {
		clear(plaintext)
		return nil, err
	}
	return &DataKey{
		Plaintext: plaintext,
		EncryptedDataKey: EncryptedDataKey{
			WrapAlgorithm: envelope.WrapRSAOAEPSHA1,
			Ciphertext:    wrapped,
			Description:   cloneContext(k.desc),
		},
	}, nil
}

// DecryptDataKey unwraps an RSA-OAEP-SHA1-wrapped data key (and, with
// EnableLegacyWrapping, an RSA or RSA/ECB/OAEPWithSHA-256AndMGF1Padding
// one). The private key is chosen by the stored material description: the
// additional key whose description equals it exactly, otherwise the default
// key. Other wrap algorithms fail with [ErrNotMine]; a wrapped key that does
// not unwrap, or was wrapped for another suite, fails with [ErrUnwrap].
func (k *RSAKeyring) DecryptDataKey(ctx context.Context, req *DecryptionRequest) ([]byte, error) {
	if req == nil {
		return nil, errors.New("materials: nil DecryptionRequest")
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("materials: RSA keyring: %w", err)
	}
	w := req.Key.WrapAlgorithm
	switch w {
	case envelope.WrapRSAOAEPSHA1:
	case envelope.WrapRSAPKCS1, envelope.WrapRSAOAEPSHA256:
		if !k.legacy {
			return nil, rawLegacyPolicyError(w, "materials.RSAKeyringOptions.EnableLegacyWrapping")
		}
	default:
		return nil, fmt.Errorf("%w: the RSA keyring does not read wrap algorithm %q", ErrNotMine, w)
	}
	if len(req.EncryptionContext) > 0 {
		return nil, rawErrNoContext("RSA")
	}

	priv := k.selectKey(req.Key.Description)
	if priv == nil {
		return nil, fmt.Errorf("%w: the RSA keyring has no private key", ErrEncryptOnly)
	}
	if err := rawRSAFIPSRefusal(w); err != nil {
		return nil, err
	}
	var (
		dk  []byte
		err error
	)
	switch w {
	case envelope.WrapRSAOAEPSHA1:
		dk, err = rsaOAEPSHA1Unwrap(priv, req.Suite, req.Key.Ciphertext)
	case envelope.WrapRSAPKCS1:
		dk, err = rsaPKCS1Unwrap(priv, req.Key.Ciphertext)
	case envelope.WrapRSAOAEPSHA256:
		dk, err = rsaOAEPSHA256Unwrap(priv, req.Key.Ciphertext)
	}
	if errors.Is(err, ErrFIPS) {
		return nil, fmt.Errorf("%w: %s wrap does not open with MGF1-SHA-256, and %w", ErrUnwrap, w, err)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s wrap does not open with the selected key or for suite %v", ErrUnwrap, w, req.Suite)
	}
	if len(dk) != envelope.DataKeySize {
		clear(dk)
		return nil, fmt.Errorf("%w: %s: unwrapped data key has the wrong size", ErrUnwrap, w)
	}
	return dk, nil
}

// WrapDataKey wraps req.Plaintext with RSA-OAEP-SHA1 to the public key, as
// GenerateDataKey wraps a new key, and returns it with the keyring's
// material description; the public key suffices. A non-empty
// req.EncryptionContext is refused with [ErrContextNotSupported]. It fails
// with [ErrSameWrappingKey] when the keyring's key pair is the one that
// wraps req.Replaces: when its private key (if it holds it) opens it, or
// when the private key of req.Current that opens it has the keyring's
// public key. The material description is not compared: two key pairs may
// share one.
func (k *RSAKeyring) WrapDataKey(ctx context.Context, req *WrapRequest) (*EncryptedDataKey, error) {
	if req == nil {
		return nil, errors.New("materials: nil WrapRequest")
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("materials: RSA keyring: %w", err)
	}
	if err := rawCheckWrap(req, "RSA"); err != nil {
		return nil, err
	}
	if r := req.Replaces; r != nil {
		if k.priv != nil && rsaOpens(k.priv, req.Suite, r) {
			return nil, fmt.Errorf("%w: the RSA keyring's key pair already wraps the data key", ErrSameWrappingKey)
		}
		if id, ok := openingKeyOf(req.Current, req.Suite, r); ok && id.rsa != nil && id.rsa.Equal(k.pub) {
			return nil, fmt.Errorf("%w: the RSA keyring's public key is that of the current keyring's key that wraps the data key", ErrSameWrappingKey)
		}
	}
	wrapped, err := rsaOAEPSHA1Wrap(k.pub, req.Suite, req.Plaintext)
	if err != nil {
		return nil, err
	}
	return &EncryptedDataKey{
		WrapAlgorithm: envelope.WrapRSAOAEPSHA1,
		Ciphertext:    wrapped,
		Description:   cloneContext(k.desc),
	}, nil
}

// rsaOpens reports whether priv unwraps edk (RSA-OAEP wraps; the result is
// discarded).
func rsaOpens(priv *rsa.PrivateKey, s envelope.Suite, edk *EncryptedDataKey) bool {
	var (
		dk  []byte
		err error
	)
	switch edk.WrapAlgorithm {
	case envelope.WrapRSAOAEPSHA1:
		dk, err = rsaOAEPSHA1Unwrap(priv, s, edk.Ciphertext)
	case envelope.WrapRSAOAEPSHA256:
		dk, err = rsaOAEPSHA256Unwrap(priv, edk.Ciphertext)
	default:
		// PKCS #1 v1.5 is not tried: an identity check must not add a
		// padding oracle.
		return false
	}
	clear(dk)
	return err == nil
}

// openingKey returns the public key of the private key DecryptDataKey would
// use on edk when it opens it.
func (k *RSAKeyring) openingKey(s envelope.Suite, edk *EncryptedDataKey) (keyIdentity, bool) {
	switch edk.WrapAlgorithm {
	case envelope.WrapRSAOAEPSHA1:
	case envelope.WrapRSAOAEPSHA256:
		if !k.legacy {
			return keyIdentity{}, false
		}
	default:
		return keyIdentity{}, false
	}
	priv := k.selectKey(edk.Description)
	if priv == nil || !rsaOpens(priv, s, edk) {
		return keyIdentity{}, false
	}
	return keyIdentity{rsa: &priv.PublicKey}, true
}

// ReEncryptSources always fails with [ErrNotMine]: the keyring reads only
// its own RSA wraps, which no key service moves.
func (k *RSAKeyring) ReEncryptSources(req *DecryptionRequest) ([]ReEncryptSource, error) {
	return nil, errNoServiceReEncrypt("RSA", req.Key.WrapAlgorithm)
}

// rsaOAEPSHA1Wrap encrypts the pseudo data key (length byte, data key,
// suite cipher name) of dk for suite s to pub.
func rsaOAEPSHA1Wrap(pub *rsa.PublicKey, s envelope.Suite, dk []byte) ([]byte, error) {
	if err := rawRSAFIPSRefusal(envelope.WrapRSAOAEPSHA1); err != nil {
		return nil, err
	}
	suffix := s.CipherName()
	pseudo := make([]byte, 1+len(dk)+len(suffix))
	defer clear(pseudo)
	pseudo[0] = byte(len(dk))
	copy(pseudo[1:], dk)
	copy(pseudo[1+len(dk):], suffix)
	wrapped, err := rsa.EncryptOAEP(sha1.New(), rand.Reader, pub, pseudo, nil)
	if err != nil {
		return nil, fmt.Errorf("materials: RSA-OAEP-SHA1 wrap: %w", err)
	}
	return wrapped, nil
}

// rawRSAFIPSRefusal returns an [ErrFIPS] error for wrap algorithm w when
// the program runs in FIPS 140-only mode and the Go Cryptographic Module
// refuses the algorithm: PKCS #1 v1.5 encryption, and SHA-1 in RSA-OAEP.
// The check comes before the module is called, whose refusal would
// otherwise look like a wrapped key that does not open.
func rawRSAFIPSRefusal(w envelope.WrapAlgorithm) error {
	switch w {
	case envelope.WrapRSAPKCS1:
		return fipsmode.Refuse("RSA PKCS #1 v1.5 key unwrapping (wrap algorithm \"RSA\")")
	case envelope.WrapRSAOAEPSHA1:
		return fipsmode.Refuse("RSA-OAEP with SHA-1 (wrap algorithm \"RSA-OAEP-SHA1\")")
	}
	return nil
}

func (k *RSAKeyring) selectKey(desc map[string]string) *rsa.PrivateKey {
	for _, ak := range k.additional {
		if maps.Equal(ak.MaterialDescription, desc) {
			return ak.PrivateKey
		}
	}
	return k.priv
}

// rsaOAEPSHA1Unwrap decrypts an RSA-OAEP-SHA1 pseudo data key and checks
// that it names suite s.
func rsaOAEPSHA1Unwrap(priv *rsa.PrivateKey, s envelope.Suite, wrapped []byte) ([]byte, error) {
	suffix := s.CipherName()
	if suffix == "" {
		return nil, errRawUnwrap
	}
	pseudo, err := rsa.DecryptOAEP(sha1.New(), nil, priv, wrapped, nil)
	if err != nil {
		return nil, errRawUnwrap
	}
	defer clear(pseudo)
	// The length byte may be 16, 24 or 32 in the format; content keys are
	// always 32 bytes.
	if len(pseudo) != 1+envelope.DataKeySize+len(suffix) || pseudo[0] != envelope.DataKeySize {
		return nil, errRawUnwrap
	}
	if subtle.ConstantTimeCompare(pseudo[1+envelope.DataKeySize:], []byte(suffix)) != 1 {
		return nil, errRawUnwrap
	}
	dk := make([]byte, envelope.DataKeySize)
	copy(dk, pseudo[1:1+envelope.DataKeySize])
	return dk, nil
}

// ParseRSAPublicKey parses an RSA public key in PEM or DER form: PKIX
// ("PUBLIC KEY"), PKCS #1 ("RSA PUBLIC KEY") or an X.509 certificate
// ("CERTIFICATE"). Only the first PEM block is read.
func ParseRSAPublicKey(data []byte) (*rsa.PublicKey, error) {
	der := data
	if block, _ := pem.Decode(data); block != nil {
		der = block.Bytes
		if block.Type == "CERTIFICATE" {
			cert, err := x509.ParseCertificate(der)
			if err != nil {
				return nil, fmt.Errorf("materials: parsing certificate: %w", err)
			}
			pub, ok := cert.PublicKey.(*rsa.PublicKey)
			if !ok {
				return nil, fmt.Errorf("materials: certificate holds a %T, not an RSA public key", cert.PublicKey)
			}
			return pub, nil
		}
	}
	if key, err := x509.ParsePKIXPublicKey(der); err == nil {
		pub, ok := key.(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("materials: PKIX key is a %T, not an RSA public key", key)
		}
		return pub, nil
	}
	if pub, err := x509.ParsePKCS1PublicKey(der); err == nil {
		return pub, nil
	}
	if cert, err := x509.ParseCertificate(der); err == nil {
		if pub, ok := cert.PublicKey.(*rsa.PublicKey); ok {
			return pub, nil
		}
		return nil, fmt.Errorf("materials: certificate holds a %T, not an RSA public key", cert.PublicKey)
	}
	return nil, errors.New("materials: not an RSA public key (want PKIX, PKCS #1 or a certificate, PEM or DER)")
}

// ParseRSAPrivateKey parses an RSA private key in PEM or DER form: PKCS #8
// ("PRIVATE KEY") or PKCS #1 ("RSA PRIVATE KEY"). Encrypted PEM is not
// supported. Only the first PEM block is read.
func ParseRSAPrivateKey(data []byte) (*rsa.PrivateKey, error) {
	der := data
	if block, _ := pem.Decode(data); block != nil {
		if block.Headers["Proc-Type"] != "" || block.Type == "ENCRYPTED PRIVATE KEY" {
			return nil, errors.New("materials: encrypted PEM private keys are not supported; decrypt the key first")
		}
		der = block.Bytes
	}
	if key, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		priv, ok := key.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("materials: PKCS #8 key is a %T, not an RSA private key", key)
		}
		return priv, nil
	}
	if priv, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return priv, nil
	}
	return nil, errors.New("materials: not an RSA private key (want PKCS #8 or PKCS #1, PEM or DER)")
}
