package materials

import (
	"bytes"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math/big"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func aesBlock(t testing.TB, key []byte) cipher.Block {
	t.Helper()
	b, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// testAESKeyWrap is the RFC 3394 wrap (section 2.2.1, index form), used
// only to build test inputs.
func testAESKeyWrap(kek cipher.Block, key []byte) []byte {
	n := len(key) / 8
	a := rfc3394IV
	r := bytes.Clone(key)
	var b [16]byte
	for j := 0; j <= 5; j++ {
		for i := 1; i <= n; i++ {
			copy(b[:8], a[:])
			copy(b[8:], r[8*(i-1):8*i])
			kek.Encrypt(b[:], b[:])
			binary.BigEndian.PutUint64(a[:], binary.BigEndian.Uint64(b[:8])^uint64(n*j+i))
			copy(r[8*(i-1):8*i], b[8:])
		}
	}
	return append(a[:], r...)
}

// RFC 3394, section 4.
var rfc3394Vectors = []struct {
	name, kek, key, wrapped string
}{
	{"4.1 128-bit key, 128-bit KEK", "000102030405060708090A0B0C0D0E0F",
		"00112233445566778899AABBCCDDEEFF",
		"1FA68B0A8112B447AEF34BD8FB5A7B829D3E862371D2CFE5"},
	{"4.2 128-bit key, 192-bit KEK", "000102030405060708090A0B0C0D0E0F1011121314151617",
		"00112233445566778899AABBCCDDEEFF",
		"96778B25AE6CA435F92B5B97C050AED2468AB8A17AD84E5D"},
	{"4.3 128-bit key, 256-bit KEK", "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F",
		"00112233445566778899AABBCCDDEEFF",
		"64E8C3F9CE0F5BA263E9777905818A2A93C8191E7D6E8AE7"},
	{"4.4 192-bit key, 192-bit KEK", "000102030405060708090A0B0C0D0E0F1011121314151617",
		"00112233445566778899AABBCCDDEEFF0001020304050607",
		"031D33264E15D33268F24EC260743EDCE1C6C7DDEE725A936BA814915C6762D2"},
	{"4.5 192-bit key, 256-bit KEK", "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F",
		"00112233445566778899AABBCCDDEEFF0001020304050607",
		"A8F9BC1612C68B3FF6E6F4FBE30E71E4769C8B80A32CB8958CD5D17D6B254DA1"},
	{"4.6 256-bit key, 256-bit KEK", "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F",
		"00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F",
		"28C9F404C4B810F4CBCCB35CFB87F8263F5786E2D80ED326CBC7F0E71A99F43BFB988B9B7A02DD21"},
}

func TestAESKeyUnwrapRFC3394(t *testing.T) {
	for _, v := range rfc3394Vectors {
		t.Run(v.name, func(t *testing.T) {
			kek := aesBlock(t, unhex(t, v.kek))
			key, wrapped := unhex(t, v.key), unhex(t, v.wrapped)
			got, err := aesKeyUnwrap(kek, wrapped)
			if err != nil {
				t.Fatalf("unwrap: %v", err)
			}
			if !bytes.Equal(got, key) {
				t.Fatalf("unwrap = %x, want %x", got, key)
			}
			if w := testAESKeyWrap(kek, key); !bytes.Equal(w, wrapped) {
				t.Fatalf("test wrap = %x, want %x", w, wrapped)
			}
			// Every single-bit flip is detected.
			for i := range wrapped {
				bad := bytes.Clone(wrapped)
				bad[i] ^= 1 << (i % 8)
				if k, err := aesKeyUnwrap(kek, bad); err == nil {
					t.Fatalf("flip in byte %d unwrapped to %x", i, k)
				}
			}
			// Another KEK fails.
			other := unhex(t, v.kek)
			other[0] ^= 1
			if _, err := aesKeyUnwrap(aesBlock(t, other), wrapped); err == nil {
				t.Fatal("unwrapped under another KEK")
			}
		})
	}
}

func TestAESKeyUnwrapLengths(t *testing.T) {
	kek := aesBlock(t, make([]byte, 32))
	for _, n := range []int{0, 8, 16, 23, 39, 41} {
		if _, err := aesKeyUnwrap(kek, make([]byte, n)); err == nil {
			t.Errorf("%d-byte input unwrapped", n)
		}
	}
	key := bytes.Repeat([]byte{7}, 32)
	got, err := aesKeyUnwrap(kek, testAESKeyWrap(kek, key))
	if err != nil || !bytes.Equal(got, key) {
		t.Fatalf("round trip: %x, %v", got, err)
	}
}

// testAESECBWrap is JCE "AES" (AES/ECB/PKCS5Padding), for test inputs; pad
// overrides the padding bytes when non-nil.
func testAESECBWrap(kek cipher.Block, key, pad []byte) []byte {
	if pad == nil {
		p := 16 - len(key)%16
		pad = bytes.Repeat([]byte{byte(p)}, p)
	}
	in := append(bytes.Clone(key), pad...)
	out := make([]byte, len(in))
	for i := 0; i < len(in); i += 16 {
		kek.Encrypt(out[i:i+16], in[i:i+16])
	}
	return out
}

func TestAESECBUnwrap(t *testing.T) {
	kek := aesBlock(t, unhex(t, "000102030405060708090A0B0C0D0E0F"))
	key := bytes.Repeat([]byte{0x42}, 32)
	wrapped := testAESECBWrap(kek, key, nil)
	if len(wrapped) != 48 {
		t.Fatalf("wrapped is %d bytes", len(wrapped))
	}
	got, err := aesECBUnwrap(kek, wrapped)
	if err != nil || !bytes.Equal(got, key) {
		t.Fatalf("unwrap: %x, %v", got, err)
	}

	bad := []struct {
		name    string
		wrapped []byte
	}{
		{"empty", nil},
		{"32 bytes", wrapped[:32]},
		{"64 bytes", append(bytes.Clone(wrapped), wrapped[:16]...)},
		{"flip in padding block", func() []byte { b := bytes.Clone(wrapped); b[40] ^= 1; return b }()},
		{"pad byte 0", testAESECBWrap(kek, key, make([]byte, 16))},
		{"pad byte 17", testAESECBWrap(kek, key, bytes.Repeat([]byte{17}, 16))},
		{"inconsistent pad", testAESECBWrap(kek, key, append(bytes.Repeat([]byte{16}, 15), 15))},
		// Valid PKCS#7 padding, but the key is then not 32 bytes.
		{"33-byte key", testAESECBWrap(kek, append(bytes.Clone(key), 1), bytes.Repeat([]byte{15}, 15))},
		{"31-byte key", testAESECBWrap(kek, key[:31], nil)},
	}
	for _, c := range bad {
		if k, err := aesECBUnwrap(kek, c.wrapped); err == nil {
			t.Errorf("%s: unwrapped to %d bytes", c.name, len(k))
		}
	}
}

func TestRSALegacyUnwraps(t *testing.T) {
	priv := testRSAKey(t, 0)
	other := testRSAKey(t, 1)
	key := bytes.Repeat([]byte{0x5a}, 32)

	// Deprecated API on purpose: building a legacy test input.
	pkcs1, err := rsa.EncryptPKCS1v15(rand.Reader, &priv.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	got, err := rsaPKCS1Unwrap(priv, pkcs1)
	if err != nil || !bytes.Equal(got, key) {
		t.Fatalf("PKCS #1 v1.5: %x, %v", got, err)
	}
	if _, err := rsaPKCS1Unwrap(other, pkcs1); err == nil {
		t.Error("PKCS #1 v1.5 unwrapped with another key")
	}

	// The test encoder agrees with the standard library.
	if got, err := rsa.DecryptOAEP(sha256.New(), nil, priv, testOAEPEncrypt(t, &priv.PublicKey, key, crypto.SHA256, crypto.SHA256), nil); err != nil || !bytes.Equal(got, key) {
		t.Fatalf("test OAEP encoder: %v", err)
	}
	for _, mgf := range []crypto.Hash{crypto.SHA1, crypto.SHA256} {
		wrapped := testOAEPEncrypt(t, &priv.PublicKey, key, crypto.SHA256, mgf)
		got, err := rsaOAEPSHA256Unwrap(priv, wrapped)
		if err != nil || !bytes.Equal(got, key) {
			t.Fatalf("OAEP-SHA256 MGF1-%v: %x, %v", mgf, got, err)
		}
		if _, err := rsaOAEPSHA256Unwrap(other, wrapped); err == nil {
			t.Errorf("OAEP-SHA256 MGF1-%v unwrapped with another key", mgf)
		}
	}
	// OAEP with SHA-1 (the current wrap) is not accepted as the legacy one.
	sha1Wrapped, err := rsa.EncryptOAEP(sha1.New(), rand.Reader, &priv.PublicKey, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rsaOAEPSHA256Unwrap(priv, sha1Wrapped); err == nil {
		t.Error("OAEP-SHA1 accepted as OAEP-SHA256")
	}
	// A label is not expected.
	labeled, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, &priv.PublicKey, key, []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rsaOAEPSHA256Unwrap(priv, labeled); err == nil {
		t.Error("OAEP with a label accepted")
	}
}

// testOAEPEncrypt is RSAES-OAEP-ENCRYPT (RFC 8017, section 7.1.1) with an
// empty label and separate OAEP and MGF1 hashes, for test inputs (the
// module's minimum Go version has no rsa.EncryptOAEPWithOptions).
func testOAEPEncrypt(t testing.TB, pub *rsa.PublicKey, msg []byte, h, mgf crypto.Hash) []byte {
	t.Helper()
	k := (pub.N.BitLen() + 7) / 8
	hLen := h.Size()
	lHash := h.New().Sum(nil)
	db := make([]byte, k-hLen-1)
	copy(db, lHash)
	db[len(db)-len(msg)-1] = 1
	copy(db[len(db)-len(msg):], msg)
	seed := make([]byte, hLen)
	if _, err := rand.Read(seed); err != nil {
		t.Fatal(err)
	}
	mgf1XOR := func(out, seed []byte) {
		var counter [4]byte
		for done := 0; done < len(out); {
			d := mgf.New()
			d.Write(seed)
			d.Write(counter[:])
			for _, b := range d.Sum(nil) {
				if done == len(out) {
					break
				}
				out[done] ^= b
				done++
			}
			binary.BigEndian.PutUint32(counter[:], binary.BigEndian.Uint32(counter[:])+1)
		}
	}
	mgf1XOR(db, seed)
	mgf1XOR(seed, db)
	em := append(append([]byte{0}, seed...), db...)
	c := new(big.Int).Exp(new(big.Int).SetBytes(em), big.NewInt(int64(pub.E)), pub.N)
	return c.FillBytes(make([]byte, k))
}

func FuzzAESKeyUnwrap(f *testing.F) {
	for _, v := range rfc3394Vectors {
		f.Add(unhex(f, v.kek)[:16], unhex(f, v.wrapped))
	}
	f.Add(make([]byte, 16), make([]byte, 48))
	f.Fuzz(func(t *testing.T, kek, wrapped []byte) {
		if len(kek) != 16 && len(kek) != 24 && len(kek) != 32 {
			return
		}
		block := aesBlock(t, kek)
		if key, err := aesKeyUnwrap(block, wrapped); err == nil {
			if w := testAESKeyWrap(block, key); !bytes.Equal(w, wrapped) {
				t.Fatalf("unwrap then wrap does not give the input back")
			}
		}
		if key, err := aesECBUnwrap(block, wrapped); err == nil {
			if len(key) != 32 || !bytes.Equal(testAESECBWrap(block, key, nil), wrapped) {
				t.Fatalf("ECB unwrap accepted a non-canonical input")
			}
		}
	})
}
