//go:build unix

package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
)

// The plaintext of every benchmark object is a deterministic pseudo-random
// stream computed from the offset, so that no process holds an object in
// memory and peak RSS measures the client, not the data. The stream is cut
// into segments of patternSize bytes; segment s is the fixed random pattern
// rotated by a pseudo-random phase derived from s. Producing it is one
// memmove from a 2×patternSize table (L2-resident), far cheaper than the
// SHA-256 payload hash or AES-GCM, so it adds little to either client.
const patternSize = 64 << 10

// pattern2 is the random pattern twice over, so any rotation is one slice.
var pattern2 = func() []byte {
	r := rand.New(rand.NewChaCha8([32]byte{'s', '3', 'e', 'c', 'b', 'e', 'n', 'c', 'h'}))
	b := make([]byte, 2*patternSize)
	for i := 0; i < patternSize; i += 8 {
		v := r.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	copy(b[patternSize:], b[:patternSize])
	return b
}()

// phase is the rotation of segment s (splitmix64 of s).
func phase(s int64) int64 {
	z := uint64(s) + 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	z ^= z >> 31
	return int64(z % patternSize)
}

// fillAt writes the stream bytes at offset off into p.
func fillAt(p []byte, off int64) {
	for len(p) > 0 {
		seg, within := off/patternSize, off%patternSize
		start := (phase(seg) + within) % patternSize
		n := copy(p[:min(int64(len(p)), patternSize-within)], pattern2[start:])
		p, off = p[n:], off+int64(n)
	}
}

// source is an io.ReadSeeker over the first size bytes of the stream.
type source struct {
	size, off int64
}

func newSource(size int64) *source { return &source{size: size} }

func (s *source) Read(p []byte) (int, error) {
	if s.off >= s.size {
		return 0, io.EOF
	}
	if left := s.size - s.off; int64(len(p)) > left {
		p = p[:left]
	}
	fillAt(p, s.off)
	s.off += int64(len(p))
	return len(p), nil
}

func (s *source) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += s.off
	case io.SeekEnd:
		offset += s.size
	default:
		return 0, errors.New("source: invalid whence")
	}
	if offset < 0 {
		return 0, errors.New("source: negative position")
	}
	s.off = offset
	return offset, nil
}

// verifyWriter checks that what is written to it is the stream from offset
// 0, and at Close that exactly size bytes came.
type verifyWriter struct {
	size, off int64
	want      []byte
}

func newVerifyWriter(size int64) *verifyWriter {
	return &verifyWriter{size: size, want: make([]byte, 256<<10)}
}

func (v *verifyWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		k := min(len(p), len(v.want))
		if v.off+int64(k) > v.size {
			return n, fmt.Errorf("verify: body longer than %d bytes", v.size)
		}
		fillAt(v.want[:k], v.off)
		if !bytes.Equal(p[:k], v.want[:k]) {
			return n, fmt.Errorf("verify: body differs from the source in bytes %d..%d", v.off, v.off+int64(k))
		}
		p, n, v.off = p[k:], n+k, v.off+int64(k)
	}
	return n, nil
}

func (v *verifyWriter) Close() error {
	if v.off != v.size {
		return fmt.Errorf("verify: body has %d bytes, want %d", v.off, v.size)
	}
	return nil
}
