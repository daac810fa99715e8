package envelope_test

// Focused tests for S3EC specification requirements that had no direct test
// (docs/COMPLIANCE.md names them row by row).

import (
	"bytes"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/s3ec/s3ec-go/envelope"
)

func randomKey(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, envelope.DataKeySize)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

// The envelope names are the bare "x-amz-" names (the SDK adds
// "x-amz-meta-"), US-ASCII, and the V3 names have named constants.
func TestComplianceEnvelopeNames(t *testing.T) {
	v3 := map[string]string{
		envelope.KeyV3Content:    "x-amz-c",
		envelope.KeyV3WrappedKey: "x-amz-3",
		envelope.KeyV3MatDesc:    "x-amz-m",
		envelope.KeyV3Context:    "x-amz-t",
		envelope.KeyV3Wrap:       "x-amz-w",
		envelope.KeyV3Commitment: "x-amz-d",
		envelope.KeyV3MessageID:  "x-amz-i",
	}
	for got, want := range v3 {
		if got != want {
			t.Errorf("V3 constant is %q, want %q", got, want)
		}
	}
	all := []string{
		envelope.KeyV1WrappedKey, envelope.KeyV2WrappedKey, envelope.KeyIV, envelope.KeyMatDesc,
		envelope.KeyWrapAlg, envelope.KeyCEKAlg, envelope.KeyTagLen, envelope.KeyUnencryptedLength,
		envelope.KeyV3Content, envelope.KeyV3WrappedKey, envelope.KeyV3Wrap, envelope.KeyV3Commitment,
		envelope.KeyV3MessageID, envelope.KeyV3Context, envelope.KeyV3MatDesc, envelope.KeyInstrFileMark,
	}
	for _, k := range all {
		if !strings.HasPrefix(k, "x-amz-") || strings.HasPrefix(k, "x-amz-meta-") {
			t.Errorf("envelope name %q: want an x-amz- name without x-amz-meta-", k)
		}
		for i := 0; i < len(k); i++ {
			if k[i] >= 0x80 {
				t.Errorf("envelope name %q is not US-ASCII", k)
			}
		}
		if !envelope.IsReservedKey(k) {
			t.Errorf("envelope name %q is not reserved", k)
		}
	}
	// What a writer stores uses exactly these names, never the prefix.
	env, p, err := envelope.NewForEncryption(envelope.SuiteAESGCMCommitting, envelope.WrapKMSContext, []byte("edk"), map[string]string{"aws:x-amz-cek-alg": "115"}, randomKey(t), 5)
	if err != nil {
		t.Fatal(err)
	}
	p.Zero()
	m, err := env.Metadata()
	if err != nil {
		t.Fatal(err)
	}
	for k := range m {
		if strings.HasPrefix(k, "x-amz-meta-") || !envelope.IsReservedKey(k) {
			t.Errorf("written name %q", k)
		}
	}
}

// x-amz-w codes 02, 12 and 22 translate to AES/GCM, kms+context and
// RSA-OAEP-SHA1 on write and back on read.
func TestComplianceV3WrapCodes(t *testing.T) {
	for wrap, code := range map[envelope.WrapAlgorithm]string{
		envelope.WrapAESGCM:      "02",
		envelope.WrapKMSContext:  "12",
		envelope.WrapRSAOAEPSHA1: "22",
	} {
		env, p, err := envelope.NewForEncryption(envelope.SuiteAESGCMCommitting, wrap, []byte("edk"), map[string]string{"k": "v"}, randomKey(t), 5)
		if err != nil {
			t.Fatal(wrap, err)
		}
		p.Zero()
		m, err := env.Metadata()
		if err != nil {
			t.Fatal(wrap, err)
		}
		if m[envelope.KeyV3Wrap] != code {
			t.Errorf("%s written as x-amz-w %q, want %q", wrap, m[envelope.KeyV3Wrap], code)
		}
		got, err := envelope.Decode(m, nil)
		if err != nil {
			t.Fatal(wrap, err)
		}
		if got.WrapAlgorithm != wrap {
			t.Errorf("x-amz-w %q read as %s, want %s", code, got.WrapAlgorithm, wrap)
		}
		// The description travels in x-amz-t for the KMS wrap and in
		// x-amz-m for the local wraps.
		descKey, otherKey := envelope.KeyV3MatDesc, envelope.KeyV3Context
		if wrap == envelope.WrapKMSContext {
			descKey, otherKey = otherKey, descKey
		}
		if _, ok := m[descKey]; !ok {
			t.Errorf("%s: description not in %s", wrap, descKey)
		}
		if _, ok := m[otherKey]; ok {
			t.Errorf("%s: description also in %s", wrap, otherKey)
		}
		if got.Description["k"] != "v" {
			t.Errorf("%s: description read back as %v", wrap, got.Description)
		}
	}
}

// Without x-amz-m (wraps 02, 22) or x-amz-t (wrap 12) a V3 envelope's
// description is the empty map.
func TestComplianceV3DefaultDescription(t *testing.T) {
	for _, wrap := range []envelope.WrapAlgorithm{envelope.WrapAESGCM, envelope.WrapKMSContext, envelope.WrapRSAOAEPSHA1} {
		env, p, err := envelope.NewForEncryption(envelope.SuiteAESGCMCommitting, wrap, []byte("edk"), map[string]string{"k": "v"}, randomKey(t), 5)
		if err != nil {
			t.Fatal(wrap, err)
		}
		p.Zero()
		m, err := env.Metadata()
		if err != nil {
			t.Fatal(err)
		}
		delete(m, envelope.KeyV3MatDesc)
		delete(m, envelope.KeyV3Context)
		got, err := envelope.Decode(m, nil)
		if err != nil {
			t.Fatal(wrap, err)
		}
		if got.Description == nil || len(got.Description) != 0 {
			t.Errorf("%s: default description %#v, want an empty map", wrap, got.Description)
		}
	}
}

// A writer generates an IV (V2) or message id (V3) of the suite's length,
// never all zero, and stores it, with the commitment, in the metadata.
func TestComplianceGeneratedIVAndMessageID(t *testing.T) {
	key := randomKey(t)
	env, p, err := envelope.NewForEncryption(envelope.SuiteAESGCM, envelope.WrapAESGCM, []byte("edk"), nil, key, 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(env.IV) != envelope.GCMIVSize || bytes.Equal(env.IV, make([]byte, envelope.GCMIVSize)) {
		t.Fatalf("V2 IV %x", env.IV)
	}
	if !bytes.Equal(p.Nonce, env.IV) || !bytes.Equal(p.Key, key) || len(p.AAD) != 0 {
		t.Fatalf("V2 cipher inputs: nonce %x aad %x", p.Nonce, p.AAD)
	}
	m, err := env.Metadata()
	if err != nil {
		t.Fatal(err)
	}
	if m[envelope.KeyIV] != base64.StdEncoding.EncodeToString(env.IV) || m[envelope.KeyTagLen] != "128" {
		t.Fatalf("V2 metadata %v", m)
	}

	env, p, err = envelope.NewForEncryption(envelope.SuiteAESGCMCommitting, envelope.WrapAESGCM, []byte("edk"), nil, key, 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(env.MessageID) != envelope.MessageIDSize || bytes.Equal(env.MessageID, make([]byte, envelope.MessageIDSize)) {
		t.Fatalf("V3 message id %x", env.MessageID)
	}
	m, err = env.Metadata()
	if err != nil {
		t.Fatal(err)
	}
	if m[envelope.KeyV3MessageID] != base64.StdEncoding.EncodeToString(env.MessageID) ||
		m[envelope.KeyV3Commitment] != base64.StdEncoding.EncodeToString(env.Commitment) {
		t.Fatalf("V3 metadata %v", m)
	}
	if _, ok := m[envelope.KeyIV]; ok {
		t.Fatal("V3 metadata has an IV")
	}
	// Fixed nonce 01x12, AAD = suite id 00 73.
	if !bytes.Equal(p.Nonce, bytes.Repeat([]byte{1}, envelope.GCMIVSize)) || !bytes.Equal(p.AAD, []byte{0x00, 0x73}) {
		t.Fatalf("V3 cipher inputs: nonce %x aad %x", p.Nonce, p.AAD)
	}
}

// The HKDF derivation, recomputed here with the standard library: SHA-512,
// IKM the 32-byte data key, salt the 28-byte message id, info the suite id
// 00 73 followed by DERIVEKEY (32 bytes out) or COMMITKEY (28 bytes out).
func TestComplianceHKDFInputs(t *testing.T) {
	key := randomKey(t)
	env, p, err := envelope.NewForEncryption(envelope.SuiteAESGCMCommitting, envelope.WrapKMSContext, []byte("edk"), nil, key, 5)
	if err != nil {
		t.Fatal(err)
	}
	prk, err := hkdf.Extract(sha512.New, key, env.MessageID)
	if err != nil {
		t.Fatal(err)
	}
	wantKey, err := hkdf.Expand(sha512.New, prk, "\x00\x73DERIVEKEY", 32)
	if err != nil {
		t.Fatal(err)
	}
	wantCommit, err := hkdf.Expand(sha512.New, prk, "\x00\x73COMMITKEY", 28)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(p.Key, wantKey) || !bytes.Equal(env.Commitment, wantCommit) {
		t.Fatal("derived key or commitment differ from HKDF-SHA512(salt=message id, ikm=data key)")
	}
	if _, _, err := envelope.CommittingKeys(key[:16], env.MessageID); err == nil {
		t.Fatal("a 16-byte input key was accepted")
	}
	if _, _, err := envelope.CommittingKeys(key, env.MessageID[:12]); err == nil {
		t.Fatal("a 12-byte message id was accepted")
	}
	// The reader derives the same key from the stored envelope, and refuses
	// a data key whose commitment differs.
	got, err := env.ContentParams(key)
	if err != nil || !bytes.Equal(got.Key, wantKey) {
		t.Fatalf("reader's key: %v", err)
	}
	other := randomKey(t)
	if _, err := env.ContentParams(other); err != envelope.ErrCommitmentMismatch {
		t.Fatalf("another data key: %v, want ErrCommitmentMismatch", err)
	}
}

// Nothing encrypts with a CTR suite (0x71, 0x74), CBC or an unknown suite.
func TestComplianceOnlyGCMSuitesEncrypt(t *testing.T) {
	for _, s := range []envelope.Suite{0x0071, 0x0074, envelope.SuiteAESCBC, 0} {
		if _, _, err := envelope.NewForEncryption(s, envelope.WrapAESGCM, []byte("edk"), nil, randomKey(t), 5); err == nil {
			t.Errorf("suite %#04x: encryption allowed", uint16(s))
		}
	}
}

// With an instruction file, V3 keeps x-amz-c, x-amz-d and x-amz-i on the
// object and puts x-amz-3, x-amz-w and x-amz-t or x-amz-m (only) in the
// file; V2 puts the whole envelope in the file. The file is one JSON object
// of strings and nothing else.
func TestComplianceInstructionFileWriteLayout(t *testing.T) {
	cases := []struct {
		suite      envelope.Suite
		wrap       envelope.WrapAlgorithm
		desc       map[string]string
		obj, instr []string
	}{
		{envelope.SuiteAESGCMCommitting, envelope.WrapKMSContext, map[string]string{"aws:x-amz-cek-alg": "115"},
			[]string{"x-amz-c", "x-amz-d", "x-amz-i"}, []string{"x-amz-3", "x-amz-t", "x-amz-w"}},
		{envelope.SuiteAESGCMCommitting, envelope.WrapAESGCM, map[string]string{"k": "v"},
			[]string{"x-amz-c", "x-amz-d", "x-amz-i"}, []string{"x-amz-3", "x-amz-m", "x-amz-w"}},
		{envelope.SuiteAESGCMCommitting, envelope.WrapRSAOAEPSHA1, nil,
			[]string{"x-amz-c", "x-amz-d", "x-amz-i"}, []string{"x-amz-3", "x-amz-w"}},
		{envelope.SuiteAESGCM, envelope.WrapAESGCM, map[string]string{"k": "v"},
			nil, []string{"x-amz-cek-alg", "x-amz-iv", "x-amz-key-v2", "x-amz-matdesc", "x-amz-tag-len", "x-amz-wrap-alg"}},
	}
	for _, tc := range cases {
		env, p, err := envelope.NewForEncryption(tc.suite, tc.wrap, []byte("edk"), tc.desc, randomKey(t), -1)
		if err != nil {
			t.Fatal(err)
		}
		p.Zero()
		obj, body, err := env.InstructionFile()
		if err != nil {
			t.Fatal(err)
		}
		var objKeys []string
		for k := range obj {
			if envelope.IsReservedKey(k) && k != envelope.KeyInstrFileMark {
				objKeys = append(objKeys, k)
			}
		}
		var fields map[string]string
		dec := json.NewDecoder(bytes.NewReader(body))
		if err := dec.Decode(&fields); err != nil {
			t.Fatalf("%v/%s: instruction file is not a JSON object of strings: %v", tc.suite, tc.wrap, err)
		}
		if dec.More() {
			t.Fatalf("%v/%s: data after the JSON object", tc.suite, tc.wrap)
		}
		var instrKeys []string
		for k := range fields {
			instrKeys = append(instrKeys, k)
		}
		slices.Sort(objKeys)
		slices.Sort(instrKeys)
		if !slices.Equal(objKeys, tc.obj) || !slices.Equal(instrKeys, tc.instr) {
			t.Errorf("%v/%s: object %v file %v, want object %v file %v", tc.suite, tc.wrap, objKeys, instrKeys, tc.obj, tc.instr)
		}
		if got, err := envelope.Decode(obj, body); err != nil || got.WrapAlgorithm != tc.wrap {
			t.Errorf("%v/%s: read back: %v", tc.suite, tc.wrap, err)
		}
	}
}

// Each key a format requires is required on read: without it the envelope
// is not accepted (malformed, or an incomplete envelope that needs an
// instruction file).
func TestComplianceRequiredKeys(t *testing.T) {
	v2, p, err := envelope.NewForEncryption(envelope.SuiteAESGCM, envelope.WrapKMSContext, []byte("edk"), map[string]string{"aws:x-amz-cek-alg": "AES/GCM/NoPadding"}, randomKey(t), 5)
	if err != nil {
		t.Fatal(err)
	}
	p.Zero()
	v3, p, err := envelope.NewForEncryption(envelope.SuiteAESGCMCommitting, envelope.WrapKMSContext, []byte("edk"), map[string]string{"aws:x-amz-cek-alg": "115"}, randomKey(t), 5)
	if err != nil {
		t.Fatal(err)
	}
	p.Zero()
	m2, err := v2.Metadata()
	if err != nil {
		t.Fatal(err)
	}
	m3, err := v3.Metadata()
	if err != nil {
		t.Fatal(err)
	}
	m1 := map[string]string{
		"x-amz-key":     base64.StdEncoding.EncodeToString(make([]byte, 48)),
		"x-amz-iv":      base64.StdEncoding.EncodeToString(make([]byte, 16)),
		"x-amz-matdesc": "{}",
	}
	cases := []struct {
		name     string
		m        map[string]string
		required []string
	}{
		{"V1", m1, []string{"x-amz-key", "x-amz-iv"}},
		{"V2", m2, []string{"x-amz-key-v2", "x-amz-iv", "x-amz-wrap-alg", "x-amz-cek-alg"}},
		{"V3", m3, []string{"x-amz-c", "x-amz-3", "x-amz-w", "x-amz-d", "x-amz-i"}},
	}
	for _, tc := range cases {
		if _, err := envelope.Decode(tc.m, nil); err != nil {
			t.Fatalf("%s: complete envelope refused: %v", tc.name, err)
		}
		for _, k := range tc.required {
			m := maps.Clone(tc.m)
			delete(m, k)
			if _, err := envelope.Decode(m, nil); err == nil {
				t.Errorf("%s without %s accepted", tc.name, k)
			}
		}
	}
}
