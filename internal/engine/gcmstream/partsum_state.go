package gcmstream

import "errors"

// AccumulatorSize is the size of a PartSum's accumulator as
// AppendAccumulator writes it.
const AccumulatorSize = blockSize

// AppendAccumulator appends the part's secret GHASH accumulator to b. It
// is for a caller that must keep a sum beyond the life of the process (a
// resume token) and seals it with authenticated encryption under a key
// only the holder of the data key can derive: with the accumulator and the
// ciphertext anyone recovers the hash key and can forge. Never store or
// send it otherwise.
func (s PartSum) AppendAccumulator(b []byte) []byte {
	var a [blockSize]byte
	s.w.store(a[:])
	b = append(b, a[:]...)
	clear(a[:])
	return b
}

// RestoreSum returns the PartSum of this message for the part at offset
// (a multiple of 16) of length bytes whose accumulator AppendAccumulator
// wrote. The caller vouches for the values (they come from a sealed token
// of this message); RestoreSum checks only that they fit in the message.
func (c *Cipher) RestoreSum(offset, length int64, acc []byte) (PartSum, error) {
	switch {
	case len(acc) != blockSize:
		return PartSum{}, errors.New("gcmstream: accumulator must be 16 bytes")
	case offset < 0 || offset%blockSize != 0 || length < 0 || offset > c.max || length > c.max-offset:
		return PartSum{}, errors.New("gcmstream: part offset or length outside the message")
	}
	return PartSum{c: c, offset: offset, length: length, w: loadElement(acc)}, nil
}
