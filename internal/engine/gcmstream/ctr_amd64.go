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

// hasVAES reports whether one of the vector AES kernels can run.
var hasVAES = hasVAES512 || hasVAES256

// useZMM selects the 512-bit kernels where the CPU has them; otherwise
// the 256-bit ones run. Tests clear it to exercise the 256-bit kernels on
// an AVX-512 CPU.
var useZMM = true

// ctrBlocks runs the CTR kernel chosen for this CPU.
func ctrBlocks(rk *[15 * blockSize]byte, ctr, dst, src *byte, n int) {
	if useZMM && hasVAES512 {
		ctrBlocksVAES(rk, ctr, dst, src, n)
	} else {
		ctrBlocksVAES256(rk, ctr, dst, src, n)
	}
}

// newVectorCTR returns the vector keystream for an AES-256 key, or nil.
func newVectorCTR(key, nonce []byte) *vectorCTR {
	if !hasVAES || len(key) != 32 {
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

// cpuid7 returns ECX of CPUID leaf 7, subleaf 0.
func cpuid7() uint32
