//go:build !amd64 || purego

package gcmstream

// There are no vector kernels on this platform: the stdlib CTR and GHASH
// serve.
const (
	hasVAES    = false
	hasVPCLMUL = false
)

func newVectorCTR(key, nonce []byte) *vectorCTR { return nil }

func ctrBlocks(rk *[15 * blockSize]byte, ctr, dst, src *byte, n int) {
	panic("gcmstream: no vector AES kernel on this platform")
}

func ghashBlocks(tab *[ghashTableBlocks * blockSize]byte, y *[blockSize]byte, data *byte, n int) {
	panic("gcmstream: no vector GHASH kernel on this platform")
}
