package envelope

import (
	"fmt"
	"strings"
)

// CommitmentPolicy says whether objects are written with the key-committing
// suite and whether non-committing objects may be read. The zero value is
// the strictest, [RequireEncryptRequireDecrypt].
//
// A CommitmentPolicy is written and read as text by its name in the S3EC
// specification (see [CommitmentPolicy.String] and [ParseCommitmentPolicy]),
// so it can be set from a configuration file (JSON, YAML) or a command-line
// flag ([flag.TextVar]).
type CommitmentPolicy int

const (
	// RequireEncryptRequireDecrypt writes V3 (key-committing) objects and
	// reads only key-committing objects. The default.
	RequireEncryptRequireDecrypt CommitmentPolicy = iota
	// RequireEncryptAllowDecrypt writes V3 objects and also reads V2 (and,
	// with the legacy opt-ins, V1) objects. Use it while migrating.
	RequireEncryptAllowDecrypt
	// ForbidEncryptAllowDecrypt writes V2 objects, for readers that do not
	// understand V3 yet (AWS Go client v3.1 and older, aws-sdk-go s3crypto),
	// and reads everything.
	ForbidEncryptAllowDecrypt
)

// commitmentPolicyNames are the policies' names in the specification, by
// value.
var commitmentPolicyNames = [...]string{
	RequireEncryptRequireDecrypt: "REQUIRE_ENCRYPT_REQUIRE_DECRYPT",
	RequireEncryptAllowDecrypt:   "REQUIRE_ENCRYPT_ALLOW_DECRYPT",
	ForbidEncryptAllowDecrypt:    "FORBID_ENCRYPT_ALLOW_DECRYPT",
}

func (p CommitmentPolicy) valid() bool {
	return p >= 0 && int(p) < len(commitmentPolicyNames)
}

// String returns the policy's name in the specification, such as
// "REQUIRE_ENCRYPT_ALLOW_DECRYPT", which [ParseCommitmentPolicy] reads
// back. A value that is none of the three policies prints as
// "CommitmentPolicy(N)".
func (p CommitmentPolicy) String() string {
	if !p.valid() {
		return fmt.Sprintf("CommitmentPolicy(%d)", int(p))
	}
	return commitmentPolicyNames[p]
}

// ParseCommitmentPolicy returns the commitment policy named s: one of the
// names that [CommitmentPolicy.String] returns,
// REQUIRE_ENCRYPT_REQUIRE_DECRYPT, REQUIRE_ENCRYPT_ALLOW_DECRYPT and
// FORBID_ENCRYPT_ALLOW_DECRYPT. Upper and lower case are not told apart
// (require_encrypt_allow_decrypt is accepted too); nothing else is: no
// surrounding space, no abbreviation, no number. Any other s fails with a
// [*CommitmentPolicyNameError].
func ParseCommitmentPolicy(s string) (CommitmentPolicy, error) {
	for p, name := range commitmentPolicyNames {
		if strings.EqualFold(s, name) {
			return CommitmentPolicy(p), nil
		}
	}
	return 0, &CommitmentPolicyNameError{Name: s}
}

// MarshalText implements [encoding.TextMarshaler]: the policy's name, as
// String returns it. A value that is none of the three policies fails, so
// that it is never written where it could not be read back.
func (p CommitmentPolicy) MarshalText() ([]byte, error) {
	if !p.valid() {
		return nil, fmt.Errorf("envelope: cannot marshal %v: not a commitment policy", p)
	}
	return []byte(commitmentPolicyNames[p]), nil
}

// UnmarshalText implements [encoding.TextUnmarshaler] with
// [ParseCommitmentPolicy]. On error *p is left as it was.
func (p *CommitmentPolicy) UnmarshalText(text []byte) error {
	v, err := ParseCommitmentPolicy(string(text))
	if err != nil {
		return err
	}
	*p = v
	return nil
}

// CommitmentPolicyNameError reports a name that is not a commitment
// policy's (see [ParseCommitmentPolicy]).
type CommitmentPolicyNameError struct {
	Name string // the name given
}

func (e *CommitmentPolicyNameError) Error() string {
	return fmt.Sprintf("envelope: unknown commitment policy %q: want %s", e.Name, strings.Join(commitmentPolicyNames[:], ", "))
}

// Policy collects the rules that decide which envelopes may be written and
// read. The zero value is the safe default: write V3, read only
// key-committing objects, refuse legacy content.
type Policy struct {
	// Commitment is the commitment policy. Default RequireEncryptRequireDecrypt.
	Commitment CommitmentPolicy

	// LegacyUnauthenticated allows reading AES-CBC content (written by
	// legacy clients), which has no integrity protection: anyone who can
	// write to the bucket can alter the plaintext undetected. It also
	// requires Commitment to allow non-committing decryption. Default false.
	LegacyUnauthenticated bool

	// Names are the names the two settings above go by where the caller's
	// users set them; the errors of Validate and CheckDecrypt name them. A
	// package that builds a Policy from options of its own sets them, so
	// that its users read the names of what they set (encryptionclient
	// names its Options fields). Default: the fields of Policy.
	Names PolicyNames
}

// PolicyNames name the settings of a [Policy] in its errors; see
// Policy.Names. An empty name stands for the Policy field's.
type PolicyNames struct {
	Commitment            string // default "envelope.Policy.Commitment"
	LegacyUnauthenticated string // default "envelope.Policy.LegacyUnauthenticated"
}

func (p Policy) commitmentName() string {
	if p.Names.Commitment != "" {
		return p.Names.Commitment
	}
	return "envelope.Policy.Commitment"
}

func (p Policy) legacyName() string {
	if p.Names.LegacyUnauthenticated != "" {
		return p.Names.LegacyUnauthenticated
	}
	return "envelope.Policy.LegacyUnauthenticated"
}

// EncryptSuite returns the suite that new objects are written with.
func (p Policy) EncryptSuite() Suite {
	if p.Commitment == ForbidEncryptAllowDecrypt {
		return SuiteAESGCM
	}
	return SuiteAESGCMCommitting
}

// Validate reports an invalid policy: an unknown commitment policy, or
// LegacyUnauthenticated under RequireEncryptRequireDecrypt (legacy content
// never commits to its key). Its errors are [*PolicyError]s whose Setting
// says which setting is at fault.
func (p Policy) Validate() error {
	if !p.Commitment.valid() {
		return &PolicyError{
			What:    fmt.Sprintf("%s is %d, not a commitment policy (want %s)", p.commitmentName(), int(p.Commitment), strings.Join(commitmentPolicyNames[:], ", ")),
			Setting: SettingCommitment,
		}
	}
	if p.LegacyUnauthenticated && p.Commitment == RequireEncryptRequireDecrypt {
		return &PolicyError{
			What:    p.legacyName() + " needs a commitment policy that reads non-committing objects, not " + p.Commitment.String(),
			Option:  p.commitmentName() + " to " + RequireEncryptAllowDecrypt.String(),
			Setting: SettingCommitment,
		}
	}
	return nil
}

// CheckDecrypt reports whether an object encrypted with suite may be read.
// It runs before any key is unwrapped.
func (p Policy) CheckDecrypt(s Suite) error {
	if !s.Known() {
		return malformed("", "unknown content algorithm suite %v", s)
	}
	if !s.Committing() && p.Commitment == RequireEncryptRequireDecrypt {
		return &PolicyError{
			What:    "non-committing content algorithm " + s.CipherName() + " under " + p.Commitment.String(),
			Option:  p.commitmentName() + " to " + RequireEncryptAllowDecrypt.String(),
			Setting: SettingCommitment,
		}
	}
	if !s.Authenticated() && !p.LegacyUnauthenticated {
		return &PolicyError{
			What:    "legacy unauthenticated content algorithm " + s.CipherName(),
			Option:  p.legacyName(),
			Setting: SettingLegacyUnauthenticated,
		}
	}
	return nil
}
