package objectcrypto_test

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/internal/objectcrypto"
)

// A part sealed again with other bytes is refused before any byte of it is
// encrypted: the caller's buffer still holds its plaintext, so the
// ciphertext of a second plaintext under the part's keystream (which, with
// the first, gives away both plaintexts' XOR) never exists outside Parts'
// wiped scratch. Check compares without writing the buffer at all. First
// seals of one part that race: the winner's ciphertext stands, and each
// loser's buffer holds its own plaintext or zeros, never ciphertext.
func TestAttackPartsResealChecksBeforeEncrypt(t *testing.T) {
	s, err := objectcrypto.NewSealer(context.Background(), partsKeyring(t), envelope.Policy{}, nil, -1)
	if err != nil {
		t.Fatal(err)
	}
	ps := s.Parts()
	const size = 3*32<<10 + 48 // more than one scratch chunk
	const off = size
	plain := bytes.Repeat([]byte("resend"), size/6)
	first := bytes.Clone(plain)
	if err := ps.Seal(2, off, first); err != nil {
		t.Fatal(err)
	}
	for _, at := range []int{0, size - 1} {
		changed := bytes.Clone(plain)
		changed[at] ^= 1
		mine := bytes.Clone(changed)
		if err := ps.Seal(2, off, changed); !errors.Is(err, objectcrypto.ErrPartConflict) {
			t.Fatalf("byte %d changed: %v, want ErrPartConflict", at, err)
		}
		if !bytes.Equal(changed, mine) {
			t.Fatalf("byte %d changed: the refused buffer was written (ciphertext of other bytes at the part's position)", at)
		}
		if err := ps.Check(2, off, changed); !errors.Is(err, objectcrypto.ErrPartConflict) || !bytes.Equal(changed, mine) {
			t.Fatalf("Check of byte %d changed: %v, or the buffer was written", at, err)
		}
	}
	same := bytes.Clone(plain)
	if err := ps.Check(2, off, same); err != nil || !bytes.Equal(same, plain) {
		t.Fatalf("Check of the same bytes: %v, or the buffer was written", err)
	}
	if err := ps.Seal(2, off, same); err != nil || !bytes.Equal(same, first) {
		t.Fatalf("the same bytes again: %v, or other ciphertext", err)
	}
	if err := ps.Check(3, 2*off, plain); err == nil || errors.Is(err, objectcrypto.ErrPartConflict) {
		t.Fatalf("Check of a part never sealed: %v, want an error that is not a conflict", err)
	}

	// Racing first seals of part 5, each with its own bytes.
	const racers = 8
	bufs := make([][]byte, racers)
	mine := make([][]byte, racers)
	errs := make([]error, racers)
	var wg sync.WaitGroup
	for i := range racers {
		b := bytes.Repeat([]byte{byte('a' + i)}, 4096)
		bufs[i], mine[i] = b, bytes.Clone(b)
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = ps.Seal(5, 4*off, bufs[i])
		}()
	}
	wg.Wait()
	won := 0
	for i := range racers {
		switch {
		case errs[i] == nil:
			won++
		case !errors.Is(errs[i], objectcrypto.ErrPartConflict):
			t.Fatalf("racer %d: %v", i, errs[i])
		case !bytes.Equal(bufs[i], mine[i]) && !bytes.Equal(bufs[i], make([]byte, len(bufs[i]))):
			t.Fatalf("racer %d lost, and its buffer holds ciphertext", i)
		}
	}
	if won != 1 {
		t.Fatalf("%d racers sealed part 5 with different bytes, want 1", won)
	}
}
