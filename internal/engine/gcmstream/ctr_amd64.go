//go:build !purego

package gcmstream

import (
	"encoding/binary"
	"math/bits"

	"golang.org/x/sys/cpu"
)

// hasVAES512 reports whether the CPU and the OS support the 512-bit vector
// AES kernel: AVX-512 (F for the 512-bit registers, BW for byte shuffles)
// and VAES.
var hasVAES512 = cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VAES && cpu.X86.HasAES && cpu.X86.HasAVX

// hasVAES256 reports whether the CPU and the OS support the 256-bit vector
// AES kernel: AVX2 (with the OS saving the ymm registers, which x/sys/cpu
// checks) and VAES. x/sys/cpu reports VAES only together with AVX-512, so
// its CPUID bit (leaf 7, ECX bit 9) is read here.
var hasVAES256 = cpu.X86.HasAVX2 && cpu.X86.HasAES && cpu.X86.HasAVX && cpuid7()&(1<<9) != 0

// hasAESNI reports whether the CPU supports the 128-bit kernels: AES-NI,
// PCLMULQDQ and SSSE3 (for PSHUFB), in legacy SSE encodings that need no
// AVX. Every CPU with VAES has them too.
var hasAESNI = cpu.X86.HasAES && cpu.X86.HasPCLMULQDQ && cpu.X86.HasSSSE3

// bestKernel is the fastest kernel family this CPU supports: AVX-512,
// then 256-bit VAES, then AES-NI, then none (the stdlib). GODEBUG's
// cpu.avx512f=off, cpu.avx2=off and cpu.aes=off (which x/sys/cpu reads)
// step it down.
var bestKernel = func() kernelPath {
	switch {
	case hasVAES512 && hasVPCLMUL512:
		return pathZMM
	case hasVAES256 && hasVPCLMUL256:
		return pathYMM
	case hasAESNI:
		return pathXMM
	}
	return pathStdlib
}()

// ctrBlocks runs the CTR kernel of the family in use.
func ctrBlocks(rk *[15 * blockSize]byte, ctr, dst, src *byte, n int) {
	switch kernel {
	case pathZMM:
		ctrBlocksVAES(rk, ctr, dst, src, n)
	case pathYMM:
		ctrBlocksVAES256(rk, ctr, dst, src, n)
	default:
		ctrBlocksAESNI(rk, ctr, dst, src, n)
	}
}

// newVectorCTR returns the vector keystream for an AES-256 key, or nil.
func newVectorCTR(key, nonce []byte) *vectorCTR {
	if !hasKernels() || len(key) != 32 {
		return nil
	}
	v := &vectorCTR{}
	expandKey256(&v.rk, key)
	copy(v.nonce[:], nonce)
	return v
}

// expandKey256 computes the AES-256 key schedule (FIPS 197, 5.2) into rk,
// with SubWord done by the AES-NI instruction so that it runs in constant
// time. Words are little-endian loads of their four bytes.
func expandKey256(rk *[15 * blockSize]byte, key []byte) {
	var w [60]uint32
	for i := range 8 {
		w[i] = binary.LittleEndian.Uint32(key[4*i:])
	}
	rcon := uint32(1)
	for i := 8; i < len(w); i++ {
		t := w[i-1]
		switch i % 8 {
		case 0:
			// RotWord moves the first byte (the low one here) last.
			t = subWord(bits.RotateLeft32(t, -8)) ^ rcon
			rcon <<= 1
		case 4:
			t = subWord(t)
		}
		w[i] = w[i-8] ^ t
	}
	for i, x := range w {
		binary.LittleEndian.PutUint32(rk[4*i:], x)
	}
	clear(w[:])
}

// subWord applies the AES S-box to each byte of x.
//
//go:noescape
func subWord(x uint32) uint32

// ctrBlocksVAES XORs n×64 bytes of src with the keystream of consecutive
// counter blocks into dst (which may alias src exactly). ctr holds the
// first four counter blocks in the layout of vectorCTR.counters.
//
//go:noescape
func ctrBlocksVAES(rk *[15 * blockSize]byte, ctr, dst, src *byte, n int)

// ctrBlocksVAES256 is ctrBlocksVAES on 256-bit registers (AVX2 and VAES).
//
//go:noescape
func ctrBlocksVAES256(rk *[15 * blockSize]byte, ctr, dst, src *byte, n int)

// ctrBlocksAESNI is ctrBlocksVAES on 128-bit registers (AES-NI), eight
// blocks per turn.
//
//go:noescape
func ctrBlocksAESNI(rk *[15 * blockSize]byte, ctr, dst, src *byte, n int)

// gcmBlocksAESNI runs n turns of 128 bytes of CTR (src XOR the keystream
// from counter block ctr into dst) stitched with GHASH of the 128 bytes at
// hsrc into y (see gcm128_amd64.s).
//
//go:noescape
func gcmBlocksAESNI(rk *[15 * blockSize]byte, tab *[ghashTableBlocks * blockSize]byte, ctr *byte, y *[blockSize]byte, dst, src, hsrc *byte, n int)

// gcmBlocks is gcmBlocksAESNI, the only stitched kernel.
func gcmBlocks(rk *[15 * blockSize]byte, tab *[ghashTableBlocks * blockSize]byte, ctr *byte, y *[blockSize]byte, dst, src, hsrc *byte, n int) {
	gcmBlocksAESNI(rk, tab, ctr, y, dst, src, hsrc, n)
}

// cpuid7 returns ECX of CPUID leaf 7, subleaf 0.
func cpuid7() uint32
