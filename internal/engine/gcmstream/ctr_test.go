package gcmstream

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/s3ec/s3ec-go/internal/fipsmode"
)

// stdKeyStreamAt is the reference: the stdlib CTR at a message offset.
func stdKeyStreamAt(t *testing.T, key, nonce []byte, off int64, src []byte) []byte {
	t.Helper()
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	var iv [blockSize]byte
	copy(iv[:], nonce)
	binary.BigEndian.PutUint32(iv[12:], uint32(2+off/blockSize))
	s := cipher.NewCTR(block, iv[:])
	var skip [blockSize]byte
	s.XORKeyStream(skip[:off%blockSize], skip[:off%blockSize])
	out := make([]byte, len(src))
	s.XORKeyStream(out, src)
	return out
}

func TestVectorCTRMatchesStdlib(t *testing.T) {
	if !hasKernels() {
		t.Skip("no kernels on this CPU or path: the stdlib CTR serves, and the other tests cover it")
	}
	rng := rand.New(rand.NewPCG(7, 11))
	for iter := range 400 {
		key, nonce := randBytes(rng, 32), randBytes(rng, NonceSize)
		v := newVectorCTR(key, nonce)
		if v == nil {
			t.Fatalf("no vector CTR for a 256-bit key with the %v kernels", kernel)
		}
		off := rng.Int64N(1 << 20)
		size := rng.IntN(3000)
		if iter%10 == 0 {
			size = rng.IntN(300 << 10)
		}
		if iter%7 == 0 {
			// The end of the largest message: counters up to 2^32−1, the
			// last GCM allows.
			off = MaxPlaintextSize - int64(size) - rng.Int64N(100)
		}
		src := randBytes(rng, size)
		want := stdKeyStreamAt(t, key, nonce, off, src)

		// Out of place, in place, and through a stream in random pieces.
		got := make([]byte, size+5)
		v.xorAt(got, src, off)
		if !bytes.Equal(got[:size], want) || !bytes.Equal(got[size:], make([]byte, 5)) {
			t.Fatalf("iter %d off=%d size=%d: differs from the stdlib CTR", iter, off, size)
		}
		inPlace := bytes.Clone(src)
		v.xorAt(inPlace, inPlace, off)
		if !bytes.Equal(inPlace, want) {
			t.Fatalf("iter %d: in place differs", iter)
		}
		s := &vectorStream{v: v, pos: off}
		pieces := make([]byte, size)
		for i := 0; i < size; {
			n := min(size-i, rng.IntN(700))
			s.XORKeyStream(pieces[i:i+n], src[i:i+n])
			i += n
		}
		if !bytes.Equal(pieces, want) {
			t.Fatalf("iter %d: stream in pieces differs", iter)
		}
	}
}

func TestVectorCTRUsedForAES256Only(t *testing.T) {
	for _, n := range []int{16, 24} {
		if newVectorCTR(make([]byte, n), make([]byte, NonceSize)) != nil {
			t.Fatalf("a vector CTR for a %d-byte key", n)
		}
	}
	if got := newVectorCTR(make([]byte, 32), make([]byte, NonceSize)) != nil; got != hasKernels() {
		t.Fatalf("vector CTR for AES-256: %v, kernels: %v", got, kernel)
	}
}

// The GHASH kernel gives the W the stdlib path gives, for every length and
// alignment of the data.
func TestVectorGHASHMatchesStdlib(t *testing.T) {
	if !hasKernels() {
		t.Skip("no kernels on this CPU or path: GHASH goes through the stdlib, and the other tests cover it")
	}
	if fipsmode.Enabled() {
		t.Skip("FIPS 140-3 mode: New keeps the kernels off (TestFIPSModeTurnsKernelsOff)")
	}
	rng := rand.New(rand.NewPCG(3, 5))
	for iter := range 300 {
		key, nonce := randBytes(rng, []int{16, 24, 32}[iter%3]), randBytes(rng, NonceSize)
		withKernel, err := New(key, nonce, nil)
		if err != nil {
			t.Fatal(err)
		}
		if withKernel.gh == nil {
			t.Fatalf("no GHASH kernel with the %v kernels", kernel)
		}
		stdlibOnly, _ := New(key, nonce, nil)
		stdlibOnly.gh = nil
		size := 17 + rng.IntN(2000)
		switch iter % 5 {
		case 0:
			size = chunkSize
		case 1:
			size = rng.IntN(100 << 10)
		}
		data := randBytes(rng, size)
		var a, b hashState
		a.update(withKernel, data)
		b.update(stdlibOnly, data)
		if a.finish() != b.finish() {
			t.Fatalf("iter %d: %d bytes: the kernel's GHASH differs from the stdlib's", iter, size)
		}
	}
}
