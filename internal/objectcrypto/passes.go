package objectcrypto

import (
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"

	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/internal/engine/gcmstream"
)

// ErrSegmentChanged is returned by [Passes.Seal] for a segment whose
// plaintext differs from the one an earlier pass sealed at its place. No
// byte of it was encrypted.
var ErrSegmentChanged = errors.New("objectcrypto: segment differs from an earlier pass")

// Passes seals the body of one new object that may be read more than once
// from its start (a request body that the SDK reads to sign it, again to
// send it, and again for every retry), one segment at a time, in place.
// Every pass must give the same plaintext, or one key and IV would encrypt
// two plaintexts, and two such ciphertexts reveal the GCM hash key. So the
// first pass that seals a segment records a MAC of its plaintext, and a
// later pass checks the segment against it before encrypting any byte of
// it; only then is it encrypted, with the keystream alone, since equal
// plaintext gives the ciphertext that was already hashed for the tag.
//
// The MAC is GHASH masked by AES (the GCM tag of the segment taken as
// ciphertext) under a 256-bit key drawn from crypto/rand for this body
// alone, never stored or shown: a universal hash, so a change chosen by
// someone who knows the plaintext but not the key goes unnoticed with
// probability at most (blocks+1)/2¹²⁸. The MACs stay in memory and are
// compared in constant time.
//
// A Passes is not safe for concurrent use.
type Passes struct {
	cipher  *gcmstream.Cipher
	segSize int64
	guard   *gcmstream.Cipher        // nil: a body read once, nothing to compare
	marks   [][envelope.TagSize]byte // the MAC of each segment's plaintext
	part    *gcmstream.Part          // the ciphertext's GHASH over segments 0 … next−1
	next    int                      // segments encrypted (and hashed) at least once
	tag     [envelope.TagSize]byte
	haveTag bool
}

// Passes returns the sealer of the object's body in segments of
// segmentSize bytes (a positive multiple of 16). With rewind false the
// body is read once: each segment can be sealed once only, and no MAC is
// kept.
func (s *Sealer) Passes(segmentSize int, rewind bool) (*Passes, error) {
	if segmentSize <= 0 || segmentSize%16 != 0 {
		return nil, fmt.Errorf("objectcrypto: segment size %d is not a positive multiple of 16", segmentSize)
	}
	part, err := s.cipher.Part(0)
	if err != nil {
		return nil, err
	}
	p := &Passes{cipher: s.cipher, segSize: int64(segmentSize), part: part}
	if rewind {
		var key [32]byte
		var nonce [gcmstream.NonceSize]byte
		rand.Read(key[:]) // never fails (Go 1.24)
		rand.Read(nonce[:])
		p.guard, err = gcmstream.New(key[:], nonce[:], nil)
		clear(key[:])
		if err != nil {
			return nil, err
		}
	}
	return p, nil
}

// Seal encrypts buf in place as segment seg of the body (plaintext offset
// seg × segmentSize). Every segment but the last holds segmentSize bytes;
// last says that buf is the last one (possibly empty). A pass seals
// segments 0, 1, … in order, and may stop anywhere; the next pass starts
// again at 0. A segment sealed before must bring the same plaintext:
// otherwise Seal returns [ErrSegmentChanged] and leaves buf as it was (the
// caller wipes it). The tag is ready once the last segment was sealed.
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
	if p.guard == nil {
		if seg < p.next {
			return fmt.Errorf("objectcrypto: segment %d of a body read once sealed again", seg)
		}
	} else {
		mark, err := p.mac(buf)
		if err != nil {
			return err
		}
		if seg < len(p.marks) {
			same := subtle.ConstantTimeCompare(p.marks[seg][:], mark[:]) == 1
			clear(mark[:])
			if !same {
				return ErrSegmentChanged
			}
		} else {
			p.marks = append(p.marks, mark)
		}
	}
	if seg < p.next {
		// The plaintext sealed before: its ciphertext is the one already
		// in the tag, so the keystream alone produces it.
		p.cipher.KeyStreamAt(int64(seg)*p.segSize).XORKeyStream(buf, buf)
		return nil
	}
	p.part.Encrypt(buf, buf)
	p.next++
	if last {
		tag, err := p.cipher.Tag(p.part.Sum())
		p.part.Wipe()
		if err != nil {
			return err
		}
		p.tag, p.haveTag = tag, true
	}
	return nil
}

// mac is the MAC of one segment's plaintext under the body's guard key.
func (p *Passes) mac(buf []byte) ([envelope.TagSize]byte, error) {
	gp, err := p.guard.Part(0)
	if err != nil {
		return [envelope.TagSize]byte{}, err
	}
	gp.Hash(buf)
	t, err := p.guard.Tag(gp.Sum())
	gp.Wipe()
	return t, err
}

// Tag returns the body's tag, which follows the ciphertext. It fails until
// the last segment has been sealed.
func (p *Passes) Tag() ([envelope.TagSize]byte, error) {
	if !p.haveTag {
		return [envelope.TagSize]byte{}, errors.New("objectcrypto: tag asked before the last segment was sealed")
	}
	return p.tag, nil
}

// Wipe clears the MACs, the tag and the hash state. The Passes must not be
// used after.
func (p *Passes) Wipe() {
	for i := range p.marks {
		clear(p.marks[i][:])
	}
	p.marks = nil
	clear(p.tag[:])
	p.part.Wipe()
	p.guard = nil
}

// Format prints a placeholder, never the secret state.
func (p *Passes) Format(f fmt.State, verb rune) { fmt.Fprint(f, "objectcrypto.Passes{…}") }
