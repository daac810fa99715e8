package gcmstream

import (
	"bytes"
	"io"
	"math/rand/v2"
	"testing"
)

// fit returns b cut or zero-extended to n bytes.
func fit(b []byte, n int) []byte {
	out := make([]byte, n)
	copy(out, b)
	return out
}

func FuzzStreamMatchesStdlib(f *testing.F) {
	f.Add(make([]byte, 32), make([]byte, 12), []byte{}, []byte{}, uint64(0))
	f.Add(make([]byte, 16), make([]byte, 12), []byte{0, 0x73}, []byte("hello, world"), uint64(1))
	f.Add(bytes.Repeat([]byte{1}, 24), bytes.Repeat([]byte{2}, 12), []byte{0, 0x73}, bytes.Repeat([]byte{3}, 5000), uint64(2))
	for _, seed := range []uint64{0x12, 0x22, 0x33} { // the lower kernel families
		f.Add(bytes.Repeat([]byte{4}, 32), bytes.Repeat([]byte{5}, 12), []byte{1}, bytes.Repeat([]byte{6}, 3000), seed)
	}
	for _, v := range knownAnswers {
		f.Add(unhex(f, v.key), unhex(f, v.iv), unhex(f, v.aad), unhex(f, v.pt), uint64(3))
	}
	f.Fuzz(func(t *testing.T, key, nonce, aad, pt []byte, seed uint64) {
		key = fit(key, []int{16, 24, 32}[len(key)%3])
		nonce = fit(nonce, NonceSize)
		rng := rand.New(rand.NewPCG(seed, seed>>32))
		if seed&2 != 0 && len(pt) > 0 {
			// Stretch the input past sealChunk to reach the one-pass path.
			pt = bytes.Repeat(pt, (sealChunk+rng.IntN(3*sealChunk))/len(pt)+1)
		}
		want := stdAEAD(t, key).Seal(nil, nonce, pt, aad)
		// Every kernel family the CPU has, chosen by the seed (the fuzz
		// function runs one input at a time in a process).
		paths := kernelPaths()
		old := kernel
		kernel = paths[int(seed>>4%uint64(len(paths)))]
		defer func() { kernel = old }()
		c, err := New(key, nonce, aad)
		if err != nil {
			t.Fatal(err)
		}
		c.twoPass = seed&1 == 1
		if seed&4 != 0 {
			c.vec = nil // the stdlib CTR where the vector kernel exists
		}
		if seed&8 != 0 {
			c.gh = nil // GHASH through the stdlib where the kernel exists
		}

		src := &chunkReader{data: pt, rng: rng, max: 1 + rng.IntN(len(pt)+20)}
		got, err := readAllRandom(c.EncryptReader(src), rng)
		if err != io.EOF || !bytes.Equal(got, want) {
			t.Fatalf("EncryptReader differs from Seal (err %v)", err)
		}

		// Two parts split at a random 16-byte boundary.
		split := rng.IntN(len(pt)/16+1) * 16
		ct := make([]byte, len(pt))
		p1, _ := c.Part(0)
		p2, _ := c.Part(int64(split))
		runPart(p2, ct[split:], pt[split:], false, rng)
		runPart(p1, ct[:split], pt[:split], false, rng)
		tag, err := c.Tag(p1.Sum(), p2.Sum())
		if err != nil || !bytes.Equal(append(ct, tag[:]...), want) {
			t.Fatalf("parts differ from Seal (err %v)", err)
		}

		back, err := readAllRandom(c.UnverifiedDecryptReader(&chunkReader{data: want, rng: rng, max: 1 + rng.IntN(len(want))}), rng)
		if err != io.EOF || !bytes.Equal(back, pt) {
			t.Fatalf("UnverifiedDecryptReader differs (err %v)", err)
		}

		bad := bytes.Clone(want)
		bad[rng.IntN(len(bad))] ^= 1 << rng.IntN(8)
		if _, err := readAllRandom(c.UnverifiedDecryptReader(bytes.NewReader(bad)), rng); err != ErrAuthentication {
			t.Fatalf("tampered message: %v", err)
		}
		short := want[:rng.IntN(len(want))]
		if _, err := readAllRandom(c.UnverifiedDecryptReader(bytes.NewReader(short)), rng); err != ErrAuthentication {
			t.Fatalf("truncated message: %v", err)
		}
	})
}
