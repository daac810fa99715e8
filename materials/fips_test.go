package materials

import (
	"bytes"
	"context"
	"crypto"
	"crypto/aes"
	"crypto/fips140"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"strings"
	"testing"

	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/internal/fipsmode/fipstest"
)

// Under GODEBUG=fips140=only the Go Cryptographic Module refuses RSA PKCS #1
// v1.5 encryption, SHA-1 (so RSA-OAEP-SHA1 and OAEP's MGF1 with SHA-1) (and
// RSA keys below 2048 bits, which the RSA keyring refuses in every mode). Each keyring operation that needs one of them
// fails with ErrFIPS, which names the mode, rather than with a panic or an
// ErrUnwrap that hides why. What the module allows keeps working: AES/GCM
// wrapping (its IV generated inside the module), the legacy AESWrap and
// AES/ECB unwraps (AES block decryptions), RSA-OAEP with SHA-256 and
// MGF1-SHA-256.
func TestFIPSOnlyKeyrings(t *testing.T) {
	if !fipstest.Under(t, "fips140=only") {
		return
	}
	if !fips140.Enforced() {
		t.Fatal("the child does not enforce FIPS 140-only mode")
	}
	ctx := context.Background()
	dk := key32(9)
	isFIPS := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, ErrFIPS) || !strings.Contains(fmtErr(err), "FIPS 140-only mode") {
			t.Errorf("%s: got %v, want ErrFIPS naming FIPS 140-only mode", what, err)
		}
	}

	// Inputs the module would refuse to make now.
	priv := testRSAKey(t, 0)
	var pkcs1, oaepSHA1, mgfSHA1, mgfSHA256 []byte
	fips140.WithoutEnforcement(func() {
		var err error
		if pkcs1, err = rsa.EncryptPKCS1v15(rand.Reader, &priv.PublicKey, dk); err != nil {
			t.Fatal(err)
		}
		edk, err := newRSA(t, &priv.PublicKey, nil).WrapDataKey(ctx, &WrapRequest{Suite: envelope.SuiteAESGCM, Plaintext: dk})
		if err != nil {
			t.Fatal(err)
		}
		oaepSHA1 = edk.Ciphertext
		mgfSHA1 = testOAEPEncrypt(t, &priv.PublicKey, dk, crypto.SHA256, crypto.SHA1)
	})
	mgfSHA256 = testOAEPEncrypt(t, &priv.PublicKey, dk, crypto.SHA256, crypto.SHA256)

	legacy := func(o *RSAKeyringOptions) { o.EnableLegacyWrapping = true }
	kr := newRSA(t, &priv.PublicKey, priv, legacy)
	unwrap := func(kr *RSAKeyring, w envelope.WrapAlgorithm, c []byte) ([]byte, error) {
		return kr.DecryptDataKey(ctx, &DecryptionRequest{Suite: envelope.SuiteAESGCM, Key: EncryptedDataKey{WrapAlgorithm: w, Ciphertext: c}})
	}
	_, err := unwrap(kr, envelope.WrapRSAPKCS1, pkcs1)
	isFIPS("RSA PKCS #1 v1.5 unwrap", err)
	_, err = unwrap(kr, envelope.WrapRSAOAEPSHA1, oaepSHA1)
	isFIPS("RSA-OAEP-SHA1 unwrap", err)
	_, err = kr.GenerateDataKey(ctx, &EncryptionRequest{Suite: envelope.SuiteAESGCM})
	isFIPS("RSA-OAEP-SHA1 GenerateDataKey", err)
	_, err = kr.WrapDataKey(ctx, &WrapRequest{Suite: envelope.SuiteAESGCM, Plaintext: dk})
	isFIPS("RSA-OAEP-SHA1 WrapDataKey", err)
	if got, err := unwrap(kr, envelope.WrapRSAOAEPSHA256, mgfSHA256); err != nil || !bytes.Equal(got, dk) {
		t.Errorf("RSA-OAEP-SHA256 with MGF1-SHA256: %v", err)
	}
	// The SunJCE form (MGF1 with SHA-1) cannot be tried: the error says so.
	_, err = unwrap(kr, envelope.WrapRSAOAEPSHA256, mgfSHA1)
	isFIPS("RSA-OAEP-SHA256 with MGF1-SHA1", err)
	if !errors.Is(err, ErrUnwrap) {
		t.Errorf("RSA-OAEP-SHA256 with MGF1-SHA1: %v, want ErrUnwrap too", err)
	}
	// Refusals come before the policy and key checks only when they
	// apply: without the legacy opt-in a legacy wrap is a policy error.
	if _, err := unwrap(newRSA(t, &priv.PublicKey, priv), envelope.WrapRSAPKCS1, pkcs1); !errors.Is(err, envelope.ErrPolicy) || errors.Is(err, ErrFIPS) {
		t.Errorf("PKCS #1 v1.5 without opt-in: %v, want the policy error", err)
	}

	// AES keyrings: AES/GCM through the module's random-nonce GCM, and the
	// legacy unwraps, which are AES block decryptions.
	wrapKey := key32(5)
	aesKR, err := NewAESKeyring(wrapKey, func(o *AESKeyringOptions) { o.EnableLegacyWrapping = true })
	if err != nil {
		t.Fatalf("NewAESKeyring under fips140=only: %v", err)
	}
	gen, err := aesKR.GenerateDataKey(ctx, &EncryptionRequest{Suite: envelope.SuiteAESGCMCommitting})
	if err != nil {
		t.Fatalf("AES/GCM GenerateDataKey: %v", err)
	}
	got, err := aesKR.DecryptDataKey(ctx, &DecryptionRequest{Suite: envelope.SuiteAESGCMCommitting, Key: gen.EncryptedDataKey})
	if err != nil || !bytes.Equal(got, gen.Plaintext) {
		t.Fatalf("AES/GCM round trip: %v", err)
	}
	block, _ := aes.NewCipher(wrapKey)
	for w, c := range map[envelope.WrapAlgorithm][]byte{
		envelope.WrapAESWrap: testAESKeyWrap(block, dk),
		envelope.WrapAESECB:  testAESECBWrap(block, dk, nil),
	} {
		got, err := aesKR.DecryptDataKey(ctx, &DecryptionRequest{Suite: envelope.SuiteAESGCM, Key: EncryptedDataKey{WrapAlgorithm: w, Ciphertext: c}})
		if err != nil || !bytes.Equal(got, dk) {
			t.Errorf("%s unwrap under fips140=only: %v", w, err)
		}
	}
}

func fmtErr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
