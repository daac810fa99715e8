//go:build !purego

package gcmstream

import "golang.org/x/sys/cpu"

// hasVPCLMUL512 reports whether the CPU and the OS support the 512-bit
// vector GHASH kernel: AVX-512 (F, BW for byte shuffles) and VPCLMULQDQ.
var hasVPCLMUL512 = cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VPCLMULQDQ && cpu.X86.HasPCLMULQDQ && cpu.X86.HasAVX && cpu.X86.HasAVX2

// hasVPCLMUL256 reports whether the CPU and the OS support the 256-bit
// GHASH kernel: AVX2 and VPCLMULQDQ (CPUID leaf 7, ECX bit 10; see
// hasVAES256).
var hasVPCLMUL256 = cpu.X86.HasAVX2 && cpu.X86.HasPCLMULQDQ && cpu.X86.HasAVX && cpuid7()&(1<<10) != 0

// ghashBlocks absorbs n 16-byte blocks of data into the GHASH state y
// with the kernel of the family in use (see kernel).
func ghashBlocks(tab *[ghashTableBlocks * blockSize]byte, y *[blockSize]byte, data *byte, n int) {
	switch kernel {
	case pathZMM:
		ghashBlocks512(tab, y, data, n)
	case pathYMM:
		ghashBlocks256(tab, y, data, n)
	default:
		ghashBlocksPCLMUL(tab, y, data, n)
	}
}

// ghashBlocks512 absorbs n 16-byte blocks of data into the GHASH state y (a
// GCM block, updated in place): y = (…((y ⊕ X₁)·H ⊕ X₂)·H … ⊕ Xₙ)·H.
//
//go:noescape
func ghashBlocks512(tab *[ghashTableBlocks * blockSize]byte, y *[blockSize]byte, data *byte, n int)

// ghashBlocks256 is ghashBlocks512 on 256-bit registers (AVX2 and
// VPCLMULQDQ).
//
//go:noescape
func ghashBlocks256(tab *[ghashTableBlocks * blockSize]byte, y *[blockSize]byte, data *byte, n int)

// ghashBlocksPCLMUL is ghashBlocks512 on 128-bit registers (PCLMULQDQ),
// eight blocks per reduction.
//
//go:noescape
func ghashBlocksPCLMUL(tab *[ghashTableBlocks * blockSize]byte, y *[blockSize]byte, data *byte, n int)
