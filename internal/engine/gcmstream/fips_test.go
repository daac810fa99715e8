package gcmstream

import (
	"bytes"
	"crypto/fips140"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/s3ec/s3ec-go/internal/fipsmode"
	"github.com/s3ec/s3ec-go/internal/fipsmode/fipstest"
)

// In FIPS 140-3 mode the vector kernels, which are outside the Go
// Cryptographic Module, must stay off even on a CPU that has what they
// need (pretended here, so that the check does not depend on the machine;
// no kernel runs), and the engine must still produce what the module's own
// GCM Seal and Open do, on every path: parts at any split, the readers, the
// one-pass encryption.
func TestFIPSModeTurnsKernelsOff(t *testing.T) {
	if !fipstest.Under(t, "fips140=on") {
		return
	}
	if !fips140.Enabled() {
		t.Fatal("the child does not run in FIPS 140-3 mode")
	}
	pretendVectorCPU(t)
	rng := rand.New(rand.NewPCG(11, 140))
	for _, keySize := range []int{16, 24, 32} {
		key, nonce, aad := randBytes(rng, keySize), randBytes(rng, NonceSize), randBytes(rng, 40)
		c, err := New(key, nonce, aad)
		if err != nil {
			t.Fatal(err)
		}
		if c.vec != nil || c.gh != nil {
			t.Fatalf("AES-%d: vector kernels on in FIPS mode (CTR %v, GHASH %v)", 8*keySize, c.vec != nil, c.gh != nil)
		}
		aead := stdAEAD(t, key)
		for _, n := range []int{0, 1, 16, 100, chunkSize + 3, 3*sealChunk + 17} {
			pt := randBytes(rng, n)
			want := aead.Seal(nil, nonce, pt, aad)
			got, err := readAllRandom(c.EncryptReader(bytes.NewReader(pt)), rng)
			if err != io.EOF || !bytes.Equal(got, want) {
				t.Fatalf("AES-%d, %d bytes: EncryptReader differs from the module's Seal (err %v)", 8*keySize, n, err)
			}
			back, err := readAllRandom(c.UnverifiedDecryptReader(bytes.NewReader(want)), rng)
			if err != io.EOF || !bytes.Equal(back, pt) {
				t.Fatalf("AES-%d, %d bytes: decryption differs (err %v)", 8*keySize, n, err)
			}
			// Parts at random splits, both directions.
			for _, decrypt := range []bool{false, true} {
				src, res := pt, make([]byte, n)
				if decrypt {
					src = want[:n]
				}
				var sums []PartSum
				bounds := splitMessage(rng, n, 3)
				for i := 1; i < len(bounds); i++ {
					lo, hi := bounds[i-1], bounds[i]
					p, err := c.Part(int64(lo))
					if err != nil {
						t.Fatal(err)
					}
					runPart(p, res[lo:hi], src[lo:hi], decrypt, rng)
					sums = append(sums, p.Sum())
				}
				tag, err := c.Tag(sums...)
				if err != nil || !bytes.Equal(tag[:], want[n:]) {
					t.Fatalf("AES-%d, %d bytes, decrypt %v: parts' tag differs (err %v)", 8*keySize, n, decrypt, err)
				}
				if exp := want[:n]; decrypt {
					exp = pt
					if !bytes.Equal(res, exp) {
						t.Fatalf("AES-%d, %d bytes: parts decrypt wrongly", 8*keySize, n)
					}
				} else if !bytes.Equal(res, exp) {
					t.Fatalf("AES-%d, %d bytes: parts encrypt wrongly", 8*keySize, n)
				}
			}
		}
	}
}

// Under fips140=only the module refuses GCM with a nonce chosen outside it,
// which the S3EC content cipher is: New fails with the FIPS error class,
// naming the mode, instead of the module's bare message.
func TestFIPSOnlyRefusesContentGCM(t *testing.T) {
	if !fipstest.Under(t, "fips140=only") {
		return
	}
	_, err := New(make([]byte, 32), make([]byte, NonceSize), nil)
	if !errors.Is(err, fipsmode.ErrRefused) {
		t.Fatalf("New under fips140=only: %v, want the FIPS error class", err)
	}
	if !strings.Contains(err.Error(), "FIPS 140-only mode") {
		t.Fatalf("error %q does not name FIPS mode", err)
	}
}
