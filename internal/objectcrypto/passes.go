package objectcrypto

import (
	"errors"
	"fmt"

	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/internal/engine/gcmstream"
)

// ErrSegmentChanged is returned by [Passes.Seal] for a segment whose
// plaintext differs from the one an earlier pass sealed at its place. No
// byte of its ciphertext was released: Seal wiped the buffer.
var ErrSegmentChanged = errors.New("objectcrypto: segment differs from an earlier pass")

// Passes seals the body of one new object that may be read more than once
// from its start (a request body that the SDK reads to sign it, again to
// send it, and again for every retry), one segment at a time, in place.
// Every pass must give the same plaintext, or one key and IV would encrypt
// two plaintexts, and two such ciphertexts reveal the GCM hash key.
//
// So each segment is sealed as a part of its own (its ciphertext and the
// GHASH of that ciphertext under the object's hash key H, the sum the tag
// is built from), and the first pass records the segment's sum. A later
// pass seals the segment again and compares the new sum with the recorded
// one, in constant time, before the caller may read a byte of it; a
// segment that differs is wiped and refused. The check costs no hash of
// its own: the sum is the GHASH that encryption computes anyway.
//
// The check is cryptographic. For two plaintexts of one length that differ
// by D, the sums differ by GHASH_H(D), a nonzero polynomial in H of degree
// at most blocks+1: equal sums happen with probability at most
// (blocks+1)/2¹²⁸ for a D chosen without knowledge of H, and H = E_K(0¹²⁸)
// is never shown (ciphertext and tag together do not reveal it; the sums
// would, so they stay in memory and are wiped with the Passes).
//
// A Passes is not safe for concurrent use.
type Passes struct {
	cipher  *gcmstream.Cipher
	segSize int64
	rewind  bool
	sums    []gcmstream.PartSum // rewind: each segment's sum, as first sealed
	part    *gcmstream.Part     // !rewind: the ciphertext's GHASH over segments 0 … next−1
	next    int                 // segments sealed at least once
	tag     [envelope.TagSize]byte
	haveTag bool
}

// Passes returns the sealer of the object's body in segments of
// segmentSize bytes (a positive multiple of 16). With rewind false the
// body is read once: each segment can be sealed once only, and no sums are
// kept.
func (s *Sealer) Passes(segmentSize int, rewind bool) (*Passes, error) {
	if segmentSize <= 0 || segmentSize%16 != 0 {
		return nil, fmt.Errorf("objectcrypto: segment size %d is not a positive multiple of 16", segmentSize)
	}
	p := &Passes{cipher: s.cipher, segSize: int64(segmentSize), rewind: rewind}
	if !rewind {
		part, err := s.cipher.Part(0)
		if err != nil {
			return nil, err
		}
		p.part = part
	}
	return p, nil
}

// Seal encrypts buf in place as segment seg of the body (plaintext offset
// seg × segmentSize). Every segment but the last holds segmentSize bytes;
// last says that buf is the last one (possibly empty). A pass seals
// segments 0, 1, … in order, and may stop anywhere; the next pass starts
// again at 0. A segment sealed before must bring the same plaintext:
// otherwise Seal wipes buf and returns [ErrSegmentChanged]. The tag is
// ready once the last segment was sealed.
func (p *Passes) Seal(seg int, buf []byte, last bool) error {
	n := int64(len(buf))
	switch {
	case seg < 0 || seg > p.next:
		return fmt.Errorf("objectcrypto: segment %d sealed out of order (next new segment: %d)", seg, p.next)
	case n > p.segSize || (!last && n != p.segSize):
		return fmt.Errorf("objectcrypto: segment %d of %d bytes (segments hold %d)", seg, n, p.segSize)
	case int64(seg)*p.segSize+n > envelope.MaxGCMPlaintextSize:
		return fmt.Errorf("%w: segment %d ends beyond the GCM limit of %d bytes", ErrTooLarge, seg, int64(envelope.MaxGCMPlaintextSize))
	}
	if !p.rewind {
		if seg < p.next {
			return fmt.Errorf("objectcrypto: segment %d of a body read once sealed again", seg)
		}
		p.part.Encrypt(buf, buf)
		p.next++
		if last {
			return p.finish(p.part.Sum())
		}
		return nil
	}
	part, err := p.cipher.Part(int64(seg) * p.segSize)
	if err != nil {
		return err
	}
	part.Encrypt(buf, buf)
	sum := part.Sum()
	part.Wipe()
	if seg < p.next {
		if !p.sums[seg].Equal(sum) {
			clear(buf)
			return ErrSegmentChanged
		}
		return nil
	}
	p.sums = append(p.sums, sum)
	p.next++
	if last {
		return p.finish(p.sums...)
	}
	return nil
}

// finish computes the tag from the sums of the whole body.
func (p *Passes) finish(sums ...gcmstream.PartSum) error {
	tag, err := p.cipher.Tag(sums...)
	if p.part != nil {
		p.part.Wipe()
	}
	if err != nil {
		return err
	}
	p.tag, p.haveTag = tag, true
	return nil
}

// Tag returns the body's tag, which follows the ciphertext. It fails until
// the last segment has been sealed.
func (p *Passes) Tag() ([envelope.TagSize]byte, error) {
	if !p.haveTag {
		return [envelope.TagSize]byte{}, errors.New("objectcrypto: tag asked before the last segment was sealed")
	}
	return p.tag, nil
}

// Wipe clears the sums, the tag and the hash state. The Passes must not be
// used after.
func (p *Passes) Wipe() {
	clear(p.sums)
	p.sums = nil
	clear(p.tag[:])
	if p.part != nil {
		p.part.Wipe()
	}
}

// Format prints a placeholder, never the secret state.
func (p *Passes) Format(f fmt.State, verb rune) { fmt.Fprint(f, "objectcrypto.Passes{…}") }
