package envelope

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"mime"
	"slices"
	"strings"
	"unicode/utf8"
)

// ParseDescription parses a material description or encryption context: a
// flat JSON object of strings, in any key order, spacing and escaping. An
// empty string means an empty description.
func ParseDescription(s string) (map[string]string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return map[string]string{}, nil
	}
	dec := json.NewDecoder(strings.NewReader(s))
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("not a JSON object")
	}
	m := map[string]string{}
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("invalid JSON: %v", err)
		}
		k := kt.(string) // object keys are always strings
		vt, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("invalid JSON: %v", err)
		}
		v, ok := vt.(string)
		if !ok {
			return nil, fmt.Errorf("value of %q is not a string", k)
		}
		if _, dup := m[k]; dup {
			return nil, fmt.Errorf("duplicate key %q", k)
		}
		m[k] = v
	}
	if _, err := dec.Token(); err != nil { // closing brace
		return nil, fmt.Errorf("invalid JSON: %v", err)
	}
	if strings.TrimSpace(s[dec.InputOffset():]) != "" {
		return nil, fmt.Errorf("trailing data after JSON object")
	}
	return m, nil
}

// RenderDescription renders a description as compact JSON with sorted keys,
// exactly as the AWS Go clients do (encoding/json, HTML-safe escaping).
func RenderDescription(m map[string]string) string {
	if m == nil {
		m = map[string]string{}
	}
	b, _ := json.Marshal(m) // a map[string]string always marshals
	return string(b)
}

// renderJSONObject renders string pairs as a compact JSON object in the
// given order (instruction-file bodies).
func renderJSONObject(pairs [][2]string) []byte {
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, p := range pairs {
		if i > 0 {
			buf.WriteByte(',')
		}
		k, _ := json.Marshal(p[0])
		v, _ := json.Marshal(p[1])
		buf.Write(k)
		buf.WriteByte(':')
		buf.Write(v)
	}
	buf.WriteByte('}')
	return buf.Bytes()
}

// UndoS3Encoding recovers a metadata value that S3 returned RFC 2047-encoded
// because it held non-ASCII characters. S3 "double encodes": after MIME
// decoding, each byte of the original UTF-8 text appears as one character in
// U+0000..U+00FF. Values that are not encoded are returned unchanged.
func UndoS3Encoding(v string) string {
	if !strings.Contains(v, "=?") {
		return v
	}
	dec := mime.WordDecoder{}
	d, err := dec.DecodeHeader(v)
	if err != nil || d == v {
		return v
	}
	// Map each character back to one byte if that yields valid UTF-8 text
	// that differs from the decoded string.
	raw := make([]byte, 0, len(d))
	for _, r := range d {
		if r > 0xFF {
			return d
		}
		raw = append(raw, byte(r))
	}
	if utf8.Valid(raw) {
		return string(raw)
	}
	return d
}

// readDescription is how a reader gets a description back from a stored
// metadata or instruction-file value: S3's RFC 2047 encoding undone, then
// parsed. Writers check what they store against it (storeDescription).
func readDescription(v string) (map[string]string, error) {
	return ParseDescription(UndoS3Encoding(v))
}

// storeDescription renders d for storage under field (x-amz-matdesc, x-amz-t
// or x-amz-m) and makes sure that every reader gets d back exactly.
//
// The read side undoes S3's RFC 2047 encoding of non-ASCII values. A
// description whose JSON holds "=?" (as in the value "=?UTF-8?B?SGk=?=")
// would be taken for encoded words and decoded to something else, so the
// "?" of every "=?" is written as the JSON escape \u003f, which every JSON
// reader turns back into "?" and which no RFC 2047 decoder touches. The
// result is then read back with readDescription, in each form S3 may
// return it: as sent, and RFC 2047-encoded when it is not ASCII. What does
// not come back exactly (a name or value that is not valid UTF-8, which
// JSON replaces with U+FFFD) is refused with a [*DescriptionError].
func storeDescription(field string, d map[string]string) (string, error) {
	for _, k := range slices.Sorted(maps.Keys(d)) {
		if !utf8.ValidString(k) {
			return "", &DescriptionError{Field: field, Key: k, Reason: "name is not valid UTF-8"}
		}
		if !utf8.ValidString(d[k]) {
			return "", &DescriptionError{Field: field, Key: k, Reason: "value is not valid UTF-8"}
		}
	}
	s := strings.ReplaceAll(RenderDescription(d), "=?", `=\u003f`)
	for _, wire := range s3Forms(s) {
		got, err := readDescription(wire)
		if err != nil || !maps.Equal(got, d) {
			return "", &DescriptionError{Field: field, Reason: "it would not read back as written"}
		}
	}
	return s, nil
}

// s3Forms returns the forms in which S3 may return the metadata value v:
// unchanged when it is ASCII, otherwise also RFC 2047-encoded after each
// UTF-8 byte was read as one character (B and Q encodings), as AWS S3 does.
func s3Forms(v string) []string {
	forms := []string{v}
	for i := 0; i < len(v); i++ {
		if v[i] >= utf8.RuneSelf {
			latin := make([]rune, len(v))
			for j := 0; j < len(v); j++ {
				latin[j] = rune(v[j])
			}
			l := string(latin)
			return append(forms, mime.BEncoding.Encode("UTF-8", l), mime.QEncoding.Encode("UTF-8", l))
		}
	}
	return forms
}

// CheckDescription reports whether the material description or encryption
// context d can be stored so that every reader gets it back exactly; it
// returns a [*DescriptionError] naming field when it cannot. Keyrings call
// it before they wrap anything; [Envelope.Metadata] and
// [Envelope.InstructionFile] apply the same check.
func CheckDescription(field string, d map[string]string) error {
	_, err := storeDescription(field, d)
	return err
}
