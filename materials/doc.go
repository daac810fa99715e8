// Package materials provides the keyrings that produce and unwrap the data
// keys of client-side encrypted S3 objects.
//
// Every object is encrypted under its own random 256-bit data key. A
// [Keyring] generates that key and wraps it for storage beside the object
// ([Keyring.GenerateDataKey]), and unwraps the stored key when the object is
// read ([Keyring.DecryptDataKey]). The wrapped keys are byte-compatible with
// the AWS S3 Encryption Clients for Java, .NET, Go and Python.
//
// # Choosing a keyring
//
//   - [KMSKeyring] (AWS KMS) is the right choice almost always: the key never
//     leaves KMS, every use is authorized and logged, and a per-request
//     encryption context is bound to the data key, so an object's envelope
//     cannot be swapped or edited undetected. [KMSDiscoveryKeyring] reads
//     objects without being told which KMS key wrapped them.
//   - [AESKeyring] wraps with a local 128-, 192- or 256-bit AES key using
//     AES-GCM (wrap algorithm AES/GCM). Use it when the key lives in your own
//     secret store. You are responsible for the key's protection, rotation
//     and backup: losing it loses every object.
//   - [RSAKeyring] wraps with a local RSA key pair (at least 2048 bits) using
//     RSA-OAEP (wrap algorithm RSA-OAEP-SHA1). Writers need only the public
//     key, so a service can upload objects that only the holder of the
//     private key can read. Load keys with [ParseRSAPublicKey] and
//     [ParseRSAPrivateKey].
//   - [MultiKeyring] ([NewMulti]) combines keyrings: one generator for new
//     objects and any number of others that are also tried on decryption,
//     for example during a move from a local key to KMS.
//
// The local keyrings cannot bind an encryption context: a non-empty
// EncryptionContext is refused with [ErrContextNotSupported]. What they
// store instead is a material description, a small string map chosen at
// construction (AESKeyringOptions.MaterialDescription). It is stored in
// clear and is not authenticated; it only selects the key on decryption:
// a keyring's AdditionalKeys hold older keys, each under the material
// description of the objects it wrapped, and a stored description that
// equals none of them exactly selects the default key. Rotate a local key
// by giving the new key a new description and keeping the old one in
// AdditionalKeys.
//
// The wrapping algorithms that keyrings write bind the wrapped key to the
// content suite, so a V2 (non-committing) key cannot be replayed as a V3 one: the AES-GCM wrap uses
// the suite's cipher name as additional data, the RSA wrap encrypts it
// together with the key, and KMS binds it in the encryption context.
//
// # Legacy wrapping algorithms
//
// Objects written by the legacy Java SDK v1 encryption client and by the
// AWS SDK for Go v1 may use wrapping algorithms that do not bind the data
// key to anything: AESWrap (RFC 3394) and the V1 "AES" (AES/ECB) wrap for AES
// keys, the V1 "RSA" (PKCS #1 v1.5) wrap and
// RSA/ECB/OAEPWithSHA-256AndMGF1Padding for RSA keys, and "kms" for KMS.
// Keyrings read them only when their EnableLegacyWrapping option is set, and
// otherwise refuse them with an [*envelope.PolicyError] (errors.Is
// [envelope.ErrPolicy]) naming that option, before they touch the key. They
// never write them. Turn the option on only to read or re-encrypt old
// objects: in particular, PKCS #1 v1.5 decryption can be abused as a
// decryption oracle by anyone who can submit many crafted objects and see
// whether each one fails.
//
// # Zeroing
//
// Data keys are plaintext secrets in memory. [Keyring.GenerateDataKey]
// returns a [DataKey] that the caller zeroes with [DataKey.Zero] when the
// object is written; [Keyring.DecryptDataKey] returns a slice that the
// caller zeroes with [Zero]. The keyrings in this package zero their own
// intermediate buffers (pseudo data keys, unwrap buffers) and never put key
// material in error messages. Go cannot guarantee that no copy is left
// behind (the garbage collector may move memory, and the AES key schedule
// of a wrapping key lives as long as its keyring), so zeroing limits
// exposure rather than removing it.
//
// # Errors
//
// A keyring that is handed a wrapped key it does not handle returns an error
// wrapping [ErrNotMine]; one that handles it but cannot unwrap it returns
// [ErrUnwrap]. [MultiKeyring] returns a [*NoMatchError] holding every
// keyring's error when none succeeds. Cancellation of the context.Context is
// reported with an error that wraps ctx.Err().
//
// # Writing a keyring
//
// A Keyring must be safe for concurrent use, must check the wrap algorithm
// before it unwraps anything, and must bind the data key to the suite. The
// package [github.com/s3ec/s3ec-go/materials/keyringtest] is a conformance
// suite that every keyring in this module passes; run it against yours.
package materials
