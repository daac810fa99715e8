package envelope

// CommitmentPolicy says whether objects are written with the key-committing
// suite and whether non-committing objects may be read. The zero value is
// the strictest, [RequireEncryptRequireDecrypt].
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

// String returns the policy's name in the specification.
func (p CommitmentPolicy) String() string {
	switch p {
	case RequireEncryptRequireDecrypt:
		return "REQUIRE_ENCRYPT_REQUIRE_DECRYPT"
	case RequireEncryptAllowDecrypt:
		return "REQUIRE_ENCRYPT_ALLOW_DECRYPT"
	case ForbidEncryptAllowDecrypt:
		return "FORBID_ENCRYPT_ALLOW_DECRYPT"
	}
	return "CommitmentPolicy(?)"
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
}

// EncryptSuite returns the suite that new objects are written with.
func (p Policy) EncryptSuite() Suite {
	if p.Commitment == ForbidEncryptAllowDecrypt {
		return SuiteAESGCM
	}
	return SuiteAESGCMCommitting
}

// Validate reports an invalid policy.
func (p Policy) Validate() error {
	switch p.Commitment {
	case RequireEncryptRequireDecrypt, RequireEncryptAllowDecrypt, ForbidEncryptAllowDecrypt:
	default:
		return &PolicyError{What: "unknown commitment policy", Option: "Policy.Commitment"}
	}
	if p.LegacyUnauthenticated && p.Commitment == RequireEncryptRequireDecrypt {
		return &PolicyError{
			What:   "LegacyUnauthenticated cannot be used with REQUIRE_ENCRYPT_REQUIRE_DECRYPT",
			Option: "Policy.Commitment to RequireEncryptAllowDecrypt",
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
			What:   "non-committing content algorithm " + s.CipherName() + " under REQUIRE_ENCRYPT_REQUIRE_DECRYPT",
			Option: "Policy.Commitment (RequireEncryptAllowDecrypt)",
		}
	}
	if !s.Authenticated() && !p.LegacyUnauthenticated {
		return &PolicyError{
			What:   "legacy unauthenticated content algorithm " + s.CipherName(),
			Option: "Policy.LegacyUnauthenticated",
		}
	}
	return nil
}
