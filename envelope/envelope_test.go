package envelope

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"maps"
	"mime"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/s3ec/s3ec-go/internal/testkit/testvectors"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Known answers of the AWS Go v4 client for the key-committing suite.
func TestCommittingKeysKnownAnswers(t *testing.T) {
	cases := []struct{ dataKey, messageID, key, commitment string }{
		{
			"80d90dc4cc7e77d8a6332efa44eba56230a7fe7b89af37d1e501ab2e07c0a163",
			"b8ea76bed24c7b85382a148cb9dcd1cfdfb765f55ded4dfa6e0c4c79",
			"6dd14f546cc006e639126e83f5d4d1b118576bb5df97f38c6fb3a1db87bbc338",
			"f89818bc0a346d3a3426b68e9509b6b2ae5fe1f904aa329fb73625db",
		},
		{
			"501afb8227d22e75e68010414b8abdaf3064c081e8e922dafef4992036394d60",
			"61a00b4981a5aacfd136c55cb726e32d2a547dc7600a7d4675c69127",
			"e14786a714748d1d2c3a4a6816dec56ddf1881bbeabb4f39420ffb9f63700b2f",
			"5c1e73e47f6fe3a70d6d094283aceaa76d2975feb829212d88f0afc1",
		},
	}
	for _, c := range cases {
		key, com, err := CommittingKeys(unhex(t, c.dataKey), unhex(t, c.messageID))
		if err != nil {
			t.Fatal(err)
		}
		if hex.EncodeToString(key) != c.key || hex.EncodeToString(com) != c.commitment {
			t.Fatalf("derived key %x commitment %x", key, com)
		}
		e := &Envelope{Suite: SuiteAESGCMCommitting, MessageID: unhex(t, c.messageID), Commitment: com}
		p, err := e.ContentParams(unhex(t, c.dataKey))
		if err != nil || hex.EncodeToString(p.Key) != c.key || !bytes.Equal(p.Nonce, bytes.Repeat([]byte{1}, 12)) || !bytes.Equal(p.AAD, []byte{0, 0x73}) {
			t.Fatalf("ContentParams = %+v, %v", p, err)
		}
		e.Commitment = bytes.Clone(com)
		e.Commitment[27] ^= 1
		if _, err := e.ContentParams(unhex(t, c.dataKey)); !errors.Is(err, ErrCommitmentMismatch) {
			t.Fatalf("flipped commitment: %v", err)
		}
	}
	if _, _, err := CommittingKeys(make([]byte, 16), make([]byte, 28)); err == nil {
		t.Fatal("accepted a 16-byte data key")
	}
	if _, _, err := CommittingKeys(make([]byte, 32), make([]byte, 16)); err == nil {
		t.Fatal("accepted a 16-byte message id")
	}
}

// Every V3 vector written by the AWS Go v4 client is also a known answer:
// HKDF of its data key and message id must give its stored commitment.
func TestCommitmentMatchesAWSVectors(t *testing.T) {
	vs, err := testvectors.Load(testvectors.Dir())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, v := range vs {
		if v.Format != "v3" || v.Negative() || len(v.KMS) == 0 {
			continue
		}
		e, err := Decode(v.Metadata, nil)
		if err != nil {
			t.Fatalf("%s: %v", v.Name, err)
		}
		dk, _ := base64.StdEncoding.DecodeString(v.KMS[0].PlaintextKeyB64)
		if _, err := e.ContentParams(dk); err != nil {
			t.Fatalf("%s: %v", v.Name, err)
		}
		n++
	}
	if n == 0 {
		t.Fatal("no V3 KMS vectors")
	}
}

func TestDecodeAllVectorEnvelopes(t *testing.T) {
	vs, err := testvectors.Load(testvectors.Dir())
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		if v.Negative() {
			continue
		}
		var instr []byte
		if v.InstructionFile != nil {
			instr = []byte(v.InstructionFile.Body)
		}
		e, err := Decode(v.Metadata, instr)
		if err != nil {
			t.Errorf("%s: %v", v.Name, err)
			continue
		}
		// The same with the Go canonical header names that MinIO and
		// gofakes3 return.
		canon := map[string]string{}
		for k, val := range v.Metadata {
			canon[http.CanonicalHeaderKey(k)] = val
		}
		e2, err := Decode(canon, instr)
		if err != nil || !reflect.DeepEqual(e, e2) {
			t.Errorf("%s: canonical-case metadata decoded differently: %v", v.Name, err)
		}
		if string(e.WrapAlgorithm) != v.WrapAlgorithm {
			t.Errorf("%s: wrap %q, vector says %q", v.Name, e.WrapAlgorithm, v.WrapAlgorithm)
		}
		if want := map[string]Suite{"AES/GCM/NoPadding": SuiteAESGCM, "AES/CBC/PKCS5Padding": SuiteAESCBC}[v.ContentAlgorithm]; want != 0 && want != e.Suite {
			t.Errorf("%s: suite %v, vector says %s", v.Name, e.Suite, v.ContentAlgorithm)
		}
	}
}

func newTestEnvelope(t *testing.T, suite Suite, wrap WrapAlgorithm, desc map[string]string) *Envelope {
	t.Helper()
	dk := bytes.Repeat([]byte{7}, 32)
	e, p, err := NewForEncryption(suite, wrap, []byte("wrapped-key-bytes"), desc, dk, 1234)
	if err != nil {
		t.Fatal(err)
	}
	p.Zero()
	return e
}

func TestRenderDecodeRoundTrip(t *testing.T) {
	for _, suite := range []Suite{SuiteAESGCM, SuiteAESGCMCommitting} {
		for _, wrap := range []WrapAlgorithm{WrapKMSContext, WrapAESGCM, WrapRSAOAEPSHA1} {
			for _, desc := range []map[string]string{{}, {"a": "b", "ü": "<&>"}} {
				e := newTestEnvelope(t, suite, wrap, desc)
				meta, err := e.Metadata()
				if err != nil {
					t.Fatal(err)
				}
				got, err := Decode(meta, nil)
				if err != nil {
					t.Fatalf("%v %v: %v", suite, wrap, err)
				}
				want := e.Clone()
				if suite == SuiteAESGCMCommitting || wrap != WrapKMSContext {
					want.PlaintextLength = -1 // not stored
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("%v %v: round trip\n got %+v\nwant %+v", suite, wrap, got, want)
				}

				objMeta, body, err := e.InstructionFile()
				if err != nil {
					t.Fatal(err)
				}
				if l, _ := Detect(objMeta); suite == SuiteAESGCMCommitting && l != LayoutV3Split || suite == SuiteAESGCM && l != LayoutNone {
					t.Fatalf("%v: object layout %v", suite, l)
				}
				got, err = Decode(objMeta, body)
				if err != nil {
					t.Fatalf("%v %v instruction file: %v", suite, wrap, err)
				}
				want.InInstructionFile = true
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("instruction file round trip\n got %+v\nwant %+v", got, want)
				}
			}
		}
	}
}

// The key sets we write are those of the AWS producers.
func TestRenderedKeySets(t *testing.T) {
	keys := func(m map[string]string) string {
		var ks []string
		for k := range maps.Keys(m) {
			ks = append(ks, k)
		}
		return strings.Join(sortStrings(ks), ",")
	}
	cases := []struct {
		suite Suite
		wrap  WrapAlgorithm
		desc  map[string]string
		want  string
	}{
		{SuiteAESGCM, WrapKMSContext, map[string]string{ReservedContextKey: "AES/GCM/NoPadding"}, "x-amz-cek-alg,x-amz-iv,x-amz-key-v2,x-amz-matdesc,x-amz-tag-len,x-amz-unencrypted-content-length,x-amz-wrap-alg"},
		{SuiteAESGCM, WrapAESGCM, nil, "x-amz-cek-alg,x-amz-iv,x-amz-key-v2,x-amz-matdesc,x-amz-tag-len,x-amz-wrap-alg"},
		{SuiteAESGCMCommitting, WrapKMSContext, map[string]string{ReservedContextKey: "115"}, "x-amz-3,x-amz-c,x-amz-d,x-amz-i,x-amz-t,x-amz-w"},
		{SuiteAESGCMCommitting, WrapAESGCM, map[string]string{"k": "v"}, "x-amz-3,x-amz-c,x-amz-d,x-amz-i,x-amz-m,x-amz-w"},
		{SuiteAESGCMCommitting, WrapRSAOAEPSHA1, nil, "x-amz-3,x-amz-c,x-amz-d,x-amz-i,x-amz-w"},
	}
	for _, c := range cases {
		m, err := newTestEnvelope(t, c.suite, c.wrap, c.desc).Metadata()
		if err != nil {
			t.Fatal(err)
		}
		if got := keys(m); got != c.want {
			t.Errorf("%v %v: keys %s, want %s", c.suite, c.wrap, got, c.want)
		}
	}
}

func sortStrings(s []string) []string {
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s
}

func TestNeverWritesLegacy(t *testing.T) {
	dk := make([]byte, 32)
	if _, _, err := NewForEncryption(SuiteAESCBC, WrapKMSContext, []byte("k"), nil, dk, 0); err == nil {
		t.Fatal("built a CBC envelope")
	}
	for _, w := range []WrapAlgorithm{WrapKMS, WrapAESWrap, WrapAESECB, WrapRSAPKCS1, WrapRSAOAEPSHA256, "bogus"} {
		if _, _, err := NewForEncryption(SuiteAESGCM, w, []byte("k"), nil, dk, 0); !errors.Is(err, ErrMalformed) {
			t.Fatalf("built an envelope with wrap %q: %v", w, err)
		}
	}
}

func v2Meta() map[string]string {
	return map[string]string{
		"x-amz-key-v2":                     "d3JhcHBlZA==",
		"x-amz-iv":                         base64.StdEncoding.EncodeToString(make([]byte, 12)),
		"x-amz-matdesc":                    `{"aws:x-amz-cek-alg":"AES/GCM/NoPadding"}`,
		"x-amz-wrap-alg":                   "kms+context",
		"x-amz-cek-alg":                    "AES/GCM/NoPadding",
		"x-amz-tag-len":                    "128",
		"x-amz-unencrypted-content-length": "17",
	}
}

func v3Meta() map[string]string {
	id := bytes.Repeat([]byte{9}, 28)
	return map[string]string{
		"x-amz-3": "d3JhcHBlZA==",
		"x-amz-c": "115",
		"x-amz-w": "12",
		"x-amz-i": base64.StdEncoding.EncodeToString(id),
		"x-amz-d": base64.StdEncoding.EncodeToString(id),
		"x-amz-t": `{"aws:x-amz-cek-alg":"115"}`,
	}
}

// Adding V3 keys to a V2 object must not change how it is read: the mixed
// envelope is refused, and is never read as a committing one.
func TestHeaderSpoofing(t *testing.T) {
	m := v2Meta()
	m["x-amz-c"] = "115"
	m["x-amz-w"] = "12"
	m["x-amz-d"] = v3Meta()["x-amz-d"]
	m["x-amz-i"] = v3Meta()["x-amz-i"]
	if _, err := Decode(m, nil); !errors.Is(err, ErrMalformed) {
		t.Fatalf("V2 object with V3 keys: %v", err)
	}
	if l, err := Detect(m); err != nil || l != LayoutObject {
		t.Fatalf("layout %v %v", l, err)
	}
	m["x-amz-3"] = "d3JhcHBlZA=="
	if _, err := Decode(m, nil); !errors.Is(err, ErrMalformed) {
		t.Fatalf("object with both x-amz-key-v2 and x-amz-3: %v", err)
	}
}

func TestMalformedNamesField(t *testing.T) {
	cases := []struct {
		name  string
		base  func() map[string]string
		edit  func(m map[string]string)
		field string
	}{
		{"v2 missing iv", v2Meta, func(m map[string]string) { delete(m, "x-amz-iv") }, "x-amz-iv"},
		{"v2 short iv", v2Meta, func(m map[string]string) { m["x-amz-iv"] = "AAAA" }, "x-amz-iv"},
		{"v2 bad base64", v2Meta, func(m map[string]string) { m["x-amz-key-v2"] = "!!" }, "x-amz-key-v2"},
		{"v2 unknown cek", v2Meta, func(m map[string]string) { m["x-amz-cek-alg"] = "AES/GCM/NoPaddingX" }, "x-amz-cek-alg"},
		{"v2 missing cek", v2Meta, func(m map[string]string) { delete(m, "x-amz-cek-alg") }, "x-amz-cek-alg"},
		{"v2 unknown wrap", v2Meta, func(m map[string]string) { m["x-amz-wrap-alg"] = "rot13" }, "x-amz-wrap-alg"},
		{"v2 missing wrap", v2Meta, func(m map[string]string) { delete(m, "x-amz-wrap-alg") }, "x-amz-wrap-alg"},
		{"v2 tag len", v2Meta, func(m map[string]string) { m["x-amz-tag-len"] = "96" }, "x-amz-tag-len"},
		{"v2 matdesc", v2Meta, func(m map[string]string) { m["x-amz-matdesc"] = `{"a":1}` }, "x-amz-matdesc"},
		{"v2 length", v2Meta, func(m map[string]string) { m["x-amz-unencrypted-content-length"] = "-1" }, "x-amz-unencrypted-content-length"},
		{"v3 suite", v3Meta, func(m map[string]string) { m["x-amz-c"] = "116" }, "x-amz-c"},
		{"v3 downgrade", v3Meta, func(m map[string]string) { m["x-amz-c"] = "AES/GCM/NoPadding" }, "x-amz-c"},
		{"v3 wrap code", v3Meta, func(m map[string]string) { m["x-amz-w"] = "13" }, "x-amz-w"},
		{"v3 missing commitment", v3Meta, func(m map[string]string) { delete(m, "x-amz-d") }, "x-amz-d"},
		{"v3 short message id", v3Meta, func(m map[string]string) { m["x-amz-i"] = "AAAA" }, "x-amz-i"},
		{"v3 zero message id", v3Meta, func(m map[string]string) { m["x-amz-i"] = base64.StdEncoding.EncodeToString(make([]byte, 28)) }, "x-amz-i"},
		{"v3 t with aes wrap", v3Meta, func(m map[string]string) { m["x-amz-w"] = "02" }, "x-amz-t"},
		{"v3 with v2 key", v3Meta, func(m map[string]string) { m["x-amz-iv"] = "AAAA" }, "x-amz-iv"},
	}
	for _, c := range cases {
		m := c.base()
		c.edit(m)
		_, err := Decode(m, nil)
		var me *MalformedError
		if !errors.As(err, &me) || !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: got %v, want a MalformedError", c.name, err)
			continue
		}
		if me.Field != c.field {
			t.Errorf("%s: field %q, want %q (%v)", c.name, me.Field, c.field, err)
		}
	}
}

func TestNotEncryptedAndIncomplete(t *testing.T) {
	if _, err := Decode(map[string]string{"color": "blue"}, nil); !errors.Is(err, ErrNotEncrypted) {
		t.Fatalf("plain object: %v", err)
	}
	m := v2Meta()
	delete(m, "x-amz-key-v2")
	if l, _ := Detect(m); l != LayoutIncomplete {
		t.Fatalf("layout %v", l)
	}
	if _, err := Decode(m, nil); !errors.Is(err, ErrMalformed) {
		t.Fatalf("incomplete object without instruction file: %v", err)
	}
	// Empty values count as absent (Go v4 writes empty x-amz-m).
	m3 := v3Meta()
	m3["x-amz-m"] = ""
	m3["x-amz-unencrypted-content-length"] = ""
	if _, err := Decode(m3, nil); err != nil {
		t.Fatalf("empty keys: %v", err)
	}
}

func TestV3SplitRules(t *testing.T) {
	e := newTestEnvelope(t, SuiteAESGCMCommitting, WrapKMSContext, map[string]string{ReservedContextKey: "115"})
	obj, body, err := e.InstructionFile()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Decode(obj, nil); !errors.Is(err, ErrMalformed) {
		t.Fatalf("split object without instruction file: %v", err)
	}
	// The instruction file must not carry c, d or i.
	for _, k := range []string{"x-amz-c", "x-amz-d", "x-amz-i"} {
		bad := strings.Replace(string(body), "{", `{"`+k+`":"`+obj[k]+`",`, 1)
		if _, err := Decode(obj, []byte(bad)); !errors.Is(err, ErrMalformed) {
			t.Fatalf("instruction file with %s: %v", k, err)
		}
	}
	// The wrapped key may not also be on the object.
	obj2 := maps.Clone(obj)
	obj2["x-amz-w"] = "12"
	if _, err := Decode(obj2, body); !errors.Is(err, ErrMalformed) {
		t.Fatalf("x-amz-w on a split object: %v", err)
	}
	// A whole V3 envelope in the instruction file, nothing on the object:
	// the commitment would be as replaceable as the wrapped key.
	full, err := e.Metadata()
	if err != nil {
		t.Fatal(err)
	}
	fullBody, _ := json.Marshal(full)
	for _, objMeta := range []map[string]string{nil, {"x-amz-iv": "AAAA"}} {
		if _, err := Decode(objMeta, fullBody); !errors.Is(err, ErrMalformed) {
			t.Fatalf("V3 envelope wholly in the instruction file: %v", err)
		}
	}
	if _, err := Decode(obj, []byte("not json")); !errors.Is(err, ErrMalformed) {
		t.Fatalf("invalid instruction file: %v", err)
	}
}

// Instruction files written by aws-sdk-go carry numbers and empty strings.
func TestInstructionFileLeniency(t *testing.T) {
	body := `{"x-amz-iv":"` + base64.StdEncoding.EncodeToString(make([]byte, 16)) + `","x-amz-key-v2":"d3JhcA==","x-amz-matdesc":"{\"kms_cmk_id\":\"k\"}","x-amz-wrap-alg":"kms","x-amz-cek-alg":"AES/CBC/PKCS5Padding","x-amz-tag-len":"","x-amz-unencrypted-content-length":17}`
	e, err := Decode(nil, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if e.Suite != SuiteAESCBC || e.PlaintextLength != 17 || e.WrapAlgorithm != WrapKMS || !e.InInstructionFile {
		t.Fatalf("%+v", e)
	}
	if _, err := Decode(nil, []byte(`{"x-amz-key-v2":{"x":1}}`)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("object value: %v", err)
	}
}

func TestParseDescription(t *testing.T) {
	want := map[string]string{"a": "b", "c": "<é>"}
	for _, s := range []string{
		`{"a":"b","c":"<é>"}`,
		`{ "c" : "\u003cé\u003e" ,  "a": "b" }`,
		"{\n\t\"a\": \"b\",\n\t\"c\": \"\\u003c\\u00e9>\"\n}",
	} {
		got, err := ParseDescription(s)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %v %v", s, got, err)
		}
	}
	for _, s := range []string{`[]`, `{"a":1}`, `{"a":"b","a":"c"}`, `{"a":"b"} x`, `{"a":`, `"s"`, `{"a":null}`} {
		if _, err := ParseDescription(s); err == nil {
			t.Errorf("accepted %s", s)
		}
	}
	if got, err := ParseDescription(""); err != nil || len(got) != 0 || got == nil {
		t.Errorf("empty: %v %v", got, err)
	}
	if got := RenderDescription(map[string]string{"b": "1", "a": "<"}); got != `{"a":"\u003c","b":"1"}` {
		t.Errorf("render: %s", got)
	}
}

// S3 returns non-ASCII metadata RFC 2047-encoded, after reading each UTF-8
// byte as one character.
func TestUndoS3Encoding(t *testing.T) {
	orig := `{"aws:x-amz-cek-alg":"115","dépt":"финансы ☕"}`
	var latin strings.Builder
	for _, b := range []byte(orig) {
		latin.WriteRune(rune(b))
	}
	for _, enc := range []mime.WordEncoder{mime.BEncoding, mime.QEncoding} {
		wire := enc.Encode("UTF-8", latin.String())
		if got := UndoS3Encoding(wire); got != orig {
			t.Errorf("%q decoded to %q", wire, got)
		}
	}
	// A plain RFC 2047 value (not double encoded) decodes normally.
	if got := UndoS3Encoding(mime.BEncoding.Encode("UTF-8", "☕")); got != "☕" {
		t.Errorf("single encoding: %q", got)
	}
	for _, s := range []string{"plain", `{"a":"=?x"}`, "=?bogus?="} {
		if got := UndoS3Encoding(s); got != s {
			t.Errorf("%q changed to %q", s, got)
		}
	}
	m := v3Meta()
	m["x-amz-t"] = mime.BEncoding.Encode("UTF-8", latin.String())
	e, err := Decode(m, nil)
	if err != nil || e.Description["dépt"] != "финансы ☕" {
		t.Fatalf("decode encoded context: %v %v", e, err)
	}
}

func TestParseRange(t *testing.T) {
	cases := []struct {
		h     string
		size  int64
		first int64
		last  int64
		ok    bool
	}{
		{"bytes=0-9", 100, 0, 9, true},
		{"bytes=10-", 100, 10, 99, true},
		{"bytes=-10", 100, 90, 99, true},
		{"bytes=-1000", 100, 0, 99, true},
		{"bytes=90-1000", 100, 90, 99, true},
		{"bytes=99-99", 100, 99, 99, true},
		{"bytes=100-", 100, 0, 0, false},
		{"bytes=5-4", 100, 0, 0, false},
		{"bytes=-0", 100, 0, 0, false},
		{"bytes=0-0", 0, 0, 0, false},
		{"bytes=-5", 0, 0, 0, false},
		{"items=0-1", 100, 0, 0, false},
		{"bytes=0-1,5-6", 100, 0, 0, false},
		{"bytes=a-b", 100, 0, 0, false},
		{"bytes=+1-2", 100, 0, 0, false},
		{"bytes=1", 100, 0, 0, false},
	}
	for _, c := range cases {
		r, err := ParseRange(c.h, c.size)
		if c.ok != (err == nil) || c.ok && (r.First != c.first || r.Last != c.last) {
			t.Errorf("%s of %d: %+v %v", c.h, c.size, r, err)
		}
		var re *RangeError
		if err != nil && !errors.As(err, &re) {
			t.Errorf("%s: untyped error %v", c.h, err)
		}
	}
	r := ByteRange{First: 33, Last: 40}
	if body, ctr, skip := CiphertextRange(r); body != r || ctr != 4 || skip != 1 {
		t.Errorf("CiphertextRange: %v %d %d", body, ctr, skip)
	}
	if r.ContentRange(100) != "bytes 33-40/100" || r.Len() != 8 {
		t.Error("ContentRange/Len")
	}
}

func TestLengths(t *testing.T) {
	if n, _ := CiphertextLength(SuiteAESGCMCommitting, 0); n != 16 {
		t.Fatal(n)
	}
	if _, err := CiphertextLength(SuiteAESGCM, MaxGCMPlaintextSize+1); err == nil {
		t.Fatal("accepted a plaintext over the GCM limit")
	}
	if n, _ := CiphertextLength(SuiteAESGCM, MaxGCMPlaintextSize); n != MaxGCMPlaintextSize+16 {
		t.Fatal(n)
	}
	if n, _ := CiphertextLength(SuiteAESCBC, 16); n != 32 {
		t.Fatal(n)
	}
	if n, exact, err := PlaintextLength(SuiteAESGCM, 33); n != 17 || !exact || err != nil {
		t.Fatal(n, exact, err)
	}
	if _, _, err := PlaintextLength(SuiteAESGCM, 15); err == nil {
		t.Fatal("accepted a body shorter than the tag")
	}
	if _, _, err := PlaintextLength(SuiteAESCBC, 33); !errors.Is(err, ErrInvalidCiphertext) {
		t.Fatal(err)
	}
}

func TestPolicy(t *testing.T) {
	var def Policy
	if def.EncryptSuite() != SuiteAESGCMCommitting || def.Validate() != nil {
		t.Fatal("default policy")
	}
	if (Policy{Commitment: ForbidEncryptAllowDecrypt}).EncryptSuite() != SuiteAESGCM {
		t.Fatal("forbid-encrypt writes V2")
	}
	cases := []struct {
		p    Policy
		s    Suite
		fail bool
	}{
		{def, SuiteAESGCMCommitting, false},
		{def, SuiteAESGCM, true},
		{def, SuiteAESCBC, true},
		{Policy{Commitment: RequireEncryptAllowDecrypt}, SuiteAESGCM, false},
		{Policy{Commitment: RequireEncryptAllowDecrypt}, SuiteAESCBC, true},
		{Policy{Commitment: RequireEncryptAllowDecrypt, LegacyUnauthenticated: true}, SuiteAESCBC, false},
		{Policy{Commitment: ForbidEncryptAllowDecrypt}, SuiteAESGCMCommitting, false},
		{def, Suite(0x74), true},
	}
	for _, c := range cases {
		if err := c.p.CheckDecrypt(c.s); (err != nil) != c.fail {
			t.Errorf("%+v %v: %v", c.p, c.s, err)
		}
	}
	var pe *PolicyError
	if err := def.CheckDecrypt(SuiteAESGCM); !errors.As(err, &pe) || pe.Setting != SettingCommitment || !strings.Contains(err.Error(), "envelope.Policy.Commitment") {
		t.Errorf("policy error does not name the option: %v", err)
	}
	if err := (Policy{LegacyUnauthenticated: true}).Validate(); err == nil {
		t.Error("legacy CBC under require-decrypt validated")
	}
	if err := (Policy{Commitment: 7}).Validate(); err == nil {
		t.Error("unknown commitment policy validated")
	}
}

func TestReservedKeys(t *testing.T) {
	for _, k := range []string{"x-amz-key-v2", "X-Amz-Matdesc", "x-amz-c", "X-AMZ-CRYPTO-INSTR-FILE"} {
		if !IsReservedKey(k) {
			t.Errorf("%s not reserved", k)
		}
	}
	for _, k := range []string{"x-amz-keys", "color", "x-amz-e"} {
		if IsReservedKey(k) {
			t.Errorf("%s reserved", k)
		}
	}
}

func TestCBCCiphertextRange(t *testing.T) {
	for _, tc := range []struct {
		r           ByteRange
		size, ctLen int64
		want        CBCRange
	}{
		{ByteRange{0, 0}, 100, 112, CBCRange{Body: ByteRange{0, 15}, Len: 1}},
		{ByteRange{5, 20}, 100, 112, CBCRange{Body: ByteRange{0, 31}, Skip: 5, Len: 16}},
		{ByteRange{16, 16}, 100, 112, CBCRange{Body: ByteRange{0, 31}, IVInBody: true, Len: 1}},
		{ByteRange{40, 99}, 100, 112, CBCRange{Body: ByteRange{16, 111}, IVInBody: true, Skip: 8, Len: 60, ToEnd: true}},
		{ByteRange{0, 95}, 96, 112, CBCRange{Body: ByteRange{0, 111}, Len: 96, ToEnd: true}}, // a full padding block
		{ByteRange{80, 94}, 96, 112, CBCRange{Body: ByteRange{64, 95}, IVInBody: true, Len: 15}},
	} {
		got, err := CBCCiphertextRange(tc.r, tc.size, tc.ctLen)
		if err != nil || got != tc.want {
			t.Errorf("%+v of %d/%d: %+v %v, want %+v", tc.r, tc.size, tc.ctLen, got, err, tc.want)
		}
	}
	for _, bad := range [][3]int64{{0, 95, 112}, {0, 112, 112}, {0, 10, 20}, {200, 100, 112}} {
		if _, err := CBCCiphertextRange(ByteRange{bad[0], bad[0]}, bad[1], bad[2]); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
	if tr, err := CBCTailRange(16); err != nil || tr != (CBCRange{Body: ByteRange{0, 15}, Len: -1, ToEnd: true}) {
		t.Errorf("tail of 16: %+v %v", tr, err)
	}
	if tr, err := CBCTailRange(64); err != nil || tr != (CBCRange{Body: ByteRange{32, 63}, IVInBody: true, Len: -1, ToEnd: true}) {
		t.Errorf("tail of 64: %+v %v", tr, err)
	}
}
