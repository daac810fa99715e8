package envelope

import "maps"

// Format is the metadata format of an envelope. It is not a client version:
// the AWS Go "v4" client writes the V3 format.
type Format int

const (
	// FormatV1 is the legacy format of x-amz-key objects (read-only).
	FormatV1 Format = 1
	// FormatV2 is the format of x-amz-key-v2 objects.
	FormatV2 Format = 2
	// FormatV3 is the compressed, key-committing format (x-amz-3, x-amz-c…).
	FormatV3 Format = 3
)

func (f Format) String() string {
	switch f {
	case FormatV1:
		return "V1"
	case FormatV2:
		return "V2"
	case FormatV3:
		return "V3"
	}
	return "unknown"
}

// Envelope is everything stored beside an encrypted object's body: how the
// content was encrypted and the wrapped data key.
type Envelope struct {
	Format        Format
	Suite         Suite
	WrapAlgorithm WrapAlgorithm

	// EncryptedKey is the wrapped data key.
	EncryptedKey []byte

	// IV is the content IV of V1 and V2 objects (12 bytes for GCM, 16 for
	// CBC). Nil for V3.
	IV []byte

	// MessageID and Commitment are the V3 message id (HKDF salt) and key
	// commitment, 28 bytes each. Nil for V1 and V2.
	MessageID  []byte
	Commitment []byte

	// Description is the stored material description (local keyrings) or
	// KMS encryption context (KMS wraps). Never nil after [Decode].
	Description map[string]string

	// PlaintextLength is x-amz-unencrypted-content-length, or -1 when the
	// object does not record it. Informational: it is not authenticated.
	PlaintextLength int64

	// InInstructionFile reports that Decode read the wrapped key from an
	// instruction file.
	InInstructionFile bool
}

// Clone returns a deep copy of e.
func (e *Envelope) Clone() *Envelope {
	c := *e
	c.EncryptedKey = clone(e.EncryptedKey)
	c.IV = clone(e.IV)
	c.MessageID = clone(e.MessageID)
	c.Commitment = clone(e.Commitment)
	c.Description = maps.Clone(e.Description)
	return &c
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}
