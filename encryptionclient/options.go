package encryptionclient

import (
	"context"
	"fmt"
	"maps"

	"github.com/s3ec/s3ec-go/envelope"
)

// CommitmentPolicy says whether new objects are written with the
// key-committing suite (V3) and whether non-committing objects (V2, V1) may
// be read; see Options.CommitmentPolicy. It is [envelope.CommitmentPolicy],
// so the values below and envelope's are the same. It reads and writes
// itself as text by its name in the specification
// ("REQUIRE_ENCRYPT_ALLOW_DECRYPT"), for configuration files and
// [flag.TextVar]; see [ParseCommitmentPolicy].
type CommitmentPolicy = envelope.CommitmentPolicy

// The commitment policies.
const (
	// RequireEncryptRequireDecrypt writes V3 (key-committing) objects and
	// reads only key-committing objects. The default.
	RequireEncryptRequireDecrypt = envelope.RequireEncryptRequireDecrypt
	// RequireEncryptAllowDecrypt writes V3 objects and also reads V2 (and,
	// with EnableLegacyUnauthenticatedModes, V1 CBC) objects. Use it while
	// migrating.
	RequireEncryptAllowDecrypt = envelope.RequireEncryptAllowDecrypt
	// ForbidEncryptAllowDecrypt writes V2 objects, for readers that do not
	// understand V3 yet, and reads everything.
	ForbidEncryptAllowDecrypt = envelope.ForbidEncryptAllowDecrypt
)

// ParseCommitmentPolicy returns the commitment policy named s, one of the
// names CommitmentPolicy.String returns: "REQUIRE_ENCRYPT_REQUIRE_DECRYPT",
// "REQUIRE_ENCRYPT_ALLOW_DECRYPT" or "FORBID_ENCRYPT_ALLOW_DECRYPT", in
// upper or lower case. Any other s fails with an
// [*envelope.CommitmentPolicyNameError] that lists them. It is
// [envelope.ParseCommitmentPolicy].
func ParseCommitmentPolicy(s string) (CommitmentPolicy, error) {
	return envelope.ParseCommitmentPolicy(s)
}

// EnvelopeStorage says where PutObject stores the envelope.
type EnvelopeStorage int

const (
	// StoreAuto stores the envelope in the object's metadata, or in an
	// instruction file when it would not fit S3's user-metadata limit
	// (large encryption contexts, RSA-4096 wrapped keys). The default.
	StoreAuto EnvelopeStorage = iota
	// StoreMetadata always stores the envelope in the object's metadata and
	// fails with ErrMetadataTooLarge when it does not fit.
	StoreMetadata
	// StoreInstructionFile always stores the wrapped key in an instruction
	// file (KEY + InstructionFileSuffix), so it can be re-wrapped without
	// rewriting the object.
	StoreInstructionFile
)

// Defaults.
const (
	// DefaultBufferSize is the largest plaintext GetObject buffers to
	// authenticate it before release: 64 MiB.
	DefaultBufferSize = 64 << 20
	// DefaultMetadataLimit is S3's limit on user metadata: 2 KB, counted as
	// the bytes of every x-amz-meta- header name and value.
	DefaultMetadataLimit = 2048
)

// Options configure a Client. The zero value of every field is its default.
type Options struct {
	// CommitmentPolicy decides the suite of new objects and which objects
	// may be read. Default RequireEncryptRequireDecrypt: write V3
	// (key-committing) objects, read only key-committing objects. Use
	// RequireEncryptAllowDecrypt to read V2 objects while migrating, and
	// ForbidEncryptAllowDecrypt to write V2 for old readers. A name from a
	// configuration file converts with ParseCommitmentPolicy.
	CommitmentPolicy CommitmentPolicy

	// EnableLegacyUnauthenticatedModes allows reading legacy AES-CBC
	// objects, which have no integrity protection. Requires a commitment
	// policy that allows decryption of non-committing objects. Default
	// false.
	EnableLegacyUnauthenticatedModes bool

	// EnableUnauthenticatedRanges allows GetObject with a Range. A range of
	// a GCM object cannot be authenticated (the tag covers the whole
	// object): anyone with write access to the bucket can alter the bytes
	// returned. Default false.
	EnableUnauthenticatedRanges bool

	// EnableDelayedAuthentication makes GetObject stream plaintext before
	// the tag is checked, in constant memory. A tag failure is then
	// reported as the error of the final Read, after altered plaintext was
	// already handed out: discard everything read when Read fails. Default
	// false: GetObject buffers up to BufferSize bytes and releases nothing
	// unauthenticated.
	EnableDelayedAuthentication bool

	// BufferSize is the largest plaintext GetObject authenticates in memory
	// when EnableDelayedAuthentication is off; larger objects fail with
	// ErrTooLarge, or go through the spool with SpoolLargeObjects. Default
	// DefaultBufferSize (64 MiB). It has no effect with
	// EnableDelayedAuthentication, so New refuses the two together.
	//
	// The buffers come from a pool shared by the process's clients and go
	// back to it when the body is closed or read to its end, so repeated
	// GETs reuse one buffer; the pool keeps at most one idle buffer per
	// power-of-two size from 1 MiB, 128 MiB in all. The buffers only ever
	// hold ciphertext.
	BufferSize int64

	// SpoolLargeObjects makes GetObject authenticate objects whose
	// plaintext exceeds BufferSize through a temporary file instead of
	// failing with ErrTooLarge, in constant memory: the ciphertext goes to
	// the file as it arrives, hashed on the way, the tag is verified, and
	// only then does GetObject return; the body decrypts from the file as
	// it is read. Nothing unauthenticated is released, and the file only
	// ever holds ciphertext. It is created in SpoolDir with mode 0600,
	// removed from the directory at once where the system allows it (on
	// Unix the data lives only as long as the open file), and closed and
	// removed in every case: when the body is closed or read to its end,
	// when GetObject fails (tag, body length, disk full, cancellation), and
	// by a cleanup when a body is dropped without Close. It needs as much
	// free space in SpoolDir as the object's size; failures of the file
	// are ErrSpool. Objects up to BufferSize, responses without a
	// Content-Length and legacy CBC objects are still read in memory.
	// Default false. It has no effect with EnableDelayedAuthentication, so
	// New refuses the two together.
	SpoolLargeObjects bool

	// SpoolDir is the directory of SpoolLargeObjects' files. Default
	// os.TempDir(). Setting it without SpoolLargeObjects is refused.
	SpoolDir string

	// EnvelopeStorage says where PutObject stores the envelope. Default
	// StoreAuto.
	EnvelopeStorage EnvelopeStorage

	// InstructionFileSuffix names instruction files: KEY + suffix. Default
	// ".instruction".
	InstructionFileSuffix string

	// MetadataLimit is the user-metadata budget StoreAuto and StoreMetadata
	// respect. Default DefaultMetadataLimit (2048 bytes).
	MetadataLimit int
}

func (o *Options) setDefaults() {
	if o.BufferSize == 0 {
		o.BufferSize = DefaultBufferSize
	}
	if o.InstructionFileSuffix == "" {
		o.InstructionFileSuffix = envelope.DefaultInstructionSuffix
	}
	if o.MetadataLimit == 0 {
		o.MetadataLimit = DefaultMetadataLimit
	}
}

func (o *Options) validate() error {
	if err := o.policy().Validate(); err != nil {
		return fmt.Errorf("%w: options: %w", ErrInvalidInput, err)
	}
	switch {
	case o.BufferSize < 0:
		return invalid("options: negative BufferSize")
	case o.EnableDelayedAuthentication && o.BufferSize != DefaultBufferSize:
		// A limit that nothing would apply is a mistake, not a setting.
		return invalid("options: BufferSize has no effect with EnableDelayedAuthentication (nothing is buffered); set one or the other")
	case o.EnableDelayedAuthentication && o.SpoolLargeObjects:
		return invalid("options: SpoolLargeObjects has no effect with EnableDelayedAuthentication (nothing is spooled); set one or the other")
	case o.SpoolDir != "" && !o.SpoolLargeObjects:
		return invalid("options: SpoolDir has no effect without SpoolLargeObjects")
	case o.MetadataLimit < 0:
		return invalid("options: negative MetadataLimit")
	case o.EnvelopeStorage < StoreAuto || o.EnvelopeStorage > StoreInstructionFile:
		return invalid("options: unknown EnvelopeStorage %d", o.EnvelopeStorage)
	}
	return nil
}

// policyNames name the Options behind the envelope policy in its errors.
var policyNames = envelope.PolicyNames{
	Commitment:            "encryptionclient.Options.CommitmentPolicy",
	LegacyUnauthenticated: "encryptionclient.Options.EnableLegacyUnauthenticatedModes",
}

func (o *Options) policy() envelope.Policy {
	return envelope.Policy{
		Commitment:            o.CommitmentPolicy,
		LegacyUnauthenticated: o.EnableLegacyUnauthenticatedModes,
		Names:                 policyNames,
	}
}

// Per-request settings travel in the context, under unexported typed keys,
// because the client's methods keep the SDK's signatures.
type (
	encryptionContextKey struct{}
	instructionSuffixKey struct{}
)

// WithEncryptionContext returns a context that carries an encryption context
// for the requests made with it. PutObject binds it to the data key (KMS
// keyrings); GetObject requires the stored context to equal it (without
// the client's reserved entries). Without it, objects must have no user
// context.
func WithEncryptionContext(ctx context.Context, ec map[string]string) context.Context {
	return context.WithValue(ctx, encryptionContextKey{}, maps.Clone(ec))
}

// EncryptionContextFrom returns the encryption context carried by ctx.
func EncryptionContextFrom(ctx context.Context) map[string]string {
	ec, _ := ctx.Value(encryptionContextKey{}).(map[string]string)
	return ec
}

// WithInstructionFileSuffix returns a context whose requests read and write
// instruction files named KEY + suffix instead of the client's default.
// When suffix is not the client's, reads use the instruction file KEY +
// suffix, if there is one, also for an object whose metadata holds an
// envelope: it is then an additional instruction file (see
// RewrapInput.DestinationInstructionFileSuffix) whose wrapped key replaces
// the metadata's. (The S3EC specification allows custom suffixes only for
// re-encryption, not for ordinary writes; s3ec-go writes with them too,
// see docs/FORMAT.md section 6.1a.)
func WithInstructionFileSuffix(ctx context.Context, suffix string) context.Context {
	return context.WithValue(ctx, instructionSuffixKey{}, suffix)
}

// customSuffix reports that ctx names an instruction-file suffix other
// than the client's.
func (c *Client) customSuffix(ctx context.Context) bool {
	s, ok := ctx.Value(instructionSuffixKey{}).(string)
	return ok && s != "" && s != c.opts.InstructionFileSuffix
}

func (c *Client) suffix(ctx context.Context) string {
	if s, ok := ctx.Value(instructionSuffixKey{}).(string); ok && s != "" {
		return s
	}
	return c.opts.InstructionFileSuffix
}
