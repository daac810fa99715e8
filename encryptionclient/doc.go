// Package encryptionclient is an Amazon S3 client that encrypts objects in
// the process before they are sent and decrypts them after they are read:
// S3, or any S3-compatible store, only ever holds ciphertext. It reads and
// writes the object formats of the AWS S3 Encryption Clients (Java, Go,
// Python, .NET), so objects move freely between them.
//
// # Getting started
//
// Wrap an aws-sdk-go-v2 S3 client and give it a keyring from the materials
// package:
//
//	kr, err := materials.NewKMSKeyring(kms.NewFromConfig(cfg), "alias/my-key")
//	c, err := encryptionclient.New(s3.NewFromConfig(cfg), kr)
//	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: f})
//	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key})
//
// The methods have the SDK's signatures. The client does not embed the S3
// client: it offers only operations it handles safely (PutObject, GetObject,
// HeadObject, DeleteObject(s), CopyObject, the multipart calls). Use your
// own *s3.Client for everything else.
//
// # How an object is encrypted
//
// Every object gets a fresh 256-bit data key from the keyring. The body is
// encrypted with AES-256-GCM as one stream, in constant memory; by default
// with the key-committing suite (V3 format), whose key is derived from the
// data key with HKDF-SHA512 and committed to, so that a substituted wrapped
// key cannot decrypt the body to other plaintext. The wrapped data key and
// the parameters (the envelope) are stored in the object's user metadata,
// or in an instruction file (KEY.instruction) when they would not fit or
// when Options.EnvelopeStorage asks for it.
//
// # Reading safely
//
// GetObject releases plaintext only after the whole object was
// authenticated, buffering up to Options.BufferSize (64 MiB) in memory.
// For larger objects either enable Options.SpoolLargeObjects (the ciphertext
// is authenticated through a temporary file first, in constant memory),
// enable Options.EnableDelayedAuthentication (the
// body streams and a failed check is the final Read's error) or use
// [Client.Download] / [Client.DownloadFile], which fetch ranges in parallel
// and check the tag before reporting success. Until Download returns nil,
// the bytes written to its io.WriterAt (and its progress reports) are not
// authenticated; DownloadFile renames its file into place only after the
// check. Ranged reads cannot be authenticated and need
// Options.EnableUnauthenticatedRanges.
//
// # Large uploads
//
// [Client.Upload] takes any io.Reader, of known length or not, up to
// 2^36−32 bytes, and encrypts and uploads parts in parallel in memory
// bounded by concurrency × part size (one part more below 4 workers); it
// aborts the multipart upload on any failure. The low-level multipart calls encrypt too: fix the part size
// at creation with [WithPartSize], mark the last part with [WithLastPart];
// parts may then be uploaded in any order and concurrently. Their state
// lives in the Client's memory.
//
// # Resumable uploads
//
// With UploadOptions.OnResumeToken, Upload hands out a resume token as it
// goes, and a failed or interrupted Upload leaves its multipart upload open;
// Upload with UploadOptions.ResumeToken continues it, in any process whose
// keyring unwraps the data key, and stores exactly the object an
// uninterrupted Upload would have. A token is opaque and sealed: it holds
// the upload's identity, its part size and envelope (the wrapped data key
// only) in the clear, and, encrypted with AES-256-GCM under a key derived
// from the data key with HKDF-SHA256, the GHASH sums of the parts sealed so
// far (secret: with them and the ciphertext anyone could forge) and the
// ETags S3 answered. The rules:
//
//   - a token is delivered, and must be made durable, before any byte of a
//     part it records is first sent, so that the last token saved records
//     every part whose ciphertext may be on S3;
//   - a resume needs the same plaintext: every part the token records is
//     read again and its sum compared (constant time) before anything is
//     sent, and a source that changed, or has another size, is refused
//     with [ErrResumeMismatch]; a part is only ever sent with the
//     ciphertext recorded for it, so no key stream encrypts two
//     plaintexts;
//   - ListParts answers are checked (bounded pagination, increasing part
//     numbers, no part beyond the last or that the token does not record)
//     and trusted only to skip a part whose ETag and size match the
//     token's: a part the server misreports is sent again, and a server
//     that lies about a part it does not hold gets an object that fails
//     authentication on every read, never wrong plaintext;
//   - a token is bound to its bucket, key and upload id; an altered token
//     is [ErrInvalidResumeToken], one whose upload completed or was
//     aborted [ErrResumeStale];
//   - resuming encrypts, so the token's envelope must be one this Client
//     writes (the suite its CommitmentPolicy writes; [ErrPolicy]
//     otherwise), not only one it may read;
//   - a token is authenticated under its own data key: whoever can wrap a
//     data key for the keyring (an RSA public key, a KMS key others may
//     encrypt with, any key a discovery keyring accepts) can forge a whole
//     token, under a key he knows, for an upload S3 holds no part of yet.
//     Store tokens where only the uploader can write them.
//
// The low-level calls use the same tokens: [Client.ResumeToken] seals the
// state of an upload the Client holds, [Client.ResumeMultipartUpload] takes
// one up in another Client — a process after a crash, or workers that each
// upload some parts and hand their tokens back for the process that
// completes the upload to merge.
//
// # The SDK's transfer manager
//
// A Client is not the S3 client of aws-sdk-go-v2's feature/s3/
// transfermanager (it lacks ListObjectsV2, so it cannot be passed by
// mistake), and one wrapped by hand fails closed, never storing plaintext.
// [Client.ForTransferManager] returns the adapter to pass to
// transfermanager.New, with the transfer manager's part size: its uploads
// go through PutObject and the encrypting multipart calls (the last part
// found by its length, or a 16-byte tag part added at completion), and its
// downloads read the object whole through GetObject, authenticated before
// release; what cannot be served so (objects over Options.BufferSize,
// other parts, ranges unless Options.EnableUnauthenticatedRanges) fails
// with [ErrTransferManager] naming Client.Download. Upload and Download
// are the faster way: they stream, and Download checks the tag of
// parallel ranges.
//
// # Key rotation
//
// [Client.Rewrap] and [Client.RotatePrefix] move objects' data keys to a new
// keyring without re-uploading the content (KMS ReEncrypt between KMS
// keys); see docs/KEY-ROTATION.md.
//
// # Encryption context
//
// With a KMS keyring, WithEncryptionContext binds a map of strings to the
// data key: KMS refuses to unwrap it under any other context, and GetObject
// checks the stored context against the one the caller expects.
//
// # Compatibility and policies
//
// Options.CommitmentPolicy decides what is written and read:
// RequireEncryptRequireDecrypt (default) writes and reads only V3;
// RequireEncryptAllowDecrypt also reads V2; ForbidEncryptAllowDecrypt writes
// V2 for readers that predate V3. Legacy objects (AES-CBC content, legacy
// key wraps) are read only with explicit opt-ins:
// Options.EnableLegacyUnauthenticatedModes and the keyrings'
// EnableLegacyWrapping.
//
// # What is not encrypted
//
// Object keys, object sizes (the ciphertext is 16 bytes longer than the
// plaintext), user metadata, tags, the encryption context and material
// description (stored in clear in the metadata), and access patterns are
// visible to the storage provider.
//
// # Errors
//
// Every error of an object operation is an [*ObjectError] naming the
// operation and s3://bucket/key. Test its class with errors.Is:
// [ErrNotEncrypted], [ErrAuthentication], [ErrCommitmentMismatch],
// [ErrMalformed], [ErrPolicy], [ErrUnwrap], [ErrContextMismatch],
// [ErrTooLarge], [ErrInvalidInput] and the others below. SDK errors stay
// reachable with errors.As.
package encryptionclient
