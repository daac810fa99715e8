package objectcrypto

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/materials"
)

// byteForms are the ways fmt may print b: hex, and the decimal list of
// %v (a run of its first bytes is enough to show a leak).
func byteForms(b []byte) []string {
	dec := fmt.Sprint(b[:8])
	return []string{hex.EncodeToString(b[:8]), strings.ToUpper(hex.EncodeToString(b[:8])), dec[1 : len(dec)-1], fmt.Sprintf("%q", b[:8])}
}

// The values that hold keys and part sums print placeholders with every
// verb: a Sealer, its Parts with sums recorded, an Opener (its CBC key is
// a plain byte slice, which fmt would print whole). An error or a log
// line that formats one by mistake shows no key and no GHASH sum.
func TestAttackFormatHidesKeysAndSums(t *testing.T) {
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(0xa0 + i)
	}
	kr, err := materials.NewAESKeyring(key)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewResumableSealer(context.Background(), kr, envelope.Policy{}, nil, 64)
	if err != nil {
		t.Fatal(err)
	}
	ps := s.Parts()
	buf := make([]byte, 64)
	if err := ps.Seal(1, 0, buf); err != nil {
		t.Fatal(err)
	}
	secrets := [][]byte{key, ps.sums[0].AppendAccumulator(nil)}
	cbcKey := make([]byte, 32)
	for i := range cbcKey {
		cbcKey[i] = byte(0x51 + i)
	}
	secrets = append(secrets, cbcKey)
	op := &Opener{Envelope: s.Envelope, cbcKey: cbcKey}
	for name, v := range map[string]any{"*Sealer": s, "*Parts": ps, "*Opener": op} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%q", "%d"} {
			out := fmt.Sprintf(verb, v)
			for _, sec := range secrets {
				for _, form := range byteForms(sec) {
					if strings.Contains(out, form) {
						t.Fatalf("%s printed with %s shows secret bytes (%s): %s", name, verb, form, out)
					}
				}
			}
		}
	}
}

// A resume token holds the parts' sums and the caller's state only sealed:
// neither any sum's accumulator nor the data key appears in its bytes, and
// the caller's state (which may name the instruction file) is not in the
// clear either.
func TestAttackTokenHoldsNoSecretInClear(t *testing.T) {
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(0x10 + i)
	}
	kr, err := materials.NewAESKeyring(key)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewResumableSealer(context.Background(), kr, envelope.Policy{}, nil, 3*4096)
	if err != nil {
		t.Fatal(err)
	}
	ps := s.Parts()
	for i := range 3 {
		if err := ps.Seal(i+1, int64(i*4096), make([]byte, 4096)); err != nil {
			t.Fatal(err)
		}
	}
	dk, err := kr.DecryptDataKey(context.Background(), &materials.DecryptionRequest{
		Suite: s.Envelope.Suite,
		Key:   materials.EncryptedDataKey{WrapAlgorithm: s.Envelope.WrapAlgorithm, Ciphertext: s.Envelope.EncryptedKey, Description: s.Envelope.Description},
	})
	if err != nil {
		t.Fatal(err)
	}
	secrets := [][]byte{dk, key, []byte("the caller's state")}
	for i := range 3 {
		secrets = append(secrets, ps.sums[i].AppendAccumulator(nil))
	}
	tok, err := ps.SealToken([]byte("header"), []byte("the caller's state"))
	if err != nil {
		t.Fatal(err)
	}
	for _, sec := range secrets {
		for _, window := range []int{8, len(sec)} {
			if strings.Contains(string(tok), string(sec[:min(window, len(sec))])) {
				t.Fatalf("the token holds %x in the clear", sec[:min(window, len(sec))])
			}
		}
	}
}
