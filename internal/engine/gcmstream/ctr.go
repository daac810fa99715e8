package gcmstream

import (
	"crypto/subtle"
	"encoding/binary"
)

// keyStreamBlock is the size of the unit the vector CTR kernel works in:
// four counter blocks.
const keyStreamBlock = 4 * blockSize

// maxKernelRun bounds the bytes one call of a kernel processes (tens of
// microseconds), so that a goroutine in a long Read stays preemptible.
const maxKernelRun = 64 << 10

// vectorCTR is the message's AES-256 CTR keystream computed with AES
// instructions (VAES on 512- or 256-bit registers, or AES-NI on 128-bit
// ones), four to sixteen counter blocks per step. Where the CPU lacks them
// (or the key is not 256 bits, or FIPS 140-3 mode is on) New leaves
// Cipher.vec nil and the stdlib CTR serves instead. Everything in it is
// secret.
type vectorCTR struct {
	rk    [15 * blockSize]byte // the AES-256 encryption key schedule
	nonce [NonceSize]byte
}

// xorAt XORs src with the message's keystream from plaintext byte offset
// pos into dst. It keeps no state, so parts and ranges can start anywhere.
// dst must be at least as long as src; they may alias exactly.
func (v *vectorCTR) xorAt(dst, src []byte, pos int64) {
	var tmp, ctr [keyStreamBlock]byte
	if r := int(pos % blockSize); r != 0 && len(src) > 0 {
		// The rest of a started block.
		v.keyStream(&tmp, pos-int64(r))
		n := subtle.XORBytes(dst, src, tmp[r:blockSize])
		dst, src, pos = dst[n:], src[n:], pos+int64(n)
	}
	for len(src) >= keyStreamBlock {
		// At most 64 KiB per call: assembly cannot be preempted, so
		// long calls would hold up the garbage collector.
		bulk := min(len(src)&^(keyStreamBlock-1), maxKernelRun)
		v.counters(&ctr, pos)
		ctrBlocks(&v.rk, &ctr[0], &dst[0], &src[0], bulk/keyStreamBlock)
		dst, src, pos = dst[bulk:], src[bulk:], pos+int64(bulk)
	}
	if len(src) > 0 {
		v.keyStream(&tmp, pos)
		subtle.XORBytes(dst, src, tmp[:])
	}
	clear(tmp[:])
}

// keyStream writes into ks the four keystream blocks from offset pos, a
// multiple of 16.
func (v *vectorCTR) keyStream(ks *[keyStreamBlock]byte, pos int64) {
	var ctr [keyStreamBlock]byte
	v.counters(&ctr, pos)
	clear(ks[:])
	ctrBlocks(&v.rk, &ctr[0], &ks[0], &ks[0], 1)
}

// counters puts into c the four counter blocks of offset pos (a multiple of
// 16) in the kernel's layout: the nonce, then the 32-bit counter in little
// endian so that the kernel can add to it lane by lane; the kernel swaps
// the counter's bytes into GCM's big-endian order before encrypting.
// The counter wraps modulo 2^32 as GCM's inc32 does.
func (v *vectorCTR) counters(c *[keyStreamBlock]byte, pos int64) {
	ctr := uint32(2 + pos/blockSize)
	for i := range 4 {
		copy(c[i*blockSize:], v.nonce[:])
		binary.LittleEndian.PutUint32(c[i*blockSize+12:], ctr+uint32(i))
	}
}

// vectorStream is a cipher.Stream over vectorCTR, for KeyStreamAt.
type vectorStream struct {
	v   *vectorCTR
	pos int64
}

func (s *vectorStream) XORKeyStream(dst, src []byte) {
	if len(dst) < len(src) {
		panic("gcmstream: output smaller than input")
	}
	if inexactOverlap(dst[:len(src)], src) {
		panic("gcmstream: invalid buffer overlap")
	}
	s.v.xorAt(dst, src, s.pos)
	s.pos += int64(len(src))
}
