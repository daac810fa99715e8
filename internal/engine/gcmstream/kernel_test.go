package gcmstream

import (
	"github.com/s3ec/s3ec-go/internal/fipsmode"
	"os"
	"testing"
)

// forceKernel makes the package use kernel family k for the rest of the
// test or benchmark, and skips it if the CPU cannot run k.
func forceKernel(tb testing.TB, k kernelPath) {
	tb.Helper()
	if k > bestKernel {
		tb.Skipf("this CPU cannot run the %v kernels (best: %v)", k, bestKernel)
	}
	old := kernel
	kernel = k
	tb.Cleanup(func() { kernel = old })
}

// kernelPaths returns the families this CPU can run, best first, ending
// with the stdlib (no kernels).
func kernelPaths() []kernelPath {
	var paths []kernelPath
	for k := bestKernel; k >= pathStdlib; k-- {
		paths = append(paths, k)
	}
	return paths
}

// kernelFromEnv forces the family GCMSTREAM_KERNEL names (zmm, ymm, xmm
// or stdlib), for benchmarks of one path on a CPU that has better ones.
// The variable is read here only, by the package's tests.
func kernelFromEnv(tb testing.TB) {
	name := os.Getenv("GCMSTREAM_KERNEL")
	if name == "" {
		return
	}
	for k := pathZMM; k >= pathStdlib; k-- {
		if k.String() == name {
			forceKernel(tb, k)
			return
		}
	}
	tb.Fatalf("GCMSTREAM_KERNEL=%q: want zmm, ymm, xmm or stdlib", name)
}

// Every family this CPU can run passes the engine's comparisons with the
// stdlib, at random offsets, lengths and splits: the kernels against the
// stdlib CTR and GHASH, parts (encrypt, decrypt, hash) at random splits,
// the readers over random reads, tampering, keystreams at any offset and
// part sums. The best family also runs in every other test; this runs the
// lower ones on the same machine, down to the stdlib alone.
func TestKernelPathsMatchStdlib(t *testing.T) {
	for _, k := range kernelPaths() {
		t.Run(k.String(), func(t *testing.T) {
			forceKernel(t, k)
			c, err := New(make([]byte, 32), make([]byte, NonceSize), nil)
			if err != nil {
				t.Fatal(err)
			}
			if k != pathStdlib && !fipsmode.Enabled() && (c.vec == nil || c.gh == nil) {
				t.Fatalf("kernel %v forced, but New set up CTR %v, GHASH %v", k, c.vec != nil, c.gh != nil)
			}
			if k == pathStdlib && (c.vec != nil || c.gh != nil) {
				t.Fatal("kernels set up with the stdlib path forced")
			}
			if k != pathStdlib {
				t.Run("CTR", TestVectorCTRMatchesStdlib)
				t.Run("GHASH", TestVectorGHASHMatchesStdlib)
			}
			t.Run("Stitched", TestStitchedMatchesStdlib)
			t.Run("Parts", TestPartsMatchStdlib)
			t.Run("Readers", TestEncryptDecryptReadersMatchStdlib)
			t.Run("Tampering", TestDecryptRejectsTampering)
			t.Run("KeyStreamAt", TestKeyStreamAt)
			t.Run("LastBlockCounter", TestLastBlockCounter)
			t.Run("PartSumEqual", TestPartSumEqual)
			t.Run("KnownAnswers", TestKnownAnswers)
			t.Run("OnePass", TestOnePassPathUsed)
		})
	}
}
