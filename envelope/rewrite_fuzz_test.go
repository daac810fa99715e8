package envelope

import (
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"testing"

	"github.com/s3ec/s3ec-go/internal/testkit/testvectors"
)

// FuzzRewrappedEnvelope feeds stored envelopes (metadata as a JSON object,
// and an instruction file) to the edits of a re-wrap (rewrite.go): they must
// never panic, fail only with typed errors, and produce an envelope that
// decodes one way, with exactly the new wrapped key and everything else
// (content keys, other metadata, other instruction-file entries) as it was.
func FuzzRewrappedEnvelope(f *testing.F) {
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
		f.Add(meta, instr, []byte("new wrapped key"), false)
	}
	// The cases of this round: an ordinary object named like an instruction
	// file keeps its own metadata envelope; case variants of the wrapped-key
	// names and unknown entries of an instruction file.
	v3 := `{"x-amz-c":"115","x-amz-3":"AAAA","x-amz-w":"02","x-amz-m":"{}","x-amz-d":"` + b64(28) + `","x-amz-i":"` + b64(28) + `","owner":"q/report.instruction"}`
	f.Add([]byte(v3), []byte(nil), []byte{1, 2, 3}, true)
	f.Add([]byte(`{"x-amz-c":"115","x-amz-d":"`+b64(28)+`","x-amz-i":"`+b64(28)+`"}`),
		[]byte(`{"x-amz-3":"AAAA","X-Amz-3":"BBBB","x-amz-w":"02","x-amz-m":"{}","extra":"kept"}`), []byte{9}, false)
	f.Add([]byte(`{"x-amz-crypto-instr-file":""}`),
		[]byte(`{"x-amz-key-v2":"AAAA","x-amz-iv":"`+b64(12)+`","x-amz-cek-alg":"AES/GCM/NoPadding","x-amz-wrap-alg":"AES/GCM","x-amz-matdesc":"{}","x-amz-tag-len":"128"}`), []byte{7, 7}, true)

	f.Fuzz(func(t *testing.T, metaJSON, instr, newKey []byte, toKMS bool) {
		var meta map[string]string
		if json.Unmarshal(metaJSON, &meta) != nil || len(newKey) == 0 {
			return
		}
		if len(instr) == 0 {
			instr = nil
		}
		env, err := Decode(meta, instr)
		if err != nil || env.Format == FormatV1 || env.Suite == SuiteAESCBC {
			return // Rewrap stops here
		}
		newEnv := env.Clone()
		newEnv.EncryptedKey = newKey
		if toKMS {
			newEnv.WrapAlgorithm = WrapKMSContext
			newEnv.Description = map[string]string{ReservedContextKey: env.Suite.CipherName()}
		} else {
			newEnv.WrapAlgorithm = WrapAESGCM
			newEnv.Description = map[string]string{"generation": "2"}
		}
		if newEnv.Validate() != nil {
			return
		}
		var got *Envelope
		if env.InInstructionFile {
			body, err := newEnv.RewrapInstructionFile(instr)
			if err != nil {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("untyped error: %v", err)
				}
				return
			}
			if got, err = Decode(meta, body); err != nil {
				t.Fatalf("the rewritten instruction file does not decode: %v\n%s", err, body)
			}
			if !got.InInstructionFile {
				t.Fatal("the wrapped key left the instruction file")
			}
			// Entries that are not the wrapped key's stay.
			var before, after map[string]json.RawMessage
			json.Unmarshal(instr, &before)
			json.Unmarshal(body, &after)
			for k, v := range before {
				if !containsFold(wrappedKeyNames(env.Format), k) && !bytes.Equal(after[k], v) {
					t.Fatalf("instruction-file entry %q changed", k)
				}
			}
		} else {
			m, err := newEnv.RewrapMetadata(meta)
			if err != nil {
				t.Fatalf("metadata: %v", err)
			}
			if got, err = Decode(m, nil); err != nil {
				t.Fatalf("the rewritten metadata does not decode: %v\n%v", err, m)
			}
			for k, v := range meta {
				if !IsReservedKey(k) && m[k] != v {
					t.Fatalf("metadata %q changed", k)
				}
			}
		}
		if got.Format != env.Format || got.Suite != env.Suite || !bytes.Equal(got.IV, env.IV) ||
			!bytes.Equal(got.MessageID, env.MessageID) || !bytes.Equal(got.Commitment, env.Commitment) {
			t.Fatal("the content part of the envelope changed")
		}
		if got.WrapAlgorithm != newEnv.WrapAlgorithm || !bytes.Equal(got.EncryptedKey, newKey) || !maps.Equal(got.Description, newEnv.Description) {
			t.Fatalf("the new wrapped key is not the one stored: %+v", got)
		}
	})
}

// b64 is the base64 of n zero bytes.
func b64(n int) string {
	b, _ := json.Marshal(make([]byte, n))
	return string(b[1 : len(b)-1])
}
