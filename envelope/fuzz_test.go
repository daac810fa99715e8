package envelope

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/s3ec/s3ec-go/internal/testvectors"
)

// FuzzDecode feeds arbitrary metadata (as a JSON object) and instruction
// files to Decode: it must never panic, every error must be typed, and what
// it accepts must render and decode again to the same envelope.
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
	f.Fuzz(func(t *testing.T, metaJSON, instr []byte) {
		var meta map[string]string
		if json.Unmarshal(metaJSON, &meta) != nil {
			return
		}
		if len(instr) == 0 {
			instr = nil
		}
		e, err := Decode(meta, instr)
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
		m, err := e.Metadata()
		if err != nil {
			t.Fatal(err)
		}
		e2, err := Decode(m, nil)
		if err != nil {
			t.Fatalf("re-decoding our own rendering: %v", err)
		}
		if e2.Suite != e.Suite || e2.WrapAlgorithm != e.WrapAlgorithm || string(e2.EncryptedKey) != string(e.EncryptedKey) {
			t.Fatal("rendering changed the envelope")
		}
	})
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
