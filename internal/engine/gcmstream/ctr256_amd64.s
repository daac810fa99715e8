//go:build !purego

#include "textflag.h"

// The 256-bit kernels: VAES and VPCLMULQDQ on ymm registers (VEX
// encodings, AVX2), for CPUs without AVX-512. Each register holds two
// blocks. The constants are those of ctr_amd64.s and ghash_amd64.s, for
// two lanes.

DATA swapMask2<>+0(SB)/8, $0x0706050403020100
DATA swapMask2<>+8(SB)/8, $0x0c0d0e0f0b0a0908
DATA swapMask2<>+16(SB)/8, $0x0706050403020100
DATA swapMask2<>+24(SB)/8, $0x0c0d0e0f0b0a0908
GLOBL swapMask2<>(SB), RODATA|NOPTR, $32

DATA inc4x2<>+0(SB)/8, $0
DATA inc4x2<>+8(SB)/8, $0x0000000400000000
DATA inc4x2<>+16(SB)/8, $0
DATA inc4x2<>+24(SB)/8, $0x0000000400000000
GLOBL inc4x2<>(SB), RODATA|NOPTR, $32

DATA byteReverse2<>+0(SB)/8, $0x08090a0b0c0d0e0f
DATA byteReverse2<>+8(SB)/8, $0x0001020304050607
DATA byteReverse2<>+16(SB)/8, $0x08090a0b0c0d0e0f
DATA byteReverse2<>+24(SB)/8, $0x0001020304050607
GLOBL byteReverse2<>(SB), RODATA|NOPTR, $32

DATA ghashPoly2<>+0(SB)/8, $0x0000000000000001
DATA ghashPoly2<>+8(SB)/8, $0xc200000000000000
GLOBL ghashPoly2<>(SB), RODATA|NOPTR, $16

// func cpuid7() uint32
TEXT ·cpuid7(SB), NOSPLIT, $0-4
	MOVL $7, AX
	MOVL $0, CX
	CPUID
	MOVL CX, ret+0(FP)
	RET

// ROUND8 applies one AES round with round key K (broadcast to both lanes)
// to the eight data registers.
#define ROUND8(K) \
	VBROADCASTI128 K(AX), Y15 \
	VAESENC        Y15, Y0, Y0 \
	VAESENC        Y15, Y1, Y1 \
	VAESENC        Y15, Y2, Y2 \
	VAESENC        Y15, Y3, Y3 \
	VAESENC        Y15, Y4, Y4 \
	VAESENC        Y15, Y5, Y5 \
	VAESENC        Y15, Y6, Y6 \
	VAESENC        Y15, Y7, Y7

// ROUND2 applies one AES round to Y0 and Y1.
#define ROUND2(K) \
	VBROADCASTI128 K(AX), Y15 \
	VAESENC        Y15, Y0, Y0 \
	VAESENC        Y15, Y1, Y1

// COUNTERS2 puts the next four counter blocks, byte-swapped for GCM, into
// A and B and advances the counters (Y12: blocks 0-1, Y13: blocks 2-3).
#define COUNTERS2(A, B) \
	VPSHUFB Y14, Y12, A \
	VPSHUFB Y14, Y13, B \
	VPADDD  Y11, Y12, Y12 \
	VPADDD  Y11, Y13, Y13

// func ctrBlocksVAES256(rk *[240]byte, ctr, dst, src *byte, n int)
//
// Same contract as ctrBlocksVAES: n×64 bytes, ctr the first four counter
// blocks in the layout of vectorCTR.counters. The main loop encrypts
// sixteen blocks (eight registers) per turn; the round keys are broadcast
// from memory into Y15 as each round needs them, since sixteen ymm
// registers cannot hold fifteen round keys and the data.
TEXT ·ctrBlocksVAES256(SB), NOSPLIT, $0-40
	MOVQ rk+0(FP), AX
	MOVQ ctr+8(FP), BX
	MOVQ dst+16(FP), DI
	MOVQ src+24(FP), SI
	MOVQ n+32(FP), CX

	VMOVDQU 0(BX), Y12
	VMOVDQU 32(BX), Y13
	VMOVDQU swapMask2<>(SB), Y14
	VMOVDQU inc4x2<>(SB), Y11

loop16:
	CMPQ CX, $4
	JB   loop4
	COUNTERS2(Y0, Y1)
	COUNTERS2(Y2, Y3)
	COUNTERS2(Y4, Y5)
	COUNTERS2(Y6, Y7)
	VBROADCASTI128 0(AX), Y15
	VPXOR          Y15, Y0, Y0
	VPXOR          Y15, Y1, Y1
	VPXOR          Y15, Y2, Y2
	VPXOR          Y15, Y3, Y3
	VPXOR          Y15, Y4, Y4
	VPXOR          Y15, Y5, Y5
	VPXOR          Y15, Y6, Y6
	VPXOR          Y15, Y7, Y7
	ROUND8(16)
	ROUND8(32)
	ROUND8(48)
	ROUND8(64)
	ROUND8(80)
	ROUND8(96)
	ROUND8(112)
	ROUND8(128)
	ROUND8(144)
	ROUND8(160)
	ROUND8(176)
	ROUND8(192)
	ROUND8(208)
	VBROADCASTI128 224(AX), Y15
	VAESENCLAST    Y15, Y0, Y0
	VAESENCLAST    Y15, Y1, Y1
	VAESENCLAST    Y15, Y2, Y2
	VAESENCLAST    Y15, Y3, Y3
	VAESENCLAST    Y15, Y4, Y4
	VAESENCLAST    Y15, Y5, Y5
	VAESENCLAST    Y15, Y6, Y6
	VAESENCLAST    Y15, Y7, Y7
	VPXOR          0(SI), Y0, Y0
	VPXOR          32(SI), Y1, Y1
	VPXOR          64(SI), Y2, Y2
	VPXOR          96(SI), Y3, Y3
	VPXOR          128(SI), Y4, Y4
	VPXOR          160(SI), Y5, Y5
	VPXOR          192(SI), Y6, Y6
	VPXOR          224(SI), Y7, Y7
	VMOVDQU        Y0, 0(DI)
	VMOVDQU        Y1, 32(DI)
	VMOVDQU        Y2, 64(DI)
	VMOVDQU        Y3, 96(DI)
	VMOVDQU        Y4, 128(DI)
	VMOVDQU        Y5, 160(DI)
	VMOVDQU        Y6, 192(DI)
	VMOVDQU        Y7, 224(DI)
	ADDQ           $256, SI
	ADDQ           $256, DI
	SUBQ           $4, CX
	JMP            loop16

loop4:
	TESTQ CX, CX
	JZ    done
	COUNTERS2(Y0, Y1)
	VBROADCASTI128 0(AX), Y15
	VPXOR          Y15, Y0, Y0
	VPXOR          Y15, Y1, Y1
	ROUND2(16)
	ROUND2(32)
	ROUND2(48)
	ROUND2(64)
	ROUND2(80)
	ROUND2(96)
	ROUND2(112)
	ROUND2(128)
	ROUND2(144)
	ROUND2(160)
	ROUND2(176)
	ROUND2(192)
	ROUND2(208)
	VBROADCASTI128 224(AX), Y15
	VAESENCLAST    Y15, Y0, Y0
	VAESENCLAST    Y15, Y1, Y1
	VPXOR          0(SI), Y0, Y0
	VPXOR          32(SI), Y1, Y1
	VMOVDQU        Y0, 0(DI)
	VMOVDQU        Y1, 32(DI)
	ADDQ           $64, SI
	ADDQ           $64, DI
	DECQ           CX
	JMP            loop4

done:
	// Leave no key material or keystream in the registers: VZEROALL
	// clears Y0-Y15, all this kernel uses.
	VZEROALL
	RET

// The GHASH kernel on ymm registers. Register use:
//   X0        the GHASH state Y (byte-reversed); its upper lane stays zero
//   Y1        data, two blocks
//   Y5/Y6/Y7  the low, high and middle products, summed
//   Y8-Y10    scratch
//   X13       H (kernel form), for single blocks
//   Y14       the byte-reversal mask (two lanes), X15 the polynomial
// The powers of H are read from the table in memory: tab+32k holds
// H^(16−2k), H^(15−2k).

// MUL2 starts the sums: the products of the two blocks in D with the two
// powers at off(AX).
#define MUL2(D, off) \
	VPCLMULQDQ $0x00, off(AX), D, Y5 \
	VPCLMULQDQ $0x11, off(AX), D, Y6 \
	VPCLMULQDQ $0x01, off(AX), D, Y7 \
	VPCLMULQDQ $0x10, off(AX), D, Y8 \
	VPXOR      Y8, Y7, Y7

// MULADD2 adds the products of two more blocks D with the powers at off(AX).
#define MULADD2(D, off) \
	VPCLMULQDQ $0x00, off(AX), D, Y8 \
	VPCLMULQDQ $0x11, off(AX), D, Y9 \
	VPCLMULQDQ $0x01, off(AX), D, Y10 \
	VPXOR      Y8, Y5, Y5 \
	VPCLMULQDQ $0x10, off(AX), D, Y8 \
	VPXOR      Y9, Y6, Y6 \
	VPXOR      Y10, Y7, Y7 \
	VPXOR      Y8, Y7, Y7

// LOAD2 loads two blocks from off(SI) into D, byte-reversed.
#define LOAD2(off, D) \
	VMOVDQU off(SI), D \
	VPSHUFB Y14, D, D

// FOLD2 sums the two lanes of each sum into its low lane.
#define FOLD2 \
	VEXTRACTI128 $1, Y5, X8 \
	VPXOR        X8, X5, X5 \
	VEXTRACTI128 $1, Y6, X8 \
	VPXOR        X8, X6, X6 \
	VEXTRACTI128 $1, Y7, X8 \
	VPXOR        X8, X7, X7

// REDUCE2 is ghash_amd64.s's REDUCE: lo (X5), mid (X7) and hi (X6) into
// the new state X0. Its VEX-encoded 128-bit writes clear the upper lanes.
#define REDUCE2 \
	VPSLLDQ    $8, X7, X8 \
	VPSRLDQ    $8, X7, X7 \
	VPXOR      X8, X5, X5 \
	VPXOR      X7, X6, X6 \
	VPCLMULQDQ $0x01, X5, X15, X8 \
	VPSHUFD    $78, X5, X5 \
	VPXOR      X8, X5, X5 \
	VPCLMULQDQ $0x01, X5, X15, X8 \
	VPSHUFD    $78, X5, X5 \
	VPXOR      X8, X5, X5 \
	VPXOR      X6, X5, X0

// func ghashBlocks256(tab *[256]byte, y *[16]byte, data *byte, n int)
TEXT ·ghashBlocks256(SB), NOSPLIT, $0-32
	MOVQ tab+0(FP), AX
	MOVQ y+8(FP), BX
	MOVQ data+16(FP), SI
	MOVQ n+24(FP), CX

	VMOVDQU byteReverse2<>(SB), Y14
	VMOVDQU ghashPoly2<>(SB), X15
	VMOVDQU 240(AX), X13
	VMOVDQU (BX), X0
	VPSHUFB X14, X0, X0

loop16:
	CMPQ CX, $16
	JB   loop4
	LOAD2(0, Y1)
	VPXOR Y0, Y1, Y1
	MUL2(Y1, 0)
	LOAD2(32, Y1)
	MULADD2(Y1, 32)
	LOAD2(64, Y1)
	MULADD2(Y1, 64)
	LOAD2(96, Y1)
	MULADD2(Y1, 96)
	LOAD2(128, Y1)
	MULADD2(Y1, 128)
	LOAD2(160, Y1)
	MULADD2(Y1, 160)
	LOAD2(192, Y1)
	MULADD2(Y1, 192)
	LOAD2(224, Y1)
	MULADD2(Y1, 224)
	FOLD2
	REDUCE2
	ADDQ $256, SI
	SUBQ $16, CX
	JMP  loop16

loop4:
	CMPQ CX, $4
	JB   loop1
	LOAD2(0, Y1)
	VPXOR Y0, Y1, Y1
	MUL2(Y1, 192)
	LOAD2(32, Y1)
	MULADD2(Y1, 224)
	FOLD2
	REDUCE2
	ADDQ $64, SI
	SUBQ $4, CX
	JMP  loop4

loop1:
	TESTQ CX, CX
	JZ    done
	VMOVDQU    (SI), X1
	VPSHUFB    X14, X1, X1
	VPXOR      X0, X1, X1
	VPCLMULQDQ $0x00, X13, X1, X5
	VPCLMULQDQ $0x11, X13, X1, X6
	VPCLMULQDQ $0x01, X13, X1, X7
	VPCLMULQDQ $0x10, X13, X1, X8
	VPXOR      X8, X7, X7
	REDUCE2
	ADDQ $16, SI
	DECQ CX
	JMP  loop1

done:
	VPSHUFB X14, X0, X0
	VMOVDQU X0, (BX)

	// Leave no hash key, state or data in the registers.
	VZEROALL
	RET
