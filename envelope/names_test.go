package envelope

import (
	"bytes"
	"encoding/base64"
	"errors"
	"maps"
	"mime"
	"reflect"
	"strings"
	"testing"
)

// decodeN decodes the same input n times and requires one outcome every
// time: the same envelope, or the same error.
func decodeN(t *testing.T, n int, meta map[string]string, instr []byte) (*Envelope, error) {
	t.Helper()
	e0, err0 := Decode(meta, instr)
	for i := 1; i < n; i++ {
		e, err := Decode(meta, instr)
		if (err == nil) != (err0 == nil) || err != nil && err.Error() != err0.Error() || !reflect.DeepEqual(e, e0) {
			t.Fatalf("decode %d differs from decode 0:\n 0: %+v %v\n%2d: %+v %v", i, e0, err0, i, e, err)
		}
	}
	return e0, err0
}

func wantMalformedField(t *testing.T, err error, field string) {
	t.Helper()
	var me *MalformedError
	if !errors.As(err, &me) || !errors.Is(err, ErrMalformed) {
		t.Fatalf("got %v, want a MalformedError for %s", err, field)
	}
	if me.Field != field {
		t.Fatalf("field %q, want %q (%v)", me.Field, field, err)
	}
}

// Defect 6: names that differ only in case gave a different IV from read
// to read, as Go's map order decided which one won.
func TestCaseDuplicateNamesInMetadata(t *testing.T) {
	otherIV := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 12))
	cases := []struct {
		name  string
		meta  func() map[string]string
		field string
	}{
		{"v2 iv", func() map[string]string { m := v2Meta(); m["X-Amz-Iv"] = otherIV; return m }, KeyIV},
		{"v2 same value", func() map[string]string { m := v2Meta(); m["X-AMZ-IV"] = m["x-amz-iv"]; return m }, KeyIV},
		{"v2 empty twin", func() map[string]string { m := v2Meta(); m["X-Amz-Iv"] = ""; return m }, KeyIV},
		{"v2 wrapped key", func() map[string]string { m := v2Meta(); m["X-Amz-Key-V2"] = "b3RoZXI="; return m }, KeyV2WrappedKey},
		{"v2 matdesc", func() map[string]string {
			m := v2Meta()
			m["X-Amz-Matdesc"] = `{"aws:x-amz-cek-alg":"AES/GCM/NoPadding","a":"b"}`
			return m
		}, KeyMatDesc},
		{"v3 context", func() map[string]string {
			m := v3Meta()
			m["X-Amz-T"] = `{"aws:x-amz-cek-alg":"115","a":"b"}`
			return m
		}, KeyV3Context},
		{"v3 message id", func() map[string]string {
			m := v3Meta()
			m["X-Amz-I"] = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{3}, 28))
			return m
		}, KeyV3MessageID},
		{"three spellings", func() map[string]string {
			m := v2Meta()
			m["X-Amz-Iv"], m["X-AMZ-IV"] = otherIV, otherIV
			return m
		}, KeyIV},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := c.meta()
			for i := 0; i < 50; i++ {
				if _, err := Detect(m); err == nil {
					t.Fatalf("Detect %d accepted case duplicates", i)
				}
			}
			_, err := decodeN(t, 50, m, nil)
			wantMalformedField(t, err, c.field)
		})
	}
	// A name that only lower-cases to an envelope name outside ASCII (the
	// Kelvin sign K lower-cases to k) is not an envelope name.
	m := v2Meta()
	m["x-amz-\u212Aey-v2"] = "b3RoZXI="
	e, err := decodeN(t, 10, m, nil)
	if err != nil || string(e.EncryptedKey) != "wrapped" {
		t.Fatalf("non-ASCII look-alike name changed the envelope: %+v %v", e, err)
	}
}

// Instruction files: duplicate names in either case, including JSON
// duplicate keys of the same case (encoding/json keeps the last silently).
func TestDuplicateNamesInInstructionFile(t *testing.T) {
	e := newTestEnvelope(t, SuiteAESGCM, WrapKMSContext, map[string]string{ReservedContextKey: "AES/GCM/NoPadding"})
	_, body, err := e.InstructionFile()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := decodeN(t, 5, nil, body); err != nil {
		t.Fatal(err)
	}
	otherIV := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 12))
	add := func(pair string) []byte { return []byte(strings.Replace(string(body), "{", "{"+pair+",", 1)) }
	cases := []struct {
		name  string
		body  []byte
		field string
	}{
		{"iv other case", add(`"X-Amz-Iv":"` + otherIV + `"`), KeyIV},
		{"iv same case", add(`"x-amz-iv":"` + otherIV + `"`), KeyIV},
		{"iv same case same value", add(`"x-amz-iv":"` + base64.StdEncoding.EncodeToString(e.IV) + `"`), KeyIV},
		{"wrapped key same case", add(`"x-amz-key-v2":"b3RoZXI="`), KeyV2WrappedKey},
		{"tag len number", add(`"X-AMZ-TAG-LEN":128`), KeyTagLen},
		{"escaped name", add(`"x-amz-\u0069v":"` + otherIV + `"`), KeyIV},
		{"unrelated duplicate", []byte(strings.Replace(string(body), "{", `{"note":"a","note":"b",`, 1)), "note"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := decodeN(t, 50, nil, c.body)
			wantMalformedField(t, err, c.field)
		})
	}
	// Trailing data and other non-objects stay refused.
	for _, b := range []string{string(body) + " {}", string(body) + "x", "[]", `"s"`, `{"x-amz-iv":}`} {
		if _, err := Decode(nil, []byte(b)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%q: %v", b, err)
		}
	}
	// V3 split: the instruction file's own duplicates.
	e3 := newTestEnvelope(t, SuiteAESGCMCommitting, WrapKMSContext, map[string]string{ReservedContextKey: "115"})
	obj, body3, err := e3.InstructionFile()
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(body3), "{", `{"X-Amz-3":"b3RoZXI=",`, 1)
	_, err = decodeN(t, 50, obj, []byte(bad))
	wantMalformedField(t, err, KeyV3WrappedKey)
}

// One meaning across the object and its instruction file, and across the
// V2 and V3 names.
func TestMixedSources(t *testing.T) {
	e := newTestEnvelope(t, SuiteAESGCM, WrapKMSContext, map[string]string{ReservedContextKey: "AES/GCM/NoPadding"})
	_, body, err := e.InstructionFile()
	if err != nil {
		t.Fatal(err)
	}
	otherIV := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 12))
	// A key on the object that contradicts the instruction file.
	_, err = decodeN(t, 50, map[string]string{"x-amz-iv": otherIV}, body)
	wantMalformedField(t, err, KeyIV)
	// The same value on both sides has one meaning.
	if _, err := Decode(map[string]string{"X-Amz-Iv": base64.StdEncoding.EncodeToString(e.IV), "x-amz-unencrypted-content-length": "1234"}, body); err != nil {
		t.Fatalf("agreeing object key: %v", err)
	}

	// Java SDK v1 puts the plaintext length on the object alone.
	ea := newTestEnvelope(t, SuiteAESGCM, WrapAESGCM, nil)
	_, bodyA, err := ea.InstructionFile()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(bodyA), KeyUnencryptedLength) {
		t.Fatal("local-wrap instruction file holds the plaintext length")
	}
	if _, err := Decode(map[string]string{"x-amz-unencrypted-content-length": "5", KeyInstrFileMark: ""}, bodyA); err != nil {
		t.Fatalf("plaintext length on the object alone: %v", err)
	}
	// Any other key on the object alone has no counterpart to agree with.
	_, err = decodeN(t, 20, map[string]string{"x-amz-matdesc": `{"a":"b"}`}, bodyA)
	wantMalformedField(t, err, KeyMatDesc)

	// V3 names in a V2 envelope (on the object, or beside an instruction
	// file) and V2 names in a V3 one.
	for _, k := range []string{KeyV3Content, KeyV3Wrap, KeyV3Commitment, KeyV3MessageID, KeyV3Context, KeyV3MatDesc} {
		m := v2Meta()
		m[k] = v3Meta()[k] + "x"
		_, err := decodeN(t, 20, m, nil)
		wantMalformedField(t, err, k)
		_, err = decodeN(t, 20, map[string]string{k: "115"}, body)
		wantMalformedField(t, err, k)
	}
	for _, k := range []string{KeyIV, KeyMatDesc, KeyCEKAlg, KeyWrapAlg, KeyTagLen} {
		m := v3Meta()
		m[k] = v2Meta()[k]
		_, err := decodeN(t, 20, m, nil)
		wantMalformedField(t, err, k)
	}
}

// Duplicate keys inside a description or context JSON value.
func TestDuplicateDescriptionKeys(t *testing.T) {
	for _, c := range []struct {
		base  func() map[string]string
		field string
		value string
	}{
		{v2Meta, KeyMatDesc, `{"aws:x-amz-cek-alg":"AES/GCM/NoPadding","a":"1","a":"2"}`},
		{v2Meta, KeyMatDesc, `{"aws:x-amz-cek-alg":"AES/GCM/NoPadding","a":"1","\u0061":"1"}`},
		{v3Meta, KeyV3Context, `{"aws:x-amz-cek-alg":"115","aws:x-amz-cek-alg":"AES/GCM/NoPadding"}`},
		{func() map[string]string { m := v3Meta(); delete(m, KeyV3Context); m[KeyV3Wrap] = "02"; return m }, KeyV3MatDesc, `{"k":"1","k":"2"}`},
	} {
		m := c.base()
		m[c.field] = c.value
		_, err := decodeN(t, 50, m, nil)
		wantMalformedField(t, err, c.field)
	}
}

// s3Encodings returns the forms in which S3 may return a metadata value:
// as sent when it is ASCII; RFC 2047-encoded after reading each UTF-8 byte
// as one character otherwise.
func s3Encodings(v string) []string {
	out := []string{v}
	ascii := true
	for i := 0; i < len(v); i++ {
		if v[i] >= 0x80 {
			ascii = false
		}
	}
	if !ascii {
		var latin strings.Builder
		for _, b := range []byte(v) {
			latin.WriteRune(rune(b))
		}
		out = append(out, mime.BEncoding.Encode("UTF-8", latin.String()), mime.QEncoding.Encode("UTF-8", latin.String()))
	}
	return out
}

// encodedWordValues look like, contain or combine RFC 2047 encoded words.
var encodedWordValues = []string{
	"=?UTF-8?B?SGk=?=",
	"=?utf-8?q?Hi?=",
	"=?ISO-8859-1?Q?caf=E9?=",
	"prefix =?UTF-8?B?SGk=?= suffix",
	"x=?UTF-8?B?SGk=?=y",
	"=?UTF-8?B?SGk=?= =?UTF-8?B?SGk=?=",
	"=?UTF-8?B?SGk=?=\t=?UTF-8?B?SGk=?=",
	"=?UTF-8?B?w6k=?=",
	"café =?UTF-8?B?SGk=?=",
	"=?",
	"==??==",
	"a=?b?c?d?=e",
}

// Defect 5: a description value that looks like an RFC 2047 encoded word
// was stored as is and "decoded" on read.
func TestEncodedWordDescriptionsRoundTrip(t *testing.T) {
	var descs []map[string]string
	for _, v := range encodedWordValues {
		descs = append(descs, map[string]string{"k": v}, map[string]string{v: "v"})
	}
	descs = append(descs, map[string]string{"dépt": "финансы ☕", "<&>": "\u2028"})
	for _, d := range descs {
		for _, suite := range []Suite{SuiteAESGCM, SuiteAESGCMCommitting} {
			for _, wrap := range []WrapAlgorithm{WrapKMSContext, WrapAESGCM} {
				e := newTestEnvelope(t, suite, wrap, d)
				meta, err := e.Metadata()
				if err != nil {
					t.Fatalf("%q: %v", d, err)
				}
				field := descriptionField(e)
				for _, wire := range s3Encodings(meta[field]) {
					m := maps.Clone(meta)
					m[field] = wire
					got, err := Decode(m, nil)
					if err != nil {
						t.Fatalf("%q stored as %q: %v", d, wire, err)
					}
					if !maps.Equal(got.Description, d) {
						t.Fatalf("%v %v: %q stored as %q read back as %q", suite, wrap, d, wire, got.Description)
					}
				}
				obj, body, err := e.InstructionFile()
				if err != nil {
					t.Fatal(err)
				}
				got, err := Decode(obj, body)
				if err != nil || !maps.Equal(got.Description, d) {
					t.Fatalf("instruction file: %q read back as %v %v", d, got, err)
				}
			}
		}
	}
}

func descriptionField(e *Envelope) string {
	switch {
	case e.Format == FormatV2:
		return KeyMatDesc
	case e.WrapAlgorithm == WrapKMSContext:
		return KeyV3Context
	}
	return KeyV3MatDesc
}

// What cannot be stored exactly is refused before anything is written.
func TestUnstorableDescriptionsRefused(t *testing.T) {
	for _, d := range []map[string]string{
		{"k": "\xff"},
		{"\xfe": "v"},
		{"k": "ok", "x": "a\xc3"},
	} {
		if err := CheckDescription("encryption context", d); !errors.Is(err, ErrInvalidDescription) {
			t.Errorf("CheckDescription(%q): %v", d, err)
		} else {
			var de *DescriptionError
			if !errors.As(err, &de) || de.Field != "encryption context" {
				t.Errorf("%q: %v does not name the field", d, err)
			}
		}
		dk := bytes.Repeat([]byte{7}, 32)
		e, p, err := NewForEncryption(SuiteAESGCMCommitting, WrapAESGCM, []byte("wrapped"), d, dk, 1)
		if err == nil {
			p.Zero()
			if _, err := e.Metadata(); !errors.Is(err, ErrInvalidDescription) {
				t.Errorf("Metadata(%q): %v", d, err)
			}
			if _, _, err := e.InstructionFile(); !errors.Is(err, ErrInvalidDescription) {
				t.Errorf("InstructionFile(%q): %v", d, err)
			}
		} else if !errors.Is(err, ErrInvalidDescription) {
			t.Errorf("NewForEncryption(%q): %v", d, err)
		}
	}
	for _, v := range encodedWordValues {
		if err := CheckDescription("encryption context", map[string]string{"k": v, v: "x"}); err != nil {
			t.Errorf("%q: %v", v, err)
		}
	}
}
