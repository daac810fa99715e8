package envelope

import (
	"bytes"
	"encoding/json"
	"strings"
)

// This file holds the edits of a stored envelope that a re-wrap makes: the
// wrapped data key changes, everything else that is stored beside it (the
// content entries, other metadata, unknown instruction-file entries) stays
// exactly as it was read.

// wrappedKeyNames are the envelope entries of format f that belong to the
// wrapped data key: the ones a re-wrap replaces. The content entries stay.
func wrappedKeyNames(f Format) []string {
	if f == FormatV3 {
		return []string{KeyV3WrappedKey, KeyV3Wrap, KeyV3Context, KeyV3MatDesc}
	}
	return []string{KeyV2WrappedKey, KeyWrapAlg, KeyMatDesc}
}

func containsFold(names []string, k string) bool {
	for _, n := range names {
		if strings.EqualFold(n, k) {
			return true
		}
	}
	return false
}

// without returns meta without the entries drop selects.
func without(meta map[string]string, drop func(string) bool) map[string]string {
	out := make(map[string]string, len(meta))
	for k, v := range meta {
		if !drop(k) {
			out[k] = v
		}
	}
	return out
}

// RewrapMetadata returns an object's stored metadata with the wrapped-key
// entries of e in place of the ones it holds (names compared
// case-insensitively, as S3 does); every other entry is kept as read. e is
// the re-wrapped envelope, of the format meta holds.
func (e *Envelope) RewrapMetadata(meta map[string]string) (map[string]string, error) {
	keys, err := e.wrappedKeyKeys()
	if err != nil {
		return nil, err
	}
	names := wrappedKeyNames(e.Format)
	out := without(meta, func(k string) bool { return containsFold(names, k) })
	for k, v := range keys {
		out[k] = v
	}
	return out, nil
}

// RewrapInstructionFile returns an instruction file (its JSON body) with the
// wrapped-key entries of e in place of the ones it holds; every other
// entry is kept as it was, unknown ones included.
func (e *Envelope) RewrapInstructionFile(body []byte) ([]byte, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, &MalformedError{Field: "instruction file", Reason: "not a JSON object"}
	}
	keys, err := e.wrappedKeyKeys()
	if err != nil {
		return nil, err
	}
	names := wrappedKeyNames(e.Format)
	for k := range raw {
		if containsFold(names, k) {
			delete(raw, k)
		}
	}
	for k, v := range keys {
		if raw[k], err = jsonString(v); err != nil {
			return nil, err
		}
	}
	return json.Marshal(raw)
}

// WithoutWrappedKey returns metadata without the wrapped-key entries of
// any format (V2 and V3): what an additional instruction file (one that
// holds another wrap of the same data key) replaces when it is read.
func WithoutWrappedKey(meta map[string]string) map[string]string {
	names := append(wrappedKeyNames(FormatV2), wrappedKeyNames(FormatV3)...)
	return without(meta, func(k string) bool { return containsFold(names, k) })
}

// WithoutEnvelope returns metadata without any envelope entry.
func WithoutEnvelope(meta map[string]string) map[string]string {
	return without(meta, IsReservedKey)
}

// jsonString is s as a JSON string, without HTML escaping (as the
// instruction files of the AWS clients are written).
func jsonString(s string) (json.RawMessage, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// UserContext is the caller's part of a stored KMS encryption context: the
// description without the entries the client reserves (kms+context:
// without aws:x-amz-cek-alg and kms_cmk_id; legacy kms, whose material
// description is the KMS context: without kms_cmk_id, as the KMS keyring
// compares it). Local wraps have none: nil.
func (e *Envelope) UserContext() map[string]string {
	if !e.WrapAlgorithm.IsKMS() {
		return nil
	}
	return without(e.Description, func(k string) bool {
		return k == LegacyKMSKeyIDKey || (k == ReservedContextKey && e.WrapAlgorithm != WrapKMS)
	})
}
