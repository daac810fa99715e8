package envelope

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
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
