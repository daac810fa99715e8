//go:build !purego

package gcmstream

import (
	"encoding/binary"
	"math/bits"

	"golang.org/x/sys/cpu"
)

// hasVAES reports whether the CPU and the OS support the vector AES kernel:
// AVX-512 (F for the 512-bit registers, BW for byte shuffles) and VAES.
var hasVAES = cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VAES && cpu.X86.HasAES && cpu.X86.HasAVX

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
