package objectcrypto

import (
	"context"
	"crypto/cipher"
	"errors"
	"fmt"
	"sync"

	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/internal/engine/gcmstream"
)

// ErrPartConflict is returned by [Parts.Seal] for a part that was sealed
// before with other bytes: two plaintexts must never be encrypted at one
// position of a message.
var ErrPartConflict = errors.New("objectcrypto: part sealed again with other bytes")

// Parts is one GCM message encrypted or decrypted in parts: each part (1,
// 2, … in message order; every part but the last a multiple of 16 bytes)
// is processed on its own, by any goroutine and in any order, and its GHASH
// sum is kept here. The tag over the whole message is computed, or
// checked, from the sums of parts 1 to the last. This is the one place
// where the parts of a multipart upload (Upload, the encrypting multipart
// API) and of a parallel download meet; the sums never leave it but
// sealed in a resume token (SealToken), as with them and the ciphertext
// anyone recovers the hash key.
//
// A Parts is safe for concurrent use.
type Parts struct {
	cipher *gcmstream.Cipher
	token  cipher.AEAD // seals and opens resume tokens; nil: not resumable

	mu      sync.Mutex
	sums    []gcmstream.PartSum // by part number − 1
	have    []bool
	changed chan struct{} // closed and replaced when a sum arrives
}

// Parts returns the collector for sealing the object's body in parts.
func (s *Sealer) Parts() *Parts {
	ps := newParts(s.cipher)
	ps.token = s.token
	return ps
}

// Parts returns the collector for opening the object's body in parts. It
// reports false for objects that are not GCM (CBC has no tag to combine).
func (o *Opener) Parts() (*Parts, bool) {
	if o.gcm == nil {
		return nil, false
	}
	return newParts(o.gcm), true
}

// Format prints a placeholder, never the parts' GHASH sums or the token
// key.
func (ps *Parts) Format(f fmt.State, verb rune) { fmt.Fprint(f, "objectcrypto.Parts{…}") }

func newParts(c *gcmstream.Cipher) *Parts {
	return &Parts{cipher: c, changed: make(chan struct{})}
}

// Seal encrypts buf in place as part num of the message, starting at
// plaintext offset off, and records the part's sum. A part sealed again
// must bring the same bytes, and is checked before any byte of buf is
// encrypted: otherwise Seal fails with [ErrPartConflict] and buf still
// holds the caller's plaintext (see [Parts.Check]). Two first seals of one
// part that race are both encrypted; the one that loses, if its bytes
// differ, fails with ErrPartConflict and its buf is wiped. Either way the
// ciphertext of other bytes at that position never reaches the caller.
// Offsets beyond the GCM limit fail with [ErrTooLarge].
func (ps *Parts) Seal(num int, off int64, buf []byte) error {
	if err := ps.checkRange(num, off, buf); err != nil {
		return err
	}
	if ps.Sealed(num) {
		// A re-sent part: compared first, then encrypted with the
		// keystream alone (equal plaintext at an equal offset gives the
		// ciphertext already hashed).
		if err := ps.Check(num, off, buf); err != nil {
			return err
		}
		ps.cipher.KeyStreamAt(off).XORKeyStream(buf, buf)
		return nil
	}
	p, err := ps.cipher.Part(off)
	if err != nil {
		return err
	}
	p.Encrypt(buf, buf)
	sum := p.Sum()
	p.Wipe()
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.has(num) {
		// Another Seal of this part won the race. Equal ciphertext at an
		// equal offset has an equal sum, and vice versa short of a
		// collision no one can aim for without the hash key.
		if !ps.sums[num-1].Equal(sum) {
			clear(buf) // the ciphertext of other bytes: never handed out
			return ErrPartConflict
		}
		return nil
	}
	ps.record(num, sum)
	return nil
}

// checkChunk is the size of the scratch buffer in which Check encrypts.
const checkChunk = 32 << 10

// Check reports whether buf is the plaintext part num was sealed (or
// opened, or brought in by a token) with at offset off: nil when it is,
// [ErrPartConflict] when it is not, an error when part num has no sum. It
// encrypts buf a chunk at a time into a scratch buffer of its own, which
// it wipes, to hash the ciphertext; it never writes buf. The sums are
// compared in constant time.
func (ps *Parts) Check(num int, off int64, buf []byte) error {
	if err := ps.checkRange(num, off, buf); err != nil {
		return err
	}
	ps.mu.Lock()
	have := ps.has(num)
	var want gcmstream.PartSum
	if have {
		want = ps.sums[num-1]
	}
	ps.mu.Unlock()
	if !have {
		return fmt.Errorf("objectcrypto: part %d has no sum to check against", num)
	}
	p, err := ps.cipher.Part(off)
	if err != nil {
		return err
	}
	scratch := make([]byte, min(len(buf), checkChunk))
	for rest := buf; len(rest) > 0; {
		n := min(len(rest), len(scratch))
		p.Encrypt(scratch[:n], rest[:n])
		rest = rest[n:]
	}
	clear(scratch)
	sum := p.Sum()
	p.Wipe()
	if !want.Equal(sum) {
		return ErrPartConflict
	}
	return nil
}

func (ps *Parts) checkRange(num int, off int64, buf []byte) error {
	switch {
	case num < 1:
		return fmt.Errorf("objectcrypto: part number %d", num)
	case off < 0:
		return fmt.Errorf("objectcrypto: part %d at negative offset %d", num, off)
	case off+int64(len(buf)) > envelope.MaxGCMPlaintextSize:
		return fmt.Errorf("%w: part %d ends beyond the GCM limit of %d bytes", ErrTooLarge, num, int64(envelope.MaxGCMPlaintextSize))
	}
	return nil
}

// Sealed reports whether part num has been sealed or opened.
func (ps *Parts) Sealed(num int) bool {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return ps.has(num)
}

// has reports whether part num has a sum; the caller holds ps.mu.
func (ps *Parts) has(num int) bool { return num >= 1 && num <= len(ps.have) && ps.have[num-1] }

// record keeps the sum of part num; the caller holds ps.mu.
func (ps *Parts) record(num int, sum gcmstream.PartSum) {
	if n := num - len(ps.sums); n > 0 {
		ps.sums = append(ps.sums, make([]gcmstream.PartSum, n)...)
		ps.have = append(ps.have, make([]bool, n)...)
	}
	ps.sums[num-1], ps.have[num-1] = sum, true
	close(ps.changed)
	ps.changed = make(chan struct{})
}

// Tag returns the tag of the message whose last part is last. It waits
// until parts 1 to last have all been sealed, or until ctx is done (then
// it returns ctx's cause): a caller that seals parts concurrently may ask
// for the tag as soon as the last part is sealed.
func (ps *Parts) Tag(ctx context.Context, last int) ([envelope.TagSize]byte, error) {
	sums, err := ps.wait(ctx, last)
	if err != nil {
		return [envelope.TagSize]byte{}, err
	}
	return ps.cipher.Tag(sums...)
}

// wait returns the sums of parts 1 to last once they are all there.
func (ps *Parts) wait(ctx context.Context, last int) ([]gcmstream.PartSum, error) {
	if last < 1 {
		return nil, errors.New("objectcrypto: no parts")
	}
	for {
		ps.mu.Lock()
		done := len(ps.have) >= last
		for i := 0; done && i < last; i++ {
			done = ps.have[i]
		}
		if done {
			sums := append([]gcmstream.PartSum(nil), ps.sums[:last]...)
			ps.mu.Unlock()
			return sums, nil
		}
		ch := ps.changed
		ps.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		}
	}
}

// OpenPart decrypts part num of a stored message, which starts at
// plaintext offset off, in as many calls as its bytes arrive in.
func (ps *Parts) OpenPart(num int, off int64) (*OpenPart, error) {
	if num < 1 {
		return nil, fmt.Errorf("objectcrypto: part number %d", num)
	}
	p, err := ps.cipher.Part(off)
	if err != nil {
		return nil, err
	}
	return &OpenPart{ps: ps, num: num, p: p}, nil
}

// OpenPart is one part being decrypted; see [Parts.OpenPart].
type OpenPart struct {
	ps  *Parts
	num int
	p   *gcmstream.Part
}

// Decrypt decrypts the next bytes of the part from src into dst (which may
// be src). What it returns is not authenticated until [Parts.Verify]
// succeeded: the caller must not release it before.
func (op *OpenPart) Decrypt(dst, src []byte) { op.p.Decrypt(dst, src) }

// Done records the part's sum once all its bytes were decrypted.
func (op *OpenPart) Done() {
	sum := op.p.Sum()
	op.p.Wipe()
	op.ps.mu.Lock()
	defer op.ps.mu.Unlock()
	op.ps.record(op.num, sum)
}

// Verify checks, in constant time, the stored tag of the message whose
// last part is last against the sums of parts 1 to last, which must all
// be done: [envelope.ErrAuthentication] when they differ.
func (ps *Parts) Verify(tag []byte, last int) error {
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // never wait: every part must be done already
	sums, err := ps.wait(ctx, last)
	if err != nil {
		return fmt.Errorf("objectcrypto: verify before every part was read: %d parts expected", last)
	}
	return ps.cipher.Verify(tag, sums...)
}
