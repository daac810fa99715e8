package materials

import (
	"crypto"
	"crypto/cipher"
	"crypto/rsa"
	_ "crypto/sha1" // registers crypto.SHA1 for the OAEP MGF1
	_ "crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"

	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/internal/fipsmode"
)

// This file holds the unwraps of the legacy wrapping algorithms, which the
// AES and RSA keyrings read only after an explicit opt-in and never write.
// Every function returns a freshly allocated key and zeroes its own
// intermediate buffers. Their errors carry no detail, so that no oracle is
// built from which check failed; callers wrap them in ErrUnwrap.

var errRawUnwrap = errors.New("legacy unwrap failed")

// rawLegacyPolicyError is the error a keyring returns for a legacy wrapping
// algorithm when legacy wrapping is not enabled.
func rawLegacyPolicyError(w envelope.WrapAlgorithm, option string) error {
	return &envelope.PolicyError{What: "legacy wrapping algorithm " + string(w), Option: option}
}

// rfc3394IV is the default initial value of RFC 3394, section 2.2.3.1.
var rfc3394IV = [8]byte{0xa6, 0xa6, 0xa6, 0xa6, 0xa6, 0xa6, 0xa6, 0xa6}

// aesKeyUnwrap is the RFC 3394 key unwrap (JCE "AESWrap") with the default
// initial value. wrapped is n+1 64-bit blocks for an n-block key, n >= 2.
func aesKeyUnwrap(kek cipher.Block, wrapped []byte) ([]byte, error) {
	if len(wrapped)%8 != 0 || len(wrapped) < 24 {
		return nil, errRawUnwrap
	}
	n := len(wrapped)/8 - 1

	var a [8]byte
	copy(a[:], wrapped[:8])
	r := make([]byte, 8*n) // R[1..n], R[i] at r[8(i-1):8i]
	copy(r, wrapped[8:])
	var b [16]byte
	defer clear(b[:])

	for j := 5; j >= 0; j-- {
		for i := n; i >= 1; i-- {
			t := uint64(n*j + i)
			binary.BigEndian.PutUint64(b[:8], binary.BigEndian.Uint64(a[:])^t)
			copy(b[8:], r[8*(i-1):8*i])
			kek.Decrypt(b[:], b[:])
			copy(a[:], b[:8])
			copy(r[8*(i-1):8*i], b[8:])
		}
	}
	if subtle.ConstantTimeCompare(a[:], rfc3394IV[:]) != 1 {
		clear(r)
		return nil, errRawUnwrap
	}
	return r, nil
}

// aesECBUnwrap decrypts the legacy V1 wrap, JCE "AES" (AES/ECB/PKCS5Padding),
// of a data key: a 32-byte key is 48 bytes wrapped. The padding is checked
// in constant time.
func aesECBUnwrap(kek cipher.Block, wrapped []byte) ([]byte, error) {
	const bs = 16
	if len(wrapped) != envelope.DataKeySize+bs {
		return nil, errRawUnwrap
	}
	buf := make([]byte, len(wrapped))
	defer clear(buf)
	for i := 0; i < len(wrapped); i += bs {
		kek.Decrypt(buf[i:i+bs], wrapped[i:i+bs])
	}

	// A valid pad is p bytes of value p, 1 <= p <= 16. For a 32-byte key it
	// is a full block of 0x10; check the general form all the same, then
	// the length.
	last := buf[len(buf)-bs:]
	p := last[bs-1]
	good := subtle.ConstantTimeLessOrEq(1, int(p)) & subtle.ConstantTimeLessOrEq(int(p), bs)
	for i := 0; i < bs; i++ {
		inPad := subtle.ConstantTimeLessOrEq(bs-i, int(p)) // last p bytes
		same := subtle.ConstantTimeByteEq(last[i], p)
		good &= same | (inPad ^ 1)
	}
	if good != 1 {
		return nil, errRawUnwrap
	}
	n := len(buf) - int(p)
	if n != envelope.DataKeySize {
		return nil, errRawUnwrap
	}
	key := make([]byte, n)
	copy(key, buf[:n])
	return key, nil
}

// rsaPKCS1Unwrap decrypts the legacy V1 wrap, JCE "RSA"
// (RSA/ECB/PKCS1Padding), of a data key.
//
// PKCS #1 v1.5 decryption is a padding oracle when its errors can be
// observed many times; it is only reachable through
// RSAKeyringOptions.EnableLegacyWrapping.
func rsaPKCS1Unwrap(priv *rsa.PrivateKey, wrapped []byte) ([]byte, error) {
	// Deprecated API on purpose: reading objects written by the legacy V1 clients needs PKCS #1 v1.5; opt-in only.
	key, err := rsa.DecryptPKCS1v15(nil, priv, wrapped)
	// A valid padding around a message of another size than a data key
	// fails exactly as an invalid padding does: told apart (the size
	// error had a message of its own), they were the oracle of
	// Bleichenbacher's attack, which a bucket writer plays by planting
	// wrapped keys and reading the errors.
	if err != nil || subtle.ConstantTimeEq(int32(len(key)), envelope.DataKeySize) != 1 {
		clear(key)
		return nil, errRawUnwrap
	}
	return key, nil
}

// rsaOAEPSHA256Unwrap decrypts the legacy wrap
// RSA/ECB/OAEPWithSHA-256AndMGF1Padding of a bare data key. With the SunJCE
// provider that transformation means OAEP with SHA-256 and MGF1 with SHA-1;
// a writer that used BouncyCastle for the same name would have used MGF1
// with SHA-256, which is tried second.
//
// In FIPS 140-only mode the module refuses MGF1 with SHA-1: only the
// second form is tried, and a failure is an [ErrFIPS] error, since the
// first might have opened the key.
func rsaOAEPSHA256Unwrap(priv *rsa.PrivateKey, wrapped []byte) ([]byte, error) {
	refusal := fipsmode.Refuse("RSA-OAEP with MGF1-SHA-1 (the SunJCE form of wrap algorithm \"RSA/ECB/OAEPWithSHA-256AndMGF1Padding\")")
	for _, mgf := range []crypto.Hash{crypto.SHA1, crypto.SHA256} {
		if mgf == crypto.SHA1 && refusal != nil {
			continue
		}
		key, err := priv.Decrypt(nil, wrapped, &rsa.OAEPOptions{Hash: crypto.SHA256, MGFHash: mgf})
		if err == nil {
			return key, nil
		}
	}
	if refusal != nil {
		return nil, refusal
	}
	return nil, errRawUnwrap
}
