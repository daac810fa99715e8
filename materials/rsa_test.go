package materials

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/s3ec/s3ec-go/envelope"
)

// testRSAKey returns one of the RSA keys of the interop vectors: 0 and 1
// are distinct 2048-bit keys, 2 another 2048-bit key, 3 a 4096-bit key.
func testRSAKey(t testing.TB, i int) *rsa.PrivateKey {
	t.Helper()
	var v *vector
	switch i {
	case 0:
		v = loadVectors(t, "jce-raw-keyrings/jce-rsa2048-v2-md-17.json")[0]
	case 1, 2:
		v = loadVectors(t, "jce-raw-keyrings/jce-rsa2048-v2-rotation-17.json")[0]
	case 3:
		v = loadVectors(t, "jce-raw-keyrings/jce-rsa4096-v2-md-17.json")[0]
	}
	k := v.Keyring.vectorKey
	if i == 2 {
		k = v.Keyring.Additional[0]
	}
	return vectorRSAKey(t, k.PrivateKeyPEM, k.PublicKeyPEM)
}

func newRSA(t testing.TB, pub *rsa.PublicKey, priv *rsa.PrivateKey, optFns ...func(*RSAKeyringOptions)) *RSAKeyring {
	t.Helper()
	kr, err := NewRSAKeyring(pub, priv, optFns...)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func TestParseRSAKeys(t *testing.T) {
	priv := testRSAKey(t, 0)
	pkcs8, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	pkcs1 := x509.MarshalPKCS1PrivateKey(priv)
	pkixDER, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pkcs1Pub := x509.MarshalPKCS1PublicKey(&priv.PublicKey)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test"}, NotBefore: time.Unix(0, 0), NotAfter: time.Unix(1<<32, 0)}
	cert, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	pemOf := func(typ string, der []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}) }

	for name, data := range map[string][]byte{
		"PKCS8 PEM": pemOf("PRIVATE KEY", pkcs8), "PKCS8 DER": pkcs8,
		"PKCS1 PEM": pemOf("RSA PRIVATE KEY", pkcs1), "PKCS1 DER": pkcs1,
	} {
		got, err := ParseRSAPrivateKey(data)
		if err != nil {
			t.Errorf("ParseRSAPrivateKey(%s): %v", name, err)
		} else if !got.Equal(priv) {
			t.Errorf("ParseRSAPrivateKey(%s): another key", name)
		}
	}
	for name, data := range map[string][]byte{
		"PKIX PEM": pemOf("PUBLIC KEY", pkixDER), "PKIX DER": pkixDER,
		"PKCS1 PEM": pemOf("RSA PUBLIC KEY", pkcs1Pub), "PKCS1 DER": pkcs1Pub,
		"certificate PEM": pemOf("CERTIFICATE", cert), "certificate DER": cert,
	} {
		got, err := ParseRSAPublicKey(data)
		if err != nil {
			t.Errorf("ParseRSAPublicKey(%s): %v", name, err)
		} else if !got.Equal(&priv.PublicKey) {
			t.Errorf("ParseRSAPublicKey(%s): another key", name)
		}
	}

	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecPriv, _ := x509.MarshalPKCS8PrivateKey(ec)
	ecPub, _ := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	encrypted := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-128-CBC,00"}, Bytes: []byte{1}})
	for name, data := range map[string][]byte{
		"garbage": []byte("not a key"), "empty": nil, "EC": ecPriv, "public key": pkixDER,
		"encrypted PEM": encrypted, "PKCS8 encrypted": pemOf("ENCRYPTED PRIVATE KEY", []byte{1}),
	} {
		if _, err := ParseRSAPrivateKey(data); err == nil || !strings.HasPrefix(err.Error(), "materials: ") {
			t.Errorf("ParseRSAPrivateKey(%s): got %v, want a materials error", name, err)
		}
	}
	for name, data := range map[string][]byte{
		"garbage": []byte("not a key"), "empty": nil, "EC": ecPub, "private key": pkcs8,
	} {
		if _, err := ParseRSAPublicKey(data); err == nil || !strings.HasPrefix(err.Error(), "materials: ") {
			t.Errorf("ParseRSAPublicKey(%s): got %v, want a materials error", name, err)
		}
	}
}

func TestNewRSAKeyringValidation(t *testing.T) {
	k0, k1 := testRSAKey(t, 0), testRSAKey(t, 1)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	md := func(v string) map[string]string { return map[string]string{"v": v} }
	cases := []struct {
		name      string
		pub       *rsa.PublicKey
		priv      *rsa.PrivateKey
		opts      RSAKeyringOptions
		errSubstr string
	}{
		{"no keys", nil, nil, RSAKeyringOptions{}, "needs a public key"},
		{"small public", &small.PublicKey, nil, RSAKeyringOptions{}, "1024 bits, want at least 2048"},
		{"small private", nil, small, RSAKeyringOptions{}, "1024 bits"},
		{"not a pair", &k1.PublicKey, k0, RSAKeyringOptions{}, "not a key pair"},
		{"additional nil", nil, k0, RSAKeyringOptions{AdditionalKeys: []RSAKey{{MaterialDescription: md("1")}}}, "additional key 0 has no private key"},
		{"additional small", nil, k0, RSAKeyringOptions{AdditionalKeys: []RSAKey{{PrivateKey: small, MaterialDescription: md("1")}}}, "additional key 0: RSA key is 1024 bits"},
		{"additional same as default", nil, k0, RSAKeyringOptions{MaterialDescription: md("1"), AdditionalKeys: []RSAKey{{PrivateKey: k1, MaterialDescription: md("1")}}}, "same material description as the default"},
		{"additional empty as default", nil, k0, RSAKeyringOptions{AdditionalKeys: []RSAKey{{PrivateKey: k1}}}, "same material description as the default"},
		{"additional duplicates", nil, k0, RSAKeyringOptions{AdditionalKeys: []RSAKey{{PrivateKey: k1, MaterialDescription: md("1")}, {PrivateKey: k0, MaterialDescription: md("1")}}}, "additional keys 0 and 1"},
	}
	for _, c := range cases {
		_, err := NewRSAKeyring(c.pub, c.priv, func(o *RSAKeyringOptions) { *o = c.opts })
		if err == nil || !strings.Contains(err.Error(), c.errSubstr) || !strings.HasPrefix(err.Error(), "materials: ") {
			t.Errorf("%s: got %v, want an error containing %q", c.name, err, c.errSubstr)
		}
	}
	// Both keys of one pair, and a 4096-bit key, are fine.
	newRSA(t, &k0.PublicKey, k0)
	newRSA(t, nil, testRSAKey(t, 3))
}

func TestRSAKeyringWrapFormat(t *testing.T) {
	priv := testRSAKey(t, 0)
	md := map[string]string{"purpose": "test"}
	kr := newRSA(t, nil, priv, func(o *RSAKeyringOptions) { o.MaterialDescription = md })
	md["purpose"] = "changed after New"
	for _, s := range []envelope.Suite{envelope.SuiteAESGCM, envelope.SuiteAESGCMCommitting} {
		dk, err := kr.GenerateDataKey(context.Background(), &EncryptionRequest{Suite: s})
		if err != nil {
			t.Fatal(err)
		}
		if dk.WrapAlgorithm != envelope.WrapRSAOAEPSHA1 || len(dk.Ciphertext) != 256 {
			t.Fatalf("%v: wrap %q, %d bytes", s, dk.WrapAlgorithm, len(dk.Ciphertext))
		}
		if dk.Description["purpose"] != "test" || len(dk.Description) != 1 {
			t.Fatalf("%v: Description %v", s, dk.Description)
		}
		pseudo, err := rsa.DecryptOAEP(sha1.New(), nil, priv, dk.Ciphertext, nil)
		if err != nil {
			t.Fatal(err)
		}
		want := append(append([]byte{32}, dk.Plaintext...), s.CipherName()...)
		if !bytes.Equal(pseudo, want) {
			t.Fatalf("%v: pseudo data key %q, want 0x20 || key || %q", s, pseudo, s.CipherName())
		}
	}
	// Only the GCM suites may be generated.
	if _, err := kr.GenerateDataKey(context.Background(), &EncryptionRequest{Suite: envelope.SuiteAESCBC}); err == nil {
		t.Error("generated a key for the CBC suite")
	}
}

// TestRSAKeyringPseudoKey feeds hand-made pseudo data keys to the unwrap.
func TestRSAKeyringPseudoKey(t *testing.T) {
	priv := testRSAKey(t, 0)
	kr := newRSA(t, nil, priv)
	key := bytes.Repeat([]byte{9}, 32)
	wrap := func(pseudo []byte) []byte {
		c, err := rsa.EncryptOAEP(sha1.New(), rand.Reader, &priv.PublicKey, pseudo, nil)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	gcm, v3 := []byte("AES/GCM/NoPadding"), []byte("115")
	cases := []struct {
		name   string
		suite  envelope.Suite
		pseudo []byte
		ok     bool
	}{
		{"v2", envelope.SuiteAESGCM, cat([]byte{32}, key, gcm), true},
		{"v3", envelope.SuiteAESGCMCommitting, cat([]byte{32}, key, v3), true},
		{"v3 suffix for v2", envelope.SuiteAESGCM, cat([]byte{32}, key, v3), false},
		{"v2 suffix for v3", envelope.SuiteAESGCMCommitting, cat([]byte{32}, key, gcm), false},
		{"CBC suite", envelope.SuiteAESCBC, cat([]byte{32}, key, []byte("AES/CBC/PKCS5Padding")), true},
		{"unknown suite", envelope.Suite(0x99), cat([]byte{32}, key), false},
		{"no suffix", envelope.SuiteAESGCM, cat([]byte{32}, key), false},
		{"extra byte", envelope.SuiteAESGCMCommitting, cat([]byte{32}, key, v3, []byte{0}), false},
		{"suffix prefix only", envelope.SuiteAESGCM, cat([]byte{32}, key, gcm[:5]), false},
		{"16-byte key", envelope.SuiteAESGCM, cat([]byte{16}, key[:16], gcm), false},
		{"length byte 16, 32 bytes", envelope.SuiteAESGCM, cat([]byte{16}, key, gcm), false},
		{"length byte 0", envelope.SuiteAESGCM, cat([]byte{0}, key, gcm), false},
		{"empty", envelope.SuiteAESGCM, nil, false},
		{"bare key", envelope.SuiteAESGCM, key, false},
	}
	for _, c := range cases {
		req := &DecryptionRequest{Suite: c.suite, Key: EncryptedDataKey{WrapAlgorithm: envelope.WrapRSAOAEPSHA1, Ciphertext: wrap(c.pseudo)}}
		got, err := kr.DecryptDataKey(context.Background(), req)
		if c.ok {
			if err != nil || !bytes.Equal(got, key) {
				t.Errorf("%s: %x, %v", c.name, got, err)
			}
			continue
		}
		if !errors.Is(err, ErrUnwrap) || got != nil {
			t.Errorf("%s: got %x, %v; want ErrUnwrap", c.name, got, err)
		}
	}
}

func TestRSAKeyringEncryptOnly(t *testing.T) {
	priv := testRSAKey(t, 0)
	enc := newRSA(t, &priv.PublicKey, nil)
	full := newRSA(t, nil, priv)
	for _, s := range []envelope.Suite{envelope.SuiteAESGCM, envelope.SuiteAESGCMCommitting} {
		dk, err := enc.GenerateDataKey(context.Background(), &EncryptionRequest{Suite: s})
		if err != nil {
			t.Fatal(err)
		}
		req := &DecryptionRequest{Suite: s, Key: dk.EncryptedDataKey}
		if _, err := enc.DecryptDataKey(context.Background(), req); !errors.Is(err, ErrEncryptOnly) {
			t.Fatalf("encrypt-only DecryptDataKey: got %v, want ErrEncryptOnly", err)
		}
		got, err := full.DecryptDataKey(context.Background(), req)
		if err != nil || !bytes.Equal(got, dk.Plaintext) {
			t.Fatalf("full keyring: %v", err)
		}
	}
	// An encrypt-only keyring still says "not mine" for foreign wraps, so
	// that a Multi reports the right cause.
	_, err := enc.DecryptDataKey(context.Background(), &DecryptionRequest{Suite: envelope.SuiteAESGCM, Key: EncryptedDataKey{WrapAlgorithm: envelope.WrapAESGCM}})
	if !errors.Is(err, ErrNotMine) {
		t.Fatalf("encrypt-only, AES/GCM wrap: got %v, want ErrNotMine", err)
	}
}

func TestRSAKeyringKeySelection(t *testing.T) {
	oldKey, newKey := testRSAKey(t, 0), testRSAKey(t, 1)
	v1 := map[string]string{"version": "1"}
	v2 := map[string]string{"version": "2"}
	writer := newRSA(t, nil, oldKey, func(o *RSAKeyringOptions) { o.MaterialDescription = v1 })
	reader := newRSA(t, nil, newKey, func(o *RSAKeyringOptions) {
		o.MaterialDescription = v2
		o.AdditionalKeys = []RSAKey{{PrivateKey: oldKey, MaterialDescription: v1}}
	})
	s := envelope.SuiteAESGCMCommitting
	dk, err := writer.GenerateDataKey(context.Background(), &EncryptionRequest{Suite: s})
	if err != nil {
		t.Fatal(err)
	}
	got, err := reader.DecryptDataKey(context.Background(), &DecryptionRequest{Suite: s, Key: dk.EncryptedDataKey})
	if err != nil || !bytes.Equal(got, dk.Plaintext) {
		t.Fatalf("old key by description: %v", err)
	}
	edited := dk.EncryptedDataKey
	edited.Description = map[string]string{"version": "1", "x": "y"}
	if _, err := reader.DecryptDataKey(context.Background(), &DecryptionRequest{Suite: s, Key: edited}); !errors.Is(err, ErrUnwrap) {
		t.Fatalf("edited description: got %v, want ErrUnwrap (default key)", err)
	}
	// New objects use the default key and description.
	dk2, err := reader.GenerateDataKey(context.Background(), &EncryptionRequest{Suite: s})
	if err != nil {
		t.Fatal(err)
	}
	if dk2.Description["version"] != "2" {
		t.Fatalf("Description %v", dk2.Description)
	}
	if _, err := rsa.DecryptOAEP(sha1.New(), nil, newKey, dk2.Ciphertext, nil); err != nil {
		t.Fatal("new data key is not wrapped to the default key")
	}
}

func TestRSAKeyringLegacy(t *testing.T) {
	priv := testRSAKey(t, 0)
	key := bytes.Repeat([]byte{3}, 32)
	// Deprecated API on purpose: building a legacy test input.
	pkcs1, err := rsa.EncryptPKCS1v15(rand.Reader, &priv.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	oaep256 := testOAEPEncrypt(t, &priv.PublicKey, key, crypto.SHA256, crypto.SHA1)
	strict := newRSA(t, nil, priv)
	legacy := newRSA(t, nil, priv, func(o *RSAKeyringOptions) { o.EnableLegacyWrapping = true })
	for w, c := range map[envelope.WrapAlgorithm][]byte{envelope.WrapRSAPKCS1: pkcs1, envelope.WrapRSAOAEPSHA256: oaep256} {
		for _, s := range []envelope.Suite{envelope.SuiteAESCBC, envelope.SuiteAESGCM} {
			req := &DecryptionRequest{Suite: s, Key: EncryptedDataKey{WrapAlgorithm: w, Ciphertext: c}}
			got, err := legacy.DecryptDataKey(context.Background(), req)
			if err != nil || !bytes.Equal(got, key) {
				t.Errorf("%s/%v: %x, %v", w, s, got, err)
			}
			_, err = strict.DecryptDataKey(context.Background(), req)
			var pe *envelope.PolicyError
			if !errors.As(err, &pe) || pe.What != "legacy wrapping algorithm "+string(w) || pe.Option != "materials.RSAKeyringOptions.EnableLegacyWrapping" {
				t.Errorf("%s without opt-in: got %v", w, err)
			}
			// Even garbage is refused by policy before any decryption.
			req.Key.Ciphertext = []byte{1}
			if _, err := strict.DecryptDataKey(context.Background(), req); !errors.Is(err, envelope.ErrPolicy) {
				t.Errorf("%s garbage without opt-in: got %v", w, err)
			}
			if _, err := legacy.DecryptDataKey(context.Background(), req); !errors.Is(err, ErrUnwrap) {
				t.Errorf("%s garbage with opt-in: got %v", w, err)
			}
		}
	}
	// A 16-byte legacy key is not a content key.
	// Deprecated API on purpose: building a legacy test input.
	short, _ := rsa.EncryptPKCS1v15(rand.Reader, &priv.PublicKey, key[:16])
	_, err = legacy.DecryptDataKey(context.Background(), &DecryptionRequest{Suite: envelope.SuiteAESCBC, Key: EncryptedDataKey{WrapAlgorithm: envelope.WrapRSAPKCS1, Ciphertext: short}})
	if !errors.Is(err, ErrUnwrap) {
		t.Errorf("16-byte key: got %v, want ErrUnwrap", err)
	}
}

func TestRSAKeyringErrorsCarryNoKey(t *testing.T) {
	priv := testRSAKey(t, 0)
	kr := newRSA(t, nil, priv)
	dk, err := kr.GenerateDataKey(context.Background(), &EncryptionRequest{Suite: envelope.SuiteAESGCM})
	if err != nil {
		t.Fatal(err)
	}
	_, err = kr.DecryptDataKey(context.Background(), &DecryptionRequest{Suite: envelope.SuiteAESGCMCommitting, Key: dk.EncryptedDataKey})
	if err == nil {
		t.Fatal("wrong suite unwrapped")
	}
	msg := err.Error()
	for _, enc := range []string{string(dk.Plaintext), hex.EncodeToString(dk.Plaintext), base64.StdEncoding.EncodeToString(dk.Plaintext)} {
		if strings.Contains(msg, enc) {
			t.Fatal("error contains the key")
		}
	}
	if !strings.HasPrefix(msg, "materials: ") {
		t.Fatalf("error %q lacks the package prefix", msg)
	}
}

func FuzzParseRSAKeys(f *testing.F) {
	v := loadVectors(f, "jce-raw-keyrings/jce-rsa2048-v2-md-17.json")[0]
	f.Add([]byte(v.Keyring.PrivateKeyPEM))
	f.Add([]byte(v.Keyring.PublicKeyPEM))
	if block, _ := pem.Decode([]byte(v.Keyring.PrivateKeyPEM)); block != nil {
		f.Add(block.Bytes)
	}
	f.Add([]byte("-----BEGIN RSA PRIVATE KEY-----\n-----END RSA PRIVATE KEY-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if priv, err := ParseRSAPrivateKey(data); err == nil && priv == nil {
			t.Fatal("nil key without error")
		}
		if pub, err := ParseRSAPublicKey(data); err == nil && pub == nil {
			t.Fatal("nil key without error")
		}
	})
}
