package envelope

import "strings"

// Metadata keys of the S3EC envelope, as S3 user-metadata names (without the
// x-amz-meta- prefix of the HTTP header). Readers match them
// case-insensitively.
const (
	KeyV1WrappedKey      = "x-amz-key"                        // V1: base64 wrapped data key
	KeyV2WrappedKey      = "x-amz-key-v2"                     // V2: base64 wrapped data key
	KeyIV                = "x-amz-iv"                         // V1/V2: base64 IV
	KeyMatDesc           = "x-amz-matdesc"                    // V1/V2: JSON material description or KMS context
	KeyWrapAlg           = "x-amz-wrap-alg"                   // V2: wrap algorithm
	KeyCEKAlg            = "x-amz-cek-alg"                    // V1/V2: content algorithm
	KeyTagLen            = "x-amz-tag-len"                    // V2 GCM: tag length in bits, "128"
	KeyUnencryptedLength = "x-amz-unencrypted-content-length" // V1/V2: decimal plaintext length

	KeyV3Content     = "x-amz-c" // V3: content suite, "115"
	KeyV3WrappedKey  = "x-amz-3" // V3: base64 wrapped data key
	KeyV3Wrap        = "x-amz-w" // V3: compressed wrap algorithm: 02, 12 or 22
	KeyV3Commitment  = "x-amz-d" // V3: base64 key commitment
	KeyV3MessageID   = "x-amz-i" // V3: base64 message id
	KeyV3Context     = "x-amz-t" // V3: JSON KMS encryption context (wrap 12)
	KeyV3MatDesc     = "x-amz-m" // V3: JSON material description (wraps 02, 22)
	KeyInstrFileMark = "x-amz-crypto-instr-file"

	// DefaultInstructionSuffix is appended to an object key to name its
	// instruction file.
	DefaultInstructionSuffix = ".instruction"
)

// allKeys lists every envelope key, for detection and for refusing caller
// metadata that would collide with the envelope.
var allKeys = []string{
	KeyV1WrappedKey, KeyV2WrappedKey, KeyIV, KeyMatDesc, KeyWrapAlg, KeyCEKAlg,
	KeyTagLen, KeyUnencryptedLength, KeyV3Content, KeyV3WrappedKey, KeyV3Wrap,
	KeyV3Commitment, KeyV3MessageID, KeyV3Context, KeyV3MatDesc, KeyInstrFileMark,
}

// IsReservedKey reports whether a user-metadata name (compared
// case-insensitively) belongs to the envelope, so that callers may not set
// it.
func IsReservedKey(name string) bool {
	for _, k := range allKeys {
		if equalFold(k, name) {
			return true
		}
	}
	return false
}

// v3 compressed wrap codes.
const (
	wrapCodeAESGCM     = "02"
	wrapCodeKMSContext = "12"
	wrapCodeRSAOAEP    = "22"
)

func wrapFromCode(code string) (WrapAlgorithm, bool) {
	switch code {
	case wrapCodeAESGCM:
		return WrapAESGCM, true
	case wrapCodeKMSContext:
		return WrapKMSContext, true
	case wrapCodeRSAOAEP:
		return WrapRSAOAEPSHA1, true
	}
	return "", false
}

func codeFromWrap(w WrapAlgorithm) (string, bool) {
	switch w {
	case WrapAESGCM:
		return wrapCodeAESGCM, true
	case WrapKMSContext:
		return wrapCodeKMSContext, true
	case WrapRSAOAEPSHA1:
		return wrapCodeRSAOAEP, true
	}
	return "", false
}

// equalFold is an ASCII-only case-insensitive comparison (metadata names are
// ASCII).
func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		ca, cb := a[i], b[i]
		if 'A' <= ca && ca <= 'Z' {
			ca += 'a' - 'A'
		}
		if 'A' <= cb && cb <= 'Z' {
			cb += 'a' - 'A'
		}
		if ca != cb {
			return false
		}
	}
	return true
}

// HasInstructionFileMark reports whether user metadata carries the mark of
// an instruction file ([KeyInstrFileMark], compared case-insensitively).
func HasInstructionFileMark(meta map[string]string) bool {
	for k := range meta {
		if strings.EqualFold(k, KeyInstrFileMark) {
			return true
		}
	}
	return false
}
