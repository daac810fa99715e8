package cbcstream

import (
	"bytes"
	"crypto/fips140"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/s3ec/s3ec-go/internal/fipsmode/fipstest"
)

// The Go Cryptographic Module approves AES-CBC decryption, so legacy CBC
// bodies still decrypt under GODEBUG=fips140=only (the policy opt-in for
// unauthenticated legacy content still applies, above this package), and
// every block goes through the module's CBC.
func TestFIPSOnlyDecryptsCBC(t *testing.T) {
	if !fipstest.Under(t, "fips140=only") {
		return
	}
	if !fips140.Enforced() {
		t.Fatal("the child does not enforce FIPS 140-only mode")
	}
	rng := rand.New(rand.NewPCG(3, 140))
	key, iv := randBytes(rng, 32), randBytes(rng, 16)
	pt := randBytes(rng, 100_000)
	r, err := NewDecryptReader(key, iv, bytes.NewReader(encrypt(t, key, iv, pt)))
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("CBC under fips140=only: %v", err)
	}
}
