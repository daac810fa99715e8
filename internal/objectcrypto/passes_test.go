package objectcrypto_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"testing"

	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/internal/objectcrypto"
	"github.com/s3ec/s3ec-go/materials"
)

const testSeg = 4 << 10

func passesSealer(t *testing.T, size int) *objectcrypto.Sealer {
	t.Helper()
	key := make([]byte, 32)
	rand.Read(key)
	kr, err := materials.NewAESKeyring(key)
	if err != nil {
		t.Fatal(err)
	}
	s, err := objectcrypto.NewSealer(context.Background(), kr, envelope.Policy{}, nil, int64(size))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// sealPass seals data through p from segment 0, stopping after stop
// segments (all when stop < 0), and returns the ciphertext and, if the
// last segment was reached, the tag.
func sealPass(t *testing.T, p *objectcrypto.Passes, data []byte, stop int) ([]byte, error) {
	t.Helper()
	var out []byte
	for seg := 0; ; seg++ {
		if stop >= 0 && seg == stop {
			return out, nil
		}
		lo := seg * testSeg
		hi := min(lo+testSeg, len(data))
		last := hi == len(data)
		buf := bytes.Clone(data[lo:hi])
		if err := p.Seal(seg, buf, last); err != nil {
			return out, err
		}
		out = append(out, buf...)
		if last {
			tag, err := p.Tag()
			if err != nil {
				t.Fatal(err)
			}
			return append(out, tag[:]...), nil
		}
	}
}

// Every pass, whole or cut short, produces the bytes of the sealer's
// one-pass reader (the ciphertext and tag crypto/cipher's Seal gives): a
// segment sealed before is encrypted with the keystream alone, and the
// tag of the first complete pass stands.
func TestPassesMatchTheReader(t *testing.T) {
	for _, size := range []int{0, 1, 15, 16, testSeg - 1, testSeg, testSeg + 1, 3*testSeg + 100} {
		s := passesSealer(t, size)
		data := make([]byte, size)
		rand.Read(data)
		want, err := io.ReadAll(s.Reader(bytes.NewReader(data)))
		if err != nil {
			t.Fatal(err)
		}
		p, err := s.Passes(testSeg, true)
		if err != nil {
			t.Fatal(err)
		}
		// A pass stopped after two segments, then whole passes.
		part, err := sealPass(t, p, data, 2)
		if err != nil || !bytes.HasPrefix(want, part) {
			t.Fatalf("%d bytes, cut pass: %v, or differs", size, err)
		}
		if _, err := p.Tag(); err == nil && size > 2*testSeg {
			t.Fatalf("%d bytes: tag before the last segment", size)
		}
		for pass := range 3 {
			got, err := sealPass(t, p, data, -1)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("%d bytes, pass %d: %v, or the output differs from the reader's", size, pass, err)
			}
		}
		p.Wipe()
	}
}

// A segment that differs from the one sealed before is refused before any
// byte of its ciphertext is released: the buffer is wiped. The segments
// before it come out as before, and the segment refused once is refused
// again (the recorded sum stands).
func TestPassesRefuseAChangedSegment(t *testing.T) {
	const size = 3*testSeg + 100
	for _, at := range []int{0, testSeg - 1, 2*testSeg + 5, size - 1} {
		s := passesSealer(t, size)
		data := make([]byte, size)
		rand.Read(data)
		p, err := s.Passes(testSeg, true)
		if err != nil {
			t.Fatal(err)
		}
		first, err := sealPass(t, p, data, -1)
		if err != nil {
			t.Fatal(err)
		}
		alt := bytes.Clone(data)
		alt[at] ^= 0x80
		seg := at / testSeg
		for i := 0; i < seg; i++ {
			buf := bytes.Clone(alt[i*testSeg : (i+1)*testSeg])
			if err := p.Seal(i, buf, false); err != nil || !bytes.Equal(buf, first[i*testSeg:(i+1)*testSeg]) {
				t.Fatalf("change at %d: segment %d before it: %v, or other ciphertext", at, i, err)
			}
		}
		lo, hi := seg*testSeg, min((seg+1)*testSeg, size)
		buf := bytes.Clone(alt[lo:hi])
		if err := p.Seal(seg, buf, hi == size); !errors.Is(err, objectcrypto.ErrSegmentChanged) {
			t.Fatalf("change at %d: %v, want ErrSegmentChanged", at, err)
		}
		if !bytes.Equal(buf, make([]byte, hi-lo)) {
			t.Fatalf("change at %d: the refused segment's buffer was not wiped", at)
		}
		buf = bytes.Clone(alt[lo:hi])
		if err := p.Seal(seg, buf, hi == size); !errors.Is(err, objectcrypto.ErrSegmentChanged) {
			t.Fatalf("change at %d, asked again: %v, want ErrSegmentChanged", at, err)
		}
		// The original plaintext still seals to the first pass's bytes.
		again, err := sealPass(t, p, data, -1)
		if err != nil || !bytes.Equal(again, first) {
			t.Fatalf("change at %d: the original after the refusal: %v, or other bytes", at, err)
		}
	}
}

// A last segment of another length than the one sealed before is a
// changed segment, whether it is shorter (a prefix of the same bytes, or
// zeros) or longer.
func TestPassesRefuseAChangedLastLength(t *testing.T) {
	const size = testSeg + 100
	s := passesSealer(t, size)
	data := make([]byte, size)
	rand.Read(data)
	p, err := s.Passes(testSeg, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sealPass(t, p, data, -1); err != nil {
		t.Fatal(err)
	}
	for _, last := range [][]byte{
		bytes.Clone(data[testSeg : size-1]),
		bytes.Clone(data[testSeg : size-16]),
		make([]byte, 100-16),
		append(bytes.Clone(data[testSeg:]), 0),
		append(bytes.Clone(data[testSeg:]), make([]byte, 16)...),
	} {
		buf := bytes.Clone(data[:testSeg])
		if err := p.Seal(0, buf, false); err != nil {
			t.Fatal(err)
		}
		if err := p.Seal(1, last, true); !errors.Is(err, objectcrypto.ErrSegmentChanged) {
			t.Fatalf("last segment of %d bytes (sealed with 100): %v, want ErrSegmentChanged", len(last), err)
		}
	}
}

// A body read once keeps no sums, and refuses to seal a segment twice;
// segments out of order or of the wrong size are refused too.
func TestPassesRefuseMisuse(t *testing.T) {
	const size = 2*testSeg + 7
	s := passesSealer(t, size)
	data := make([]byte, size)
	once, err := s.Passes(testSeg, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sealPass(t, once, data, -1); err != nil {
		t.Fatal(err)
	}
	if err := once.Seal(0, make([]byte, testSeg), false); err == nil {
		t.Fatal("a body read once sealed segment 0 again")
	}
	p, err := s.Passes(testSeg, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Seal(1, make([]byte, testSeg), false); err == nil {
		t.Fatal("segment 1 sealed before segment 0")
	}
	if err := p.Seal(0, make([]byte, testSeg-16), false); err == nil {
		t.Fatal("a short segment that is not the last accepted")
	}
	if err := p.Seal(0, make([]byte, testSeg+16), true); err == nil {
		t.Fatal("an oversized segment accepted")
	}
	if _, err := s.Passes(100, true); err == nil {
		t.Fatal("a segment size that is not a multiple of 16 accepted")
	}
}
