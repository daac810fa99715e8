//go:build !purego

#include "textflag.h"

// The stitched 128-bit kernel: CTR and GHASH of one run in a single pass,
// AES-NI and PCLMULQDQ interleaved so that the AES and carry-less
// multiplication units work at the same time (legacy SSE encodings, as in
// ctr128_amd64.s). The constants are those of ctr128_amd64.s.

DATA swapMaskG<>+0(SB)/8, $0x0706050403020100
DATA swapMaskG<>+8(SB)/8, $0x0c0d0e0f0b0a0908
GLOBL swapMaskG<>(SB), RODATA|NOPTR, $16

DATA byteReverseG<>+0(SB)/8, $0x08090a0b0c0d0e0f
DATA byteReverseG<>+8(SB)/8, $0x0001020304050607
GLOBL byteReverseG<>(SB), RODATA|NOPTR, $16

DATA ghashPolyG<>+0(SB)/8, $0x0000000000000001
DATA ghashPolyG<>+8(SB)/8, $0xc200000000000000
GLOBL ghashPolyG<>(SB), RODATA|NOPTR, $16

// Register use:
//   X0-X7     eight counter blocks through the AES rounds
//   X8        the round key of the step
//   X9        the GHASH state Y between turns, the low products within one
//   X10/X11   the high and middle products
//   X12       a hashed block
//   X13       a power of H
//   X14       scratch
//   X15       the byte-reversal mask
//   R10       the counter of the next turn's first block
//   R11       the last word of round key 0
// The frame holds the eight counter blocks of the next turn, already
// whitened with round key 0: their first twelve bytes never change, and
// the general-purpose registers write the last four (the counter, big
// endian, XOR the key word) one turn ahead, so that building counters
// takes none of the vector units that AES and GHASH share.

// NEXTCTR writes the last word of the frame's counter block i for the
// next turn: counter R10+i.
#define NEXTCTR(i) \
	LEAL   i(R10), R12 \
	BSWAPL R12 \
	XORL   R11, R12 \
	MOVL   R12, (16*i+12)(SP)

#define ROUND(K) \
	MOVOU  K(AX), X8 \
	AESENC X8, X0 \
	AESENC X8, X1 \
	AESENC X8, X2 \
	AESENC X8, X3 \
	AESENC X8, X4 \
	AESENC X8, X5 \
	AESENC X8, X6 \
	AESENC X8, X7

// HFIRST starts the turn's sums with block off(R8) plus the state Y, times
// the power at K(BX).
#define HFIRST(off, K) \
	MOVOU     off(R8), X12 \
	PSHUFB    X15, X12 \
	PXOR      X9, X12 \
	MOVOU     K(BX), X13 \
	MOVO      X12, X9 \
	PCLMULQDQ $0x00, X13, X9 \
	MOVO      X12, X10 \
	PCLMULQDQ $0x11, X13, X10 \
	MOVO      X12, X11 \
	PCLMULQDQ $0x01, X13, X11 \
	PCLMULQDQ $0x10, X13, X12 \
	PXOR      X12, X11

// HNEXT adds block off(R8) times the power at K(BX).
#define HNEXT(off, K) \
	MOVOU     off(R8), X12 \
	PSHUFB    X15, X12 \
	MOVOU     K(BX), X13 \
	MOVO      X12, X14 \
	PCLMULQDQ $0x00, X13, X14 \
	PXOR      X14, X9 \
	MOVO      X12, X14 \
	PCLMULQDQ $0x11, X13, X14 \
	PXOR      X14, X10 \
	MOVO      X12, X14 \
	PCLMULQDQ $0x01, X13, X14 \
	PXOR      X14, X11 \
	PCLMULQDQ $0x10, X13, X12 \
	PXOR      X12, X11

#define XORSTORE(R, off) \
	MOVOU off(SI), X8 \
	PXOR  X8, R \
	MOVOU R, off(DI)

// func gcmBlocksAESNI(rk *[240]byte, tab *[256]byte, ctr *byte, y *[16]byte, dst, src, hsrc *byte, n int)
//
// Runs n turns of 128 bytes: XORs src with the keystream of consecutive
// counter blocks from ctr (one block in the layout of vectorCTR.counters)
// into dst, and absorbs the 128 bytes at hsrc into the GHASH state y, as
// ghashBlocksPCLMUL does (tab holds the powers of H). Decryption hashes
// what it decrypts (hsrc = src); encryption hashes the previous turn's
// ciphertext (hsrc = dst − 128), which the turn before stored. Every
// turn's hash loads come before its stores, so dst may alias src exactly.
TEXT ·gcmBlocksAESNI(SB), NOSPLIT, $128-64
	MOVQ rk+0(FP), AX
	MOVQ tab+8(FP), BX
	MOVQ ctr+16(FP), DX
	MOVQ y+24(FP), R9
	MOVQ dst+32(FP), DI
	MOVQ src+40(FP), SI
	MOVQ hsrc+48(FP), R8
	MOVQ n+56(FP), CX

	MOVOU  byteReverseG<>(SB), X15
	MOVOU  (R9), X9
	PSHUFB X15, X9

	TESTQ CX, CX
	JZ    done

	// The first turn's counter blocks: the first one swapped into GCM's
	// order and whitened, copied to all eight, their last words set.
	MOVL   12(DX), R10
	MOVL   12(AX), R11
	MOVOU  (DX), X0
	MOVOU  swapMaskG<>(SB), X1
	PSHUFB X1, X0
	MOVOU  0(AX), X1
	PXOR   X1, X0
	MOVOU  X0, 0(SP)
	MOVOU  X0, 16(SP)
	MOVOU  X0, 32(SP)
	MOVOU  X0, 48(SP)
	MOVOU  X0, 64(SP)
	MOVOU  X0, 80(SP)
	MOVOU  X0, 96(SP)
	MOVOU  X0, 112(SP)
	NEXTCTR(1)
	NEXTCTR(2)
	NEXTCTR(3)
	NEXTCTR(4)
	NEXTCTR(5)
	NEXTCTR(6)
	NEXTCTR(7)
	ADDL   $8, R10

loop:
	MOVOU 0(SP), X0
	MOVOU 16(SP), X1
	MOVOU 32(SP), X2
	MOVOU 48(SP), X3
	MOVOU 64(SP), X4
	MOVOU 80(SP), X5
	MOVOU 96(SP), X6
	MOVOU 112(SP), X7
	NEXTCTR(0)
	NEXTCTR(1)
	NEXTCTR(2)
	NEXTCTR(3)
	NEXTCTR(4)
	NEXTCTR(5)
	NEXTCTR(6)
	NEXTCTR(7)
	ADDL $8, R10

	ROUND(16)
	HFIRST(0, 128)
	ROUND(32)
	HNEXT(16, 144)
	ROUND(48)
	HNEXT(32, 160)
	ROUND(64)
	HNEXT(48, 176)
	ROUND(80)
	HNEXT(64, 192)
	ROUND(96)
	HNEXT(80, 208)
	ROUND(112)
	HNEXT(96, 224)
	ROUND(128)
	HNEXT(112, 240)
	ROUND(144)
	ROUND(160)
	ROUND(176)
	ROUND(192)
	ROUND(208)
	MOVOU      224(AX), X8
	AESENCLAST X8, X0
	AESENCLAST X8, X1
	AESENCLAST X8, X2
	AESENCLAST X8, X3
	AESENCLAST X8, X4
	AESENCLAST X8, X5
	AESENCLAST X8, X6
	AESENCLAST X8, X7
	XORSTORE(X0, 0)
	XORSTORE(X1, 16)
	XORSTORE(X2, 32)
	XORSTORE(X3, 48)
	XORSTORE(X4, 64)
	XORSTORE(X5, 80)
	XORSTORE(X6, 96)
	XORSTORE(X7, 112)

	// Reduce the turn's 256-bit sum (X9 low, X11 middle, X10 high) into
	// the new state X9, as REDUCE1 in ctr128_amd64.s; X0 and X1 are free.
	MOVO      X11, X1
	PSLLO     $8, X1
	PSRLO     $8, X11
	PXOR      X1, X9
	PXOR      X11, X10
	MOVOU     ghashPolyG<>(SB), X0
	MOVO      X0, X1
	PCLMULQDQ $0x01, X9, X1
	PSHUFD    $78, X9, X9
	PXOR      X1, X9
	MOVO      X0, X1
	PCLMULQDQ $0x01, X9, X1
	PSHUFD    $78, X9, X9
	PXOR      X1, X9
	PXOR      X10, X9

	ADDQ $128, SI
	ADDQ $128, DI
	ADDQ $128, R8
	DECQ CX
	JNZ  loop

done:
	PSHUFB X15, X9
	MOVOU  X9, (R9)

	// Leave no key material, keystream, hash key, state or data in the
	// registers or the frame.
	PXOR  X0, X0
	PXOR  X1, X1
	PXOR  X2, X2
	PXOR  X3, X3
	PXOR  X4, X4
	PXOR  X5, X5
	PXOR  X6, X6
	PXOR  X7, X7
	PXOR  X8, X8
	PXOR  X9, X9
	PXOR  X10, X10
	PXOR  X11, X11
	PXOR  X12, X12
	PXOR  X13, X13
	PXOR  X14, X14
	MOVOU X0, 0(SP)
	MOVOU X0, 16(SP)
	MOVOU X0, 32(SP)
	MOVOU X0, 48(SP)
	MOVOU X0, 64(SP)
	MOVOU X0, 80(SP)
	MOVOU X0, 96(SP)
	MOVOU X0, 112(SP)
	XORL  R11, R11
	XORL  R12, R12
	RET
