package gcmstream

import (
	"bytes"
	"math/rand/v2"
	"os"
	"testing"
)

// Every kernel family, parts at 16-byte message offsets, over slices at
// every misalignment of their backing arrays (1 to 63 bytes, across cache
// lines), at lengths around the stitched turn and the chunk, in place and
// out of place, near the last counter GCM allows too: the ciphertext is
// the stdlib's CTR and the part sums make the stdlib's tag. Run with
// GCMSTREAM_KERNEL=xmm to pin one family.
func TestAttackKernelsMisalignedSlices(t *testing.T) {
	for _, k := range kernelPaths() {
		t.Run(k.String(), func(t *testing.T) {
			if env := os.Getenv("GCMSTREAM_KERNEL"); env != "" && env != k.String() {
				t.Skipf("GCMSTREAM_KERNEL=%s", env)
			}
			forceKernel(t, k)
			rng := rand.New(rand.NewPCG(71, uint64(k)))
			lengths := []int{1, 15, 16, 17, stitchTurn - 1, stitchTurn, stitchTurn + 1, 8*stitchTurn - 1, 8*stitchTurn + 5, chunkSize - 3, chunkSize + stitchTurn + 7}
			for iter := range 60 {
				key, nonce := randBytes(rng, []int{16, 24, 32}[iter%3]), randBytes(rng, NonceSize)
				c, err := New(key, nonce, nil)
				if err != nil {
					t.Fatal(err)
				}
				n := lengths[iter%len(lengths)]
				pos := rng.Int64N(1<<20) * blockSize
				if iter%5 == 0 {
					pos = (MaxPlaintextSize - int64(n)) &^ (blockSize - 1)
				}
				pt := randBytes(rng, n)
				want := stdKeyStreamAt(t, key, nonce, pos, pt)
				mis := 1 + rng.IntN(63)
				for _, inPlace := range []bool{false, true} {
					back := make([]byte, mis+n+mis)
					dst := back[mis : mis+n]
					src := pt
					if inPlace {
						copy(dst, pt)
						src = dst
					} else {
						sb := make([]byte, n+mis+1)
						src = sb[mis+1 : mis+1+n] // a different misalignment
						copy(src, pt)
					}
					p, err := c.Part(pos)
					if err != nil {
						t.Fatal(err)
					}
					runPart(p, dst, src, false, rng)
					if !bytes.Equal(dst, want) {
						t.Fatalf("iter %d: %d bytes at %d, misaligned by %d, in place %v: ciphertext differs", iter, n, pos, mis, inPlace)
					}
					if !bytes.Equal(back[:mis], make([]byte, mis)) || !bytes.Equal(back[mis+n:], make([]byte, mis)) {
						t.Fatalf("iter %d: %d bytes at %d: written outside dst", iter, n, pos)
					}
					encSum := p.Sum()
					q, _ := c.Part(pos)
					runPart(q, dst, dst, true, rng)
					if !bytes.Equal(dst, pt) {
						t.Fatalf("iter %d: %d bytes at %d, misaligned by %d: plaintext differs", iter, n, pos, mis)
					}
					if !q.Sum().Equal(encSum) {
						t.Fatalf("iter %d: %d bytes at %d: decryption's part sum differs from encryption's", iter, n, pos)
					}
				}
				if pos == 0 {
					// A whole message: the tag is the stdlib's.
					full := stdAEAD(t, key).Seal(nil, nonce, pt, nil)
					p, _ := c.Part(0)
					ct := make([]byte, n+3)[3:]
					runPart(p, ct, pt, false, rng)
					tag, err := c.Tag(p.Sum())
					if err != nil || !bytes.Equal(append(ct, tag[:]...), full) {
						t.Fatalf("iter %d: a whole message of %d bytes differs from Seal (%v)", iter, n, err)
					}
				}
			}
		})
	}
}
