// Package envelope reads and writes the envelope of an S3 Encryption Client
// object: everything stored beside its encrypted body — the wrapped data
// key, the content and wrap algorithms, the IV or message id, the key
// commitment and the material description or encryption context — in the
// V1, V2 and V3 formats of the AWS S3 Encryption Clients.
//
// The package is pure: no I/O and no AWS calls. [Decode] turns S3 user
// metadata (and an instruction file, when the metadata does not hold the
// wrapped key; see [Detect]) into an [Envelope]; [Envelope.Metadata] and
// [Envelope.InstructionFile] render one for storage. [Policy] decides which
// suites may be written and read; [Envelope.ContentParams] checks a V3
// object's key commitment and derives its content key.
//
// # Formats
//
// V3 (the default for writing) uses the key-committing suite
// [SuiteAESGCMCommitting] and compressed metadata keys (x-amz-c, x-amz-3…).
// V2 uses [SuiteAESGCM] and the x-amz-key-v2 keys. V1 (x-amz-key) and the
// AES-CBC suite are read behind opt-ins and never written. docs/FORMAT.md
// in the repository describes every byte.
//
// # Reading safely
//
// Metadata names match case-insensitively, S3's RFC 2047 encoding of
// non-ASCII values is undone, and JSON descriptions are accepted in any key
// order and escaping. Every envelope has one meaning: an envelope name
// present twice (in two cases in metadata, or twice in an instruction file),
// keys of V2 and V3 mixed, or a key on the object that the instruction file
// contradicts are refused, and the format is decided by its wrapped-key
// entry alone. Errors are typed: [*MalformedError] names the field at fault,
// [*PolicyError] names the option that would allow what was refused.
//
// # Writing exactly
//
// A description is stored so that readers get it back exactly: the "?" of
// "=?" is written as ?, so that no value is taken for an RFC 2047
// encoded word, and what cannot read back (text that is not valid UTF-8) is
// refused with a [*DescriptionError] ([CheckDescription]).
package envelope
