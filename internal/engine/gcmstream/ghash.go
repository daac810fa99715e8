package gcmstream

import "encoding/binary"

// ghashTableBlocks is the number of blocks the vector GHASH kernel absorbs
// per turn, and the number of powers of H its table holds.
const ghashTableBlocks = 16

// vectorGHASH holds what the GHASH kernels (VPCLMULQDQ on AVX-512 or
// AVX2 registers, PCLMULQDQ on 128-bit ones) need: H^16 … H^1 in the
// kernel's representation. Where the CPU lacks them New leaves Cipher.gh
// nil and GHASH goes through the stdlib's Seal instead. Everything in it
// is secret.
type vectorGHASH struct {
	// tab[i] = H^(16−i), so that a 64-byte load of tab[4k:4k+4] gives the
	// powers for blocks 4k … 4k+3 of a 16-block turn.
	tab [ghashTableBlocks * blockSize]byte
}

// newVectorGHASH returns the kernel state for hash key h, or nil if the
// kernel is unavailable.
func newVectorGHASH(h fieldElement) *vectorGHASH {
	if !hasKernels() {
		return nil
	}
	g := &vectorGHASH{}
	p := h
	for i := ghashTableBlocks - 1; i >= 0; i-- {
		putKernelElement(g.tab[i*blockSize:], p)
		p = mul(p, h)
	}
	return g
}

// putKernelElement writes x in the form the kernel multiplies by: the GCM
// block byte-reversed, read as a little-endian 128-bit integer, times x
// modulo the GCM polynomial in that bit-reflected order (a left shift by
// one, folding the carry back with 0xc2…01). Products of a byte-reversed
// block and such a value come out byte-reversed and need no shift.
func putKernelElement(dst []byte, x fieldElement) {
	var b [blockSize]byte
	x.store(b[:])
	hi := binary.BigEndian.Uint64(b[0:8])
	lo := binary.BigEndian.Uint64(b[8:16])
	carry := hi >> 63
	hi = hi<<1 | lo>>63
	lo <<= 1
	mask := -carry // all ones if the top bit was set; no branch
	hi ^= mask & 0xc200000000000000
	lo ^= mask & 1
	binary.LittleEndian.PutUint64(dst[0:8], lo)
	binary.LittleEndian.PutUint64(dst[8:16], hi)
	clear(b[:])
}

// sum returns W = Y·H for data zero-padded to whole blocks, Y being the
// GHASH state over data from zero.
func (g *vectorGHASH) sum(h fieldElement, data []byte) fieldElement {
	var y, last [blockSize]byte
	for len(data) >= blockSize {
		full := min(len(data)&^(blockSize-1), maxKernelRun)
		ghashBlocks(&g.tab, &y, &data[0], full/blockSize)
		data = data[full:]
	}
	if len(data) > 0 {
		copy(last[:], data)
		ghashBlocks(&g.tab, &y, &last[0], 1)
	}
	w := mul(loadElement(y[:]), h)
	clear(y[:])
	clear(last[:])
	return w
}
