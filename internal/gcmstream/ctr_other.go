//go:build !amd64 || purego

package gcmstream

// hasVAES is false: there is no vector AES kernel on this platform.
const hasVAES = false

func newVectorCTR(key, nonce []byte) *vectorCTR { return nil }

func ctrBlocksVAES(rk *[15 * blockSize]byte, ctr, dst, src *byte, n int) {
	panic("gcmstream: no vector AES kernel on this platform")
}
