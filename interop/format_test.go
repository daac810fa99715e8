package interop

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"maps"
	"slices"
	"strconv"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// layout is the expected format of a stored object: message format V2
// (AES/GCM/NoPadding, kms+context) or V3 (key-committing suite 115,
// wrap algorithm 12), with its envelope in the object's metadata or in an
// instruction file (KEY + ".instruction").
//
// The names below are spelled out from the S3 Encryption Client
// specification rather than taken from our envelope package, so that the
// checks do not share a mistake with the code under test.
type layout int

const (
	v2Metadata layout = iota
	v2Instruction
	v3Metadata
	v3Instruction
)

func (l layout) String() string {
	return [...]string{"V2 metadata", "V2 instruction file", "V3 metadata", "V3 instruction file"}[l]
}

func (l layout) v3() bool          { return l == v3Metadata || l == v3Instruction }
func (l layout) instruction() bool { return l == v2Instruction || l == v3Instruction }

const (
	instructionSuffix = ".instruction"
	gcmTagSize        = 16
	cekV2             = "AES/GCM/NoPadding"
	cekV3             = "115"
	reservedCEKKey    = "aws:x-amz-cek-alg"
)

var (
	// Every mapkey of the V2 envelope: all in the metadata, or all in the
	// instruction file.
	v2Keys = []string{"x-amz-key-v2", "x-amz-iv", "x-amz-matdesc", "x-amz-wrap-alg", "x-amz-cek-alg", "x-amz-tag-len"}
	// V3 mapkeys that stay in the object's metadata with an instruction file.
	v3ObjectKeys = []string{"x-amz-c", "x-amz-d", "x-amz-i"}
	// V3 mapkeys that move to the instruction file (x-amz-m is not used
	// with kms+context).
	v3InstructionKeys = []string{"x-amz-3", "x-amz-w", "x-amz-t"}
	// Mapkeys of the other format, which must appear nowhere.
	v2Only = []string{"x-amz-key-v2", "x-amz-iv", "x-amz-matdesc", "x-amz-wrap-alg", "x-amz-cek-alg", "x-amz-tag-len", "x-amz-key"}
	v3Only = []string{"x-amz-c", "x-amz-3", "x-amz-w", "x-amz-d", "x-amz-i", "x-amz-t", "x-amz-m"}
)

// checkStored reads the object with a plain S3 client and checks that it is
// stored in layout l: where each envelope entry is, the constants, the
// sizes of the IV, message id and commitment, the encryption context bound
// to the data key (ec plus the reserved aws:x-amz-cek-alg entry), and the
// ciphertext length (plaintext + 16-byte tag).
func checkStored(t *testing.T, h *harness, key string, size int, l layout, ec map[string]string) {
	t.Helper()
	ctx := context.Background()
	head, err := h.plain.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(h.bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("HeadObject %s: %v", key, err)
	}
	if got, want := aws.ToInt64(head.ContentLength), int64(size+gcmTagSize); got != want {
		t.Errorf("stored %d bytes, want %d (plaintext %d + GCM tag)", got, want, size)
	}
	meta := head.Metadata

	env := map[string]string{} // the whole envelope, metadata and instruction file
	maps.Copy(env, meta)
	var instr map[string]string
	if l.instruction() {
		instr = readInstructionFile(t, h, key)
		for k, v := range instr {
			env[k] = v
		}
	} else if _, err := h.plain.HeadObject(ctx, &s3.HeadObjectInput{
		Bucket: aws.String(h.bucket), Key: aws.String(key + instructionSuffix),
	}); err == nil {
		t.Errorf("an instruction file %s%s exists; want the envelope in the object's metadata only", key, instructionSuffix)
	}

	// Where each entry is.
	switch l {
	case v2Metadata:
		wantKeys(t, "object metadata", meta, v2Keys, v3Only)
	case v2Instruction:
		wantKeys(t, "object metadata", meta, nil, append(slices.Clone(v2Only), v3Only...))
		wantKeys(t, "instruction file", instr, v2Keys, v3Only)
	case v3Metadata:
		wantKeys(t, "object metadata", meta, append(slices.Clone(v3ObjectKeys), v3InstructionKeys...), v2Only)
	case v3Instruction:
		wantKeys(t, "object metadata", meta, v3ObjectKeys, append(slices.Clone(v3InstructionKeys), v2Only...))
		wantKeys(t, "instruction file", instr, v3InstructionKeys, append(slices.Clone(v3ObjectKeys), v2Only...))
	}
	if t.Failed() {
		t.Logf("object metadata: %v", meta)
		t.Logf("instruction file: %v", instr)
		return
	}

	// What each entry holds.
	wantEC := maps.Clone(ec)
	if wantEC == nil {
		wantEC = map[string]string{}
	}
	if l.v3() {
		wantEqual(t, "x-amz-c", env["x-amz-c"], cekV3)
		wantEqual(t, "x-amz-w", env["x-amz-w"], "12")
		wantBase64(t, "x-amz-3", env["x-amz-3"], -1)
		wantBase64(t, "x-amz-i (message id)", env["x-amz-i"], 28)
		wantBase64(t, "x-amz-d (key commitment)", env["x-amz-d"], 28)
		wantEC[reservedCEKKey] = cekV3
		wantContext(t, "x-amz-t", env["x-amz-t"], wantEC)
	} else {
		wantEqual(t, "x-amz-wrap-alg", env["x-amz-wrap-alg"], "kms+context")
		wantEqual(t, "x-amz-cek-alg", env["x-amz-cek-alg"], cekV2)
		wantEqual(t, "x-amz-tag-len", env["x-amz-tag-len"], "128")
		wantBase64(t, "x-amz-key-v2", env["x-amz-key-v2"], -1)
		wantBase64(t, "x-amz-iv", env["x-amz-iv"], 12)
		wantEC[reservedCEKKey] = cekV2
		wantContext(t, "x-amz-matdesc", env["x-amz-matdesc"], wantEC)
	}
	// Optional; aws-v4 writes it empty on V3 objects.
	if v := env["x-amz-unencrypted-content-length"]; v != "" && v != strconv.Itoa(size) {
		t.Errorf("x-amz-unencrypted-content-length = %q, want %d", v, size)
	}
}

// readInstructionFile reads KEY.instruction with the plain client: a flat
// JSON object of strings.
func readInstructionFile(t *testing.T, h *harness, key string) map[string]string {
	t.Helper()
	out, err := h.plain.GetObject(context.Background(), &s3.GetObjectInput{
		Bucket: aws.String(h.bucket), Key: aws.String(key + instructionSuffix),
	})
	if err != nil {
		t.Fatalf("read instruction file %s%s: %v", key, instructionSuffix, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatalf("read instruction file: %v", err)
	}
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("instruction file is not a JSON object of strings: %v: %s", err, b)
	}
	return m
}

// wantKeys checks that m has every key of present and none of absent.
func wantKeys(t *testing.T, where string, m map[string]string, present, absent []string) {
	t.Helper()
	for _, k := range present {
		if _, ok := m[k]; !ok {
			t.Errorf("%s: %s missing", where, k)
		}
	}
	for _, k := range absent {
		if _, ok := m[k]; ok {
			t.Errorf("%s: unexpected %s", where, k)
		}
	}
}

func wantEqual(t *testing.T, name, got, want string) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %q, want %q", name, got, want)
	}
}

// wantBase64 checks that v is standard base64 of n bytes (n < 0: any
// non-empty length).
func wantBase64(t *testing.T, name, v string, n int) {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(v)
	switch {
	case err != nil:
		t.Errorf("%s = %q: not base64: %v", name, v, err)
	case n < 0 && len(b) == 0:
		t.Errorf("%s is empty", name)
	case n >= 0 && len(b) != n:
		t.Errorf("%s holds %d bytes, want %d", name, len(b), n)
	}
}

// wantContext checks that v is the JSON of the encryption context want.
func wantContext(t *testing.T, name, v string, want map[string]string) {
	t.Helper()
	var got map[string]string
	if err := json.Unmarshal([]byte(v), &got); err != nil {
		t.Errorf("%s = %q: not a JSON object of strings: %v", name, v, err)
		return
	}
	if !maps.Equal(got, want) {
		t.Errorf("%s = %v, want %v", name, got, want)
	}
}
