package envelope

import (
	"encoding/base64"
	"maps"
	"strconv"
)

// Validate checks that e can be written: a current format (V2 or V3), a
// matching suite, a non-legacy wrap, fields of the right sizes and a
// description that reads back exactly ([CheckDescription]; a
// [*DescriptionError] otherwise). This library never writes V1, CBC or
// legacy wraps.
func (e *Envelope) Validate() error {
	switch e.Format {
	case FormatV2:
		if e.Suite != SuiteAESGCM {
			return malformed(KeyCEKAlg, "V2 objects are written only with %s", SuiteAESGCM.CipherName())
		}
		if len(e.IV) != GCMIVSize {
			return malformed(KeyIV, "IV is %d bytes, want %d", len(e.IV), GCMIVSize)
		}
	case FormatV3:
		if e.Suite != SuiteAESGCMCommitting {
			return malformed(KeyV3Content, "V3 objects use only the key-committing suite")
		}
		if len(e.MessageID) != MessageIDSize {
			return malformed(KeyV3MessageID, "message id is %d bytes, want %d", len(e.MessageID), MessageIDSize)
		}
		if len(e.Commitment) != CommitmentSize {
			return malformed(KeyV3Commitment, "commitment is %d bytes, want %d", len(e.Commitment), CommitmentSize)
		}
	default:
		return malformed("", "format %v is never written", e.Format)
	}
	if e.WrapAlgorithm.Legacy() || !e.WrapAlgorithm.Known() {
		return malformed(KeyWrapAlg, "wrap algorithm %q is never written", e.WrapAlgorithm)
	}
	if len(e.EncryptedKey) == 0 {
		return malformed(KeyV2WrappedKey, "empty wrapped key")
	}
	field := KeyMatDesc
	if e.Format == FormatV3 {
		field = KeyV3MatDesc
		if e.WrapAlgorithm == WrapKMSContext {
			field = KeyV3Context
		}
	}
	return CheckDescription(field, e.Description)
}

// Metadata renders e as S3 user metadata, with every key on the object. Its
// key set and value forms are those of the AWS clients: for V2, the seven
// keys of the AWS Go clients with a KMS wrap (the six of the Java client, no
// plaintext length, with a local wrap); for V3, x-amz-c/3/w/d/i plus x-amz-t
// or x-amz-m when not empty.
func (e *Envelope) Metadata() (map[string]string, error) {
	if err := e.Validate(); err != nil {
		return nil, err
	}
	m, err := e.wrappedKeyKeys()
	if err != nil {
		return nil, err
	}
	maps.Copy(m, e.contentKeys())
	return m, nil
}

// InstructionFile renders e for storage with an instruction file: the
// metadata that stays on the object and the instruction-file body. For V2
// the object keeps no envelope key; for V3 the object keeps x-amz-c, x-amz-d
// and x-amz-i, which pin the data key, and the instruction file holds the
// wrapped key, so that it can be re-wrapped without touching the object.
func (e *Envelope) InstructionFile() (objectMeta map[string]string, body []byte, err error) {
	if err := e.Validate(); err != nil {
		return nil, nil, err
	}
	var order []string
	inst, err := e.wrappedKeyKeys()
	if err != nil {
		return nil, nil, err
	}
	if e.Format == FormatV3 {
		objectMeta = e.contentKeys()
		order = []string{KeyV3WrappedKey, KeyV3Wrap, KeyV3MatDesc, KeyV3Context}
	} else {
		objectMeta = map[string]string{}
		maps.Copy(inst, e.contentKeys())
		order = []string{KeyIV, KeyV2WrappedKey, KeyMatDesc, KeyWrapAlg, KeyCEKAlg, KeyTagLen, KeyUnencryptedLength}
	}
	var pairs [][2]string
	for _, k := range order {
		if v, ok := inst[k]; ok {
			pairs = append(pairs, [2]string{k, v})
		}
	}
	return objectMeta, renderJSONObject(pairs), nil
}

// wrappedKeyKeys are the keys that belong to the wrapped data key: the ones a
// re-wrap replaces. The description is stored so that it reads back
// exactly (storeDescription), or refused.
func (e *Envelope) wrappedKeyKeys() (map[string]string, error) {
	b64 := base64.StdEncoding.EncodeToString
	m := map[string]string{}
	if e.Format == FormatV3 {
		code, _ := codeFromWrap(e.WrapAlgorithm)
		m[KeyV3WrappedKey] = b64(e.EncryptedKey)
		m[KeyV3Wrap] = code
		if len(e.Description) > 0 {
			field := KeyV3MatDesc
			if e.WrapAlgorithm == WrapKMSContext {
				field = KeyV3Context
			}
			d, err := storeDescription(field, e.Description)
			if err != nil {
				return nil, err
			}
			m[field] = d
		}
		return m, nil
	}
	d, err := storeDescription(KeyMatDesc, e.Description)
	if err != nil {
		return nil, err
	}
	m[KeyV2WrappedKey] = b64(e.EncryptedKey)
	m[KeyWrapAlg] = string(e.WrapAlgorithm)
	m[KeyMatDesc] = d
	return m, nil
}

// contentKeys are the keys that describe the content encryption.
func (e *Envelope) contentKeys() map[string]string {
	b64 := base64.StdEncoding.EncodeToString
	m := map[string]string{}
	if e.Format == FormatV3 {
		m[KeyV3Content] = strconv.Itoa(int(SuiteAESGCMCommitting))
		m[KeyV3Commitment] = b64(e.Commitment)
		m[KeyV3MessageID] = b64(e.MessageID)
		return m
	}
	m[KeyIV] = b64(e.IV)
	m[KeyCEKAlg] = e.Suite.CipherName()
	m[KeyTagLen] = "128"
	if e.WrapAlgorithm == WrapKMSContext && e.PlaintextLength >= 0 {
		m[KeyUnencryptedLength] = strconv.FormatInt(e.PlaintextLength, 10)
	}
	return m
}
