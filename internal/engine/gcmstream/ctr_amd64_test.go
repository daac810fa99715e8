//go:build !purego

package gcmstream

import (
	"bytes"
	"testing"

	"github.com/s3ec/s3ec-go/internal/fipsmode"
	"golang.org/x/sys/cpu"
)

func TestVectorCTRKeySchedule(t *testing.T) {
	if !hasAESNI {
		t.Skip("this CPU has no AES-NI")
	}
	// FIPS 197 appendix A.3: the last round key of the AES-256 example.
	key := []byte{
		0x60, 0x3d, 0xeb, 0x10, 0x15, 0xca, 0x71, 0xbe, 0x2b, 0x73, 0xae, 0xf0, 0x85, 0x7d, 0x77, 0x81,
		0x1f, 0x35, 0x2c, 0x07, 0x3b, 0x61, 0x08, 0xd7, 0x2d, 0x98, 0x10, 0xa3, 0x09, 0x14, 0xdf, 0xf4,
	}
	var rk [15 * blockSize]byte
	expandKey256(&rk, key)
	want := []byte{0xfe, 0x48, 0x90, 0xd1, 0xe6, 0x18, 0x8d, 0x0b, 0x04, 0x6d, 0xf3, 0x44, 0x70, 0x6c, 0x63, 0x1e}
	if !bytes.Equal(rk[14*blockSize:], want) {
		t.Fatalf("last round key %x, want %x", rk[14*blockSize:], want)
	}
	if !bytes.Equal(rk[:32], key) {
		t.Fatal("the first two round keys are not the key")
	}
}

// The kernels are chosen by what the CPU has: never a family without its
// features, always the best one it has, and New sets them up exactly when
// there is one (and FIPS 140-3 mode is off).
func TestKernelSelection(t *testing.T) {
	if !cpu.X86.HasAVX512F && (hasVAES512 || hasVPCLMUL512) {
		t.Fatal("512-bit kernels without AVX-512")
	}
	if !cpu.X86.HasAVX2 && (hasVAES256 || hasVPCLMUL256) {
		t.Fatal("256-bit kernels without AVX2")
	}
	if hasAESNI != (cpu.X86.HasAES && cpu.X86.HasPCLMULQDQ && cpu.X86.HasSSSE3) {
		t.Fatal("128-bit kernels disagree with AES-NI, PCLMULQDQ and SSSE3")
	}
	want := pathStdlib
	switch {
	case hasVAES512 && hasVPCLMUL512:
		want = pathZMM
	case hasVAES256 && hasVPCLMUL256:
		want = pathYMM
	case hasAESNI:
		want = pathXMM
	}
	if bestKernel != want || kernel != bestKernel {
		t.Fatalf("best kernel %v, in use %v; want %v", bestKernel, kernel, want)
	}
	if want > pathStdlib && !hasAESNI {
		t.Fatal("vector kernels without AES-NI (the key schedule needs it)")
	}
	c, err := New(make([]byte, 32), make([]byte, NonceSize), nil)
	if err != nil {
		t.Fatal(err)
	}
	on := !fipsmode.Enabled() && hasKernels() // FIPS 140-3 mode: never the kernels
	if (c.vec != nil) != on || (c.gh != nil) != on {
		t.Fatalf("New: vector CTR %v, GHASH %v; kernels %v; FIPS mode %v", c.vec != nil, c.gh != nil, kernel, fipsmode.Enabled())
	}
	t.Logf("kernels: %v; VAES 512/256: %v/%v, VPCLMULQDQ 512/256: %v/%v, AES-NI: %v", kernel, hasVAES512, hasVAES256, hasVPCLMUL512, hasVPCLMUL256, hasAESNI)
}
