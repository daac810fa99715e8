package encryptionclient_test

import (
	"crypto/rand"
	"crypto/rsa"
	"sync"
	"testing"

	"github.com/s3ec/s3ec-go/materials"
)

var (
	rsaOnce sync.Once
	rsaKey  *rsa.PrivateKey
)

// testRSAKeyring returns a keyring over one RSA-2048 key generated per test
// binary (generation is slow).
func testRSAKeyring(t *testing.T) materials.Keyring {
	rsaOnce.Do(func() {
		var err error
		if rsaKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
	})
	kr, err := materials.NewRSAKeyring(&rsaKey.PublicKey, rsaKey)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}
