//go:build !purego

package gcmstream

import "testing"

// pretendVectorCPU makes New believe that the CPU has what the vector
// kernels need, for the rest of the test. Callers must not let a kernel
// run on a CPU that lacks it.
func pretendVectorCPU(t *testing.T) {
	old := kernel
	kernel = pathXMM
	t.Cleanup(func() { kernel = old })
}
