package materials_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/materials"
)

// keyByteForms are the ways fmt shows the first bytes of a secret:
// hex (both cases), decimal as in a []byte, and quoted.
func keyByteForms(b []byte) []string {
	dec := fmt.Sprint(b[:8])
	return []string{hex.EncodeToString(b[:8]), strings.ToUpper(hex.EncodeToString(b[:8])), dec[1 : len(dec)-1], fmt.Sprintf("%q", b[:8])}
}

// The values the library hands out that hold a plaintext data key or a
// content key print no key bytes with any fmt verb, as Opener, Sealer and
// Parts already do (TestAttackFormatHidesKeysAndSums). A *DataKey is what
// every keyring's GenerateDataKey returns (and what a caller's log line
// "generated %v" or an error wrapping it would print); a *ContentParams is
// what Envelope.ContentParams and NewForEncryption return; a WrapRequest
// carries the data key to a Wrapper, an AESKey a caller's key. Before they
// printed placeholders, each showed its key whole (an outside review).
func TestAttackKeyHoldersPrintNoKey(t *testing.T) {
	wrapping := make([]byte, 32)
	for i := range wrapping {
		wrapping[i] = byte(0xc0 + i)
	}
	kr, err := materials.NewAESKeyring(wrapping)
	if err != nil {
		t.Fatal(err)
	}
	dk, err := kr.GenerateDataKey(context.Background(), &materials.EncryptionRequest{Suite: envelope.SuiteAESGCMCommitting, PlaintextLength: 1})
	if err != nil {
		t.Fatal(err)
	}
	env, params, err := envelope.NewForEncryption(envelope.SuiteAESGCMCommitting, dk.WrapAlgorithm, dk.Ciphertext, dk.Description, dk.Plaintext, 1)
	if err != nil {
		t.Fatal(err)
	}
	_ = env
	values := map[string]struct {
		v      any
		secret []byte
	}{
		"*materials.DataKey":      {dk, dk.Plaintext},
		"materials.DataKey":       {*dk, dk.Plaintext},
		"*envelope.ContentParams": {params, params.Key},
		"envelope.ContentParams":  {*params, params.Key},
		"materials.WrapRequest":   {materials.WrapRequest{Suite: envelope.SuiteAESGCMCommitting, Plaintext: dk.Plaintext}, dk.Plaintext},
		"*materials.WrapRequest":  {&materials.WrapRequest{Plaintext: dk.Plaintext}, dk.Plaintext},
		"materials.AESKey":        {materials.AESKey{Key: wrapping}, wrapping},
		"[]materials.AESKey":      {[]materials.AESKey{{Key: wrapping}}, wrapping},
		"*materials.AESKeyring":   {kr, wrapping},
	}
	for name, c := range values {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%q", "%d"} {
			out := fmt.Sprintf(verb, c.v)
			for _, form := range keyByteForms(c.secret) {
				if strings.Contains(out, form) {
					t.Errorf("%s printed with %s shows the key (%s): %.160s", name, verb, form, out)
					break
				}
			}
		}
	}
	// The fields that are not secret still print.
	if out := fmt.Sprint(dk); !strings.Contains(out, string(dk.WrapAlgorithm)) {
		t.Errorf("a DataKey prints without its wrap algorithm: %s", out)
	}
}
