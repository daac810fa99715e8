package objectcrypto_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/internal/objectcrypto"
	"github.com/s3ec/s3ec-go/materials"
)

func partsKeyring(t *testing.T) materials.Keyring {
	t.Helper()
	key := make([]byte, 32)
	rand.Read(key)
	kr, err := materials.NewAESKeyring(key)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// sealInParts seals pt in parts of partSize on concurrent goroutines, in
// a shuffled order, asking for the tag from the last part's goroutine
// before the others may be done; it returns the ciphertext and tag.
func sealInParts(t *testing.T, s *objectcrypto.Sealer, pt []byte, partSize int) []byte {
	t.Helper()
	ps := s.Parts()
	n := max(1, (len(pt)+partSize-1)/partSize)
	ct := bytes.Clone(pt)
	var tag [envelope.TagSize]byte
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for _, i := range randomOrder(n) {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			off := i * partSize
			end := min(off+partSize, len(pt))
			if err := ps.Seal(i+1, int64(off), ct[off:end]); err != nil {
				errs <- err
				return
			}
			if i == n-1 {
				tg, err := ps.Tag(context.Background(), n)
				if err != nil {
					errs <- err
					return
				}
				tag = tg
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return append(ct, tag[:]...)
}

func randomOrder(n int) []int {
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	for i := n - 1; i > 0; i-- {
		j, _ := rand.Int(rand.Reader, big.NewInt(int64(i+1)))
		order[i], order[j.Int64()] = order[j.Int64()], order[i]
	}
	return order
}

// A message sealed in parts, in any order and concurrently, is the message
// the streaming sealer produces, and opens with the streaming opener and in
// parts.
func TestPartsSealAndOpen(t *testing.T) {
	kr := partsKeyring(t)
	ctx := context.Background()
	for _, size := range []int{0, 1, 16, 4096, 4096*3 + 5, 100000} {
		for _, partSize := range []int{16, 4096, 65536} {
			pt := make([]byte, size)
			rand.Read(pt)
			s, err := objectcrypto.NewSealer(ctx, kr, envelope.Policy{}, nil, int64(size))
			if err != nil {
				t.Fatal(err)
			}
			got := sealInParts(t, s, pt, partSize)
			want, err := io.ReadAll(s.Reader(bytes.NewReader(pt)))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%d bytes in parts of %d: the parts differ from the stream", size, partSize)
			}

			op, err := objectcrypto.Open(ctx, kr, objectcrypto.DecryptOptions{}, s.Envelope)
			if err != nil {
				t.Fatal(err)
			}
			ps, ok := op.Parts()
			if !ok {
				t.Fatal("a GCM object has no parts collector")
			}
			n := max(1, (size+partSize-1)/partSize)
			out := make([]byte, size)
			for _, i := range randomOrder(n) {
				off := i * partSize
				end := min(off+partSize, size)
				p, err := ps.OpenPart(i+1, int64(off))
				if err != nil {
					t.Fatal(err)
				}
				// in two pieces, as bytes arrive from the network
				mid := off + (end-off)/3
				p.Decrypt(out[off:mid], got[off:mid])
				p.Decrypt(out[mid:end], got[mid:end])
				p.Done()
			}
			if err := ps.Verify(got[size:], n); err != nil {
				t.Fatalf("%d bytes in parts of %d: %v", size, partSize, err)
			}
			if !bytes.Equal(out, pt) {
				t.Fatalf("%d bytes in parts of %d: wrong plaintext", size, partSize)
			}
			bad := bytes.Clone(got[size:])
			bad[3] ^= 1
			if err := ps.Verify(bad, n); !errors.Is(err, envelope.ErrAuthentication) {
				t.Fatalf("altered tag: %v, want ErrAuthentication", err)
			}
			op.Close()
		}
	}
}

// A part sealed again must bring the same bytes; the sums are kept from the
// first time.
func TestPartsRefuseAnotherPlaintextAtOnePosition(t *testing.T) {
	s, err := objectcrypto.NewSealer(context.Background(), partsKeyring(t), envelope.Policy{}, nil, -1)
	if err != nil {
		t.Fatal(err)
	}
	ps := s.Parts()
	a := bytes.Repeat([]byte("a"), 64)
	first := bytes.Clone(a)
	if err := ps.Seal(2, 64, first); err != nil {
		t.Fatal(err)
	}
	again := bytes.Clone(a)
	if err := ps.Seal(2, 64, again); err != nil {
		t.Fatalf("the same bytes again: %v", err)
	}
	if !bytes.Equal(first, again) {
		t.Fatal("a retry gave other ciphertext")
	}
	other := bytes.Repeat([]byte("b"), 64)
	if err := ps.Seal(2, 64, other); !errors.Is(err, objectcrypto.ErrPartConflict) {
		t.Fatalf("other bytes: %v, want ErrPartConflict", err)
	}
	shorter := bytes.Repeat([]byte("a"), 48)
	if err := ps.Seal(2, 64, shorter); !errors.Is(err, objectcrypto.ErrPartConflict) {
		t.Fatalf("a prefix: %v, want ErrPartConflict", err)
	}
	if !ps.Sealed(2) || ps.Sealed(1) || ps.Sealed(3) {
		t.Fatal("Sealed reports the wrong parts")
	}
}

// The tag waits for every part before the last, and gives up with the
// context's cause; offsets beyond the GCM limit are refused before any
// byte is encrypted.
func TestPartsTagWaitsAndLimits(t *testing.T) {
	s, err := objectcrypto.NewSealer(context.Background(), partsKeyring(t), envelope.Policy{}, nil, -1)
	if err != nil {
		t.Fatal(err)
	}
	ps := s.Parts()
	if err := ps.Seal(2, 16, make([]byte, 5)); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := ps.Tag(context.Background(), 2)
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("the tag did not wait for part 1: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	if err := ps.Seal(1, 0, make([]byte, 16)); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	cause := errors.New("upload failed")
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(cause)
	if _, err := s.Parts().Tag(ctx, 3); !errors.Is(err, cause) {
		t.Fatalf("cancelled: %v, want the cause", err)
	}
	if _, err := ps.Tag(context.Background(), 0); err == nil {
		t.Fatal("a tag over no parts")
	}
	buf := bytes.Repeat([]byte{7}, 32)
	if err := ps.Seal(9, envelope.MaxGCMPlaintextSize-16, buf); !errors.Is(err, objectcrypto.ErrTooLarge) {
		t.Fatalf("beyond the limit: %v, want ErrTooLarge", err)
	}
	if !bytes.Equal(buf, bytes.Repeat([]byte{7}, 32)) {
		t.Fatal("a refused part was encrypted")
	}
}

// Verify before every part was opened is an error, not a wait.
func TestPartsVerifyNeedsEveryPart(t *testing.T) {
	kr := partsKeyring(t)
	s, err := objectcrypto.NewSealer(context.Background(), kr, envelope.Policy{}, nil, 32)
	if err != nil {
		t.Fatal(err)
	}
	op, err := objectcrypto.Open(context.Background(), kr, objectcrypto.DecryptOptions{}, s.Envelope)
	if err != nil {
		t.Fatal(err)
	}
	defer op.Close()
	ps, _ := op.Parts()
	p, err := ps.OpenPart(2, 16)
	if err != nil {
		t.Fatal(err)
	}
	p.Decrypt(make([]byte, 16), make([]byte, 16))
	p.Done()
	if err := ps.Verify(make([]byte, 16), 2); err == nil || errors.Is(err, envelope.ErrAuthentication) {
		t.Fatalf("part 1 missing: %v, want an error that is not an authentication failure", err)
	}
}
