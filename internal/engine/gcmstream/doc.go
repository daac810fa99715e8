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
// On CPUs with AVX2, VAES and VPCLMULQDQ but no AVX-512 (such as AMD Zen
// 3, or AVX-512 turned off), the same two kernels on 256-bit registers
// serve (ctr256_amd64.s): sixteen blocks per turn in eight registers, the
// round keys and powers of H read from memory as each step needs them,
// every register cleared (VZEROALL) before they return. x/sys/cpu reports
// VAES and VPCLMULQDQ only with AVX-512, so their CPUID bits are read
// directly. Each kernel call handles at most 64 KiB, so that goroutines
// stay preemptible.
//
// On CPUs with AES-NI and PCLMULQDQ but no VAES (Intel before Ice Lake,
// Skylake and Cascade Lake servers among them, AMD before Zen 3, some
// Atoms; or AVX2 turned off), 128-bit kernels in legacy SSE encodings
// serve (ctr128_amd64.s, gcm128_amd64.s): CTR on eight blocks per turn,
// GHASH on eight blocks per reduction, and for the readers and parts a
// stitched kernel that runs both in one pass, the AES rounds of eight
// counter blocks interleaved with the multiplications of the previous
// eight ciphertext blocks (encryption) or the current ones (decryption),
// since two separate passes on 128-bit registers are slower than the
// stdlib's fused GCM. Its counter blocks are built in general-purpose
// registers one turn ahead, so that the vector units stay with AES and
// GHASH. The kernels clear the registers and the stack frame that held
// secrets before they return.
//
// Feature detection picks the widest family the CPU has: AVX-512, then
// 256-bit VAES, then AES-NI, then the stdlib alone (kernel.go). The
// package's tests and benchmarks force the lower families on a CPU with
// better ones (GCMSTREAM_KERNEL=zmm, ymm, xmm or stdlib for
// BenchmarkGCM64MiB); nothing outside the package's tests can.
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
// # FIPS 140-3 mode
//
// When the program runs with the Go Cryptographic Module in FIPS 140-3
// mode (GODEBUG=fips140=on or only, or built with GOFIPS140;
// crypto/fips140.Enabled reports it), New never turns the vector kernels
// on: they are code outside the module. Every AES computation then runs
// in the module: the key schedule and single blocks (aes.NewCipher and
// Block.Encrypt: H, E_K(J0), the masks, the keystream of a started block),
// the CTR keystream (cipher.NewCTR), and the GHASH of every chunk, which
// the module's GCM computes (cipher.NewGCM Seal of an empty plaintext with
// the chunk as additional data; for whole 64 KiB chunks of encryption,
// cipher.NewGCMWithNonceSize Seal of the chunk under a 16-byte IV).
//
// That is not the module's AES-GCM service, and this package does not
// claim it is. The module's GCM works on whole messages in one call; a
// stream in constant memory, or parts of one message on many goroutines,
// cannot be sealed or opened by it, since its Open needs the whole
// ciphertext before it releases anything. What runs outside the module,
// in this package's Go code, is the arithmetic in GF(2¹²⁸) that turns the
// module's per-chunk results into the message's GHASH and tag (field.go:
// unmasking, the chaining W(A‖B) = W(A)·H^m ⊕ W(B), the 16-byte IVs of
// the one-pass path), with H taken out of the module to do it, and the
// constant-time comparison of the tag. The module's own service
// indicator counts the CTR calls as approved and the single-block AES and
// the GCM Seal under a nonce chosen outside it as not approved.
//
// Under GODEBUG=fips140=only the module refuses GCM under a nonce chosen
// outside it (cipher.NewGCM fails), and the S3EC format stores such a
// nonce with every object. New then fails with an error of the library's
// FIPS class (materials.ErrFIPS) that names the mode: this package does
// not work around the refusal. (A purego build cannot run in FIPS 140-3
// mode at all: the Go runtime refuses to start.)
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
