//go:build !purego

#include "textflag.h"

// Per 128-bit lane: the bytes of a block reversed.
DATA byteReverse<>+0(SB)/8, $0x08090a0b0c0d0e0f
DATA byteReverse<>+8(SB)/8, $0x0001020304050607
DATA byteReverse<>+16(SB)/8, $0x08090a0b0c0d0e0f
DATA byteReverse<>+24(SB)/8, $0x0001020304050607
DATA byteReverse<>+32(SB)/8, $0x08090a0b0c0d0e0f
DATA byteReverse<>+40(SB)/8, $0x0001020304050607
DATA byteReverse<>+48(SB)/8, $0x08090a0b0c0d0e0f
DATA byteReverse<>+56(SB)/8, $0x0001020304050607
GLOBL byteReverse<>(SB), RODATA|NOPTR, $64

// The GCM polynomial in the bit-reflected order, for the reduction.
DATA ghashPoly<>+0(SB)/8, $0x0000000000000001
DATA ghashPoly<>+8(SB)/8, $0xc200000000000000
GLOBL ghashPoly<>(SB), RODATA|NOPTR, $16

// Register use:
//   X0        the GHASH state Y (byte-reversed); its upper lanes stay zero
//   Z1-Z4     data, four blocks each
//   Z5/Z6/Z7  the low, high and middle products, summed
//   Z8-Z11    scratch
//   X13       H (kernel form), for single blocks
//   X14       the byte-reversal mask (one lane), X15 the polynomial
//   Z16-Z19   H^16…H^13, H^12…H^9, H^8…H^5, H^4…H^1
//   Z20       the byte-reversal mask (four lanes)
//
// Every multiplication is schoolbook: lo = Xl·Hl, hi = Xh·Hh and
// mid = Xl·Hh ⊕ Xh·Hl. Sums of products over a turn are reduced once.

// MUL starts the sums: the products of four blocks D with four powers K.
#define MUL(D, K) \
	VPCLMULQDQ $0x00, K, D, Z5 \
	VPCLMULQDQ $0x11, K, D, Z6 \
	VPCLMULQDQ $0x01, K, D, Z7 \
	VPCLMULQDQ $0x10, K, D, Z8 \
	VPXORQ     Z8, Z7, Z7

// MULADD adds the products of four more blocks D with powers K.
#define MULADD(D, K) \
	VPCLMULQDQ $0x00, K, D, Z8 \
	VPCLMULQDQ $0x11, K, D, Z9 \
	VPCLMULQDQ $0x01, K, D, Z10 \
	VPCLMULQDQ $0x10, K, D, Z11 \
	VPXORQ     Z8, Z5, Z5 \
	VPXORQ     Z9, Z6, Z6 \
	VPTERNLOGQ $0x96, Z11, Z10, Z7

// FOLD1 sums the four lanes of one sum into its lowest lane.
#define FOLD1(Z, Y, X) \
	VEXTRACTI64X4 $1, Z, Y8 \
	VPXOR         Y8, Y, Y \
	VEXTRACTI128  $1, Y, X8 \
	VPXOR         X8, X, X

#define FOLD \
	FOLD1(Z5, Y5, X5) \
	FOLD1(Z6, Y6, X6) \
	FOLD1(Z7, Y7, X7)

// REDUCE combines lo (X5), mid (X7) and hi (X6) into 256 bits and reduces
// them modulo the polynomial into the new state X0.
#define REDUCE \
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

// LOAD4 loads four blocks from off(SI) into D, byte-reversed.
#define LOAD4(off, D) \
	VMOVDQU64 off(SI), D \
	VPSHUFB   Z20, D, D

// func ghashBlocks512(tab *[256]byte, y *[16]byte, data *byte, n int)
TEXT ·ghashBlocks512(SB), NOSPLIT, $0-32
	MOVQ tab+0(FP), AX
	MOVQ y+8(FP), BX
	MOVQ data+16(FP), SI
	MOVQ n+24(FP), CX

	VMOVDQU64 byteReverse<>(SB), Z20
	VMOVDQU   byteReverse<>(SB), X14
	VMOVDQU   ghashPoly<>(SB), X15
	VMOVDQU64 0(AX), Z16
	VMOVDQU64 64(AX), Z17
	VMOVDQU64 128(AX), Z18
	VMOVDQU64 192(AX), Z19
	VMOVDQU   240(AX), X13
	VMOVDQU   (BX), X0
	VPSHUFB   X14, X0, X0

loop16:
	CMPQ CX, $16
	JB   loop4
	LOAD4(0, Z1)
	LOAD4(64, Z2)
	LOAD4(128, Z3)
	LOAD4(192, Z4)
	VPXORQ Z0, Z1, Z1
	MUL(Z1, Z16)
	MULADD(Z2, Z17)
	MULADD(Z3, Z18)
	MULADD(Z4, Z19)
	FOLD
	REDUCE
	ADDQ $256, SI
	SUBQ $16, CX
	JMP  loop16

loop4:
	CMPQ CX, $4
	JB   loop1
	LOAD4(0, Z1)
	VPXORQ Z0, Z1, Z1
	MUL(Z1, Z19)
	FOLD
	REDUCE
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
	REDUCE
	ADDQ $16, SI
	DECQ CX
	JMP  loop1

done:
	VPSHUFB X14, X0, X0
	VMOVDQU X0, (BX)

	// Leave no hash key, state or data in the registers.
	VPXORQ Z0, Z0, Z0
	VPXORQ Z1, Z1, Z1
	VPXORQ Z2, Z2, Z2
	VPXORQ Z3, Z3, Z3
	VPXORQ Z4, Z4, Z4
	VPXORQ Z5, Z5, Z5
	VPXORQ Z6, Z6, Z6
	VPXORQ Z7, Z7, Z7
	VPXORQ Z8, Z8, Z8
	VPXORQ Z9, Z9, Z9
	VPXORQ Z10, Z10, Z10
	VPXORQ Z11, Z11, Z11
	VPXORQ Z13, Z13, Z13
	VPXORQ Z16, Z16, Z16
	VPXORQ Z17, Z17, Z17
	VPXORQ Z18, Z18, Z18
	VPXORQ Z19, Z19, Z19
	VPXORQ Z20, Z20, Z20
	VZEROUPPER
	RET
