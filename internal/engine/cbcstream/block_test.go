package cbcstream

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
	"testing/iotest"
)

// Any run of whole blocks decrypts from the block before it, without
// padding; a run that is not whole blocks is refused.
func TestBlockDecryptReader(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	key, iv := randBytes(rng, 32), randBytes(rng, 16)
	data := randBytes(rng, 16*300)
	ct := encryptRaw(t, key, iv, data)
	for range 50 {
		first := rng.IntN(300)
		last := first + rng.IntN(300-first)
		prev := iv
		if first > 0 {
			prev = ct[16*(first-1) : 16*first]
		}
		r, err := NewBlockDecryptReader(key, prev, iotest.OneByteReader(bytes.NewReader(ct[16*first:16*(last+1)])))
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(got, data[16*first:16*(last+1)]) {
			t.Fatalf("blocks %d-%d: %v", first, last, err)
		}
	}
	for _, n := range []int{0, 15, 17} {
		r, _ := NewBlockDecryptReader(key, iv, bytes.NewReader(ct[:n]))
		if _, err := io.ReadAll(r); !errors.Is(err, ErrInvalidCiphertext) {
			t.Fatalf("%d bytes: %v", n, err)
		}
	}
}
