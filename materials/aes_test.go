package materials

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"strings"
	"testing"

	"github.com/s3ec/s3ec-go/envelope"
)

func newAES(t testing.TB, key []byte, optFns ...func(*AESKeyringOptions)) *AESKeyring {
	t.Helper()
	kr, err := NewAESKeyring(key, optFns...)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func key32(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

func TestNewAESKeyringValidation(t *testing.T) {
	md := func(v string) map[string]string { return map[string]string{"v": v} }
	cases := []struct {
		name      string
		key       []byte
		opts      AESKeyringOptions
		errSubstr string
	}{
		{"nil key", nil, AESKeyringOptions{}, "0 bytes, want 16, 24 or 32"},
		{"15 bytes", make([]byte, 15), AESKeyringOptions{}, "15 bytes"},
		{"31 bytes", make([]byte, 31), AESKeyringOptions{}, "31 bytes"},
		{"64 bytes", make([]byte, 64), AESKeyringOptions{}, "64 bytes"},
		{"additional bad length", key32(1), AESKeyringOptions{MaterialDescription: md("2"), AdditionalKeys: []AESKey{{Key: make([]byte, 8), MaterialDescription: md("1")}}}, "additional key 0: AES wrapping key is 8 bytes"},
		{"additional same as default", key32(1), AESKeyringOptions{MaterialDescription: md("1"), AdditionalKeys: []AESKey{{Key: key32(2), MaterialDescription: md("1")}}}, "same material description as the default"},
		{"additional nil as default empty", key32(1), AESKeyringOptions{MaterialDescription: map[string]string{}, AdditionalKeys: []AESKey{{Key: key32(2)}}}, "same material description as the default"},
		{"additional duplicates", key32(1), AESKeyringOptions{AdditionalKeys: []AESKey{{Key: key32(2), MaterialDescription: md("1")}, {Key: key32(3), MaterialDescription: md("1")}}}, "additional keys 0 and 1"},
	}
	for _, c := range cases {
		_, err := NewAESKeyring(c.key, func(o *AESKeyringOptions) { *o = c.opts })
		if err == nil || !strings.Contains(err.Error(), c.errSubstr) || !strings.HasPrefix(err.Error(), "materials: ") {
			t.Errorf("%s: got %v, want an error containing %q", c.name, err, c.errSubstr)
		}
	}
	for _, n := range []int{16, 24, 32} {
		newAES(t, make([]byte, n))
	}
}

// The keyring owns copies of its key and material description.
func TestAESKeyringCopiesInputs(t *testing.T) {
	key := key32(7)
	md := map[string]string{"purpose": "test"}
	kr := newAES(t, key, func(o *AESKeyringOptions) { o.MaterialDescription = md })
	clear(key)
	md["purpose"] = "changed"
	md["extra"] = "x"

	s := envelope.SuiteAESGCMCommitting
	dk, err := kr.GenerateDataKey(context.Background(), &EncryptionRequest{Suite: s})
	if err != nil {
		t.Fatal(err)
	}
	if len(dk.Description) != 1 || dk.Description["purpose"] != "test" {
		t.Fatalf("Description %v", dk.Description)
	}
	// A fresh keyring with the original key value reads it.
	fresh := newAES(t, key32(7), func(o *AESKeyringOptions) { o.MaterialDescription = map[string]string{"purpose": "test"} })
	got, err := fresh.DecryptDataKey(context.Background(), &DecryptionRequest{Suite: s, Key: dk.EncryptedDataKey})
	if err != nil || !bytes.Equal(got, dk.Plaintext) {
		t.Fatalf("zeroing the caller's key changed the keyring: %v", err)
	}
}

// The AES/GCM wrap is IV || AES-GCM(key, IV, data key, AAD = cipher name) || tag.
func TestAESKeyringWrapFormat(t *testing.T) {
	for _, n := range []int{16, 24, 32} {
		wrapKey := bytes.Repeat([]byte{byte(n)}, n)
		kr := newAES(t, wrapKey)
		block, _ := aes.NewCipher(wrapKey)
		gcm, _ := cipher.NewGCM(block)
		for _, s := range []envelope.Suite{envelope.SuiteAESGCM, envelope.SuiteAESGCMCommitting} {
			dk, err := kr.GenerateDataKey(context.Background(), &EncryptionRequest{Suite: s})
			if err != nil {
				t.Fatal(err)
			}
			if dk.WrapAlgorithm != envelope.WrapAESGCM || len(dk.Ciphertext) != 60 {
				t.Fatalf("%v: wrap %q, %d bytes", s, dk.WrapAlgorithm, len(dk.Ciphertext))
			}
			if dk.Description == nil || len(dk.Description) != 0 {
				t.Fatalf("%v: Description %#v, want an empty non-nil map", s, dk.Description)
			}
			got, err := gcm.Open(nil, dk.Ciphertext[:12], dk.Ciphertext[12:], []byte(s.CipherName()))
			if err != nil || !bytes.Equal(got, dk.Plaintext) {
				t.Fatalf("AES-%d %v: stdlib GCM with AAD %q: %v", n*8, s, s.CipherName(), err)
			}
		}
	}
	kr := newAES(t, key32(1))
	for _, s := range []envelope.Suite{envelope.SuiteAESCBC, 0, 0x74} {
		if _, err := kr.GenerateDataKey(context.Background(), &EncryptionRequest{Suite: s}); err == nil {
			t.Errorf("generated a key for suite %v", s)
		}
	}
}

func TestAESKeyringUnwrapFailures(t *testing.T) {
	wrapKey := key32(1)
	kr := newAES(t, wrapKey)
	block, _ := aes.NewCipher(wrapKey)
	gcm, _ := cipher.NewGCM(block)
	iv := make([]byte, 12)
	seal := func(dk []byte, aad string) []byte { return gcm.Seal(bytes.Clone(iv), iv, dk, []byte(aad)) }
	s := envelope.SuiteAESGCM
	cases := []struct {
		name    string
		suite   envelope.Suite
		wrapped []byte
	}{
		{"16-byte data key", s, seal(key32(2)[:16], s.CipherName())},
		{"33-byte data key", s, seal(append(key32(2), 0), s.CipherName())},
		{"no AAD", s, seal(key32(2), "")},
		{"other suite's AAD", s, seal(key32(2), "115")},
		{"unknown suite", 0x99, seal(key32(2), "")},
		{"tag only", s, seal(nil, s.CipherName())},
		{"empty", s, nil},
	}
	for _, c := range cases {
		got, err := kr.DecryptDataKey(context.Background(), &DecryptionRequest{Suite: c.suite, Key: EncryptedDataKey{WrapAlgorithm: envelope.WrapAESGCM, Ciphertext: c.wrapped}})
		if !errors.Is(err, ErrUnwrap) || got != nil {
			t.Errorf("%s: got %x, %v; want ErrUnwrap", c.name, got, err)
		}
	}
	good := seal(key32(2), s.CipherName())
	got, err := kr.DecryptDataKey(context.Background(), &DecryptionRequest{Suite: s, Key: EncryptedDataKey{WrapAlgorithm: envelope.WrapAESGCM, Ciphertext: good}})
	if err != nil || !bytes.Equal(got, key32(2)) {
		t.Fatalf("hand-made wrap: %v", err)
	}
}

func TestAESKeyringKeySelection(t *testing.T) {
	oldKey, newKey := key32(1), key32(2)
	v1 := map[string]string{"version": "1", "purpose": "rotation"}
	v2 := map[string]string{"version": "2", "purpose": "rotation"}
	writer := newAES(t, oldKey, func(o *AESKeyringOptions) { o.MaterialDescription = v1 })
	noMD := newAES(t, key32(3))
	reader := newAES(t, newKey, func(o *AESKeyringOptions) {
		o.MaterialDescription = v2
		o.AdditionalKeys = []AESKey{
			{Key: oldKey, MaterialDescription: v1},
			{Key: key32(3)}, // objects with no material description
		}
	})
	s := envelope.SuiteAESGCMCommitting
	gen := func(kr Keyring) *DataKey {
		dk, err := kr.GenerateDataKey(context.Background(), &EncryptionRequest{Suite: s})
		if err != nil {
			t.Fatal(err)
		}
		return dk
	}
	dec := func(edk EncryptedDataKey) ([]byte, error) {
		return reader.DecryptDataKey(context.Background(), &DecryptionRequest{Suite: s, Key: edk})
	}

	old := gen(writer)
	if got, err := dec(old.EncryptedDataKey); err != nil || !bytes.Equal(got, old.Plaintext) {
		t.Fatalf("old key by description: %v", err)
	}
	// Same map, built independently and in another order.
	same := old.EncryptedDataKey
	same.Description = map[string]string{"purpose": "rotation", "version": "1"}
	if _, err := dec(same); err != nil {
		t.Fatalf("equal description: %v", err)
	}
	// An edited description selects the default key, which fails.
	for _, d := range []map[string]string{{"version": "1"}, {"version": "1", "purpose": "rotation", "x": ""}, v2} {
		edited := old.EncryptedDataKey
		edited.Description = d
		if _, err := dec(edited); !errors.Is(err, ErrUnwrap) {
			t.Errorf("description %v: got %v, want ErrUnwrap", d, err)
		}
	}
	// No description (nil or empty) selects the additional key without one.
	for _, d := range []map[string]string{nil, {}} {
		none := gen(noMD)
		none.Description = d
		if got, err := dec(none.EncryptedDataKey); err != nil || !bytes.Equal(got, none.Plaintext) {
			t.Errorf("description %#v: %v", d, err)
		}
	}
	// New keys use the default key.
	cur := gen(reader)
	if cur.Description["version"] != "2" {
		t.Fatalf("Description %v", cur.Description)
	}
	plainNew := newAES(t, newKey, func(o *AESKeyringOptions) { o.MaterialDescription = v2 })
	if _, err := plainNew.DecryptDataKey(context.Background(), &DecryptionRequest{Suite: s, Key: cur.EncryptedDataKey}); err != nil {
		t.Fatalf("new data key is not wrapped with the default key: %v", err)
	}
}

func TestAESKeyringLegacy(t *testing.T) {
	wrapKey := key32(5)
	block, _ := aes.NewCipher(wrapKey)
	dk := key32(9)
	strict := newAES(t, wrapKey)
	legacy := newAES(t, wrapKey, func(o *AESKeyringOptions) { o.EnableLegacyWrapping = true })
	for w, c := range map[envelope.WrapAlgorithm][]byte{
		envelope.WrapAESWrap: testAESKeyWrap(block, dk),
		envelope.WrapAESECB:  testAESECBWrap(block, dk, nil),
	} {
		for _, s := range []envelope.Suite{envelope.SuiteAESCBC, envelope.SuiteAESGCM} {
			req := &DecryptionRequest{Suite: s, Key: EncryptedDataKey{WrapAlgorithm: w, Ciphertext: c}}
			got, err := legacy.DecryptDataKey(context.Background(), req)
			if err != nil || !bytes.Equal(got, dk) {
				t.Errorf("%s/%v: %v", w, s, err)
			}
			_, err = strict.DecryptDataKey(context.Background(), req)
			var pe *envelope.PolicyError
			want := envelope.PolicyError{What: "legacy wrapping algorithm " + string(w), Option: "materials.AESKeyringOptions.EnableLegacyWrapping"}
			if !errors.As(err, &pe) || *pe != want {
				t.Errorf("%s without opt-in: got %v, want %v", w, err, &want)
			}
			// The algorithm is checked before the key: garbage gives the
			// policy error too.
			req.Key.Ciphertext = []byte{1, 2, 3}
			if _, err := strict.DecryptDataKey(context.Background(), req); !errors.Is(err, envelope.ErrPolicy) {
				t.Errorf("%s garbage without opt-in: got %v", w, err)
			}
			if _, err := legacy.DecryptDataKey(context.Background(), req); !errors.Is(err, ErrUnwrap) {
				t.Errorf("%s garbage with opt-in: got %v", w, err)
			}
		}
	}
	// A wrapped 16-byte key is not a content key; a flipped AESWrap fails.
	short := testAESKeyWrap(block, dk[:16])
	if _, err := legacy.DecryptDataKey(context.Background(), &DecryptionRequest{Suite: envelope.SuiteAESGCM, Key: EncryptedDataKey{WrapAlgorithm: envelope.WrapAESWrap, Ciphertext: short}}); !errors.Is(err, ErrUnwrap) {
		t.Errorf("16-byte AESWrap key: got %v", err)
	}
	flipped := testAESKeyWrap(block, dk)
	flipped[20] ^= 4
	if _, err := legacy.DecryptDataKey(context.Background(), &DecryptionRequest{Suite: envelope.SuiteAESGCM, Key: EncryptedDataKey{WrapAlgorithm: envelope.WrapAESWrap, Ciphertext: flipped}}); !errors.Is(err, ErrUnwrap) {
		t.Errorf("flipped AESWrap: got %v", err)
	}
	// Legacy keyrings still write only AES/GCM.
	gen, err := legacy.GenerateDataKey(context.Background(), &EncryptionRequest{Suite: envelope.SuiteAESGCM})
	if err != nil || gen.WrapAlgorithm != envelope.WrapAESGCM {
		t.Fatalf("legacy keyring generated %v, %v", gen, err)
	}
}

func TestAESKeyringRequestChecks(t *testing.T) {
	kr := newAES(t, key32(1))
	if _, err := kr.GenerateDataKey(context.Background(), nil); err == nil {
		t.Error("nil EncryptionRequest accepted")
	}
	if _, err := kr.DecryptDataKey(context.Background(), nil); err == nil {
		t.Error("nil DecryptionRequest accepted")
	}
	// RSA and KMS wraps are not the AES keyring's, legacy or not.
	for _, w := range []envelope.WrapAlgorithm{envelope.WrapKMSContext, envelope.WrapKMS, envelope.WrapRSAOAEPSHA1, envelope.WrapRSAPKCS1, envelope.WrapRSAOAEPSHA256, "aes/gcm"} {
		_, err := kr.DecryptDataKey(context.Background(), &DecryptionRequest{Suite: envelope.SuiteAESGCM, Key: EncryptedDataKey{WrapAlgorithm: w, Ciphertext: make([]byte, 60)}})
		if !errors.Is(err, ErrNotMine) {
			t.Errorf("%q: got %v, want ErrNotMine", w, err)
		}
	}
	// Context errors keep the ctx error reachable.
	ctx, cancel := context.WithTimeout(context.Background(), 0)
	defer cancel()
	if _, err := kr.GenerateDataKey(ctx, &EncryptionRequest{Suite: envelope.SuiteAESGCM}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("expired context: got %v", err)
	}
}
