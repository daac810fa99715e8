//go:build !amd64 || purego

package gcmstream

import "testing"

// There is no stitched kernel here (see stitch_amd64_test.go).
func TestStitchedMatchesStdlib(t *testing.T) {
	t.Skip("no kernels on this platform")
}
