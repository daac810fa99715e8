package objectcrypto_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"syscall"
	"testing"
	"testing/iotest"

	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/internal/objectcrypto"
)

// memSpool is a Spool in memory that can fail its writes after a budget,
// as a full disk does.
type memSpool struct {
	b      []byte
	budget int // bytes it accepts; < 0: any
}

func (s *memSpool) Write(p []byte) (int, error) {
	if s.budget >= 0 && len(s.b)+len(p) > s.budget {
		n := s.budget - len(s.b)
		s.b = append(s.b, p[:n]...)
		return n, syscall.ENOSPC
	}
	s.b = append(s.b, p...)
	return len(p), nil
}

func (s *memSpool) ReadAt(p []byte, off int64) (int, error) {
	return bytes.NewReader(s.b).ReadAt(p, off)
}

// The spooled reader returns the plaintext; the spool holds exactly the
// ciphertext without its tag.
func TestSpooledReaderRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, 16, 1000, 256 << 10, 1<<20 + 17} {
		data := make([]byte, n)
		rand.Read(data)
		op, body := sealed(t, data)
		for _, oneByte := range []bool{false, true} {
			if oneByte && n > 70000 {
				continue
			}
			var src io.Reader = bytes.NewReader(body)
			if oneByte {
				src = iotest.OneByteReader(src)
			}
			sp := &memSpool{budget: -1}
			r, err := op.SpooledReader(src, int64(len(body)), sp)
			if err != nil {
				t.Fatalf("size %d: %v", n, err)
			}
			if !bytes.Equal(sp.b, body[:len(body)-envelope.TagSize]) {
				t.Fatalf("size %d: the spool holds %d bytes, not the ciphertext", n, len(sp.b))
			}
			got, err := io.ReadAll(iotest.HalfReader(r))
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("size %d: %d bytes, %v", n, len(got), err)
			}
			r.Close()
		}
	}
}

// Altered, short, long or failing bodies, and a spool that fills up, give
// a typed error and no reader; the spool never receives more than the
// announced ciphertext.
func TestSpooledReaderRefuses(t *testing.T) {
	data := make([]byte, 600_000)
	rand.Read(data)
	op, body := sealed(t, data)
	size := int64(len(body))
	flip := func(i int) []byte { b := bytes.Clone(body); b[i] ^= 1; return b }
	readErr := errors.New("connection reset")
	cases := []struct {
		name   string
		src    io.Reader
		size   int64
		budget int
		want   error
	}{
		{"ciphertext byte flipped", bytes.NewReader(flip(300_000)), size, -1, envelope.ErrAuthentication},
		{"tag byte flipped", bytes.NewReader(flip(len(body) - 1)), size, -1, envelope.ErrAuthentication},
		{"one byte appended", bytes.NewReader(append(bytes.Clone(body), 0)), size, -1, objectcrypto.ErrTooLarge},
		{"a byte short", bytes.NewReader(body[:len(body)-1]), size, -1, objectcrypto.ErrTruncated},
		{"ends before the tag", bytes.NewReader(body[:len(body)-16]), size, -1, objectcrypto.ErrTruncated},
		{"ends halfway", bytes.NewReader(body[:300_000]), size, -1, objectcrypto.ErrTruncated},
		{"read error midway", io.MultiReader(bytes.NewReader(body[:100_000]), iotest.ErrReader(readErr)), size, -1, readErr},
		{"read error in the tag", io.MultiReader(bytes.NewReader(body[:len(body)-5]), iotest.ErrReader(readErr)), size, -1, readErr},
		{"disk full midway", bytes.NewReader(body), size, 400_000, syscall.ENOSPC},
		{"disk full at once", bytes.NewReader(body), size, 0, syscall.ENOSPC},
		{"shorter than a tag", bytes.NewReader(body[:10]), 10, -1, envelope.ErrAuthentication},
		{"beyond the GCM limit", bytes.NewReader(body), envelope.MaxGCMPlaintextSize + envelope.TagSize + 1, -1, objectcrypto.ErrTooLarge},
	}
	for _, c := range cases {
		sp := &memSpool{budget: c.budget}
		r, err := op.SpooledReader(c.src, c.size, sp)
		if r != nil || !errors.Is(err, c.want) {
			t.Errorf("%s: reader %v, error %v; want %v", c.name, r != nil, err, c.want)
		}
		if int64(len(sp.b)) > size-envelope.TagSize {
			t.Errorf("%s: %d bytes spooled, more than the ciphertext", c.name, len(sp.b))
		}
	}
}

// A spool changed after the tag verified (the spool is trusted like memory,
// but not blindly) fails the final Read with ErrAuthentication.
func TestSpooledReaderRechecksSpool(t *testing.T) {
	data := make([]byte, 200_000)
	rand.Read(data)
	op, body := sealed(t, data)
	sp := &memSpool{budget: -1}
	r, err := op.SpooledReader(bytes.NewReader(body), int64(len(body)), sp)
	if err != nil {
		t.Fatal(err)
	}
	sp.b[1234] ^= 1
	if _, err := io.ReadAll(r); !errors.Is(err, envelope.ErrAuthentication) {
		t.Fatalf("read of a changed spool: %v, want ErrAuthentication", err)
	}
}
