package gcmstream

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"sync"
	"unsafe"

	"github.com/s3ec/s3ec-go/internal/fipsmode"
)

const (
	// MaxPlaintextSize is the largest plaintext GCM can encrypt under one
	// nonce: 2^32 − 2 blocks of 16 bytes.
	MaxPlaintextSize = 1<<36 - 32

	// TagSize is the size of the GCM authentication tag in bytes.
	TagSize = 16

	// NonceSize is the only nonce size this package accepts.
	NonceSize = 12
)

const (
	blockSize = 16

	// chunkSize is the unit of the two-pass path: CTR, then GHASH of the
	// same chunk, which is still in L1 cache. Chunks are powers of two, so
	// chaining over a whole chunk costs a single multiplication by a
	// precomputed H^(2^k).
	chunkSize = 16 << 10

	// sealChunk is the unit of the one-pass encryption path (sealRun).
	sealChunk = 64 << 10

	seal16NonceSize = 16
)

// fipsOnlyRefusal names what GODEBUG=fips140=only refuses New: the Go
// Cryptographic Module refuses GCM under a nonce generated outside it
// (cipher.NewGCM), and this engine is also GCM put together outside the
// module, so New fails with the FIPS error class rather than work around
// the refusal.
const fipsOnlyRefusal = "AES-GCM content encryption and decryption with a nonce chosen outside the Go Cryptographic Module (the S3EC content cipher)"

// ghashNonce is the fixed nonce under which the stdlib GCM serves as a GHASH
// engine. The tags it produces never leave this package.
var ghashNonce [NonceSize]byte

// Cipher holds the key schedule and the per-message constants of one GCM
// message (one key and nonce). It is safe for concurrent use: parts of the
// message can be processed on many goroutines at once.
type Cipher struct {
	block cipher.Block
	ghash cipher.AEAD // the stdlib GCM, used only to hash through Seal
	nonce [NonceSize]byte
	max   int64 // MaxPlaintextSize; lowered by tests

	// Secret values.
	h          fieldElement // H = E_K(0¹²⁸)
	tagMask    fieldElement // E_K(J0)
	ghashMask  fieldElement // E_K(ghashNonce‖1), the mask on ghash's tags
	chunkConst fieldElement // ghashMask ⊕ L(chunkSize)·H
	aadW       fieldElement // W of the additional data
	aadLen     uint64

	powOnce sync.Once
	pow     [32]fieldElement // pow[i] = H^(2^i)

	sealOnce sync.Once
	seal     *sealer // nil if the one-pass path is unavailable
	twoPass  bool    // tests: never use the one-pass path

	vec *vectorCTR   // the vector AES keystream; nil: the stdlib CTR
	gh  *vectorGHASH // the vector GHASH; nil: GHASH through the stdlib Seal
}

// sealer holds what the one-pass encryption path (Part.sealRun) needs.
// Everything in it is secret.
type sealer struct {
	aead     cipher.AEAD  // the stdlib GCM with 16-byte nonces
	hInv2    fieldElement // H⁻²
	ivTerm   fieldElement // ([0]₆₄ ‖ [128]₆₄)·H, the length block of a 16-byte IV
	lenFull  fieldElement // L(0, sealChunk)·H
	lenShort fieldElement // L(0, sealChunk−16)·H
	powShort fieldElement // H^(sealChunk/16 − 1)
}

// sealer returns the one-pass encryption state, setting it up on first use
// (a few µs, so only messages with a full sealChunk pay it). It returns
// nil if H = 0, which has no inverse (probability 2⁻¹²⁸), or if the stdlib
// refuses 16-byte nonces; encryption then stays on the two-pass path.
func (c *Cipher) sealer() *sealer {
	c.sealOnce.Do(func() {
		if c.twoPass || c.h.lo|c.h.hi == 0 {
			return
		}
		aead, err := cipher.NewGCMWithNonceSize(c.block, seal16NonceSize)
		if err != nil {
			return
		}
		hInv := invert(c.h)
		c.seal = &sealer{
			aead:     aead,
			hInv2:    square(hInv),
			ivTerm:   mul(lengthsBlock(0, seal16NonceSize), c.h),
			lenFull:  mul(lengthsBlock(0, sealChunk), c.h),
			lenShort: mul(lengthsBlock(0, sealChunk-blockSize), c.h),
			powShort: c.mulPowH(hInv, sealChunk/blockSize),
		}
	})
	return c.seal
}

// New returns a Cipher for the message encrypted with AES key key (16, 24 or
// 32 bytes), the 12-byte nonce and the additional authenticated data aad
// (which may be empty). New copies what it keeps of its arguments.
func New(key, nonce, aad []byte) (*Cipher, error) {
	if len(nonce) != NonceSize {
		return nil, errors.New("gcmstream: nonce must be 12 bytes")
	}
	if err := fipsmode.Refuse(fipsOnlyRefusal); err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, errors.New("gcmstream: key must be 16, 24 or 32 bytes")
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	// In FIPS 140-3 mode only the Go Cryptographic Module computes AES and
	// GHASH: the vector kernels are outside it (see the package docs).
	kernels := !fipsmode.Enabled()
	c := &Cipher{block: block, ghash: aead, max: MaxPlaintextSize}
	if kernels {
		c.vec = newVectorCTR(key, nonce)
	}
	copy(c.nonce[:], nonce)

	var b [blockSize]byte
	block.Encrypt(b[:], b[:])
	c.h = loadElement(b[:])
	if kernels {
		c.gh = newVectorGHASH(c.h)
	}

	copy(b[:], nonce)
	binary.BigEndian.PutUint32(b[12:], 1)
	block.Encrypt(b[:], b[:])
	c.tagMask = loadElement(b[:])

	copy(b[:], ghashNonce[:])
	binary.BigEndian.PutUint32(b[12:], 1)
	block.Encrypt(b[:], b[:])
	c.ghashMask = loadElement(b[:])
	clear(b[:])

	c.chunkConst = c.ghashMask.xor(mul(lengthsBlock(chunkSize, 0), c.h))

	if len(aad) > 0 {
		c.aadLen = uint64(len(aad))
		var s hashState
		s.update(c, aad)
		c.aadW = s.finish()
	}
	return c, nil
}

// powers returns the table of H^(2^i), computing it on first use.
func (c *Cipher) powers() *[32]fieldElement {
	c.powOnce.Do(func() {
		x := c.h
		for i := range c.pow {
			c.pow[i] = x
			x = square(x)
		}
	})
	return &c.pow
}

// mulPowH returns w·H^m. The count m is public (it follows from lengths).
func (c *Cipher) mulPowH(w fieldElement, m uint64) fieldElement {
	if m == 0 {
		return w
	}
	pow := c.powers()
	for m != 0 {
		i := bits.TrailingZeros64(m)
		w = mul(w, pow[i])
		m &= m - 1
	}
	return w
}

// hashState accumulates W = Y·H over a run of whole blocks, where Y is the
// GHASH state over those blocks starting from zero. Runs chain linearly:
// W(A‖B) = W(A)·H^blocks(B) ⊕ W(B).
type hashState struct {
	w       fieldElement
	started bool // public: whether w holds anything yet
	tag     [TagSize]byte
}

// update absorbs data, zero-padded to a whole number of blocks.
func (s *hashState) update(c *Cipher, data []byte) {
	m := uint64(len(data)+blockSize-1) / blockSize
	var x fieldElement
	if m == 1 {
		// One block: W = X·H², cheaper than a round trip through Seal.
		var b [blockSize]byte
		copy(b[:], data)
		x = mul(mul(loadElement(b[:]), c.h), c.h)
	} else if c.gh != nil {
		x = c.gh.sum(c.h, data)
	} else {
		// Seal(ε, A=data) = (Y ⊕ L)·H ⊕ mask, so W = Y·H = tag ⊕ mask ⊕ L·H.
		t := c.ghash.Seal(s.tag[:0], ghashNonce[:], nil, data)
		x = loadElement(t)
		clear(s.tag[:])
		if len(data) == chunkSize {
			x = x.xor(c.chunkConst)
		} else {
			x = x.xor(c.ghashMask).xor(mul(lengthsBlock(uint64(len(data)), 0), c.h))
		}
	}
	s.chain(c, x, m)
}

// chain appends a run of m blocks whose W is x.
func (s *hashState) chain(c *Cipher, x fieldElement, m uint64) {
	if s.started {
		s.w = c.mulPowH(s.w, m).xor(x)
	} else {
		s.w, s.started = x, true
	}
}

// finish returns W and wipes the state.
func (s *hashState) finish() fieldElement {
	w := s.w
	*s = hashState{}
	return w
}

// KeyStreamAt returns the message's CTR keystream positioned at plaintext
// byte offset, for reading ranges without authentication. XORing it with
// ciphertext from that offset yields plaintext. It panics if offset is
// negative or beyond MaxPlaintextSize.
func (c *Cipher) KeyStreamAt(offset int64) cipher.Stream {
	if offset < 0 || offset > c.max {
		panic("gcmstream: keystream offset out of range")
	}
	if c.vec != nil {
		return &vectorStream{v: c.vec, pos: offset}
	}
	var iv [blockSize]byte
	copy(iv[:], c.nonce[:])
	binary.BigEndian.PutUint32(iv[12:], uint32(2+offset/blockSize))
	s := cipher.NewCTR(c.block, iv[:])
	if r := offset % blockSize; r != 0 {
		var skip [blockSize]byte
		s.XORKeyStream(skip[:r], skip[:r])
	}
	return s
}

// Part encrypts or decrypts a contiguous piece of the message starting at a
// given offset, and accumulates the GHASH of its ciphertext. A Part either
// encrypts or decrypts, never both. It is not safe for concurrent use: use
// one Part per goroutine.
type Part struct {
	c       *Cipher
	offset  int64
	n       int64         // bytes processed
	mode    int8          // 0 unused, modeEncrypt or modeDecrypt
	onePass bool          // encrypting through GCM Seal (see sealRun)
	ctr     cipher.Stream // stdlib two-pass keystream, created on first use
	hash    hashState
	carry   [blockSize]byte // ciphertext of an unfinished block
	nc      int
	ks      [blockSize]byte // one-pass: keystream of the unfinished block
	tmp     [blockSize]byte // one-pass: counter blocks, saved bytes
	iv      [seal16NonceSize]byte
}

const (
	modeEncrypt = 1
	modeDecrypt = 2
	modeHash    = 3
)

// Part returns a Part starting at plaintext byte offset, which must be a
// multiple of 16 and at most MaxPlaintextSize.
func (c *Cipher) Part(offset int64) (*Part, error) {
	if offset < 0 || offset > c.max || offset%blockSize != 0 {
		return nil, errors.New("gcmstream: part offset must be a multiple of 16 within the message limit")
	}
	return &Part{c: c, offset: offset}, nil
}

// Encrypt encrypts src into dst and hashes the ciphertext. Calls may have
// any length; the part continues where the previous call stopped. dst must
// be at least as long as src and may alias it exactly, but must not
// overlap it otherwise; only dst[:len(src)] is written. Encrypt panics if
// the part would run past MaxPlaintextSize, or if the part was used to
// decrypt.
func (p *Part) Encrypt(dst, src []byte) {
	p.check(dst, src, modeEncrypt)
	dst = dst[:len(src)]
	for len(src) > 0 {
		pos := p.offset + p.n
		var n int
		switch {
		case p.onePass:
			n = p.sealStep(dst, src, pos)
		// With the vector CTR kernel, two passes beat one pass through
		// Seal (even with GHASH through the stdlib: 0.95× against 0.84×
		// stdlib Seal in BenchmarkGCM64MiB; the 256-bit kernels reach
		// about 1.3×), and the 128-bit kernels run CTR and GHASH
		// stitched in one pass (stitch.go). The one-pass path serves the
		// other CPUs.
		case p.c.vec == nil && pos%sealChunk == 0 && len(src) >= sealChunk && p.c.sealer() != nil:
			p.onePass = true
			continue
		default:
			n = min(len(src), chunkSize-int(pos%chunkSize))
			if s := p.c.stitchable(pos, n); s > 0 {
				n = s
				p.hash.chain(p.c, p.c.stitch(dst[:n], src[:n], pos, false), uint64(n/blockSize))
				break
			}
			p.xorKeyStream(dst[:n], src[:n], pos)
			p.absorb(dst[:n])
		}
		p.n += int64(n)
		dst, src = dst[n:], src[n:]
	}
}

// Decrypt hashes the ciphertext src and decrypts it into dst, under the
// same rules as Encrypt. The plaintext is not authenticated until the tag
// built from every part's Sum is verified.
func (p *Part) Decrypt(dst, src []byte) {
	p.check(dst, src, modeDecrypt)
	for len(src) > 0 {
		pos := p.offset + p.n
		n := min(len(src), chunkSize-int(pos%chunkSize))
		if s := p.c.stitchable(pos, n); s > 0 {
			n = s
			p.hash.chain(p.c, p.c.stitch(dst[:n], src[:n], pos, true), uint64(n/blockSize))
		} else {
			p.absorb(src[:n])
			p.xorKeyStream(dst[:n], src[:n], pos)
		}
		p.n += int64(n)
		dst, src = dst[n:], src[n:]
	}
}

// xorKeyStream XORs src with the keystream from message offset pos into
// dst: the vector CTR kernel at any offset, or the stdlib CTR stream,
// created on first use and advanced call by call (the part's calls are
// contiguous, and without the vector CTR no run bypasses the stream).
func (p *Part) xorKeyStream(dst, src []byte, pos int64) {
	if p.c.vec != nil {
		p.c.vec.xorAt(dst, src, pos)
		return
	}
	if p.ctr == nil {
		p.ctr = p.c.KeyStreamAt(pos)
	}
	p.ctr.XORKeyStream(dst, src)
}

// Hash absorbs ciphertext into the part's GHASH without decrypting it, for
// callers that verify a whole message before decrypting any of it (with
// Cipher.KeyStreamAt, once Verify has passed). Calls may have any length;
// the part continues where the previous call stopped. A part that hashes
// neither encrypts nor decrypts. Hash panics if the part would run past
// MaxPlaintextSize.
func (p *Part) Hash(ciphertext []byte) {
	p.check(ciphertext, ciphertext, modeHash)
	for len(ciphertext) > 0 {
		n := min(len(ciphertext), chunkSize-int((p.offset+p.n)%chunkSize))
		p.absorb(ciphertext[:n])
		p.n += int64(n)
		ciphertext = ciphertext[n:]
	}
}

func (p *Part) check(dst, src []byte, mode int8) {
	if p.mode != mode {
		if p.mode != 0 {
			panic("gcmstream: a part cannot mix encrypting, decrypting and hashing")
		}
		p.mode = mode
	}
	if len(dst) < len(src) {
		panic("gcmstream: output smaller than input")
	}
	if inexactOverlap(dst[:len(src)], src) {
		panic("gcmstream: invalid buffer overlap")
	}
	if int64(len(src)) > p.c.max-p.offset-p.n {
		panic("gcmstream: message too large for GCM")
	}
}

// absorb hashes ciphertext, carrying an unfinished block to the next call.
func (p *Part) absorb(b []byte) {
	if p.nc > 0 {
		k := copy(p.carry[p.nc:], b)
		p.nc += k
		b = b[k:]
		if p.nc < blockSize {
			return
		}
		p.hash.update(p.c, p.carry[:])
		p.nc = 0
	}
	if full := len(b) &^ (blockSize - 1); full > 0 {
		p.hash.update(p.c, b[:full])
		b = b[full:]
	}
	p.nc = copy(p.carry[:], b)
}

// sealStep encrypts and hashes the next piece of src at message offset pos
// in one-pass mode and returns its length.
func (p *Part) sealStep(dst, src []byte, pos int64) int {
	if p.nc > 0 {
		// Finish the unfinished block with its saved keystream.
		k := min(blockSize-p.nc, len(src))
		subtle.XORBytes(dst[:k], src[:k], p.ks[p.nc:p.nc+k])
		copy(p.carry[p.nc:], dst[:k])
		if p.nc += k; p.nc == blockSize {
			p.hash.update(p.c, p.carry[:])
			p.nc = 0
			clear(p.ks[:])
		}
		return k
	}
	if len(src) < blockSize {
		p.keyBlock(pos)
		n := subtle.XORBytes(dst, src, p.ks[:])
		p.nc = copy(p.carry[:], dst[:n])
		return n
	}
	n := min(len(src)&^(blockSize-1), sealChunk-int(pos%sealChunk))
	if len(src)-n < blockSize {
		n -= blockSize // sealRun needs 16 bytes of dst after the piece
	}
	if n < 2*blockSize {
		p.keyBlock(pos)
		subtle.XORBytes(dst[:blockSize], src[:blockSize], p.ks[:])
		clear(p.ks[:])
		p.hash.update(p.c, dst[:blockSize])
		return blockSize
	}
	p.sealRun(dst, src[:n], pos)
	return n
}

// keyBlock puts the keystream block for message offset pos into p.ks.
func (p *Part) keyBlock(pos int64) {
	copy(p.ks[:], p.c.nonce[:])
	binary.BigEndian.PutUint32(p.ks[12:], uint32(2+pos/blockSize))
	p.c.block.Encrypt(p.ks[:], p.ks[:])
}

// sealRun encrypts and hashes src (whole blocks, at least two) at message
// offset pos in one pass, through the stdlib GCM with a 16-byte nonce.
//
// With a 16-byte nonce IV, GCM starts from J0 = GHASH(IV ‖ 0⁶⁴ ‖ [128]₆₄)
// = IV·H² ⊕ [128]·H. Choosing IV = (J ⊕ [128]·H)·H⁻² makes J0 = J =
// nonce‖(1 + pos/16), so Seal's counter blocks are exactly the message's.
// Its tag is (Y ⊕ L)·H ⊕ E_K(J) with Y the GHASH state over the
// ciphertext, from which W = Y·H follows as for the AAD-only case.
//
// Seal appends its (secret) tag after the ciphertext, so
// dst[len(src):len(src)+16] must belong to the call: those bytes are saved
// and restored before sealRun returns.
func (p *Part) sealRun(dst, src []byte, pos int64) {
	s := p.c.seal
	n := len(src)
	copy(p.tmp[:], p.c.nonce[:])
	binary.BigEndian.PutUint32(p.tmp[12:], uint32(1+pos/blockSize))
	mul(loadElement(p.tmp[:]).xor(s.ivTerm), s.hInv2).store(p.iv[:])
	p.c.block.Encrypt(p.tmp[:], p.tmp[:])
	mask := loadElement(p.tmp[:])

	tail := dst[n : n+blockSize]
	copy(p.tmp[:], tail)
	s.aead.Seal(dst[:0], p.iv[:], src, nil)
	x := loadElement(tail).xor(mask)
	copy(tail, p.tmp[:])
	clear(p.tmp[:])
	clear(p.iv[:])

	switch n {
	case sealChunk:
		p.hash.chain(p.c, x.xor(s.lenFull), sealChunk/blockSize)
	case sealChunk - blockSize:
		x = x.xor(s.lenShort)
		if p.hash.started {
			x = mul(p.hash.w, s.powShort).xor(x)
		}
		p.hash.w, p.hash.started = x, true
	default:
		x = x.xor(mul(lengthsBlock(0, uint64(n)), p.c.h))
		p.hash.chain(p.c, x, uint64(n/blockSize))
	}
}

// Wipe clears the part's secret state (its GHASH accumulator and carried
// bytes); take its Sum first. The part must not be used after.
func (p *Part) Wipe() { p.wipe() }

// wipe clears the part's secret state; the part must not be used after.
func (p *Part) wipe() {
	p.hash = hashState{}
	p.carry, p.ks, p.tmp = [blockSize]byte{}, [blockSize]byte{}, [blockSize]byte{}
	p.iv = [seal16NonceSize]byte{}
	p.nc = 0
}

// PartSum is the result of one Part: its offset, its length and the GHASH
// accumulator of its ciphertext. Combine the sums of all parts with
// Cipher.Tag or Cipher.Verify. The accumulator is secret (with the
// ciphertext it reveals the hash key): keep sums in memory only. Printing a
// PartSum shows only its offset and length.
type PartSum struct {
	c      *Cipher
	offset int64
	length int64
	w      fieldElement
}

// Offset returns the plaintext offset at which the part starts.
func (s PartSum) Offset() int64 { return s.offset }

// Len returns the number of bytes the part processed.
func (s PartSum) Len() int64 { return s.length }

// Equal reports whether s and o are the same part of the same message:
// one cipher, offset and length, and equal accumulators, compared in
// constant time (the accumulator is secret).
func (s PartSum) Equal(o PartSum) bool {
	var a, b [blockSize]byte
	s.w.store(a[:])
	o.w.store(b[:])
	same := subtle.ConstantTimeCompare(a[:], b[:]) == 1
	clear(a[:])
	clear(b[:])
	return same && s.c == o.c && s.offset == o.offset && s.length == o.length
}

// Sum returns the part's result. Call it after the last Encrypt or Decrypt
// of the part; it does not change the part.
func (p *Part) Sum() PartSum {
	h := p.hash
	if p.nc > 0 {
		h.update(p.c, p.carry[:p.nc])
	}
	return PartSum{c: p.c, offset: p.offset, length: p.n, w: h.finish()}
}

// Tag returns the GCM tag of the whole message from the sums of its parts,
// which must come from this Cipher, start at offset 0 and be given in order
// with no gaps or overlaps. The tag equals the one crypto/cipher's GCM Seal
// appends.
func (c *Cipher) Tag(sums ...PartSum) ([TagSize]byte, error) {
	var tag [TagSize]byte
	if len(sums) == 0 {
		return tag, errors.New("gcmstream: no parts")
	}
	s := hashState{w: c.aadW, started: c.aadLen > 0}
	var total int64
	for _, p := range sums {
		if p.c != c {
			return tag, errors.New("gcmstream: part belongs to another message")
		}
		if p.offset != total {
			return tag, errors.New("gcmstream: parts are not contiguous from offset 0")
		}
		s.chain(c, p.w, uint64(p.length+blockSize-1)/blockSize)
		total += p.length
	}
	if total > c.max {
		return tag, errors.New("gcmstream: message too large for GCM")
	}
	w := s.finish()
	t := w.xor(mul(lengthsBlock(c.aadLen, uint64(total)), c.h)).xor(c.tagMask)
	t.store(tag[:])
	return tag, nil
}

// Verify checks tag, in constant time, against the tag computed from sums
// (see Tag). It returns ErrAuthentication if they differ, and another error
// if the sums do not describe a whole message.
func (c *Cipher) Verify(tag []byte, sums ...PartSum) error {
	want, err := c.Tag(sums...)
	if err != nil {
		return err
	}
	ok := subtle.ConstantTimeCompare(want[:], tag)
	clear(want[:])
	if ok != 1 {
		return ErrAuthentication
	}
	return nil
}

// inexactOverlap reports whether x and y share memory without starting at
// the same address.
func inexactOverlap(x, y []byte) bool {
	if len(x) == 0 || len(y) == 0 {
		return false
	}
	px := uintptr(unsafe.Pointer(unsafe.SliceData(x)))
	py := uintptr(unsafe.Pointer(unsafe.SliceData(y)))
	if px == py {
		return false
	}
	return px < py+uintptr(len(y)) && py < px+uintptr(len(x))
}

// Format prints only the public part of a PartSum, whatever the verb.
func (s PartSum) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, "gcmstream.PartSum{offset: %d, len: %d}", s.offset, s.length)
}

// Format prints a placeholder, never the Cipher's secret values.
func (c *Cipher) Format(f fmt.State, verb rune) { fmt.Fprint(f, "gcmstream.Cipher{…}") }

// Format prints a placeholder, never the Part's secret state.
func (p *Part) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, "gcmstream.Part{offset: %d, processed: %d}", p.offset, p.n)
}
