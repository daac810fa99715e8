package envelope

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"maps"
	"reflect"
	"testing"

	"github.com/s3ec/s3ec-go/internal/testkit/testvectors"
)

// FuzzDecode feeds arbitrary metadata (as a JSON object) and instruction
// files to Decode: it must never panic, every error must be typed, the same
// input must always decode to the same result, and what it accepts must
// render (to metadata and to an instruction file, in each form S3 may
// return it) and decode again to the same envelope.
func FuzzDecode(f *testing.F) {
	vs, err := testvectors.Load(testvectors.Dir())
	if err != nil {
		f.Fatal(err)
	}
	for _, v := range vs {
		meta, _ := json.Marshal(v.Metadata)
		var instr []byte
		if v.InstructionFile != nil {
			instr = []byte(v.InstructionFile.Body)
		}
		f.Add(meta, instr)
	}
	f.Add([]byte(`{}`), []byte(nil))
	for _, s := range fuzzSeeds() {
		meta, _ := json.Marshal(s.meta)
		f.Add(meta, s.instr)
	}
	f.Fuzz(func(t *testing.T, metaJSON, instr []byte) {
		var meta map[string]string
		if json.Unmarshal(metaJSON, &meta) != nil {
			return
		}
		if len(instr) == 0 {
			instr = nil
		}
		e, err := Decode(meta, instr)
		// Deterministic: the same bytes decode the same way every time
		// (map order must not matter).
		for i := 0; i < 3; i++ {
			e2, err2 := Decode(meta, instr)
			if (err == nil) != (err2 == nil) || err != nil && err.Error() != err2.Error() || !reflect.DeepEqual(e, e2) {
				t.Fatalf("decoding twice gave two results:\n%+v %v\n%+v %v", e, err, e2, err2)
			}
		}
		if err != nil {
			var re *RangeError
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrNotEncrypted) && !errors.As(err, &re) {
				t.Fatalf("untyped error: %v", err)
			}
			return
		}
		if e.Description == nil || len(e.EncryptedKey) == 0 {
			t.Fatalf("accepted envelope without key or description: %+v", e)
		}
		if e.Validate() != nil {
			return // legacy envelopes are read, never written
		}
		want := e.Clone()
		want.InInstructionFile = false
		if e.Format == FormatV3 || e.WrapAlgorithm != WrapKMSContext {
			want.PlaintextLength = -1 // not written
		}
		m, err := e.Metadata()
		if err != nil {
			t.Fatalf("a valid envelope does not render: %v", err)
		}
		for k, v := range m {
			for _, wire := range s3Forms(v) {
				m2 := maps.Clone(m)
				m2[k] = wire
				e2, err := Decode(m2, nil)
				if err != nil {
					t.Fatalf("re-decoding our own rendering (%s as %q): %v", k, wire, err)
				}
				if !reflect.DeepEqual(e2, want) {
					t.Fatalf("rendering changed the envelope:\n got %+v\nwant %+v", e2, want)
				}
			}
		}
		obj, body, err := e.InstructionFile()
		if err != nil {
			t.Fatalf("a valid envelope does not render to an instruction file: %v", err)
		}
		e3, err := Decode(obj, body)
		if err != nil {
			t.Fatalf("re-decoding our own instruction file: %v", err)
		}
		want.InInstructionFile = true
		if !reflect.DeepEqual(e3, want) {
			t.Fatalf("instruction file changed the envelope:\n got %+v\nwant %+v", e3, want)
		}
	})
}

type fuzzSeed struct {
	meta  map[string]string
	instr []byte
}

// fuzzSeeds are the defects' cases: names that differ only in case,
// duplicate JSON keys, mixed V2/V3 names and descriptions that look like
// RFC 2047 encoded words.
func fuzzSeeds() []fuzzSeed {
	iv := base64.StdEncoding.EncodeToString(make([]byte, 12))
	iv2 := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 12))
	id := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 28))
	v2 := func(edit func(m map[string]string)) map[string]string {
		m := map[string]string{
			"x-amz-key-v2": "d3JhcHBlZA==", "x-amz-iv": iv, "x-amz-matdesc": `{"aws:x-amz-cek-alg":"AES/GCM/NoPadding"}`,
			"x-amz-wrap-alg": "kms+context", "x-amz-cek-alg": "AES/GCM/NoPadding", "x-amz-tag-len": "128",
		}
		edit(m)
		return m
	}
	v2instr := `{"x-amz-iv":"` + iv + `","x-amz-key-v2":"d3JhcHBlZA==","x-amz-matdesc":"{\"aws:x-amz-cek-alg\":\"AES/GCM/NoPadding\"}","x-amz-wrap-alg":"kms+context","x-amz-cek-alg":"AES/GCM/NoPadding","x-amz-tag-len":"128"`
	v3obj := map[string]string{"x-amz-c": "115", "x-amz-d": id, "x-amz-i": id}
	return []fuzzSeed{
		{v2(func(m map[string]string) { m["X-Amz-Iv"] = iv2 }), nil},
		{v2(func(m map[string]string) { m["X-AMZ-KEY-V2"] = "b3RoZXI=" }), nil},
		{v2(func(m map[string]string) { m["x-amz-c"] = "115" }), nil},
		{v2(func(m map[string]string) { m["x-amz-matdesc"] = `{"k":"=?UTF-8?B?SGk=?="}` }), nil},
		{v2(func(m map[string]string) { m["x-amz-matdesc"] = `{"k":"=\u003fUTF-8\u003fB\u003fSGk=\u003f="}` }), nil},
		{v2(func(m map[string]string) { m["x-amz-matdesc"] = `{"k":"a","k":"b"}` }), nil},
		{v2(func(m map[string]string) { m["x-amz-matdesc"] = "=?UTF-8?B?eyJrIjoiw4PCqSJ9?=" }), nil},
		{nil, []byte(v2instr + `,"X-Amz-Iv":"` + iv2 + `"}`)},
		{nil, []byte(v2instr + `,"x-amz-iv":"` + iv2 + `"}`)},
		{map[string]string{"x-amz-iv": iv2}, []byte(v2instr + `}`)},
		{map[string]string{"x-amz-c": "115"}, []byte(v2instr + `}`)},
		{v3obj, []byte(`{"x-amz-3":"d3JhcHBlZA==","x-amz-w":"12","x-amz-t":"{\"aws:x-amz-cek-alg\":\"115\",\"k\":\"=?UTF-8?Q?Hi?= =?UTF-8?Q?Hi?=\"}"}`)},
		{v3obj, []byte(`{"x-amz-3":"d3JhcHBlZA==","x-amz-w":"12","X-Amz-3":"b3RoZXI="}`)},
		{v3obj, []byte(`{"x-amz-3":"d3JhcHBlZA==","x-amz-w":"02","x-amz-m":"{\"k\":\"1\",\"k\":\"2\"}"}`)},
	}
}

// FuzzParseRange checks that accepted ranges lie inside the object.
func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"bytes=0-9", "bytes=-5", "bytes=7-", "bytes=9-3", "bytes=-0", "x"} {
		f.Add(s, int64(100))
	}
	f.Fuzz(func(t *testing.T, h string, size int64) {
		if size < 0 {
			return
		}
		r, err := ParseRange(h, size)
		if err != nil {
			var re *RangeError
			if !errors.As(err, &re) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if r.First < 0 || r.Last < r.First || r.Last >= size {
			t.Fatalf("%q of %d gave %+v", h, size, r)
		}
	})
}
