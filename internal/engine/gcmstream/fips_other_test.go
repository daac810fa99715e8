//go:build !amd64 || purego

package gcmstream

import "testing"

// pretendVectorCPU does nothing: there are no vector kernels here.
func pretendVectorCPU(t *testing.T) {}
