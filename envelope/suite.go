package envelope

import "fmt"

// Suite identifies the algorithm suite that encrypted an object's content.
// The numeric values are the suite IDs of the S3 Encryption Client
// specification.
type Suite uint16

const (
	// SuiteAESCBC is AES-256-CBC with PKCS#5 padding and no authentication
	// (ALG_AES_256_CBC_IV16_NO_KDF). Written only by legacy clients; this
	// library reads it behind [Policy.LegacyUnauthenticated] and never
	// writes it.
	SuiteAESCBC Suite = 0x0070

	// SuiteAESGCM is AES-256-GCM with a 12-byte random IV and a 16-byte tag,
	// using the data key directly (ALG_AES_256_GCM_IV12_TAG16_NO_KDF). It is
	// the content algorithm of the V2 format.
	SuiteAESGCM Suite = 0x0072

	// SuiteAESGCMCommitting is AES-256-GCM under a key derived with
	// HKDF-SHA512 from the data key and a 28-byte message id, with a 28-byte
	// key commitment (ALG_AES_256_GCM_HKDF_SHA512_COMMIT_KEY). It is the
	// content algorithm of the V3 format and the default.
	SuiteAESGCMCommitting Suite = 0x0073
)

// Suite constants that never appear in stored metadata but fix sizes.
const (
	// DataKeySize is the size in bytes of every content data key.
	DataKeySize = 32
	// GCMIVSize is the IV size of SuiteAESGCM.
	GCMIVSize = 12
	// CBCIVSize is the IV size of SuiteAESCBC.
	CBCIVSize = 16
	// TagSize is the size of the GCM authentication tag appended to the body.
	TagSize = 16
	// MessageIDSize is the size of the V3 message id (the HKDF salt).
	MessageIDSize = 28
	// CommitmentSize is the size of the V3 key commitment.
	CommitmentSize = 28
	// MaxGCMPlaintextSize is the largest plaintext one GCM message may hold:
	// 2^36 - 32 bytes.
	MaxGCMPlaintextSize = 1<<36 - 32
)

// CipherName is the string by which the S3EC formats name the suite: the
// value of x-amz-cek-alg (V1/V2) or x-amz-c (V3), of the reserved
// encryption-context entry aws:x-amz-cek-alg, of the AES/GCM key-wrap AAD
// and of the RSA pseudo-data-key suffix.
func (s Suite) CipherName() string {
	switch s {
	case SuiteAESCBC:
		return "AES/CBC/PKCS5Padding"
	case SuiteAESGCM:
		return "AES/GCM/NoPadding"
	case SuiteAESGCMCommitting:
		return "115"
	}
	return ""
}

// String returns the suite's name in the specification.
func (s Suite) String() string {
	switch s {
	case SuiteAESCBC:
		return "ALG_AES_256_CBC_IV16_NO_KDF"
	case SuiteAESGCM:
		return "ALG_AES_256_GCM_IV12_TAG16_NO_KDF"
	case SuiteAESGCMCommitting:
		return "ALG_AES_256_GCM_HKDF_SHA512_COMMIT_KEY"
	}
	return fmt.Sprintf("Suite(0x%04x)", uint16(s))
}

// Committing reports whether the suite commits to its data key.
func (s Suite) Committing() bool { return s == SuiteAESGCMCommitting }

// Authenticated reports whether the suite authenticates the content.
func (s Suite) Authenticated() bool { return s == SuiteAESGCM || s == SuiteAESGCMCommitting }

// Known reports whether s is one of the suites this package defines.
func (s Suite) Known() bool {
	return s == SuiteAESCBC || s == SuiteAESGCM || s == SuiteAESGCMCommitting
}

// AAD returns the additional authenticated data the suite feeds to GCM: the
// two suite-ID bytes for the committing suite, nothing otherwise.
func (s Suite) AAD() []byte {
	if s == SuiteAESGCMCommitting {
		return []byte{byte(s >> 8), byte(s)}
	}
	return nil
}

// CiphertextSize returns the stored body size for a plaintext of n bytes.
func (s Suite) CiphertextSize(n int64) int64 {
	if s == SuiteAESCBC {
		return (n/16 + 1) * 16
	}
	return n + TagSize
}

// WrapAlgorithm names how a data key was wrapped, as stored in x-amz-wrap-alg
// (V2) or implied by the compressed x-amz-w code (V3) or by the key size (V1).
type WrapAlgorithm string

const (
	// WrapKMSContext is AWS KMS with an encryption context (kms+context).
	WrapKMSContext WrapAlgorithm = "kms+context"
	// WrapAESGCM is a local AES key wrapping with AES-GCM (AES/GCM).
	WrapAESGCM WrapAlgorithm = "AES/GCM"
	// WrapRSAOAEPSHA1 is a local RSA key wrapping with OAEP, SHA-1 and a
	// pseudo data key (RSA-OAEP-SHA1).
	WrapRSAOAEPSHA1 WrapAlgorithm = "RSA-OAEP-SHA1"

	// WrapKMS is legacy AWS KMS with the material description as context.
	WrapKMS WrapAlgorithm = "kms"
	// WrapAESWrap is legacy RFC 3394 AES key wrap.
	WrapAESWrap WrapAlgorithm = "AESWrap"
	// WrapRSAOAEPSHA256 is legacy RSA-OAEP with SHA-256 of the bare data key.
	WrapRSAOAEPSHA256 WrapAlgorithm = "RSA/ECB/OAEPWithSHA-256AndMGF1Padding"
	// WrapAESECB is the legacy V1 AES/ECB/PKCS5Padding wrap. Never stored:
	// inferred for V1 objects from the wrapped key's size.
	WrapAESECB WrapAlgorithm = "AES"
	// WrapRSAPKCS1 is the legacy V1 RSA PKCS#1 v1.5 wrap. Never stored:
	// inferred for V1 objects from the wrapped key's size.
	WrapRSAPKCS1 WrapAlgorithm = "RSA"
)

// Legacy reports whether the wrap algorithm may only be read, and only after
// an explicit opt-in.
func (w WrapAlgorithm) Legacy() bool {
	switch w {
	case WrapKMS, WrapAESWrap, WrapRSAOAEPSHA256, WrapAESECB, WrapRSAPKCS1:
		return true
	}
	return false
}

// IsKMS reports whether w wraps with AWS KMS (kms+context, or legacy kms).
func (w WrapAlgorithm) IsKMS() bool { return w == WrapKMSContext || w == WrapKMS }

// Known reports whether w is one of the wrap algorithms this package defines.
func (w WrapAlgorithm) Known() bool {
	switch w {
	case WrapKMSContext, WrapAESGCM, WrapRSAOAEPSHA1:
		return true
	}
	return w.Legacy()
}

// ReservedContextKey is the encryption-context entry the client adds to every
// kms+context data key: the content suite's [Suite.CipherName]. Callers may
// not set it themselves.
const ReservedContextKey = "aws:x-amz-cek-alg"

// LegacyKMSKeyIDKey is the material-description entry in which the legacy
// kms wrap stores the KMS key id.
const LegacyKMSKeyIDKey = "kms_cmk_id"
