//go:build !amd64 || purego

package gcmstream

// There are no kernels on this platform: the stdlib CTR and GHASH serve.
const bestKernel = pathStdlib

func newVectorCTR(key, nonce []byte) *vectorCTR { return nil }

func ctrBlocks(rk *[15 * blockSize]byte, ctr, dst, src *byte, n int) {
	panic("gcmstream: no vector AES kernel on this platform")
}

func ghashBlocks(tab *[ghashTableBlocks * blockSize]byte, y *[blockSize]byte, data *byte, n int) {
	panic("gcmstream: no vector GHASH kernel on this platform")
}

func gcmBlocks(rk *[15 * blockSize]byte, tab *[ghashTableBlocks * blockSize]byte, ctr *byte, y *[blockSize]byte, dst, src, hsrc *byte, n int) {
	panic("gcmstream: no stitched kernel on this platform")
}
