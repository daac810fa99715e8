package materials_test

import (
	"bytes"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"os"
	"testing"

	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/materials"
	"github.com/s3ec/s3ec-go/materials/keyringtest"
)

var bothSuites = []envelope.Suite{envelope.SuiteAESGCM, envelope.SuiteAESGCMCommitting}

// vectorPrivateKey reads the RSA private key of an interop vector; extra
// selects additional_decryption_keys[extra-1] instead of the default key.
func vectorPrivateKey(t *testing.T, name string, extra int) *rsa.PrivateKey {
	t.Helper()
	data, err := os.ReadFile("../testdata/vectors/jce-raw-keyrings/" + name + ".json")
	if err != nil {
		t.Fatal(err)
	}
	type key struct {
		PrivateKeyPEM string `json:"private_key_pem"`
	}
	var v struct {
		Keyring struct {
			key
			Additional []key `json:"additional_decryption_keys"`
		} `json:"keyring"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	pemText := v.Keyring.PrivateKeyPEM
	if extra > 0 {
		pemText = v.Keyring.Additional[extra-1].PrivateKeyPEM
	}
	priv, err := materials.ParseRSAPrivateKey([]byte(pemText))
	if err != nil {
		t.Fatal(err)
	}
	return priv
}

func newAESKR(t *testing.T, key []byte, optFns ...func(*materials.AESKeyringOptions)) *materials.AESKeyring {
	t.Helper()
	kr, err := materials.NewAESKeyring(key, optFns...)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func newRSAKR(t *testing.T, pub *rsa.PublicKey, priv *rsa.PrivateKey, optFns ...func(*materials.RSAKeyringOptions)) *materials.RSAKeyring {
	t.Helper()
	kr, err := materials.NewRSAKeyring(pub, priv, optFns...)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func TestConformanceAES(t *testing.T) {
	md := map[string]string{"purpose": "test"}
	for _, size := range []int{16, 24, 32} {
		t.Run(fmt.Sprintf("AES-%d", size*8), func(t *testing.T) {
			keyringtest.Run(t, keyringtest.Harness{
				New: func(t *testing.T) materials.Keyring {
					return newAESKR(t, bytes.Repeat([]byte{1}, size), func(o *materials.AESKeyringOptions) {
						o.MaterialDescription = md
					})
				},
				Other: func(t *testing.T) materials.Keyring {
					return newAESKR(t, bytes.Repeat([]byte{2}, size), func(o *materials.AESKeyringOptions) {
						o.MaterialDescription = md
					})
				},
				Suites: bothSuites,
			})
		})
	}
	t.Run("legacy and additional keys", func(t *testing.T) {
		keyringtest.Run(t, keyringtest.Harness{
			New: func(t *testing.T) materials.Keyring {
				return newAESKR(t, bytes.Repeat([]byte{3}, 32), func(o *materials.AESKeyringOptions) {
					o.AdditionalKeys = []materials.AESKey{{Key: bytes.Repeat([]byte{4}, 16), MaterialDescription: md}}
					o.EnableLegacyWrapping = true
				})
			},
			Other: func(t *testing.T) materials.Keyring {
				return newAESKR(t, bytes.Repeat([]byte{4}, 32))
			},
			Suites: bothSuites,
		})
	})
}

func TestConformanceRSA(t *testing.T) {
	k0 := vectorPrivateKey(t, "jce-rsa2048-v2-md-17", 0)
	k1 := vectorPrivateKey(t, "jce-rsa2048-v2-rotation-17", 0)
	k2 := vectorPrivateKey(t, "jce-rsa2048-v2-rotation-17", 1)
	keyringtest.Run(t, keyringtest.Harness{
		New: func(t *testing.T) materials.Keyring {
			return newRSAKR(t, &k0.PublicKey, k0, func(o *materials.RSAKeyringOptions) {
				o.MaterialDescription = map[string]string{"keyring": "rsa-0"}
				o.AdditionalKeys = []materials.RSAKey{{PrivateKey: k2, MaterialDescription: map[string]string{"keyring": "rsa-2"}}}
				o.EnableLegacyWrapping = true
			})
		},
		Other: func(t *testing.T) materials.Keyring {
			return newRSAKR(t, nil, k1, func(o *materials.RSAKeyringOptions) {
				o.MaterialDescription = map[string]string{"keyring": "rsa-0"}
			})
		},
		Suites: bothSuites,
	})
}

func TestConformanceMulti(t *testing.T) {
	k0 := vectorPrivateKey(t, "jce-rsa2048-v2-md-17", 0)
	k1 := vectorPrivateKey(t, "jce-rsa2048-v2-rotation-17", 0)
	newMulti := func(aesKey byte, rsaKey *rsa.PrivateKey) func(t *testing.T) materials.Keyring {
		return func(t *testing.T) materials.Keyring {
			a := newAESKR(t, bytes.Repeat([]byte{aesKey}, 32))
			r := newRSAKR(t, nil, rsaKey)
			return materials.NewMulti(a, r)
		}
	}
	keyringtest.Run(t, keyringtest.Harness{
		New:    newMulti(1, k0),
		Other:  newMulti(2, k1),
		Suites: bothSuites,
	})
}
