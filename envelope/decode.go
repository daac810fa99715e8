package envelope

import (
	"bytes"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// metadata is a case-insensitive view of S3 user metadata restricted to the
// envelope keys. Empty values count as absent (some writers store empty
// keys).
type metadata map[string]string

// normalize lower-cases the envelope names of m (ASCII only: metadata names
// are ASCII, and a name that lower-cases to an envelope name only through
// Unicode folding is not one) and keeps their non-empty values. Two names
// that differ only in case would make the envelope mean whichever one Go's
// map order put last, so they are refused, whatever their values.
func normalize(m map[string]string) (metadata, error) {
	out := metadata{}
	var spellings map[string][]string
	for k, v := range m {
		if !IsReservedKey(k) {
			continue
		}
		lk := asciiLower(k)
		if spellings == nil {
			spellings = map[string][]string{}
		}
		spellings[lk] = append(spellings[lk], k)
		if v != "" {
			out[lk] = v
		}
	}
	var dup []string
	for lk, names := range spellings {
		if len(names) > 1 {
			dup = append(dup, lk)
		}
	}
	if len(dup) > 0 {
		slices.Sort(dup)
		names := spellings[dup[0]]
		slices.Sort(names)
		return nil, malformed(dup[0], "present more than once, as %s (names match case-insensitively)", quoteAll(names))
	}
	return out, nil
}

func quoteAll(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = strconv.Quote(n)
	}
	return strings.Join(q, " and ")
}

func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func (m metadata) has(k string) bool { _, ok := m[k]; return ok }

// hasAny reports whether any envelope key is present.
func (m metadata) hasAny() bool {
	for k := range m {
		if k != KeyInstrFileMark {
			return true
		}
	}
	return false
}

// Layout says where an object's envelope is.
type Layout int

const (
	// LayoutNone: the metadata holds no envelope key; the envelope, if any,
	// is in an instruction file.
	LayoutNone Layout = iota
	// LayoutObject: the metadata holds a complete envelope key set.
	LayoutObject
	// LayoutV3Split: the metadata holds the V3 content keys (x-amz-c, x-amz-d,
	// x-amz-i) and the wrapped key is in an instruction file.
	LayoutV3Split
	// LayoutIncomplete: the metadata holds envelope keys but no wrapped key;
	// only an instruction file can complete it.
	LayoutIncomplete
)

// Detect reports where the envelope of an object with the given user metadata
// is. Callers fetch the instruction file unless it returns LayoutObject.
func Detect(meta map[string]string) (Layout, error) {
	m, err := normalize(meta)
	if err != nil {
		return 0, err
	}
	return m.layout()
}

func (m metadata) layout() (Layout, error) {
	n := 0
	for _, k := range []string{KeyV1WrappedKey, KeyV2WrappedKey, KeyV3WrappedKey} {
		if m.has(k) {
			n++
		}
	}
	switch {
	case n > 1:
		return 0, malformed("", "more than one of x-amz-key, x-amz-key-v2 and x-amz-3 is present")
	case n == 1:
		return LayoutObject, nil
	case m.has(KeyV3Content) && m.has(KeyV3Commitment) && m.has(KeyV3MessageID):
		return LayoutV3Split, nil
	case m.hasAny():
		return LayoutIncomplete, nil
	}
	return LayoutNone, nil
}

// Decode parses the envelope of an object from its user metadata and, when
// the metadata does not hold the wrapped key, from its instruction file.
// Metadata keys match case-insensitively and S3's RFC 2047 encoding of
// non-ASCII values is undone. Pass a nil instructionFile when there is none
// (S3 answered 404); Decode then returns [ErrNotEncrypted] for an object with
// no envelope at all, or a [*MalformedError] for an incomplete one.
//
// Decode checks the envelope's syntax and consistency only; apply
// [Policy.CheckDecrypt] before unwrapping any key.
func Decode(meta map[string]string, instructionFile []byte) (*Envelope, error) {
	m, err := normalize(meta)
	if err != nil {
		return nil, err
	}
	layout, err := m.layout()
	if err != nil {
		return nil, err
	}
	switch layout {
	case LayoutObject:
		return m.decode(false)
	case LayoutNone:
		if instructionFile == nil {
			return nil, ErrNotEncrypted
		}
		return decodeInstructionFileOnly(instructionFile, nil)
	case LayoutV3Split:
		if instructionFile == nil {
			return nil, malformed(KeyV3WrappedKey, "missing: object has V3 content keys but no instruction file was found")
		}
		inst, err := parseInstructionFile(instructionFile)
		if err != nil {
			return nil, err
		}
		for _, k := range []string{KeyV3Content, KeyV3Commitment, KeyV3MessageID} {
			if inst.has(k) {
				return nil, malformed(k, "must be stored on the object, not in the instruction file")
			}
		}
		for _, k := range []string{KeyV1WrappedKey, KeyV2WrappedKey, KeyIV, KeyMatDesc, KeyWrapAlg, KeyCEKAlg, KeyTagLen} {
			if inst.has(k) {
				return nil, malformed(k, "not allowed in the instruction file of a V3 object")
			}
		}
		if !inst.has(KeyV3WrappedKey) {
			return nil, malformed(KeyV3WrappedKey, "missing from the instruction file of a V3 object")
		}
		for _, k := range []string{KeyV3WrappedKey, KeyV3Wrap, KeyV3Context, KeyV3MatDesc} {
			if m.has(k) {
				return nil, malformed(k, "must not be on the object when the wrapped key is in the instruction file")
			}
			if v, ok := inst[k]; ok {
				m[k] = v
			}
		}
		return m.decode(true)
	default: // LayoutIncomplete
		if instructionFile == nil {
			return nil, malformed("", "envelope keys present but no wrapped key (x-amz-key-v2 or x-amz-3) and no instruction file")
		}
		// The object carries stray envelope keys and the envelope proper is
		// in the instruction file: read only the instruction file, so that
		// keys on the object cannot change how it is read, and refuse keys
		// on the object that say something else.
		return decodeInstructionFileOnly(instructionFile, m)
	}
}

// decodeInstructionFileOnly decodes a V1/V2 envelope held wholly in an
// instruction file. A V3 envelope may not be: its content keys (x-amz-c,
// x-amz-d, x-amz-i) must stay on the object, or whoever can replace the
// instruction file could replace the commitment with the wrapped key.
//
// object holds the envelope keys found on the object itself. They take no
// part in the decoding, but each must be in the instruction file with the
// same value, so that the object has one meaning whichever of the two a
// reader consults. x-amz-unencrypted-content-length (informational, and put
// on the object by Java SDK v1 writers) may be on the object alone.
func decodeInstructionFileOnly(body []byte, object metadata) (*Envelope, error) {
	inst, err := parseInstructionFile(body)
	if err != nil {
		return nil, err
	}
	if l, err := inst.layout(); err != nil {
		return nil, err
	} else if l != LayoutObject {
		return nil, malformed("", "instruction file holds no wrapped key")
	}
	for _, k := range []string{KeyV3WrappedKey, KeyV3Content, KeyV3Commitment, KeyV3MessageID} {
		if inst.has(k) {
			return nil, malformed(k, "V3 content keys must be stored on the object, not in the instruction file")
		}
	}
	keys := slices.Sorted(maps.Keys(object))
	for _, k := range keys {
		v, ok := inst[k]
		switch {
		case k == KeyInstrFileMark:
		case ok && v != object[k]:
			return nil, malformed(k, "the object metadata and the instruction file hold different values")
		case !ok && k != KeyUnencryptedLength:
			return nil, malformed(k, "on the object but not in the instruction file that holds its envelope")
		}
	}
	if v, ok := object[KeyUnencryptedLength]; ok && !inst.has(KeyUnencryptedLength) {
		// The plaintext length on the object alone (Java SDK v1, Ruby) is
		// the object's, as it is when the envelope is in the metadata:
		// validated the same way, and checked against the body by
		// CheckBodyLength.
		inst[KeyUnencryptedLength] = v
	}
	return inst.decode(true)
}

// parseInstructionFile reads an instruction-file body: one JSON object whose
// values are strings (numbers are accepted for the tag and length keys).
// The object is walked token by token, as encoding/json would silently
// keep the last of two equal keys: every key must appear once, and envelope
// names once in any case.
func parseInstructionFile(body []byte) (metadata, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, malformed("instruction file", "not a JSON object")
	}
	m := map[string]string{}
	seen := map[string]bool{}
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, malformed("instruction file", "not a JSON object: %v", err)
		}
		k := kt.(string) // object keys are always strings
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, malformed("instruction file", "not a JSON object: %v", err)
		}
		if seen[k] {
			field := k
			if IsReservedKey(k) {
				field = asciiLower(k)
			}
			return nil, malformed(field, "present more than once in the instruction file")
		}
		seen[k] = true
		var s string
		if err := json.Unmarshal(v, &s); err == nil {
			m[k] = s
			continue
		}
		lk := asciiLower(k)
		var n json.Number
		if (lk == KeyTagLen || lk == KeyUnencryptedLength) && json.Unmarshal(v, &n) == nil {
			m[k] = n.String()
			continue
		}
		if IsReservedKey(lk) {
			return nil, malformed(lk, "instruction-file value is not a string")
		}
		m[k] = "" // another key: kept only so that its spellings are counted
	}
	if _, err := dec.Token(); err != nil { // closing brace
		return nil, malformed("instruction file", "not a JSON object: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, malformed("instruction file", "data after the JSON object")
	}
	return normalize(m)
}

func (m metadata) decode(fromInstr bool) (*Envelope, error) {
	var e *Envelope
	var err error
	switch {
	case m.has(KeyV3WrappedKey):
		e, err = m.decodeV3()
	case m.has(KeyV2WrappedKey):
		err = m.refuseV3Keys()
		if err == nil {
			e, err = m.decodeV2()
		}
	default:
		err = m.refuseV3Keys()
		if err == nil {
			e, err = m.decodeV1()
		}
	}
	if err != nil {
		return nil, err
	}
	e.InInstructionFile = fromInstr
	return e, nil
}

// refuseV3Keys refuses the V3 names in a V1/V2 envelope: x-amz-c beside
// x-amz-cek-alg (or x-amz-t beside x-amz-matdesc) gives the object two
// meanings, and readers that look at the V3 names first would take the
// other one. (decodeV3 refuses the V1/V2 names likewise.)
func (m metadata) refuseV3Keys() error {
	for _, k := range []string{KeyV3Content, KeyV3Wrap, KeyV3Commitment, KeyV3MessageID, KeyV3Context, KeyV3MatDesc} {
		if m.has(k) {
			return malformed(k, "V3 key in a V1/V2 envelope (mixed formats)")
		}
	}
	return nil
}

func (m metadata) decodeV1() (*Envelope, error) {
	e := &Envelope{Format: FormatV1, PlaintextLength: -1}
	var err error
	if e.EncryptedKey, err = m.base64(KeyV1WrappedKey); err != nil {
		return nil, err
	}
	if e.Suite, err = m.cekAlg(SuiteAESCBC); err != nil {
		return nil, err
	}
	if e.Suite != SuiteAESCBC {
		// The specification: GCM content MUST use the V2 format; AWS's
		// clients read x-amz-key-v2 for it, and would refuse this one.
		return nil, malformed(KeyCEKAlg, "a V1 envelope (x-amz-key) holds AES/CBC content only; AES/GCM content uses the V2 format (x-amz-key-v2)")
	}
	if v, ok := m[KeyWrapAlg]; ok {
		e.WrapAlgorithm = WrapAlgorithm(v)
		if !e.WrapAlgorithm.Known() {
			return nil, malformed(KeyWrapAlg, "unknown wrap algorithm %q", v)
		}
	} else if len(e.EncryptedKey) > 48 {
		// Java SDK v1 "EncryptionOnly" objects store no wrap algorithm;
		// the wrapped key's size tells RSA from AES.
		e.WrapAlgorithm = WrapRSAPKCS1
	} else {
		e.WrapAlgorithm = WrapAESECB
	}
	if err := m.common(e); err != nil {
		return nil, err
	}
	return e, nil
}

func (m metadata) decodeV2() (*Envelope, error) {
	e := &Envelope{Format: FormatV2, PlaintextLength: -1}
	var err error
	if e.EncryptedKey, err = m.base64(KeyV2WrappedKey); err != nil {
		return nil, err
	}
	if !m.has(KeyCEKAlg) {
		return nil, malformed(KeyCEKAlg, "missing")
	}
	if e.Suite, err = m.cekAlg(0); err != nil {
		return nil, err
	}
	w, ok := m[KeyWrapAlg]
	if !ok {
		return nil, malformed(KeyWrapAlg, "missing")
	}
	e.WrapAlgorithm = WrapAlgorithm(w)
	if !e.WrapAlgorithm.Known() || e.WrapAlgorithm == WrapAESECB || e.WrapAlgorithm == WrapRSAPKCS1 {
		return nil, malformed(KeyWrapAlg, "unknown wrap algorithm %q", w)
	}
	if err := m.common(e); err != nil {
		return nil, err
	}
	return e, nil
}

// common parses the V1/V2 keys shared by both formats: IV, tag length,
// material description and plaintext length.
func (m metadata) common(e *Envelope) error {
	var err error
	if e.IV, err = m.base64(KeyIV); err != nil {
		return err
	}
	want := GCMIVSize
	if e.Suite == SuiteAESCBC {
		want = CBCIVSize
	}
	if len(e.IV) != want {
		return malformed(KeyIV, "IV is %d bytes, want %d for %s", len(e.IV), want, e.Suite.CipherName())
	}
	if t, ok := m[KeyTagLen]; ok {
		switch {
		case e.Suite.Authenticated() && t != "128":
			return malformed(KeyTagLen, "tag length %q, want 128", t)
		case !e.Suite.Authenticated() && t != "0":
			return malformed(KeyTagLen, "tag length %q for a suite without a tag", t)
		}
	}
	if e.Description, err = m.description(KeyMatDesc); err != nil {
		return err
	}
	if v, ok := m[KeyUnencryptedLength]; ok {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return malformed(KeyUnencryptedLength, "not a non-negative decimal: %q", v)
		}
		e.PlaintextLength = n
	}
	return nil
}

// cekAlg parses x-amz-cek-alg; def is used when the key is absent (V1).
func (m metadata) cekAlg(def Suite) (Suite, error) {
	v, ok := m[KeyCEKAlg]
	if !ok {
		return def, nil
	}
	switch v {
	case SuiteAESGCM.CipherName():
		return SuiteAESGCM, nil
	case SuiteAESCBC.CipherName():
		return SuiteAESCBC, nil
	}
	return 0, malformed(KeyCEKAlg, "unknown content algorithm %q", v)
}

func (m metadata) decodeV3() (*Envelope, error) {
	e := &Envelope{Format: FormatV3, Suite: SuiteAESGCMCommitting, PlaintextLength: -1}
	c, ok := m[KeyV3Content]
	if !ok {
		return nil, malformed(KeyV3Content, "missing")
	}
	if c != strconv.Itoa(int(SuiteAESGCMCommitting)) {
		return nil, malformed(KeyV3Content, "unknown content algorithm %q", c)
	}
	var err error
	if e.EncryptedKey, err = m.base64(KeyV3WrappedKey); err != nil {
		return nil, err
	}
	w, ok := m[KeyV3Wrap]
	if !ok {
		return nil, malformed(KeyV3Wrap, "missing")
	}
	if e.WrapAlgorithm, ok = wrapFromCode(w); !ok {
		return nil, malformed(KeyV3Wrap, "unknown wrap algorithm code %q", w)
	}
	if e.MessageID, err = m.base64(KeyV3MessageID); err != nil {
		return nil, err
	}
	if len(e.MessageID) != MessageIDSize {
		return nil, malformed(KeyV3MessageID, "message id is %d bytes, want %d", len(e.MessageID), MessageIDSize)
	}
	if subtle.ConstantTimeCompare(e.MessageID, make([]byte, MessageIDSize)) == 1 {
		return nil, malformed(KeyV3MessageID, "message id is all zero")
	}
	if e.Commitment, err = m.base64(KeyV3Commitment); err != nil {
		return nil, err
	}
	if len(e.Commitment) != CommitmentSize {
		return nil, malformed(KeyV3Commitment, "commitment is %d bytes, want %d", len(e.Commitment), CommitmentSize)
	}
	// x-amz-t belongs to the KMS wrap, x-amz-m to the local ones.
	descKey, otherKey := KeyV3MatDesc, KeyV3Context
	if e.WrapAlgorithm == WrapKMSContext {
		descKey, otherKey = KeyV3Context, KeyV3MatDesc
	}
	if m.has(otherKey) {
		return nil, malformed(otherKey, "not allowed with wrap algorithm code %q", w)
	}
	if e.Description, err = m.description(descKey); err != nil {
		return nil, err
	}
	for _, k := range []string{KeyIV, KeyMatDesc, KeyCEKAlg, KeyWrapAlg, KeyTagLen} {
		if m.has(k) {
			return nil, malformed(k, "not allowed in a V3 envelope")
		}
	}
	if v, ok := m[KeyUnencryptedLength]; ok {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
			e.PlaintextLength = n
		}
	}
	return e, nil
}

func (m metadata) base64(k string) ([]byte, error) {
	v, ok := m[k]
	if !ok {
		return nil, malformed(k, "missing")
	}
	v = strings.TrimSpace(v)
	if strings.ContainsAny(v, "\r\n") {
		// Go's decoder skips line breaks anywhere; Java's, as AWS's
		// clients use it, refuses them: one value, one meaning.
		return nil, malformed(k, "invalid base64 (a line break inside the value)")
	}
	b, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		return nil, malformed(k, "invalid base64")
	}
	if len(b) == 0 {
		return nil, malformed(k, "empty")
	}
	return b, nil
}

func (m metadata) description(k string) (map[string]string, error) {
	v, ok := m[k]
	if !ok {
		return map[string]string{}, nil
	}
	d, err := readDescription(v)
	if err != nil {
		return nil, malformed(k, "%v", err)
	}
	return d, nil
}
