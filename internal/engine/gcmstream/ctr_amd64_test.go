//go:build !purego

package gcmstream

import (
	"bytes"
	"testing"

	"github.com/s3ec/s3ec-go/internal/fipsmode"
	"golang.org/x/sys/cpu"
)

func TestVectorCTRKeySchedule(t *testing.T) {
	if !hasVAES {
		t.Skip("this CPU has no VAES/AVX-512")
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

// On a CPU with AVX-512 the 512-bit kernels serve; this runs the kernel
// comparisons and the engine's stdlib comparisons again on the 256-bit
// kernels, at random offsets, lengths and splits. On a CPU with only the
// 256-bit kernels the other tests already run them, and this repeats them.
func TestKernels256MatchStdlib(t *testing.T) {
	if !hasVAES256 || !hasVPCLMUL256 {
		t.Skip("this CPU has no VAES/VPCLMULQDQ on AVX2")
	}
	old := useZMM
	useZMM = false
	t.Cleanup(func() { useZMM = old })
	t.Run("CTR", TestVectorCTRMatchesStdlib)
	t.Run("GHASH", TestVectorGHASHMatchesStdlib)
	t.Run("Parts", TestPartsMatchStdlib)
	t.Run("Readers", TestEncryptDecryptReadersMatchStdlib)
	t.Run("Tampering", TestDecryptRejectsTampering)
}

// The kernels are chosen by what the CPU has: never the 512-bit ones
// without AVX-512, and the vector path whenever either width can run.
func TestKernelSelection(t *testing.T) {
	if hasVAES != (hasVAES512 || hasVAES256) || hasVPCLMUL != (hasVPCLMUL512 || hasVPCLMUL256) {
		t.Fatal("hasVAES/hasVPCLMUL disagree with the kernels' features")
	}
	if !cpu.X86.HasAVX512F && (hasVAES512 || hasVPCLMUL512) {
		t.Fatal("512-bit kernels without AVX-512")
	}
	if !cpu.X86.HasAVX2 && (hasVAES256 || hasVPCLMUL256) {
		t.Fatal("256-bit kernels without AVX2")
	}
	c, err := New(make([]byte, 32), make([]byte, NonceSize), nil)
	if err != nil {
		t.Fatal(err)
	}
	on := !fipsmode.Enabled() // FIPS 140-3 mode: never the kernels
	if (c.vec != nil) != (on && hasVAES) || (c.gh != nil) != (on && hasVPCLMUL) {
		t.Fatalf("New: vector CTR %v, GHASH %v; CPU: %v, %v; FIPS mode %v", c.vec != nil, c.gh != nil, hasVAES, hasVPCLMUL, !on)
	}
	t.Logf("VAES 512/256: %v/%v, VPCLMULQDQ 512/256: %v/%v", hasVAES512, hasVAES256, hasVPCLMUL512, hasVPCLMUL256)
}
