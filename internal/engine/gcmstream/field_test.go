package gcmstream

import (
	"math/rand/v2"
	"testing"
)

// refMul is the bit-by-bit multiplication of NIST SP 800-38D, Algorithm 1,
// on 16-byte blocks. It is slow and branches on data: test use only.
func refMul(x, y [16]byte) [16]byte {
	var z, v [16]byte
	v = y
	for i := 0; i < 128; i++ {
		if x[i/8]>>(7-i%8)&1 == 1 {
			for j := range z {
				z[j] ^= v[j]
			}
		}
		lsb := v[15] & 1
		for j := 15; j > 0; j-- {
			v[j] = v[j]>>1 | v[j-1]<<7
		}
		v[0] >>= 1
		if lsb == 1 {
			v[0] ^= 0xe1
		}
	}
	return z
}

func refClmul(x, y uint64) (lo, hi uint64) {
	for i := 0; i < 64; i++ {
		if y>>i&1 == 1 {
			lo ^= x << i
			if i > 0 {
				hi ^= x >> (64 - i)
			}
		}
	}
	return lo, hi
}

func randBlock(rng *rand.Rand) (b [16]byte) {
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

func TestClmul(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	cases := [][2]uint64{{0, 0}, {^uint64(0), ^uint64(0)}, {1 << 63, 1 << 63}, {1, ^uint64(0)}}
	for range 20000 {
		cases = append(cases, [2]uint64{rng.Uint64(), rng.Uint64()})
		// Dense operands stress the carry bound of the sparse products.
		cases = append(cases, [2]uint64{^uint64(0) >> rng.IntN(8), ^uint64(0) << rng.IntN(8)})
	}
	for _, c := range cases {
		lo, hi := clmul(c[0], c[1])
		wlo, whi := refClmul(c[0], c[1])
		if lo != wlo || hi != whi {
			t.Fatalf("clmul(%#x, %#x) = %#x:%#x, want %#x:%#x", c[0], c[1], hi, lo, whi, wlo)
		}
	}
}

func TestMulMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var ones [16]byte
	for i := range ones {
		ones[i] = 0xff
	}
	pairs := [][2][16]byte{{ones, ones}, {{}, ones}, {{0x80}, ones}}
	for range 5000 {
		pairs = append(pairs, [2][16]byte{randBlock(rng), randBlock(rng)})
	}
	for _, p := range pairs {
		var got [16]byte
		mul(loadElement(p[0][:]), loadElement(p[1][:])).store(got[:])
		if want := refMul(p[0], p[1]); got != want {
			t.Fatalf("mul(%x, %x) = %x, want %x", p[0], p[1], got, want)
		}
		square(loadElement(p[0][:])).store(got[:])
		if want := refMul(p[0], p[0]); got != want {
			t.Fatalf("square(%x) = %x, want %x", p[0], got, want)
		}
	}
}

func TestLengthsBlock(t *testing.T) {
	var got [16]byte
	lengthsBlock(2, 0x123456789).store(got[:])
	want := [16]byte{7: 16, 11: 0x9, 12: 0x1a, 13: 0x2b, 14: 0x3c, 15: 0x48}
	if got != want {
		t.Fatalf("lengthsBlock = %x, want %x", got, want)
	}
}

func TestInvert(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	one := fieldElement{lo: 1}
	for _, x := range []fieldElement{{lo: 1}, {hi: 1 << 63}, {^uint64(0), ^uint64(0)}, {rng.Uint64(), rng.Uint64()}} {
		if got := mul(x, invert(x)); got != one {
			t.Fatalf("x·invert(x) = %v for x = %v", got, x)
		}
	}
	for range 200 {
		x := fieldElement{rng.Uint64(), rng.Uint64()}
		if got := mul(x, invert(x)); got != one {
			t.Fatalf("x·invert(x) = %v for x = %v", got, x)
		}
	}
}
