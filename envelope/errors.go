package envelope

import (
	"errors"
	"fmt"
	"io"

	"github.com/s3ec/s3ec-go/internal/engine/cbcstream"
	"github.com/s3ec/s3ec-go/internal/engine/gcmstream"
)

// Sentinel errors. Test for them with [errors.Is]; the typed errors below
// match the sentinel of their class.
var (
	// ErrNotEncrypted reports an object that carries no S3EC envelope, in
	// its metadata or in an instruction file.
	ErrNotEncrypted = errors.New("envelope: object is not client-side encrypted")

	// ErrMalformed is the class of every [*MalformedError].
	ErrMalformed = errors.New("envelope: malformed envelope")

	// ErrPolicy is the class of every [*PolicyError].
	ErrPolicy = errors.New("envelope: refused by policy")

	// ErrCommitmentMismatch reports that the key commitment stored with a V3
	// object does not match the data key: the object or its envelope was
	// altered, or the wrong key was used. It is detected before any content
	// is decrypted.
	ErrCommitmentMismatch = errors.New("envelope: key commitment mismatch")

	// ErrAuthentication reports that the content failed GCM authentication.
	// The message never says which check failed.
	ErrAuthentication = gcmstream.ErrAuthentication

	// ErrInvalidCiphertext reports a legacy CBC body that is not a multiple of
	// the block size or has invalid padding. CBC has no integrity check, so
	// this is the only error such a body can give.
	ErrInvalidCiphertext = cbcstream.ErrInvalidCiphertext

	// ErrTooLarge reports a size beyond its bound: a plaintext beyond the
	// GCM limit (MaxGCMPlaintextSize), a size read from S3 (Content-Length,
	// Content-Range, x-amz-unencrypted-content-length) beyond that limit, a
	// body beyond a configured buffer, or a body longer than the length
	// announced for it. It is one value everywhere (the engine's, the
	// object layer's and the client's ErrTooLarge are this one).
	ErrTooLarge = gcmstream.ErrTooLarge

	// ErrTruncated reports a body that ended before the length announced
	// for it (its Content-Length, its Content-Range, or the plaintext length
	// the envelope records): a cut connection or a lying server. It wraps
	// io.ErrUnexpectedEOF, so errors.Is(err, io.ErrUnexpectedEOF) holds too.
	ErrTruncated = fmt.Errorf("envelope: body ended before its announced length: %w", io.ErrUnexpectedEOF)
)

// MalformedError reports an envelope that cannot be used: a required key is
// missing, a value does not parse, an algorithm is unknown, or keys
// contradict each other. Field names the metadata key at fault.
type MalformedError struct {
	Field  string // metadata key, e.g. "x-amz-iv"; empty when not one field
	Reason string
}

func (e *MalformedError) Error() string {
	if e.Field == "" {
		return "envelope: malformed envelope: " + e.Reason
	}
	return fmt.Sprintf("envelope: malformed envelope: %s: %s", e.Field, e.Reason)
}

// Is makes errors.Is(err, ErrMalformed) true.
func (e *MalformedError) Is(target error) bool { return target == ErrMalformed }

func malformed(field, format string, args ...any) error {
	return &MalformedError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// PolicyError reports an object or request that the configured policy
// refuses: a legacy algorithm that was not opted in to, or a non-committing
// object under a policy that requires commitment. Option names the setting
// that would allow it, as the caller's users set it (a [Policy] takes the
// names from its Names; a keyring names its options); read its
// documentation before you change it.
type PolicyError struct {
	What   string // what was refused, e.g. "legacy wrapping algorithm kms"
	Option string // the option that allows it, and the value to set when it is not a switch, e.g. "materials.KMSKeyringOptions.EnableLegacyWrapping"

	// Setting says which setting of a Policy refused, for programs that
	// act on it; it is SettingNone for a refusal by another rule (a
	// keyring's, a client's), which Option names.
	Setting PolicySetting
}

// PolicySetting is one setting of a [Policy], as a [PolicyError] reports it.
type PolicySetting int

const (
	// SettingNone: the refusal is not one of a Policy's.
	SettingNone PolicySetting = iota
	// SettingCommitment: the commitment policy ([Policy.Commitment]).
	SettingCommitment
	// SettingLegacyUnauthenticated: the opt-in to legacy unauthenticated
	// content ([Policy.LegacyUnauthenticated]).
	SettingLegacyUnauthenticated
)

func (e *PolicyError) Error() string {
	if e.Option == "" {
		return "envelope: refused by policy: " + e.What
	}
	return fmt.Sprintf("envelope: refused by policy: %s (to allow it, set %s)", e.What, e.Option)
}

// Is makes errors.Is(err, ErrPolicy) true.
func (e *PolicyError) Is(target error) bool { return target == ErrPolicy }

// ErrInvalidDescription is the class of every [*DescriptionError]: a
// material description or encryption context that cannot be stored so that
// every reader gets it back exactly. It is refused before anything is
// written.
var ErrInvalidDescription = errors.New("envelope: description cannot be stored exactly")

// DescriptionError reports a material description or encryption context
// that would not read back as written: a name or value that is not valid
// UTF-8 (JSON would replace it). Field names what holds the description:
// an envelope key (x-amz-matdesc, x-amz-t, x-amz-m) or the caller's option
// (e.g. "encryption context"). Key is the entry at fault, when one is.
type DescriptionError struct {
	Field  string
	Key    string
	Reason string
}

func (e *DescriptionError) Error() string {
	s := "envelope: " + e.Field + " cannot be stored exactly"
	if e.Key != "" {
		s += fmt.Sprintf(": entry %q", e.Key)
	}
	return s + ": " + e.Reason
}

// Is makes errors.Is(err, ErrInvalidDescription) true.
func (e *DescriptionError) Is(target error) bool { return target == ErrInvalidDescription }
