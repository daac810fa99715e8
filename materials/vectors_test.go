package materials

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/s3ec/s3ec-go/envelope"
)

// The raw-keyring interop vectors (see testdata/vectors/README.md), read at
// the keyring level: the test extracts the wrapped key from the stored
// metadata, unwraps it with a keyring built from the vector's "keyring"
// field, and decrypts the body with the standard library to prove the key
// is the right one.

const vectorDir = "../testdata/vectors"

type vectorKey struct {
	Type                string            `json:"type"`
	KeyB64              string            `json:"key_b64"`
	PrivateKeyPEM       string            `json:"private_key_pem"`
	PublicKeyPEM        string            `json:"public_key_pem"`
	MaterialDescription map[string]string `json:"material_description"`
}

type vectorBlob struct {
	Size   int    `json:"size"`
	SHA256 string `json:"sha256"`
	B64    string `json:"b64"`
	File   string `json:"file"`
}

type vector struct {
	Name           string            `json:"name"`
	Format         string            `json:"format"`
	WrapAlgorithm  string            `json:"wrap_algorithm"`
	Metadata       map[string]string `json:"metadata"`
	Ciphertext     vectorBlob        `json:"ciphertext"`
	Plaintext      vectorBlob        `json:"plaintext"`
	ExpectError    string            `json:"expect_error"`
	DecryptOptions map[string]any    `json:"decrypt_options"`
	Keyring        *struct {
		vectorKey
		Additional []vectorKey `json:"additional_decryption_keys"`
	} `json:"keyring"`

	dir string
}

func loadVectors(t testing.TB, pattern string) []*vector {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(vectorDir, pattern))
	if err != nil {
		t.Fatal(err)
	}
	var out []*vector
	for _, f := range files {
		if strings.HasSuffix(f, ".bin") {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		v := &vector{dir: filepath.Dir(f)}
		if err := json.Unmarshal(data, v); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if v.Keyring == nil {
			t.Fatalf("%s: no keyring", f)
		}
		out = append(out, v)
	}
	if len(out) == 0 {
		t.Fatalf("no vectors match %s in %s", pattern, vectorDir)
	}
	return out
}

func (b vectorBlob) bytes(t testing.TB, dir string) []byte {
	t.Helper()
	var data []byte
	var err error
	if b.File != "" {
		data, err = os.ReadFile(filepath.Join(dir, b.File))
	} else {
		data, err = base64.StdEncoding.DecodeString(b.B64)
	}
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if len(data) != b.Size || hex.EncodeToString(sum[:]) != b.SHA256 {
		t.Fatalf("blob does not match its size and sha256")
	}
	return data
}

func (v *vector) option(name string) bool {
	b, _ := v.DecryptOptions[name].(bool)
	return b
}

// request builds the DecryptionRequest a client would build from the stored
// metadata.
func (v *vector) request(t testing.TB) *DecryptionRequest {
	t.Helper()
	m := v.Metadata
	req := &DecryptionRequest{}
	var edk, desc string
	switch {
	case m["x-amz-3"] != "":
		edk, desc = m["x-amz-3"], m["x-amz-m"]
		req.Suite = envelope.SuiteAESGCMCommitting
		switch m["x-amz-w"] {
		case "02":
			req.Key.WrapAlgorithm = envelope.WrapAESGCM
		case "22":
			req.Key.WrapAlgorithm = envelope.WrapRSAOAEPSHA1
		default:
			t.Fatalf("unexpected x-amz-w %q", m["x-amz-w"])
		}
	case m["x-amz-key-v2"] != "":
		edk, desc = m["x-amz-key-v2"], m["x-amz-matdesc"]
		req.Key.WrapAlgorithm = envelope.WrapAlgorithm(m["x-amz-wrap-alg"])
	case m["x-amz-key"] != "":
		edk, desc = m["x-amz-key"], m["x-amz-matdesc"]
		req.Key.WrapAlgorithm = envelope.WrapAlgorithm(m["x-amz-wrap-alg"])
	default:
		t.Fatal("no wrapped key in metadata")
	}
	var err error
	if req.Key.Ciphertext, err = base64.StdEncoding.DecodeString(edk); err != nil {
		t.Fatal(err)
	}
	if m["x-amz-3"] == "" {
		switch m["x-amz-cek-alg"] {
		case "AES/GCM/NoPadding":
			req.Suite = envelope.SuiteAESGCM
		case "AES/CBC/PKCS5Padding", "":
			req.Suite = envelope.SuiteAESCBC
		default:
			t.Fatalf("unexpected x-amz-cek-alg %q", m["x-amz-cek-alg"])
		}
	}
	if req.Key.WrapAlgorithm == "" { // V1: inferred from the size
		if len(req.Key.Ciphertext) > 48 {
			req.Key.WrapAlgorithm = envelope.WrapRSAPKCS1
		} else {
			req.Key.WrapAlgorithm = envelope.WrapAESECB
		}
	}
	req.Key.Description = map[string]string{}
	if desc != "" {
		if err := json.Unmarshal([]byte(desc), &req.Key.Description); err != nil {
			t.Fatal(err)
		}
	}
	return req
}

var (
	vectorRSAKeysMu sync.Mutex
	vectorRSAKeys   = map[string]*rsa.PrivateKey{}
)

func vectorRSAKey(t testing.TB, privPEM, pubPEM string) *rsa.PrivateKey {
	t.Helper()
	vectorRSAKeysMu.Lock()
	defer vectorRSAKeysMu.Unlock()
	if k := vectorRSAKeys[privPEM]; k != nil {
		return k
	}
	priv, err := ParseRSAPrivateKey([]byte(privPEM))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ParseRSAPublicKey([]byte(pubPEM))
	if err != nil {
		t.Fatal(err)
	}
	if !pub.Equal(&priv.PublicKey) {
		t.Fatal("vector public and private keys differ")
	}
	vectorRSAKeys[privPEM] = priv
	return priv
}

// keyring builds the keyring the vector says to decrypt with; legacy forces
// EnableLegacyWrapping (otherwise it follows decrypt_options).
func (v *vector) keyring(t testing.TB, legacy bool) Keyring {
	t.Helper()
	k := v.Keyring
	switch k.Type {
	case "aes":
		key, err := base64.StdEncoding.DecodeString(k.KeyB64)
		if err != nil {
			t.Fatal(err)
		}
		var extra []AESKey
		for _, a := range k.Additional {
			ak, err := base64.StdEncoding.DecodeString(a.KeyB64)
			if err != nil {
				t.Fatal(err)
			}
			extra = append(extra, AESKey{Key: ak, MaterialDescription: a.MaterialDescription})
		}
		kr, err := NewAESKeyring(key, func(o *AESKeyringOptions) {
			o.MaterialDescription = k.MaterialDescription
			o.AdditionalKeys = extra
			o.EnableLegacyWrapping = legacy
		})
		if err != nil {
			t.Fatal(err)
		}
		return kr
	case "rsa":
		priv := vectorRSAKey(t, k.PrivateKeyPEM, k.PublicKeyPEM)
		var extra []RSAKey
		for _, a := range k.Additional {
			extra = append(extra, RSAKey{PrivateKey: vectorRSAKey(t, a.PrivateKeyPEM, a.PublicKeyPEM), MaterialDescription: a.MaterialDescription})
		}
		kr, err := NewRSAKeyring(nil, priv, func(o *RSAKeyringOptions) {
			o.MaterialDescription = k.MaterialDescription
			o.AdditionalKeys = extra
			o.EnableLegacyWrapping = legacy
		})
		if err != nil {
			t.Fatal(err)
		}
		return kr
	}
	t.Fatalf("unknown keyring type %q", k.Type)
	return nil
}

var errTestBody = errors.New("body does not decrypt")

// decryptBody decrypts a vector's body with the standard library, the way
// s3ec-format.md sections 7 and 8 describe.
func decryptBody(t testing.TB, v *vector, s envelope.Suite, dataKey []byte) ([]byte, error) {
	t.Helper()
	body := v.Ciphertext.bytes(t, v.dir)
	m := v.Metadata
	b64 := func(name string) []byte {
		b, err := base64.StdEncoding.DecodeString(m[name])
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return b
	}
	switch s {
	case envelope.SuiteAESGCM:
		block, _ := aes.NewCipher(dataKey)
		gcm, _ := cipher.NewGCM(block)
		iv := b64("x-amz-iv")
		if len(iv) != gcm.NonceSize() {
			return nil, errTestBody
		}
		return gcm.Open(nil, iv, body, nil)
	case envelope.SuiteAESGCMCommitting:
		msgID := b64("x-amz-i")
		prk, err := hkdf.Extract(sha512.New, dataKey, msgID)
		if err != nil {
			t.Fatal(err)
		}
		commit, _ := hkdf.Expand(sha512.New, prk, "\x00\x73COMMITKEY", envelope.CommitmentSize)
		if subtle.ConstantTimeCompare(commit, b64("x-amz-d")) != 1 {
			return nil, errTestBody
		}
		ek, _ := hkdf.Expand(sha512.New, prk, "\x00\x73DERIVEKEY", envelope.DataKeySize)
		block, _ := aes.NewCipher(ek)
		gcm, _ := cipher.NewGCM(block)
		return gcm.Open(nil, bytes.Repeat([]byte{1}, 12), body, s.AAD())
	case envelope.SuiteAESCBC:
		block, _ := aes.NewCipher(dataKey)
		iv := b64("x-amz-iv")
		if len(iv) != 16 || len(body) == 0 || len(body)%16 != 0 {
			return nil, errTestBody
		}
		out := make([]byte, len(body))
		cipher.NewCBCDecrypter(block, iv).CryptBlocks(out, body)
		p := int(out[len(out)-1])
		if p < 1 || p > 16 || !bytes.Equal(out[len(out)-p:], bytes.Repeat([]byte{byte(p)}, p)) {
			return nil, errTestBody
		}
		return out[:len(out)-p], nil
	}
	t.Fatalf("unexpected suite %v", s)
	return nil, nil
}

func TestVectorsPositive(t *testing.T) {
	for _, v := range loadVectors(t, "jce-raw-keyrings/*.json") {
		t.Run(v.Name, func(t *testing.T) {
			t.Parallel()
			req := v.request(t)
			if string(req.Key.WrapAlgorithm) != v.WrapAlgorithm {
				t.Fatalf("wrap algorithm %q, vector says %q", req.Key.WrapAlgorithm, v.WrapAlgorithm)
			}
			legacy := v.option("enable_legacy_wrapping_algorithms")
			if req.Key.WrapAlgorithm.Legacy() != legacy {
				t.Fatalf("legacy wrap %v but enable_legacy_wrapping_algorithms %v", req.Key.WrapAlgorithm.Legacy(), legacy)
			}
			kr := v.keyring(t, legacy)
			key, err := kr.DecryptDataKey(context.Background(), req)
			if err != nil {
				t.Fatalf("DecryptDataKey: %v", err)
			}
			defer Zero(key)
			got, err := decryptBody(t, v, req.Suite, key)
			if err != nil {
				t.Fatalf("body: %v", err)
			}
			if !bytes.Equal(got, v.Plaintext.bytes(t, v.dir)) {
				t.Fatal("body decrypts to the wrong plaintext")
			}

			if legacy {
				// The same object without the opt-in: a policy error
				// naming the option, before the key is touched.
				kr := v.keyring(t, false)
				_, err := kr.DecryptDataKey(context.Background(), req)
				var pe *envelope.PolicyError
				if !errors.As(err, &pe) || !strings.Contains(pe.Option, "EnableLegacyWrapping") {
					t.Fatalf("without EnableLegacyWrapping: got %v, want a PolicyError naming EnableLegacyWrapping", err)
				}
			}

			// The key is bound to the suite: the other GCM suite fails.
			if req.Suite != envelope.SuiteAESCBC && !req.Key.WrapAlgorithm.Legacy() {
				other := *req
				other.Suite = envelope.SuiteAESGCM + envelope.SuiteAESGCMCommitting - req.Suite
				if _, err := kr.DecryptDataKey(context.Background(), &other); !errors.Is(err, ErrUnwrap) {
					t.Fatalf("unwrapped for %v: got %v, want ErrUnwrap", other.Suite, err)
				}
			}
		})
	}
}

func TestVectorsNegative(t *testing.T) {
	for _, v := range loadVectors(t, "negative/jce-*.json") {
		t.Run(v.Name, func(t *testing.T) {
			t.Parallel()
			req := v.request(t)
			legacy := v.option("enable_legacy_wrapping_algorithms")
			kr := v.keyring(t, legacy)
			key, err := kr.DecryptDataKey(context.Background(), req)
			switch v.ExpectError {
			case "key_unwrap":
				if !errors.Is(err, ErrUnwrap) {
					t.Fatalf("got key %v, error %v; want ErrUnwrap", key != nil, err)
				}
				return
			case "malformed_metadata":
				if req.Key.WrapAlgorithm.Legacy() && !legacy {
					// Refused by the keyring's own policy.
					if !errors.Is(err, envelope.ErrPolicy) {
						t.Fatalf("got %v, want a policy error", err)
					}
					return
				}
				// Otherwise a content-level refusal (legacy CBC without
				// its opt-in): not the keyring's job; the key unwraps.
				if err != nil {
					t.Fatalf("DecryptDataKey: %v", err)
				}
				Zero(key)
				return
			}
			// authentication, commitment_mismatch, invalid_ciphertext: the
			// key is fine, the body is not.
			if err != nil {
				t.Fatalf("DecryptDataKey: %v", err)
			}
			defer Zero(key)
			if pt, err := decryptBody(t, v, req.Suite, key); err == nil {
				if v.ExpectError == "invalid_ciphertext" {
					t.Fatalf("body decrypted (%d bytes), want %s", len(pt), v.ExpectError)
				}
				t.Fatalf("body decrypted, want %s", v.ExpectError)
			}
		})
	}
}
