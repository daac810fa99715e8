package envelope_test

import (
	"encoding/base64"
	"errors"
	"testing"

	"github.com/s3ec/s3ec-go/envelope"
)

// TestAttackV1EnvelopeWithGCMRefused: the specification pairs the
// GCM suite with one format only (content-metadata.md, "Algorithm Suite and
// Message Format Version Compatibility": "Objects encrypted with
// ALG_AES_256_GCM_IV12_TAG16_NO_KDF MUST use the V2 message format version
// only"; x-amz-cek-alg is a V2 key, and only CBC "MAY use either the V1 or
// V2 message format"). The Java client reads an x-amz-key envelope whose
// x-amz-cek-alg is AES/GCM/NoPadding from x-amz-key-v2, which is absent, and
// fails. decodeV1 accepts it: an x-amz-key envelope (the legacy, read-only
// format) that is read as an authenticated V2-suite object with a current
// wrap, under no legacy opt-in, a combination no writer produced.
func TestAttackV1EnvelopeWithGCMRefused(t *testing.T) {
	b := func(n int) string { return base64.StdEncoding.EncodeToString(make([]byte, n)) }
	for name, m := range map[string]map[string]string{
		"kms+context": {
			"x-amz-key": b(180), "x-amz-iv": b(12), "x-amz-cek-alg": "AES/GCM/NoPadding", "x-amz-tag-len": "128",
			"x-amz-wrap-alg": "kms+context", "x-amz-matdesc": `{"aws:x-amz-cek-alg":"AES/GCM/NoPadding"}`,
		},
		"AES/GCM": {
			"x-amz-key": b(60), "x-amz-iv": b(12), "x-amz-cek-alg": "AES/GCM/NoPadding", "x-amz-tag-len": "128",
			"x-amz-wrap-alg": "AES/GCM", "x-amz-matdesc": "{}",
		},
		"no wrap name": {
			"x-amz-key": b(48), "x-amz-iv": b(12), "x-amz-cek-alg": "AES/GCM/NoPadding", "x-amz-matdesc": "{}",
		},
	} {
		e, err := envelope.Decode(m, nil)
		if err == nil {
			t.Errorf("%s: x-amz-key envelope with x-amz-cek-alg AES/GCM/NoPadding accepted as %v %v %v", name, e.Format, e.Suite, e.WrapAlgorithm)
			continue
		}
		if !errors.Is(err, envelope.ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
}

// TestAttackBase64InnerLineBreaksRefused: binary values are standard
// padded base64 (reference s3ec-format.md 2: RFC 4648 StdEncoding, Java
// Base64.getDecoder(), whose basic decoder refuses any character outside
// the alphabet) and FORMAT.md 4.1 allows only leading and trailing white
// space. envelope's base64 helper uses encoding/base64, which skips \r and
// \n anywhere in its input, so an instruction file (JSON strings may hold
// line breaks; HTTP header values cannot) whose x-amz-3, x-amz-key-v2 or
// x-amz-iv has line breaks inside decodes, and to fewer bytes than its text
// suggests; Java refuses the same file.
func TestAttackBase64InnerLineBreaksRefused(t *testing.T) {
	nz := func(n int) string {
		x := make([]byte, n)
		for i := range x {
			x[i] = byte(i + 1)
		}
		return base64.StdEncoding.EncodeToString(x)
	}
	cases := map[string]struct {
		meta map[string]string
		file string
	}{
		"V3 x-amz-3": {
			map[string]string{"x-amz-c": "115", "x-amz-d": nz(28), "x-amz-i": nz(28)},
			`{"x-amz-3":"AAAA\r\nAAAA","x-amz-w":"02"}`,
		},
		"V2 x-amz-key-v2": {
			nil,
			`{"x-amz-key-v2":"AAAA\nAAAA","x-amz-iv":"AAAAAAAAAAAAAAAA","x-amz-cek-alg":"AES/GCM/NoPadding","x-amz-wrap-alg":"AES/GCM","x-amz-tag-len":"128"}`,
		},
		"V2 x-amz-iv": {
			nil,
			`{"x-amz-key-v2":"AAAA","x-amz-iv":"AAAA\nAAAA\nAAAA\nAAAA","x-amz-cek-alg":"AES/GCM/NoPadding","x-amz-wrap-alg":"AES/GCM","x-amz-tag-len":"128"}`,
		},
	}
	for name, c := range cases {
		e, err := envelope.Decode(c.meta, []byte(c.file))
		if err == nil {
			t.Errorf("%s: base64 with line breaks inside accepted (wrapped key %x, IV %x)", name, e.EncryptedKey, e.IV)
			continue
		}
		if !errors.Is(err, envelope.ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
}
