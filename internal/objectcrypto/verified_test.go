package objectcrypto_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"math"
	"testing"
	"testing/iotest"

	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/internal/objectcrypto"
	"github.com/s3ec/s3ec-go/materials"
)

// sealed encrypts data under a fresh AES keyring and opens it again.
func sealed(t *testing.T, data []byte) (*objectcrypto.Opener, []byte) {
	t.Helper()
	key := make([]byte, 32)
	rand.Read(key)
	kr, err := materials.NewAESKeyring(key)
	if err != nil {
		t.Fatal(err)
	}
	s, err := objectcrypto.NewSealer(context.Background(), kr, envelope.Policy{}, nil, int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(s.Reader(bytes.NewReader(data)))
	if err != nil {
		t.Fatal(err)
	}
	meta, _ := s.Envelope.Metadata()
	env, err := envelope.Decode(meta, nil)
	if err != nil {
		t.Fatal(err)
	}
	op, err := objectcrypto.Open(context.Background(), kr, objectcrypto.DecryptOptions{}, env)
	if err != nil {
		t.Fatal(err)
	}
	return op, body
}

// The verified reader returns the plaintext for every size, whatever the
// size hint says and however the body arrives.
func TestVerifiedReaderRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, 15, 16, 17, 1000, 64 << 10, 256<<10 + 3, 1<<20 + 17} {
		data := make([]byte, n)
		rand.Read(data)
		op, body := sealed(t, data)
		hints := []int64{int64(len(body)), -1, 0, int64(len(body)) / 2, int64(len(body)) + 100}
		for _, hint := range hints {
			for _, oneByte := range []bool{false, true} {
				var src io.Reader = bytes.NewReader(body)
				if oneByte {
					if n > 70000 {
						continue
					}
					src = iotest.OneByteReader(src)
				}
				r, err := op.VerifiedReader(src, int64(n), hint)
				if err != nil {
					t.Fatalf("size %d hint %d: %v", n, hint, err)
				}
				got, err := io.ReadAll(iotest.HalfReader(r))
				if err != nil || !bytes.Equal(got, data) {
					t.Fatalf("size %d hint %d one-byte %v: %d bytes, err %v", n, hint, oneByte, len(got), err)
				}
				if err := r.Close(); err != nil {
					t.Fatal(err)
				}
				if _, err := r.Read(make([]byte, 1)); err == nil {
					t.Fatal("read after Close succeeded")
				}
			}
		}
	}
}

// Limits beyond what GCM or the platform allows are clamped, not overflowed.
func TestVerifiedReaderHugeLimit(t *testing.T) {
	data := []byte("a small object under an absurd buffer limit")
	op, body := sealed(t, data)
	for _, limit := range []int64{math.MaxInt64, math.MaxInt64 - 15, 1 << 40} {
		for _, hint := range []int64{-1, int64(len(body))} {
			r, err := op.VerifiedReader(bytes.NewReader(body), limit, hint)
			if err != nil {
				t.Fatalf("limit %d hint %d: %v", limit, hint, err)
			}
			if got, err := io.ReadAll(r); err != nil || !bytes.Equal(got, data) {
				t.Fatalf("limit %d: %q, %v", limit, got, err)
			}
		}
		if pt, err := op.ReadVerified(bytes.NewReader(body), limit, int64(len(body))); err != nil || !bytes.Equal(pt, data) {
			t.Fatalf("ReadVerified, limit %d: %v", limit, err)
		}
	}
}

// Altered, truncated, extended, too large or failing bodies give a typed
// error and no reader.
func TestVerifiedReaderRefuses(t *testing.T) {
	data := make([]byte, 300_000)
	rand.Read(data)
	op, body := sealed(t, data)
	mutate := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(body)) }
	readErr := errors.New("connection reset")
	cases := []struct {
		name  string
		src   io.Reader
		limit int64
		want  error
	}{
		{"first byte flipped", bytes.NewReader(mutate(func(b []byte) []byte { b[0] ^= 1; return b })), 1 << 20, envelope.ErrAuthentication},
		{"middle byte flipped", bytes.NewReader(mutate(func(b []byte) []byte { b[150_000] ^= 0x80; return b })), 1 << 20, envelope.ErrAuthentication},
		{"tag flipped", bytes.NewReader(mutate(func(b []byte) []byte { b[len(b)-1] ^= 1; return b })), 1 << 20, envelope.ErrAuthentication},
		{"truncated by one", bytes.NewReader(body[:len(body)-1]), 1 << 20, envelope.ErrAuthentication},
		{"truncated to the tag", bytes.NewReader(body[:16]), 1 << 20, envelope.ErrAuthentication},
		{"shorter than a tag", bytes.NewReader(body[:15]), 1 << 20, envelope.ErrAuthentication},
		{"empty", bytes.NewReader(nil), 1 << 20, envelope.ErrAuthentication},
		{"one byte appended", bytes.NewReader(append(bytes.Clone(body), 0)), 1 << 20, envelope.ErrAuthentication},
		{"one byte over the limit", bytes.NewReader(body), int64(len(data)) - 1, objectcrypto.ErrTooLarge},
		{"far over the limit", bytes.NewReader(body), 1000, objectcrypto.ErrTooLarge},
		{"read error midway", io.MultiReader(bytes.NewReader(body[:100_000]), iotest.ErrReader(readErr)), 1 << 20, readErr},
		{"read error before the tag", io.MultiReader(bytes.NewReader(body[:len(body)-16]), iotest.ErrReader(readErr)), 1 << 20, readErr},
	}
	for _, c := range cases {
		for _, hint := range []int64{-1, int64(len(body))} {
			r, err := op.VerifiedReader(c.src, c.limit, hint)
			if r != nil || !errors.Is(err, c.want) {
				t.Errorf("%s (hint %d): reader %v, error %v, want %v", c.name, hint, r != nil, err, c.want)
			}
			if s, ok := c.src.(*bytes.Reader); ok {
				s.Seek(0, io.SeekStart)
			}
		}
	}
}
