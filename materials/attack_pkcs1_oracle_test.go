package materials

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"testing"

	"github.com/s3ec/s3ec-go/envelope"
)

// TestAttackPKCS1UnwrapIsNoPaddingOracle plays a bucket writer
// against a reader whose RSA keyring has EnableLegacyWrapping (to read old
// V1 objects). The writer takes a victim's PKCS #1 v1.5 wrapped key c and
// plants objects with c·s^e mod n for chosen s (Bleichenbacher). Whatever
// the decrypted block is, the reader must answer the same: legacy.go
// promises errors that "carry no detail, so that no oracle is built from
// which check failed".
//
// A block with valid PKCS #1 v1.5 padding around a message that is not 32
// bytes long must therefore fail exactly as a block with invalid padding:
// otherwise the error text tells the attacker "the padding was valid",
// which is the full Bleichenbacher oracle (a far stronger one than
// "the padding was valid and the message 32 bytes long").
func TestAttackPKCS1UnwrapIsNoPaddingOracle(t *testing.T) {
	priv := testRSAKey(t, 0)
	kr := newRSA(t, nil, priv, func(o *RSAKeyringOptions) { o.EnableLegacyWrapping = true })

	// What the attacker sees of one unwrap: the error text, or success
	// (a fix in the manner of rsa.DecryptPKCS1v15SessionKey answers every
	// block with a key, random when the block does not conform).
	unwrap := func(c []byte) string {
		t.Helper()
		dk, err := kr.DecryptDataKey(context.Background(), &DecryptionRequest{
			Suite: envelope.SuiteAESCBC,
			Key:   EncryptedDataKey{WrapAlgorithm: envelope.WrapRSAPKCS1, Ciphertext: c},
		})
		if err == nil {
			Zero(dk)
			return "unwrapped"
		}
		if !errors.Is(err, ErrUnwrap) {
			t.Errorf("crafted block: %v, want ErrUnwrap", err)
		}
		return err.Error()
	}

	// Invalid padding: a random block below the modulus (it decrypts to a
	// block starting 00 02 with probability about 2^-16; try until it does
	// not, which the first try is almost always).
	var badPadding string
	for i := 0; i < 8 && badPadding == ""; i++ {
		c := make([]byte, priv.Size())
		if _, err := rand.Read(c[1:]); err != nil {
			t.Fatal(err)
		}
		// Deprecated API on purpose: only to tell which blocks are conforming.
		if _, err := rsa.DecryptPKCS1v15(nil, priv, c); err == nil {
			continue
		}
		badPadding = unwrap(c)
	}
	if badPadding == "" {
		t.Fatal("no non-conforming block found")
	}

	// Valid padding, message of the wrong length.
	for _, n := range []int{0, 1, 16, 31, 33, 64} {
		// Deprecated API on purpose: building a legacy test input.
		c, err := rsa.EncryptPKCS1v15(rand.Reader, &priv.PublicKey, bytes.Repeat([]byte{7}, n))
		if err != nil {
			t.Fatal(err)
		}
		if got := unwrap(c); got != badPadding {
			t.Errorf("padding oracle: a conforming block with a %d-byte message fails with\n\t%q\nbut a non-conforming one with\n\t%q", n, got, badPadding)
		}
	}
}
