//go:build !purego

package gcmstream

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/s3ec/s3ec-go/internal/fipsmode"
)

// The stitched kernel encrypts and decrypts as the stdlib CTR does and
// hashes the ciphertext as the stdlib GHASH does, for any number of turns
// at random offsets (up to the last counter GCM allows), in place and out
// of place; and the parts really take it on the 128-bit path.
func TestStitchedMatchesStdlib(t *testing.T) {
	if !hasKernels() {
		t.Skip("no kernels on this CPU or path: the stdlib serves, and the other tests cover it")
	}
	if fipsmode.Enabled() {
		t.Skip("FIPS 140-3 mode: New keeps the kernels off (TestFIPSModeTurnsKernelsOff)")
	}
	rng := rand.New(rand.NewPCG(13, 17))
	for iter := range 300 {
		key, nonce := randBytes(rng, 32), randBytes(rng, NonceSize)
		c, err := New(key, nonce, nil)
		if err != nil {
			t.Fatal(err)
		}
		stdlibOnly, _ := New(key, nonce, nil)
		stdlibOnly.gh = nil
		turns := 1 + rng.IntN(4)
		if iter%3 == 0 {
			turns = 1 + rng.IntN(chunkSize/stitchTurn)
		}
		size := turns * stitchTurn
		pos := rng.Int64N(1<<24) * blockSize
		if iter%7 == 0 {
			pos = (MaxPlaintextSize - int64(size)) &^ (blockSize - 1)
		}
		pt := randBytes(rng, size)
		ct := stdKeyStreamAt(t, key, nonce, pos, pt)
		wantW := stdlibW(stdlibOnly, ct)

		for _, inPlace := range []bool{false, true} {
			out := make([]byte, size+16)
			src := pt
			if inPlace {
				copy(out, pt)
				src = out[:size]
			}
			if w := c.stitch(out[:size], src, pos, false); w != wantW {
				t.Fatalf("iter %d: %d turns at %d, in place %v: encryption's GHASH differs", iter, turns, pos, inPlace)
			}
			if !bytes.Equal(out[:size], ct) || !bytes.Equal(out[size:], make([]byte, 16)) {
				t.Fatalf("iter %d: %d turns at %d, in place %v: ciphertext differs", iter, turns, pos, inPlace)
			}
			src = ct
			if inPlace {
				copy(out, ct)
				src = out[:size]
			}
			if w := c.stitch(out[:size], src, pos, true); w != wantW {
				t.Fatalf("iter %d: %d turns at %d, in place %v: decryption's GHASH differs", iter, turns, pos, inPlace)
			}
			if !bytes.Equal(out[:size], pt) {
				t.Fatalf("iter %d: %d turns at %d, in place %v: plaintext differs", iter, turns, pos, inPlace)
			}
		}
	}

	c, _ := New(make([]byte, 32), make([]byte, NonceSize), nil)
	want := 0
	if kernel == pathXMM {
		want = 3 * stitchTurn
	}
	if got := c.stitchable(4096, 3*stitchTurn+100); got != want {
		t.Fatalf("%v kernels: the stitched kernel takes %d bytes of a run, want %d", kernel, got, want)
	}
	if got := c.stitchable(4100, 3*stitchTurn+100); got != 0 {
		t.Fatalf("the stitched kernel takes %d bytes at an unaligned offset", got)
	}
}

// stdlibW returns W over data through the stdlib's GHASH (c has no
// GHASH kernel).
func stdlibW(c *Cipher, data []byte) fieldElement {
	var s hashState
	s.update(c, data)
	return s.finish()
}
