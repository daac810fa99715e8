package encryptionclient_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"maps"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/envelope"
)

// TestAttackRewrapKeepsStrayKeysReadable: a V1/V2 object whose
// envelope is in its instruction file may carry envelope keys on the object
// too, provided each one agrees with the instruction file (FORMAT.md 5 rule
// 4 and 6.2; Decode's LayoutIncomplete, decodeInstructionFileOnly). Such an
// object reads. Rewrap rewrites only the instruction file (the wrapped-key
// entries x-amz-key-v2, x-amz-wrap-alg, x-amz-matdesc) and leaves the
// object's copies of x-amz-wrap-alg and x-amz-matdesc as they were: the
// object then says one wrap and description and its instruction file
// another, which Decode refuses ("the object metadata and the instruction
// file hold different values"). A re-wrap, which must leave an envelope of
// one meaning with exactly the new wrapped key (FuzzRewrappedEnvelope's
// property), turns a readable object into one no s3ec-go reader opens, and
// the old wrapped key is gone. (An outside review; fixed: such a re-wrap
// is refused before anything is written.)
func TestAttackRewrapKeepsStrayKeysReadable(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	oldKR := mustAES(t, map[string]string{"generation": "1"})
	newKR := e.krs["kms"]
	allowV2 := func(o *encryptionclient.Options) { o.CommitmentPolicy = envelope.RequireEncryptAllowDecrypt }
	writer := e.client(oldKR, func(o *encryptionclient.Options) {
		o.CommitmentPolicy = envelope.ForbidEncryptAllowDecrypt // V2
		o.EnvelopeStorage = encryptionclient.StoreInstructionFile
	})
	const key = "stray"
	data := []byte("stray envelope keys beside an instruction file")
	if err := e.put(writer, ctx, key, data); err != nil {
		t.Fatal(err)
	}
	body, meta, err := e.raw(key)
	if err != nil {
		t.Fatal(err)
	}
	instr, _, err := e.raw(key + envelope.DefaultInstructionSuffix)
	if err != nil {
		t.Fatal(err)
	}
	var file map[string]string
	if err := json.Unmarshal(instr, &file); err != nil {
		t.Fatal(err)
	}
	// The object carries copies of two envelope entries of its instruction
	// file, with the same values (as a writer that puts part of the
	// envelope on the object, or a copy tool, leaves them).
	stray := maps.Clone(meta)
	for _, k := range []string{envelope.KeyWrapAlg, envelope.KeyMatDesc} {
		if file[k] == "" {
			t.Fatalf("instruction file has no %s: %s", k, instr)
		}
		stray[k] = file[k]
	}
	e.putRaw(key, body, stray)

	if got, err := e.get(e.client(oldKR, allowV2), ctx, key); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("before the re-wrap the object does not read: %v", err)
	}

	// Refused before anything is written (the re-wrapped file would not
	// read beside the object's copies): the object still reads with the
	// old keyring, and ReEncrypt is the way to move it.
	if _, err := e.client(oldKR, allowV2).Rewrap(ctx, &encryptionclient.RewrapInput{
		Bucket: &e.bucket, Key: aws.String(key), Keyring: newKR,
	}); err != nil {
		if !errors.Is(err, encryptionclient.ErrMalformed) {
			t.Fatalf("Rewrap: %v, want success or ErrMalformed", err)
		}
		if got, err := e.get(e.client(oldKR, allowV2), ctx, key); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("after a refused Rewrap the object does not read with the old keyring: %v", err)
		}
		return
	}
	got, err := e.get(e.client(newKR, allowV2), ctx, key)
	if err != nil {
		t.Fatalf("after a successful Rewrap the object no longer reads with the new keyring: %v", err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("after the re-wrap the object reads as other bytes")
	}
}
