// Package gcmstream encrypts and decrypts one AES-GCM message as a stream,
// in constant memory, byte for byte as crypto/cipher's GCM Seal and Open
// with a 12-byte nonce would, for messages up to MaxPlaintextSize.
//
// A Cipher holds one message's key, nonce and additional data. It offers
// sequential readers (Cipher.EncryptReader, Cipher.UnverifiedDecryptReader)
// and, for parallel work such as multipart uploads or ranged downloads,
// Parts: a Part encrypts or decrypts a piece of the message from any
// 16-byte-aligned offset, and the PartSums of all pieces combine into the
// message's tag (Cipher.Tag, Cipher.Verify). The readers are built on Part.
// Cipher.KeyStreamAt gives the bare CTR keystream for unauthenticated range
// reads.
//
// # How it works
//
// The counter blocks are GCM's: J0 = nonce‖1, and the block at plaintext
// offset off uses nonce‖(2 + off/16). GHASH values chain by linearity,
// W(A‖B) = W(A)·H^blocks(B) ⊕ W(B), where W is the GHASH state over a run
// of blocks times H; the few multiplications in GF(2¹²⁸) this needs per
// chunk run in constant time (field.go). Every pass runs over one 16 KiB
// chunk at a time, while it is in cache.
//
// On CPUs with AVX-512, VAES and VPCLMULQDQ (such as AMD Zen 4 and Intel
// Ice Lake or later), two small assembly kernels do the bulk work: CTR on
// sixteen counter blocks per turn with the AES-256 round keys held in
// registers (ctr_amd64.s; the key schedule comes from AES-NI, in constant
// time), and GHASH on sixteen blocks per turn with one reduction
// (ghash_amd64.s; carry-less multiplication, no tables). Both clear the
// registers that held secrets before they return. Two passes through them
// run faster than the stdlib's fused Seal and Open.
//
// Elsewhere, and under the purego build tag, the stdlib does the work and
// GHASH is never a table-driven Go implementation: sealing an empty
// plaintext with additional data X gives a tag that, once unmasked, is W
// over X. Decryption runs the stdlib CTR, then GHASH through Seal.
// Encryption of whole 64 KiB chunks runs in a single pass through the
// stdlib GCM itself: a 16-byte nonce chosen so that GCM derives exactly
// the counter block the chunk needs, after which the tag Seal returns
// yields the chunk's GHASH (see sealRun in gcm.go).
//
// # Secrets
//
// H, E_K(J0), the internal tags and the PartSum accumulators are secret;
// none is ever returned or printed (the Format methods print placeholders),
// and copies are cleared once no longer needed where practical.
//
// # Unverified plaintext
//
// A streaming decrypter must release plaintext before it has seen the tag.
// UnverifiedDecryptReader says so in its name: only io.EOF from Read means
// the message is authentic, and callers must not act on the data before.
package gcmstream
