package gcmstream

import (
	"encoding/binary"
	"math/bits"
)

// fieldElement is an element of GF(2^128) as GCM defines it, held in plain
// polynomial order: bit i of lo is the coefficient of x^i and bit i of hi the
// coefficient of x^(64+i). (GCM's byte strings store the coefficient of x^0
// in the most significant bit of the first byte; load and store convert.)
//
// Every operation here runs in constant time: no branches and no memory
// indexes depend on the values, only fixed shifts, masks and integer
// multiplications.
type fieldElement struct {
	lo, hi uint64
}

// loadElement converts a 16-byte GCM block to a field element.
func loadElement(b []byte) fieldElement {
	_ = b[15]
	return fieldElement{
		lo: bits.Reverse64(binary.BigEndian.Uint64(b[0:8])),
		hi: bits.Reverse64(binary.BigEndian.Uint64(b[8:16])),
	}
}

// store writes x as a 16-byte GCM block.
func (x fieldElement) store(b []byte) {
	_ = b[15]
	binary.BigEndian.PutUint64(b[0:8], bits.Reverse64(x.lo))
	binary.BigEndian.PutUint64(b[8:16], bits.Reverse64(x.hi))
}

func (x fieldElement) xor(y fieldElement) fieldElement {
	return fieldElement{x.lo ^ y.lo, x.hi ^ y.hi}
}

// lengthsBlock returns the GHASH length block [8·a]₆₄ ‖ [8·c]₆₄ for a bytes of
// additional data and c bytes of ciphertext.
func lengthsBlock(a, c uint64) fieldElement {
	return fieldElement{lo: bits.Reverse64(a << 3), hi: bits.Reverse64(c << 3)}
}

// Masks selecting every fourth bit, starting at bit 0, 1, 2 and 3.
const (
	m0 = 0x1111111111111111
	m1 = 0x2222222222222222
	m2 = 0x4444444444444444
	m3 = 0x8888888888888888
)

// clmulLow returns the low 64 bits of the carry-less product of x and y.
//
// Each operand is split into four sparse words holding every fourth bit. An
// integer product of two sparse words puts the number of contributing bit
// pairs at the positions of one residue class mod 4; there are at most 15
// such pairs below bit 60 and the positions in between absorb the carries,
// so the lowest bit of each count (the carry-less result) is exact for every
// bit below 64. Bits of other residue classes are masked away.
func clmulLow(x, y uint64) uint64 {
	x0, x1, x2, x3 := x&m0, x&m1, x&m2, x&m3
	y0, y1, y2, y3 := y&m0, y&m1, y&m2, y&m3
	z0 := (x0 * y0) ^ (x1 * y3) ^ (x2 * y2) ^ (x3 * y1)
	z1 := (x0 * y1) ^ (x1 * y0) ^ (x2 * y3) ^ (x3 * y2)
	z2 := (x0 * y2) ^ (x1 * y1) ^ (x2 * y0) ^ (x3 * y3)
	z3 := (x0 * y3) ^ (x1 * y2) ^ (x2 * y1) ^ (x3 * y0)
	return z0&m0 | z1&m1 | z2&m2 | z3&m3
}

// clmul returns the 128-bit carry-less product of x and y. The high half is
// the low half of the product of the bit-reversed operands, reversed back.
func clmul(x, y uint64) (lo, hi uint64) {
	lo = clmulLow(x, y)
	hi = bits.Reverse64(clmulLow(bits.Reverse64(x), bits.Reverse64(y))) >> 1
	return lo, hi
}

// mul returns x·y in GF(2^128) (Karatsuba on 64-bit halves, then reduction
// modulo x^128 + x^7 + x^2 + x + 1).
func mul(x, y fieldElement) fieldElement {
	l0, l1 := clmul(x.lo, y.lo)
	h0, h1 := clmul(x.hi, y.hi)
	c0, c1 := clmul(x.lo^x.hi, y.lo^y.hi)
	c0 ^= l0 ^ h0
	c1 ^= l1 ^ h1
	return reduce(l0, l1^c0, h0^c1, h1)
}

// square returns x² in GF(2^128). Squaring a binary polynomial spreads its
// bits apart, which is much cheaper than a general product.
func square(x fieldElement) fieldElement {
	return reduce(spread(uint32(x.lo)), spread(uint32(x.lo>>32)),
		spread(uint32(x.hi)), spread(uint32(x.hi>>32)))
}

// spread moves bit i of v to bit 2i.
func spread(v uint32) uint64 {
	x := uint64(v)
	x = (x | x<<16) & 0x0000ffff0000ffff
	x = (x | x<<8) & 0x00ff00ff00ff00ff
	x = (x | x<<4) & 0x0f0f0f0f0f0f0f0f
	x = (x | x<<2) & 0x3333333333333333
	x = (x | x<<1) & 0x5555555555555555
	return x
}

// reduce reduces the 256-bit polynomial z3:z2:z1:z0 modulo
// x^128 + x^7 + x^2 + x + 1, using x^128 ≡ x^7 + x^2 + x + 1.
func reduce(z0, z1, z2, z3 uint64) fieldElement {
	// Fold z3:z2 (times x^128) down: multiply it by x^7 + x^2 + x + 1.
	// The bits that land at x^128 and above (at most 7 of them) are
	// folded once more.
	over := z3>>63 ^ z3>>62 ^ z3>>57
	lo := z0 ^ z2 ^ z2<<1 ^ z2<<2 ^ z2<<7
	hi := z1 ^ z3 ^ (z3<<1 | z2>>63) ^ (z3<<2 | z2>>62) ^ (z3<<7 | z2>>57)
	lo ^= over ^ over<<1 ^ over<<2 ^ over<<7
	return fieldElement{lo, hi}
}

// invert returns x⁻¹ = x^(2¹²⁸−2) for x ≠ 0 (and 0 for 0), by the
// Itoh–Tsujii chain: 127 squarings and 12 multiplications.
func invert(x fieldElement) fieldElement {
	sq := func(y fieldElement, k int) fieldElement {
		for range k {
			y = square(y)
		}
		return y
	}
	// b[k] = x^(2^k − 1)
	b1 := x
	b2 := mul(sq(b1, 1), b1)
	b4 := mul(sq(b2, 2), b2)
	b8 := mul(sq(b4, 4), b4)
	b16 := mul(sq(b8, 8), b8)
	b32 := mul(sq(b16, 16), b16)
	b64 := mul(sq(b32, 32), b32)
	b96 := mul(sq(b64, 32), b32)
	b112 := mul(sq(b96, 16), b16)
	b120 := mul(sq(b112, 8), b8)
	b124 := mul(sq(b120, 4), b4)
	b126 := mul(sq(b124, 2), b2)
	b127 := mul(sq(b126, 1), b1)
	return square(b127)
}
