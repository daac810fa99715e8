//go:build !purego

#include "textflag.h"

// The 128-bit kernels: AES-NI and PCLMULQDQ on xmm registers, legacy SSE
// encodings only (SSSE3 for PSHUFB), for CPUs without VAES. They keep the
// contracts of the vector kernels in ctr_amd64.s and ghash_amd64.s.
//
// Memory operands of legacy SSE instructions must be 16-byte aligned, and
// neither the data nor the key schedule is: everything is loaded with
// MOVOU, and the arithmetic works on registers only.

// The bytes of a block in place except the counter's four, reversed
// (little endian in the counters array, big endian in GCM's blocks).
DATA swapMask1<>+0(SB)/8, $0x0706050403020100
DATA swapMask1<>+8(SB)/8, $0x0c0d0e0f0b0a0908
GLOBL swapMask1<>(SB), RODATA|NOPTR, $16

// 1 added to the counter word.
DATA inc1<>+0(SB)/8, $0
DATA inc1<>+8(SB)/8, $0x0000000100000000
GLOBL inc1<>(SB), RODATA|NOPTR, $16

// The bytes of a block reversed.
DATA byteReverse1<>+0(SB)/8, $0x08090a0b0c0d0e0f
DATA byteReverse1<>+8(SB)/8, $0x0001020304050607
GLOBL byteReverse1<>(SB), RODATA|NOPTR, $16

// The GCM polynomial in the bit-reflected order, for the reduction.
DATA ghashPoly1<>+0(SB)/8, $0x0000000000000001
DATA ghashPoly1<>+8(SB)/8, $0xc200000000000000
GLOBL ghashPoly1<>(SB), RODATA|NOPTR, $16

// NEXTCTR puts the counter block X9 (little-endian counter) into R,
// byte-swapped for GCM and whitened with round key 0 (X12), and advances
// X9 by one.
#define NEXTCTR(R) \
	MOVO   X9, R \
	PADDL  X11, X9 \
	PSHUFB X10, R \
	PXOR   X12, R

// ROUND8X applies one AES round with the round key at K(AX) to X0-X7.
#define ROUND8X(K) \
	MOVOU  K(AX), X8 \
	AESENC X8, X0 \
	AESENC X8, X1 \
	AESENC X8, X2 \
	AESENC X8, X3 \
	AESENC X8, X4 \
	AESENC X8, X5 \
	AESENC X8, X6 \
	AESENC X8, X7

// ROUND4X applies one AES round with the round key at K(AX) to X0-X3.
#define ROUND4X(K) \
	MOVOU  K(AX), X8 \
	AESENC X8, X0 \
	AESENC X8, X1 \
	AESENC X8, X2 \
	AESENC X8, X3

// XORSTORE XORs block R with the source block at off(SI) and stores it at
// off(DI).
#define XORSTORE(R, off) \
	MOVOU off(SI), X8 \
	PXOR  X8, R \
	MOVOU R, off(DI)

// func ctrBlocksAESNI(rk *[240]byte, ctr, dst, src *byte, n int)
//
// Same contract as ctrBlocksVAES: n×64 bytes, ctr the first four counter
// blocks in the layout of vectorCTR.counters (only the first is read; the
// kernel counts on from it). The main loop encrypts eight blocks per turn,
// interleaved so that the AES units always have independent work; the
// round keys are read from memory as each round needs them.
TEXT ·ctrBlocksAESNI(SB), NOSPLIT, $0-40
	MOVQ rk+0(FP), AX
	MOVQ ctr+8(FP), BX
	MOVQ dst+16(FP), DI
	MOVQ src+24(FP), SI
	MOVQ n+32(FP), CX

	MOVOU (BX), X9
	MOVOU swapMask1<>(SB), X10
	MOVOU inc1<>(SB), X11
	MOVOU 0(AX), X12

loop8:
	CMPQ CX, $2
	JB   loop4
	NEXTCTR(X0)
	NEXTCTR(X1)
	NEXTCTR(X2)
	NEXTCTR(X3)
	NEXTCTR(X4)
	NEXTCTR(X5)
	NEXTCTR(X6)
	NEXTCTR(X7)
	ROUND8X(16)
	ROUND8X(32)
	ROUND8X(48)
	ROUND8X(64)
	ROUND8X(80)
	ROUND8X(96)
	ROUND8X(112)
	ROUND8X(128)
	ROUND8X(144)
	ROUND8X(160)
	ROUND8X(176)
	ROUND8X(192)
	ROUND8X(208)
	MOVOU       224(AX), X8
	AESENCLAST  X8, X0
	AESENCLAST  X8, X1
	AESENCLAST  X8, X2
	AESENCLAST  X8, X3
	AESENCLAST  X8, X4
	AESENCLAST  X8, X5
	AESENCLAST  X8, X6
	AESENCLAST  X8, X7
	XORSTORE(X0, 0)
	XORSTORE(X1, 16)
	XORSTORE(X2, 32)
	XORSTORE(X3, 48)
	XORSTORE(X4, 64)
	XORSTORE(X5, 80)
	XORSTORE(X6, 96)
	XORSTORE(X7, 112)
	ADDQ $128, SI
	ADDQ $128, DI
	SUBQ $2, CX
	JMP  loop8

loop4:
	TESTQ CX, CX
	JZ    done
	NEXTCTR(X0)
	NEXTCTR(X1)
	NEXTCTR(X2)
	NEXTCTR(X3)
	ROUND4X(16)
	ROUND4X(32)
	ROUND4X(48)
	ROUND4X(64)
	ROUND4X(80)
	ROUND4X(96)
	ROUND4X(112)
	ROUND4X(128)
	ROUND4X(144)
	ROUND4X(160)
	ROUND4X(176)
	ROUND4X(192)
	ROUND4X(208)
	MOVOU      224(AX), X8
	AESENCLAST X8, X0
	AESENCLAST X8, X1
	AESENCLAST X8, X2
	AESENCLAST X8, X3
	XORSTORE(X0, 0)
	XORSTORE(X1, 16)
	XORSTORE(X2, 32)
	XORSTORE(X3, 48)

done:
	// Leave no key material or keystream in the registers.
	PXOR X0, X0
	PXOR X1, X1
	PXOR X2, X2
	PXOR X3, X3
	PXOR X4, X4
	PXOR X5, X5
	PXOR X6, X6
	PXOR X7, X7
	PXOR X8, X8
	PXOR X9, X9
	PXOR X12, X12
	RET

// The GHASH kernel on xmm registers. Register use:
//   X0        the GHASH state Y (byte-reversed)
//   X1        a data block, X2 a power of H
//   X5/X6/X7  the low, high and middle products, summed
//   X3, X4    scratch
//   X14       the byte-reversal mask, X15 the polynomial
// The powers of H are read from the table: tab+16i holds H^(16−i), so the
// eight blocks of a turn take H^8…H^1 from tab+128…tab+240. Products are
// schoolbook, as in the other kernels, and reduced once per turn.

// GHFIRST starts the sums with block off(SI) (plus the state X0) times
// the power at K(AX).
#define GHFIRST(off, K) \
	MOVOU     off(SI), X1 \
	PSHUFB    X14, X1 \
	PXOR      X0, X1 \
	MOVOU     K(AX), X2 \
	MOVO      X1, X5 \
	PCLMULQDQ $0x00, X2, X5 \
	MOVO      X1, X6 \
	PCLMULQDQ $0x11, X2, X6 \
	MOVO      X1, X7 \
	PCLMULQDQ $0x01, X2, X7 \
	PCLMULQDQ $0x10, X2, X1 \
	PXOR      X1, X7

// GHNEXT adds block off(SI) times the power at K(AX).
#define GHNEXT(off, K) \
	MOVOU     off(SI), X1 \
	PSHUFB    X14, X1 \
	MOVOU     K(AX), X2 \
	MOVO      X1, X3 \
	PCLMULQDQ $0x00, X2, X3 \
	PXOR      X3, X5 \
	MOVO      X1, X4 \
	PCLMULQDQ $0x11, X2, X4 \
	PXOR      X4, X6 \
	MOVO      X1, X3 \
	PCLMULQDQ $0x01, X2, X3 \
	PXOR      X3, X7 \
	PCLMULQDQ $0x10, X2, X1 \
	PXOR      X1, X7

// REDUCE1 combines lo (X5), mid (X7) and hi (X6) into 256 bits and reduces
// them modulo the polynomial (X15) into the new state X0, as REDUCE in
// ghash_amd64.s does: the low half is folded twice by its product with
// the polynomial's high word.
#define REDUCE1 \
	MOVO      X7, X3 \
	PSLLO     $8, X3 \
	PSRLO     $8, X7 \
	PXOR      X3, X5 \
	PXOR      X7, X6 \
	MOVO      X15, X3 \
	PCLMULQDQ $0x01, X5, X3 \
	PSHUFD    $78, X5, X5 \
	PXOR      X3, X5 \
	MOVO      X15, X3 \
	PCLMULQDQ $0x01, X5, X3 \
	PSHUFD    $78, X5, X5 \
	PXOR      X3, X5 \
	PXOR      X6, X5 \
	MOVO      X5, X0

// func ghashBlocksPCLMUL(tab *[256]byte, y *[16]byte, data *byte, n int)
//
// Same contract as ghashBlocks512: absorbs n 16-byte blocks into y.
TEXT ·ghashBlocksPCLMUL(SB), NOSPLIT, $0-32
	MOVQ tab+0(FP), AX
	MOVQ y+8(FP), BX
	MOVQ data+16(FP), SI
	MOVQ n+24(FP), CX

	MOVOU  byteReverse1<>(SB), X14
	MOVOU  ghashPoly1<>(SB), X15
	MOVOU  (BX), X0
	PSHUFB X14, X0

loop8:
	CMPQ CX, $8
	JB   loop1
	GHFIRST(0, 128)
	GHNEXT(16, 144)
	GHNEXT(32, 160)
	GHNEXT(48, 176)
	GHNEXT(64, 192)
	GHNEXT(80, 208)
	GHNEXT(96, 224)
	GHNEXT(112, 240)
	REDUCE1
	ADDQ $128, SI
	SUBQ $8, CX
	JMP  loop8

loop1:
	TESTQ CX, CX
	JZ    done
	GHFIRST(0, 240)
	REDUCE1
	ADDQ $16, SI
	DECQ CX
	JMP  loop1

done:
	PSHUFB X14, X0
	MOVOU  X0, (BX)

	// Leave no hash key, state or data in the registers.
	PXOR X0, X0
	PXOR X1, X1
	PXOR X2, X2
	PXOR X3, X3
	PXOR X4, X4
	PXOR X5, X5
	PXOR X6, X6
	PXOR X7, X7
	RET
