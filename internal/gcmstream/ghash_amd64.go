//go:build !purego

package gcmstream

import "golang.org/x/sys/cpu"

// hasVPCLMUL reports whether the CPU and the OS support the vector GHASH
// kernel: AVX-512 (F, BW for byte shuffles) and VPCLMULQDQ.
var hasVPCLMUL = cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VPCLMULQDQ && cpu.X86.HasPCLMULQDQ && cpu.X86.HasAVX && cpu.X86.HasAVX2

// ghashBlocks absorbs n 16-byte blocks of data into the GHASH state y (a
// GCM block, updated in place): y = (…((y ⊕ X₁)·H ⊕ X₂)·H … ⊕ Xₙ)·H.
//
//go:noescape
func ghashBlocks(tab *[ghashTableBlocks * blockSize]byte, y *[blockSize]byte, data *byte, n int)
