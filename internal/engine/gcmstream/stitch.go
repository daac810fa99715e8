package gcmstream

// stitchTurn is the unit of the stitched kernel: eight counter blocks.
const stitchTurn = 8 * blockSize

// stitchable returns how many bytes of a run of n at message offset pos
// the stitched kernel takes (whole turns), or 0 where it does not serve:
// it serves the 128-bit family only, whose two separate passes are slower
// than the stdlib's fused GCM; the wider families' two passes are faster.
func (c *Cipher) stitchable(pos int64, n int) int {
	if kernel != pathXMM || c.vec == nil || c.gh == nil || pos%blockSize != 0 {
		return 0
	}
	return n &^ (stitchTurn - 1)
}

// stitch encrypts (or decrypts) src, whole turns at message offset pos,
// into dst in one pass with the stitched kernel, and returns W over the
// ciphertext (see hashState). dst may alias src exactly. Callers keep
// runs within a chunk, so that each kernel call stays short.
func (c *Cipher) stitch(dst, src []byte, pos int64, decrypt bool) fieldElement {
	var ctr [keyStreamBlock]byte
	var y [blockSize]byte
	turns := len(src) / stitchTurn
	rk, tab := &c.vec.rk, &c.gh.tab
	if decrypt {
		c.vec.counters(&ctr, pos)
		gcmBlocks(rk, tab, &ctr[0], &y, &dst[0], &src[0], &src[0], turns)
	} else {
		// Encryption hashes ciphertext one turn behind: the first turn
		// is CTR alone, the last turn's ciphertext is hashed after.
		c.vec.counters(&ctr, pos)
		ctrBlocks(rk, &ctr[0], &dst[0], &src[0], stitchTurn/keyStreamBlock)
		if turns > 1 {
			c.vec.counters(&ctr, pos+stitchTurn)
			gcmBlocks(rk, tab, &ctr[0], &y, &dst[stitchTurn], &src[stitchTurn], &dst[0], turns-1)
		}
		ghashBlocks(tab, &y, &dst[len(src)-stitchTurn], stitchTurn/blockSize)
	}
	w := mul(loadElement(y[:]), c.h)
	clear(y[:])
	clear(ctr[:])
	return w
}
