package gcmstream

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"testing"
	"testing/iotest"
)

// stdAEAD returns crypto/cipher's GCM for key.
func stdAEAD(t testing.TB, key []byte) cipher.AEAD {
	t.Helper()
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	return aead
}

func randBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := 0; i < n; i += 8 {
		v := rng.Uint64()
		for j := i; j < n && j < i+8; j++ {
			b[j] = byte(v)
			v >>= 8
		}
	}
	return b
}

// chunkReader returns data in pieces of random length, sometimes with
// (0, nil) results in between.
type chunkReader struct {
	data []byte
	rng  *rand.Rand
	max  int
}

func (r *chunkReader) Read(b []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	if r.rng.IntN(16) == 0 {
		return 0, nil
	}
	n := min(len(b), len(r.data), 1+r.rng.IntN(r.max))
	copy(b, r.data[:n])
	r.data = r.data[n:]
	return n, nil
}

// raceEnabled is set under the race detector, which makes the byte-heavy
// tests slow: they then use fewer and smaller inputs.
var raceEnabled bool

// heavy reports whether the long variants of the tests should run.
func heavy() bool { return !testing.Short() && !raceEnabled }

// readAllRandom reads r to the end with Read buffers of random sizes, some
// small (through the reader's buffer), some large (in place).
func readAllRandom(r io.Reader, rng *rand.Rand) ([]byte, error) {
	var out []byte
	buf := make([]byte, 2*bufSize+100)
	for zeros := 0; ; {
		var n int
		kind := rng.IntN(4)
		if len(out) > 1<<20 && kind < 2 && rng.IntN(4) != 0 {
			kind = 3 // long streams: mostly large reads, to keep tests fast
		}
		switch kind {
		case 0:
			n = rng.IntN(40)
		case 1:
			n = rng.IntN(4096)
		case 2:
			n = chunkSize + TagSize + rng.IntN(3*chunkSize)
		default:
			n = len(buf) - rng.IntN(64)
		}
		k, err := r.Read(buf[:n])
		out = append(out, buf[:k]...)
		if err != nil {
			return out, err
		}
		if k == 0 && n > 0 {
			if zeros++; zeros > 1000 {
				return out, errors.New("no progress")
			}
		}
	}
}

// sources returns named readers of data in various chunkings.
func sources(data []byte, rng *rand.Rand) map[string]io.Reader {
	m := map[string]io.Reader{
		"plain":   bytes.NewReader(data),
		"half":    iotest.HalfReader(bytes.NewReader(data)),
		"dataerr": iotest.DataErrReader(bytes.NewReader(data)),
		"chunks":  &chunkReader{data: data, rng: rng, max: 1 + rng.IntN(100000)},
	}
	if len(data) < 300000 && (heavy() || len(data) < 5000) {
		m["onebyte"] = iotest.OneByteReader(bytes.NewReader(data))
	}
	return m
}

var testSizes = []int{
	0, 1, 2, 15, 16, 17, 31, 32, 33, 100,
	chunkSize - 1, chunkSize, chunkSize + 1, chunkSize + 17,
	bufSize - 17, bufSize - 16, bufSize - 1, bufSize, bufSize + 1, bufSize + 15, bufSize + 16, bufSize + 17,
	2*bufSize + 3, 3<<20 + 5,
}

var testAADs = [][]byte{nil, {0x00, 0x73}, bytes.Repeat([]byte{0xa5}, 16), bytes.Repeat([]byte{0x5a}, 37)}

func TestEncryptDecryptReadersMatchStdlib(t *testing.T) {
	rng := rand.New(rand.NewPCG(10, 20))
	for _, keySize := range []int{16, 24, 32} {
		for _, aad := range testAADs {
			for _, size := range testSizes {
				if !heavy() && (rng.IntN(6) != 0 || size > 1<<20 && keySize != 32) {
					continue // a random sixth of the combinations
				}
				key, nonce := randBytes(rng, keySize), randBytes(rng, NonceSize)
				pt := randBytes(rng, size)
				want := stdAEAD(t, key).Seal(nil, nonce, pt, aad)
				c, err := New(key, nonce, aad)
				if err != nil {
					t.Fatal(err)
				}
				c.twoPass = rng.IntN(3) == 0
				if rng.IntN(2) == 0 {
					c.vec = nil // the stdlib CTR where the vector kernel exists
				}
				if rng.IntN(2) == 0 {
					c.gh = nil // GHASH through the stdlib where the kernel exists
				}
				for name, src := range sources(pt, rng) {
					got, err := readAllRandom(c.EncryptReader(src), rng)
					if err != io.EOF || !bytes.Equal(got, want) {
						t.Fatalf("encrypt key=%d aad=%d size=%d src=%s: err=%v, equal=%v",
							keySize, len(aad), size, name, err, bytes.Equal(got, want))
					}
				}
				for name, src := range sources(want, rng) {
					got, err := readAllRandom(c.UnverifiedDecryptReader(src), rng)
					if err != io.EOF || !bytes.Equal(got, pt) {
						t.Fatalf("decrypt key=%d aad=%d size=%d src=%s: err=%v, equal=%v",
							keySize, len(aad), size, name, err, bytes.Equal(got, pt))
					}
				}
			}
		}
	}
}

func TestReadersWithIoCopy(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 21))
	key, nonce, aad := randBytes(rng, 32), randBytes(rng, 12), []byte{0, 0x73}
	pt := randBytes(rng, 5<<20+7)
	want := stdAEAD(t, key).Seal(nil, nonce, pt, aad)
	c, _ := New(key, nonce, aad)
	var ct, back bytes.Buffer
	if _, err := io.Copy(&ct, c.EncryptReader(bytes.NewReader(pt))); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ct.Bytes(), want) {
		t.Fatal("io.Copy encrypt differs from Seal")
	}
	if _, err := io.Copy(&back, c.UnverifiedDecryptReader(&ct)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(back.Bytes(), pt) {
		t.Fatal("io.Copy decrypt differs")
	}
}

// splitMessage returns random 16-aligned boundaries 0 = b0 < ... < bk = n.
func splitMessage(rng *rand.Rand, n, parts int) []int {
	bounds := []int{0}
	for range parts - 1 {
		bounds = append(bounds, rng.IntN(n/16+1)*16)
	}
	bounds = append(bounds, n)
	for i := 1; i < len(bounds); i++ {
		for j := i; j > 0 && bounds[j] < bounds[j-1]; j-- {
			bounds[j], bounds[j-1] = bounds[j-1], bounds[j]
		}
	}
	return bounds
}

// runPart feeds src to a part in writes of random sizes.
func runPart(p *Part, dst, src []byte, decrypt bool, rng *rand.Rand) {
	for len(src) > 0 {
		var n int
		switch rng.IntN(4) {
		case 0:
			n = rng.IntN(33)
		case 1:
			n = rng.IntN(3 * chunkSize)
		case 2:
			n = rng.IntN(3 * sealChunk)
		default:
			n = len(src)
		}
		n = min(n, len(src))
		if decrypt {
			p.Decrypt(dst[:n], src[:n])
		} else {
			p.Encrypt(dst[:n], src[:n])
		}
		dst, src = dst[n:], src[n:]
	}
}

func TestPartsMatchStdlib(t *testing.T) {
	rng := rand.New(rand.NewPCG(30, 40))
	iters := 60
	if !heavy() {
		iters = 20
	}
	for iter := range iters {
		size := rng.IntN(3 << 20)
		if iter%3 == 0 {
			size = rng.IntN(2000)
		}
		nparts := 1 + rng.IntN(12)
		key, nonce := randBytes(rng, []int{16, 24, 32}[iter%3]), randBytes(rng, 12)
		aad := testAADs[iter%len(testAADs)]
		pt := randBytes(rng, size)
		want := stdAEAD(t, key).Seal(nil, nonce, pt, aad)
		c, _ := New(key, nonce, aad)
		c.twoPass = iter%4 == 1
		if iter%5 == 2 {
			c.vec = nil
		}
		if iter%7 == 3 {
			c.gh = nil
		}
		bounds := splitMessage(rng, size, nparts)

		for _, decrypt := range []bool{false, true} {
			src := pt
			if decrypt {
				src = want[:size]
			}
			dst := make([]byte, size)
			if iter%2 == 0 {
				copy(dst, src) // in place
				src = dst
			}
			sums := make([]PartSum, nparts)
			var wg sync.WaitGroup
			for i := range nparts {
				p, err := c.Part(int64(bounds[i]))
				if err != nil {
					t.Fatal(err)
				}
				seed := rng.Uint64()
				wg.Add(1)
				go func() {
					defer wg.Done()
					lo, hi := bounds[i], bounds[i+1]
					runPart(p, dst[lo:hi], src[lo:hi], decrypt, rand.New(rand.NewPCG(seed, 1)))
					sums[i] = p.Sum()
				}()
			}
			wg.Wait()
			tag, err := c.Tag(sums...)
			if err != nil {
				t.Fatal(err)
			}
			if decrypt {
				if !bytes.Equal(dst, pt) {
					t.Fatalf("iter %d: parts decrypt differs", iter)
				}
				if err := c.Verify(want[size:], sums...); err != nil {
					t.Fatalf("iter %d: Verify: %v", iter, err)
				}
			} else if !bytes.Equal(dst, want[:size]) {
				t.Fatalf("iter %d: parts ciphertext differs", iter)
			}
			if !bytes.Equal(tag[:], want[size:]) {
				t.Fatalf("iter %d (size %d, parts %v, decrypt %v): tag differs", iter, size, bounds, decrypt)
			}
		}
	}
}

func TestTagErrors(t *testing.T) {
	c, _ := New(make([]byte, 32), make([]byte, 12), nil)
	other, _ := New(make([]byte, 32), make([]byte, 12), nil)
	part := func(c *Cipher, off int64, n int) PartSum {
		p, err := c.Part(off)
		if err != nil {
			t.Fatal(err)
		}
		b := make([]byte, n)
		p.Encrypt(b, b)
		return p.Sum()
	}
	for _, off := range []int64{-16, 1, 15, MaxPlaintextSize + 16} {
		if _, err := c.Part(off); err == nil {
			t.Errorf("Part(%d) succeeded", off)
		}
	}
	if _, err := c.Part(MaxPlaintextSize); err != nil {
		t.Errorf("Part(MaxPlaintextSize): %v", err)
	}
	a, b := part(c, 0, 32), part(c, 32, 10)
	if _, err := c.Tag(); err == nil {
		t.Error("Tag() of no parts succeeded")
	}
	if _, err := c.Tag(b); err == nil {
		t.Error("Tag not starting at 0 succeeded")
	}
	if _, err := c.Tag(b, a); err == nil {
		t.Error("Tag out of order succeeded")
	}
	if _, err := c.Tag(a, part(c, 48, 1)); err == nil {
		t.Error("Tag with a gap succeeded")
	}
	if _, err := c.Tag(a, a); err == nil {
		t.Error("Tag with overlap succeeded")
	}
	if _, err := c.Tag(part(other, 0, 32), b); err == nil {
		t.Error("Tag mixing messages succeeded")
	}
	if err := c.Verify(make([]byte, 16), a, b); err != ErrAuthentication {
		t.Errorf("Verify of a wrong tag: %v", err)
	}
	tag, _ := c.Tag(a, b)
	if err := c.Verify(tag[:15], a, b); err != ErrAuthentication {
		t.Errorf("Verify of a short tag: %v", err)
	}
	if err := c.Verify(tag[:], a, b); err != nil {
		t.Errorf("Verify: %v", err)
	}
	if a.Offset() != 0 || a.Len() != 32 || b.Offset() != 32 || b.Len() != 10 {
		t.Error("PartSum Offset/Len wrong")
	}
}

func TestNewErrors(t *testing.T) {
	for _, c := range []struct{ key, nonce int }{{15, 12}, {33, 12}, {0, 12}, {32, 11}, {32, 16}, {32, 0}} {
		if _, err := New(make([]byte, c.key), make([]byte, c.nonce), nil); err == nil {
			t.Errorf("New(key %d, nonce %d) succeeded", c.key, c.nonce)
		}
	}
}

func TestPartPanics(t *testing.T) {
	c, _ := New(make([]byte, 16), make([]byte, 12), nil)
	mustPanic := func(name string, f func()) {
		t.Helper()
		defer func() {
			if recover() == nil {
				t.Errorf("%s did not panic", name)
			}
		}()
		f()
	}
	p, _ := c.Part(0)
	buf := make([]byte, 64)
	mustPanic("short dst", func() { p.Encrypt(buf[:10], buf[:11]) })
	mustPanic("overlap", func() { p.Encrypt(buf[1:33], buf[:32]) })
	mustPanic("overlap decrypt", func() { p.Decrypt(buf[:32], buf[16:48]) })
	end, _ := c.Part(MaxPlaintextSize - 16)
	end.Encrypt(buf[:16], buf[:16])
	mustPanic("too large", func() { end.Encrypt(buf[:1], buf[:1]) })
	mustPanic("encrypt then decrypt", func() { p.Decrypt(buf[:16], buf[:16]) })
	q, _ := c.Part(0)
	q.Decrypt(buf[:1], buf[:1])
	mustPanic("decrypt then encrypt", func() { q.Encrypt(buf[:16], buf[:16]) })
	mustPanic("keystream offset", func() { c.KeyStreamAt(-1) })
	mustPanic("keystream offset", func() { c.KeyStreamAt(MaxPlaintextSize + 1) })
}

// The last block of the largest message uses counter 2^32 − 1.
func TestLastBlockCounter(t *testing.T) {
	key, nonce := bytes.Repeat([]byte{7}, 32), bytes.Repeat([]byte{9}, 12)
	c, _ := New(key, nonce, nil)
	block, _ := aes.NewCipher(key)
	var ctr, want [16]byte
	copy(ctr[:], nonce)
	ctr[12], ctr[13], ctr[14], ctr[15] = 0xff, 0xff, 0xff, 0xff
	block.Encrypt(want[:], ctr[:])
	var got [16]byte
	c.KeyStreamAt(MaxPlaintextSize-16).XORKeyStream(got[:], got[:])
	if got != want {
		t.Fatal("keystream of the last block is wrong")
	}
}

func TestKeyStreamAt(t *testing.T) {
	rng := rand.New(rand.NewPCG(50, 60))
	key, nonce := randBytes(rng, 32), randBytes(rng, 12)
	pt := randBytes(rng, 1<<20+77)
	ct := stdAEAD(t, key).Seal(nil, nonce, pt, []byte{0, 0x73})
	c, _ := New(key, nonce, []byte{0, 0x73})
	for range 100 {
		off := rng.IntN(len(pt) + 1)
		n := rng.IntN(len(pt) - off + 1)
		if rng.IntN(2) == 0 {
			n = min(n, 100)
		}
		got := make([]byte, n)
		s := c.KeyStreamAt(int64(off))
		for done := 0; done < n; {
			k := min(n-done, 1+rng.IntN(5000))
			s.XORKeyStream(got[done:done+k], got[done:done+k])
			done += k
		}
		for i := range got {
			if got[i] != ct[off+i]^pt[off+i] {
				t.Fatalf("keystream at %d+%d differs", off, i)
			}
		}
	}
}

// readToEnd reads r with random buffer sizes and also checks that the final
// error repeats.
func readToEnd(t *testing.T, r io.Reader, rng *rand.Rand) ([]byte, error) {
	t.Helper()
	out, err := readAllRandom(r, rng)
	for range 3 {
		if n, again := r.Read(make([]byte, 100)); n != 0 || again != err {
			t.Fatalf("after %v, Read returned %d, %v", err, n, again)
		}
	}
	return out, err
}

func TestDecryptRejectsTampering(t *testing.T) {
	rng := rand.New(rand.NewPCG(70, 80))
	for _, size := range []int{0, 1, 15, 16, 17, 1000, chunkSize, bufSize, bufSize + 5, 1<<20 + 3} {
		key, nonce, aad := randBytes(rng, 32), randBytes(rng, 12), []byte{0, 0x73}
		pt := randBytes(rng, size)
		ct := stdAEAD(t, key).Seal(nil, nonce, pt, aad)
		c, _ := New(key, nonce, aad)
		flip := func(i int) []byte {
			b := bytes.Clone(ct)
			b[i] ^= 1 << rng.IntN(8)
			return b
		}
		wrongAAD, _ := New(key, nonce, []byte{0, 0x72})
		noAAD, _ := New(key, nonce, nil)
		otherNonce := bytes.Clone(nonce)
		otherNonce[11] ^= 1
		wrongNonce, _ := New(key, otherNonce, aad)
		otherKey := bytes.Clone(key)
		otherKey[0] ^= 1
		wrongKey, _ := New(otherKey, nonce, aad)
		cases := []struct {
			name  string
			c     *Cipher
			input []byte
		}{
			{"tag bit", c, flip(len(ct) - 1 - rng.IntN(16))},
			{"truncated", c, ct[:len(ct)-1]},
			{"extended", c, append(bytes.Clone(ct), byte(rng.Uint32()))},
			{"extended zero", c, append(bytes.Clone(ct), 0)},
			{"wrong aad", wrongAAD, ct},
			{"no aad", noAAD, ct},
			{"wrong nonce", wrongNonce, ct},
			{"wrong key", wrongKey, ct},
			{"short", c, ct[:rng.IntN(16)]},
			{"empty", c, nil},
			{"tag only, zero", c, make([]byte, 16)},
		}
		if size > 0 {
			cases = append(cases,
				struct {
					name  string
					c     *Cipher
					input []byte
				}{"ciphertext bit", c, flip(rng.IntN(size))},
				struct {
					name  string
					c     *Cipher
					input []byte
				}{"first bit", c, flip(0)},
				struct {
					name  string
					c     *Cipher
					input []byte
				}{"tag dropped", c, ct[:size]})
		}
		for _, tc := range cases {
			for name, src := range sources(tc.input, rng) {
				_, err := readToEnd(t, tc.c.UnverifiedDecryptReader(src), rng)
				if err != ErrAuthentication {
					t.Fatalf("size %d, %s, src %s: got %v, want ErrAuthentication", size, tc.name, name, err)
				}
			}
		}
	}
}

// The last piece of plaintext is held back until the tag verified.
func TestDecryptWithholdsFinalPiece(t *testing.T) {
	rng := rand.New(rand.NewPCG(71, 81))
	key, nonce := randBytes(rng, 32), randBytes(rng, 12)
	pt := randBytes(rng, 1000)
	ct := stdAEAD(t, key).Seal(nil, nonce, pt, nil)
	ct[len(ct)-1] ^= 1
	c, _ := New(key, nonce, nil)
	got, err := readToEnd(t, c.UnverifiedDecryptReader(bytes.NewReader(ct)), rng)
	if err != ErrAuthentication || len(got) != 0 {
		t.Fatalf("got %d bytes, %v", len(got), err)
	}
}

type errAfter struct {
	r   io.Reader
	n   int
	err error
}

func (e *errAfter) Read(b []byte) (int, error) {
	if e.n <= 0 {
		return 0, e.err
	}
	k, err := e.r.Read(b[:min(len(b), e.n)])
	e.n -= k
	if err == io.EOF {
		err = e.err
	}
	return k, err
}

func TestSourceErrorsPassThrough(t *testing.T) {
	rng := rand.New(rand.NewPCG(90, 91))
	key, nonce := randBytes(rng, 32), randBytes(rng, 12)
	pt := randBytes(rng, 3*bufSize)
	ct := stdAEAD(t, key).Seal(nil, nonce, pt, nil)
	c, _ := New(key, nonce, nil)
	boom := errors.New("boom")
	for _, at := range []int{0, 1, 15, 16, 17, chunkSize, bufSize, bufSize + 33, len(pt)} {
		for _, mk := range []func([]byte) io.Reader{
			func(b []byte) io.Reader { return &errAfter{bytes.NewReader(b), at, boom} },
			func(b []byte) io.Reader { return iotest.TimeoutReader(&errAfter{bytes.NewReader(b), at, boom}) },
		} {
			got, err := readToEnd(t, c.EncryptReader(mk(pt)), rng)
			if err != boom && !(at == 0 && err == iotest.ErrTimeout) && err != iotest.ErrTimeout {
				t.Fatalf("encrypt, error at %d: got %v", at, err)
			}
			if !bytes.Equal(got, ct[:len(got)]) || len(got) > at {
				t.Fatalf("encrypt, error at %d: bad output (%d bytes)", at, len(got))
			}
			got, err = readToEnd(t, c.UnverifiedDecryptReader(mk(ct)), rng)
			if err != boom && err != iotest.ErrTimeout {
				t.Fatalf("decrypt, error at %d: got %v", at, err)
			}
			if !bytes.Equal(got, pt[:len(got)]) || len(got) > max(at-16, 0) {
				t.Fatalf("decrypt, error at %d: bad output (%d bytes)", at, len(got))
			}
		}
	}
	if _, err := readToEnd(t, c.EncryptReader(iotest.ErrReader(boom)), rng); err != boom {
		t.Fatalf("ErrReader: %v", err)
	}
	if _, err := readToEnd(t, c.UnverifiedDecryptReader(iotest.ErrReader(boom)), rng); err != boom {
		t.Fatalf("ErrReader: %v", err)
	}
}

type zeroReader struct{}

func (zeroReader) Read([]byte) (int, error) { return 0, nil }

func TestNoProgress(t *testing.T) {
	c, _ := New(make([]byte, 16), make([]byte, 12), nil)
	if _, err := c.EncryptReader(zeroReader{}).Read(make([]byte, 10)); err != io.ErrNoProgress {
		t.Fatalf("encrypt: %v", err)
	}
	if _, err := c.UnverifiedDecryptReader(zeroReader{}).Read(make([]byte, 10)); err != io.ErrNoProgress {
		t.Fatalf("decrypt: %v", err)
	}
}

func TestTooLarge(t *testing.T) {
	rng := rand.New(rand.NewPCG(92, 93))
	key, nonce := randBytes(rng, 32), randBytes(rng, 12)
	for _, limit := range []int64{0, 16, 1000, bufSize, 3 * chunkSize} {
		for _, size := range []int64{limit, limit + 1, limit + 16, 2*limit + 100} {
			c, _ := New(key, nonce, nil)
			c.max = limit
			pt := randBytes(rng, int(size))
			_, err := readToEnd(t, c.EncryptReader(bytes.NewReader(pt)), rng)
			if want := size > limit; (err == ErrTooLarge) != want || (!want && err != io.EOF) {
				t.Fatalf("limit %d, size %d: encrypt error %v", limit, size, err)
			}
			ct := stdAEAD(t, key).Seal(nil, nonce, pt, nil)
			got, err := readToEnd(t, c.UnverifiedDecryptReader(bytes.NewReader(ct)), rng)
			if size > limit {
				if err != ErrAuthentication {
					t.Fatalf("limit %d, size %d: decrypt error %v", limit, size, err)
				}
			} else if err != io.EOF || !bytes.Equal(got, pt) {
				t.Fatalf("limit %d, size %d: decrypt error %v", limit, size, err)
			}
		}
	}
}

func TestClose(t *testing.T) {
	c, _ := New(make([]byte, 16), make([]byte, 12), nil)
	e := c.EncryptReader(bytes.NewReader(make([]byte, 100)))
	if _, err := e.Read(make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	e.Close()
	if _, err := e.Read(make([]byte, 10)); err == nil || err == io.EOF {
		t.Fatalf("Read after Close: %v", err)
	}
	d := c.UnverifiedDecryptReader(bytes.NewReader(make([]byte, 100)))
	d.Close()
	if _, err := d.Read(make([]byte, 10)); err == nil || err == io.EOF {
		t.Fatalf("Read after Close: %v", err)
	}
}

func TestConstantAllocations(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	key, nonce := make([]byte, 32), make([]byte, 12)
	allocs := func(size int, decrypt bool) float64 {
		data := make([]byte, size)
		if decrypt {
			data = stdAEAD(t, key).Seal(nil, nonce, data, []byte{0, 0x73})
		}
		src := bytes.NewReader(data)
		buf := make([]byte, 4096)
		return testing.AllocsPerRun(20, func() {
			src.Reset(data)
			c, _ := New(key, nonce, []byte{0, 0x73})
			var r io.Reader = c.EncryptReader(src)
			if decrypt {
				r = c.UnverifiedDecryptReader(src)
			}
			for {
				if _, err := r.Read(buf); err != nil {
					if err != io.EOF {
						t.Fatal(err)
					}
					return
				}
			}
		})
	}
	for _, decrypt := range []bool{false, true} {
		small, large := allocs(1<<20, decrypt), allocs(16<<20, decrypt)
		t.Logf("decrypt=%v: %v allocations for 1 MiB, %v for 16 MiB", decrypt, small, large)
		if small != large {
			t.Errorf("decrypt=%v: %v allocations for 1 MiB, %v for 16 MiB", decrypt, small, large)
		}
	}
}

func ExampleCipher_Part() {
	key, nonce := make([]byte, 32), make([]byte, 12)
	c, _ := New(key, nonce, []byte{0x00, 0x73})
	msg := make([]byte, 100)
	// Two parts on two goroutines; the first ends on a 16-byte boundary.
	first, _ := c.Part(0)
	second, _ := c.Part(64)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); first.Encrypt(msg[:64], msg[:64]) }()
	go func() { defer wg.Done(); second.Encrypt(msg[64:], msg[64:]) }()
	wg.Wait()
	tag, _ := c.Tag(first.Sum(), second.Sum())
	fmt.Println(len(msg)+len(tag), c.Verify(tag[:], first.Sum(), second.Sum()))
	// Output: 116 <nil>
}

// Without the vector CTR kernel, large aligned runs take the one-pass path;
// all paths agree with the stdlib at every write pattern
// (TestPartsMatchStdlib), this checks that the one-pass path is really
// taken, that tiny messages do not set it up, and that the vector kernel,
// where there is one, is preferred to it.
func TestOnePassPathUsed(t *testing.T) {
	c, _ := New(make([]byte, 32), make([]byte, 12), nil)
	if c.vec != nil {
		p, _ := c.Part(0)
		big := make([]byte, 3*sealChunk+5)
		p.Encrypt(big, big)
		if p.onePass || c.seal != nil {
			t.Fatal("one-pass path taken though the vector CTR kernel is available")
		}
		c.vec = nil
	}
	p, _ := c.Part(0)
	buf := make([]byte, sealChunk-16)
	p.Encrypt(buf, buf)
	if p.onePass || c.seal != nil {
		t.Fatal("one-pass set up for a message shorter than sealChunk")
	}
	p.Encrypt(buf[:16], buf[:16])
	big := make([]byte, 3*sealChunk+5)
	p.Encrypt(big, big)
	if !p.onePass {
		t.Fatal("one-pass path not taken")
	}
}

func TestFormatHidesSecrets(t *testing.T) {
	c, _ := New(bytes.Repeat([]byte{1}, 32), make([]byte, 12), nil)
	p, _ := c.Part(0)
	p.Encrypt(make([]byte, 100), make([]byte, 100))
	sum := p.Sum()
	for _, v := range []any{c, p, sum, &sum, c.EncryptReader(nil), c.UnverifiedDecryptReader(nil)} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%x", "%d", "%s"} {
			out := fmt.Sprintf(verb, v)
			if !bytes.HasPrefix([]byte(out), []byte("gcmstream.")) || bytes.Contains([]byte(out), []byte(fmt.Sprint(c.h.lo))) {
				t.Errorf("%s of %T = %q", verb, v, out)
			}
		}
	}
	if got := fmt.Sprint(sum); got != "gcmstream.PartSum{offset: 0, len: 100}" {
		t.Errorf("PartSum prints as %q", got)
	}
}
