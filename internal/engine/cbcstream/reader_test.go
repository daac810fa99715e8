package cbcstream

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
	"testing/iotest"
)

func randBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// encrypt pads pt with PKCS#7 and encrypts it with the stdlib.
func encrypt(t testing.TB, key, iv, pt []byte) []byte {
	t.Helper()
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	pad := blockSize - len(pt)%blockSize
	ct := append(bytes.Clone(pt), bytes.Repeat([]byte{byte(pad)}, pad)...)
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(ct, ct)
	return ct
}

// encryptRaw encrypts whole blocks without padding.
func encryptRaw(t testing.TB, key, iv, data []byte) []byte {
	t.Helper()
	block, _ := aes.NewCipher(key)
	ct := bytes.Clone(data)
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(ct, ct)
	return ct
}

// chunkReader returns data in pieces of random length, sometimes (0, nil).
type chunkReader struct {
	data []byte
	rng  *rand.Rand
}

func (r *chunkReader) Read(b []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	if r.rng.IntN(10) == 0 {
		return 0, nil
	}
	n := min(len(b), len(r.data), 1+r.rng.IntN(70000))
	copy(b, r.data[:n])
	r.data = r.data[n:]
	return n, nil
}

// readAll reads r to the end with random buffer sizes and checks that the
// final error repeats.
func readAll(t testing.TB, r io.Reader, rng *rand.Rand) ([]byte, error) {
	var out []byte
	buf := make([]byte, 200000)
	for {
		n := []int{0, 1 + rng.IntN(20), rng.IntN(5000), rng.IntN(len(buf))}[rng.IntN(4)]
		k, err := r.Read(buf[:n])
		out = append(out, buf[:k]...)
		if err != nil {
			for range 2 {
				if k, again := r.Read(buf[:10]); k != 0 || again != err {
					t.Fatalf("after %v, Read returned %d, %v", err, k, again)
				}
			}
			return out, err
		}
	}
}

func sources(data []byte, rng *rand.Rand) map[string]io.Reader {
	return map[string]io.Reader{
		"plain":   bytes.NewReader(data),
		"onebyte": iotest.OneByteReader(bytes.NewReader(data)),
		"half":    iotest.HalfReader(bytes.NewReader(data)),
		"dataerr": iotest.DataErrReader(bytes.NewReader(data)),
		"chunks":  &chunkReader{data: data, rng: rng},
	}
}

func TestMatchesStdlib(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	sizes := []int{bufSize - 1, bufSize, bufSize + 15, bufSize + 16, 3<<20 + 9}
	for n := 0; n <= 70; n++ {
		sizes = append(sizes, n)
	}
	for _, size := range sizes {
		key := randBytes(rng, []int{16, 24, 32}[size%3])
		iv := randBytes(rng, 16)
		pt := randBytes(rng, size)
		ct := encrypt(t, key, iv, pt)
		for name, src := range sources(ct, rng) {
			if name == "onebyte" && size > 1<<20 {
				continue
			}
			r, err := NewDecryptReader(key, iv, src)
			if err != nil {
				t.Fatal(err)
			}
			got, err := readAll(t, r, rng)
			if err != io.EOF || !bytes.Equal(got, pt) {
				t.Fatalf("size %d, src %s: err %v, equal %v", size, name, err, bytes.Equal(got, pt))
			}
		}
	}
}

func TestInvalidCiphertext(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	key, iv := randBytes(rng, 32), randBytes(rng, 16)
	ct := encrypt(t, key, iv, randBytes(rng, 100))
	body := randBytes(rng, 48) // three whole blocks before the last
	withLast := func(last []byte) []byte {
		return encryptRaw(t, key, iv, append(bytes.Clone(body), last...))
	}
	block := func(fill byte, tail ...byte) []byte {
		b := bytes.Repeat([]byte{fill}, 16)
		copy(b[16-len(tail):], tail)
		return b
	}
	cases := map[string][]byte{
		"empty":            nil,
		"one byte":         ct[:1],
		"15 bytes":         ct[:15],
		"truncated by 1":   ct[:len(ct)-1],
		"extended by 1":    append(bytes.Clone(ct), 0),
		"pad 0":            withLast(block(0xaa, 0)),
		"pad 17":           withLast(block(17)),
		"pad 255":          withLast(block(255)),
		"pad 2, mismatch":  withLast(block(0xaa, 3, 2)),
		"pad 16, mismatch": withLast(append(bytes.Repeat([]byte{16}, 15), 15)),
		"pad 16, first":    withLast(append([]byte{15}, bytes.Repeat([]byte{16}, 15)...)),
		"pad 5, middle":    withLast(block(0xaa, 5, 5, 4, 5, 5)),
	}
	for name, input := range cases {
		for src, r := range sources(input, rng) {
			d, _ := NewDecryptReader(key, iv, r)
			got, err := readAll(t, d, rng)
			if err != ErrInvalidCiphertext {
				t.Fatalf("%s, src %s: got %v, want ErrInvalidCiphertext", name, src, err)
			}
			if len(got) > len(body) {
				t.Fatalf("%s: released %d bytes, more than the blocks before the last", name, len(got))
			}
		}
	}
	// Valid edge paddings.
	for _, last := range [][]byte{block(0xaa, 1), block(16), block(0xaa, 2, 2), block(0x01, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15)} {
		d, _ := NewDecryptReader(key, iv, bytes.NewReader(withLast(last)))
		got, err := readAll(t, d, rng)
		want := append(bytes.Clone(body), last[:16-int(last[15])]...)
		if err != io.EOF || !bytes.Equal(got, want) {
			t.Fatalf("padding %x: %v", last, err)
		}
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
	rng := rand.New(rand.NewPCG(5, 6))
	key, iv := randBytes(rng, 32), randBytes(rng, 16)
	pt := randBytes(rng, 3*bufSize)
	ct := encrypt(t, key, iv, pt)
	boom := errors.New("boom")
	for _, at := range []int{0, 1, 16, 17, 33, bufSize, bufSize + 5, len(ct)} {
		d, _ := NewDecryptReader(key, iv, &errAfter{bytes.NewReader(ct), at, boom})
		got, err := readAll(t, d, rng)
		if err != boom {
			t.Fatalf("error at %d: got %v", at, err)
		}
		if !bytes.Equal(got, pt[:len(got)]) || len(got) > max(at-16, 0) {
			t.Fatalf("error at %d: bad output (%d bytes)", at, len(got))
		}
	}
	d, _ := NewDecryptReader(key, iv, iotest.TimeoutReader(bytes.NewReader(ct)))
	if _, err := readAll(t, d, rng); err != iotest.ErrTimeout {
		t.Fatalf("TimeoutReader: %v", err)
	}
}

type zeroReader struct{}

func (zeroReader) Read([]byte) (int, error) { return 0, nil }

func TestMisc(t *testing.T) {
	for _, c := range []struct{ key, iv int }{{15, 16}, {32, 15}, {32, 12}, {0, 16}} {
		if _, err := NewDecryptReader(make([]byte, c.key), make([]byte, c.iv), nil); err == nil {
			t.Errorf("NewDecryptReader(key %d, iv %d) succeeded", c.key, c.iv)
		}
	}
	d, _ := NewDecryptReader(make([]byte, 16), make([]byte, 16), zeroReader{})
	if _, err := d.Read(make([]byte, 10)); err != io.ErrNoProgress {
		t.Errorf("zero reader: %v", err)
	}
	d, _ = NewDecryptReader(make([]byte, 16), make([]byte, 16), bytes.NewReader(make([]byte, 64)))
	d.Close()
	if _, err := d.Read(make([]byte, 10)); err == nil || err == io.EOF {
		t.Errorf("Read after Close: %v", err)
	}
}

func TestPaddingLen(t *testing.T) {
	for pad := 0; pad < 256; pad++ {
		for _, fill := range []byte{0, byte(pad), byte(pad) + 1} {
			last := bytes.Repeat([]byte{fill}, 16)
			for i := 16 - min(pad, 16); i < 16; i++ {
				last[i] = byte(pad)
			}
			last[15] = byte(pad)
			n, ok := paddingLen(last)
			if want := pad >= 1 && pad <= 16; ok != want || n != pad {
				t.Fatalf("pad %d fill %d: got %d, %v", pad, fill, n, ok)
			}
		}
	}
}

// reference decrypts in one shot: the obvious implementation.
func reference(key, iv, ct []byte) ([]byte, bool) {
	if len(ct) == 0 || len(ct)%16 != 0 {
		return nil, false
	}
	block, _ := aes.NewCipher(key)
	pt := make([]byte, len(ct))
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(pt, ct)
	pad := int(pt[len(pt)-1])
	if pad < 1 || pad > 16 {
		return nil, false
	}
	for _, b := range pt[len(pt)-pad:] {
		if int(b) != pad {
			return nil, false
		}
	}
	return pt[:len(pt)-pad], true
}

func FuzzCBCDecrypt(f *testing.F) {
	f.Add(make([]byte, 32), make([]byte, 16), []byte{}, uint64(0))
	f.Add(make([]byte, 16), make([]byte, 16), make([]byte, 16), uint64(1))
	f.Add(make([]byte, 24), make([]byte, 16), make([]byte, 47), uint64(2))
	key, iv := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 16)
	f.Add(key, iv, encrypt(f, key, iv, []byte("hello, world")), uint64(3))
	f.Add(key, iv, encrypt(f, key, iv, make([]byte, 1000)), uint64(4))
	f.Fuzz(func(t *testing.T, key, iv, ct []byte, seed uint64) {
		k := make([]byte, []int{16, 24, 32}[len(key)%3])
		copy(k, key)
		v := make([]byte, 16)
		copy(v, iv)
		rng := rand.New(rand.NewPCG(seed, 0))
		if seed&1 == 1 && len(ct) > 0 {
			// Re-encrypt as a valid message sometimes, so both outcomes occur.
			ct = encrypt(t, k, v, ct)
		}
		want, ok := reference(k, v, ct)
		d, err := NewDecryptReader(k, v, &chunkReader{data: ct, rng: rng})
		if err != nil {
			t.Fatal(err)
		}
		got, err := readAll(t, d, rng)
		if ok {
			if err != io.EOF || !bytes.Equal(got, want) {
				t.Fatalf("valid input: err %v, equal %v", err, bytes.Equal(got, want))
			}
		} else if err != ErrInvalidCiphertext {
			t.Fatalf("invalid input: err %v", err)
		}
	})
}

func BenchmarkDecrypt(b *testing.B) {
	key, iv := make([]byte, 32), make([]byte, 16)
	ct := encrypt(b, key, iv, make([]byte, 16<<20))
	buf := make([]byte, 256<<10)
	src := bytes.NewReader(nil)
	b.SetBytes(int64(len(ct)))
	b.ReportAllocs()
	for b.Loop() {
		src.Reset(ct)
		d, _ := NewDecryptReader(key, iv, src)
		for {
			if _, err := d.Read(buf); err == io.EOF {
				break
			} else if err != nil {
				b.Fatal(err)
			}
		}
	}
}
