package materials_test

// Focused tests for S3EC specification requirements that had no direct test
// (docs/COMPLIANCE.md names them row by row): what the KMS keyring sends to
// KMS and what it does with the answer, seen by a recording KMS client.

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/materials"
)

const complianceKeyARN = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"

type recordingKMS struct {
	gen     []*kms.GenerateDataKeyInput
	enc     []*kms.EncryptInput
	dec     []*kms.DecryptInput
	key     []byte
	blob    []byte
	failDec error
}

func (r *recordingKMS) GenerateDataKey(_ context.Context, in *kms.GenerateDataKeyInput, _ ...func(*kms.Options)) (*kms.GenerateDataKeyOutput, error) {
	r.gen = append(r.gen, in)
	return &kms.GenerateDataKeyOutput{KeyId: aws.String(complianceKeyARN), Plaintext: bytes.Clone(r.key), CiphertextBlob: bytes.Clone(r.blob)}, nil
}

func (r *recordingKMS) Encrypt(_ context.Context, in *kms.EncryptInput, _ ...func(*kms.Options)) (*kms.EncryptOutput, error) {
	r.enc = append(r.enc, in)
	return &kms.EncryptOutput{KeyId: aws.String(complianceKeyARN), CiphertextBlob: bytes.Clone(r.blob)}, nil
}

func (r *recordingKMS) Decrypt(_ context.Context, in *kms.DecryptInput, _ ...func(*kms.Options)) (*kms.DecryptOutput, error) {
	r.dec = append(r.dec, in)
	if r.failDec != nil {
		return nil, r.failDec
	}
	return &kms.DecryptOutput{KeyId: aws.String(complianceKeyARN), Plaintext: bytes.Clone(r.key)}, nil
}

func TestComplianceKMSRequests(t *testing.T) {
	ctx := context.Background()
	rec := &recordingKMS{key: bytes.Repeat([]byte{7}, 32), blob: []byte("wrapped-by-kms")}
	kr, err := materials.NewKMSKeyring(rec, complianceKeyARN)
	if err != nil {
		t.Fatal(err)
	}
	user := map[string]string{"tenant": "a"}

	// A new object: the configured key id and the materials' context (plus
	// the reserved suite entry) go to KMS; the CiphertextBlob comes back as
	// the kms+context wrapped key.
	dk, err := kr.GenerateDataKey(ctx, &materials.EncryptionRequest{Suite: envelope.SuiteAESGCMCommitting, EncryptionContext: user, PlaintextLength: 1})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"tenant": "a", envelope.ReservedContextKey: "115"}
	if g := rec.gen[0]; aws.ToString(g.KeyId) != complianceKeyARN || !maps.Equal(g.EncryptionContext, want) {
		t.Fatalf("GenerateDataKey request: key %q context %v", aws.ToString(g.KeyId), g.EncryptionContext)
	}
	if dk.WrapAlgorithm != envelope.WrapKMSContext || !bytes.Equal(dk.Ciphertext, rec.blob) || !maps.Equal(dk.Description, want) {
		t.Fatalf("data key: %s %q %v", dk.WrapAlgorithm, dk.Ciphertext, dk.Description)
	}

	// Wrapping an existing key (re-encryption) calls KMS Encrypt with the
	// configured key id, the plaintext data key and the context.
	edk, err := kr.WrapDataKey(ctx, &materials.WrapRequest{Suite: envelope.SuiteAESGCMCommitting, EncryptionContext: user, Plaintext: rec.key})
	if err != nil {
		t.Fatal(err)
	}
	if e := rec.enc[0]; aws.ToString(e.KeyId) != complianceKeyARN || !bytes.Equal(e.Plaintext, rec.key) || !maps.Equal(e.EncryptionContext, want) {
		t.Fatalf("Encrypt request: key %q context %v", aws.ToString(e.KeyId), e.EncryptionContext)
	}
	if !bytes.Equal(edk.Ciphertext, rec.blob) {
		t.Fatalf("Encrypt result %q", edk.Ciphertext)
	}

	// kms+context read: the configured key id, the stored ciphertext and the
	// stored context go to KMS Decrypt, and its plaintext comes back as is.
	stored := materials.EncryptedDataKey{WrapAlgorithm: envelope.WrapKMSContext, Ciphertext: rec.blob, Description: want}
	got, err := kr.DecryptDataKey(ctx, &materials.DecryptionRequest{Suite: envelope.SuiteAESGCMCommitting, Key: stored, EncryptionContext: user})
	if err != nil || !bytes.Equal(got, rec.key) {
		t.Fatalf("DecryptDataKey: %v", err)
	}
	if d := rec.dec[0]; aws.ToString(d.KeyId) != complianceKeyARN || !bytes.Equal(d.CiphertextBlob, rec.blob) || !maps.Equal(d.EncryptionContext, want) {
		t.Fatalf("Decrypt request: key %q context %v", aws.ToString(d.KeyId), d.EncryptionContext)
	}

	// A context that differs from the stored one without its reserved
	// entries is refused before KMS is called.
	n := len(rec.dec)
	_, err = kr.DecryptDataKey(ctx, &materials.DecryptionRequest{Suite: envelope.SuiteAESGCMCommitting, Key: stored, EncryptionContext: map[string]string{"tenant": "b"}})
	if !errors.Is(err, materials.ErrContextMismatch) || len(rec.dec) != n {
		t.Fatalf("other context: %v (%d Decrypt calls)", err, len(rec.dec)-n)
	}

	// A failed KMS Decrypt fails the unwrap.
	rec.failDec = errors.New("kms says no")
	if _, err := kr.DecryptDataKey(ctx, &materials.DecryptionRequest{Suite: envelope.SuiteAESGCMCommitting, Key: stored, EncryptionContext: user}); err == nil {
		t.Fatal("a failed Decrypt was not an error")
	}
	rec.failDec = nil

	// Legacy kms wrap: refused without the opt-in (KMS not called); with it,
	// Decrypt gets the configured key id, the ciphertext and the stored
	// material description.
	legacy := materials.EncryptedDataKey{WrapAlgorithm: envelope.WrapKMS, Ciphertext: rec.blob, Description: map[string]string{envelope.LegacyKMSKeyIDKey: complianceKeyARN}}
	n = len(rec.dec)
	if _, err := kr.DecryptDataKey(ctx, &materials.DecryptionRequest{Suite: envelope.SuiteAESGCM, Key: legacy}); !errors.Is(err, envelope.ErrPolicy) || len(rec.dec) != n {
		t.Fatalf("legacy kms without opt-in: %v", err)
	}
	lk, err := materials.NewKMSKeyring(rec, complianceKeyARN, func(o *materials.KMSKeyringOptions) { o.EnableLegacyWrapping = true })
	if err != nil {
		t.Fatal(err)
	}
	got, err = lk.DecryptDataKey(ctx, &materials.DecryptionRequest{Suite: envelope.SuiteAESGCM, Key: legacy})
	if err != nil || !bytes.Equal(got, rec.key) {
		t.Fatalf("legacy kms with opt-in: %v", err)
	}
	if d := rec.dec[len(rec.dec)-1]; aws.ToString(d.KeyId) != complianceKeyARN || !bytes.Equal(d.CiphertextBlob, rec.blob) || !maps.Equal(d.EncryptionContext, legacy.Description) {
		t.Fatalf("legacy Decrypt request: key %q context %v", aws.ToString(d.KeyId), d.EncryptionContext)
	}
	// Nothing writes the legacy kms wrap: new keys are always kms+context.
	dk, err = lk.GenerateDataKey(ctx, &materials.EncryptionRequest{Suite: envelope.SuiteAESGCM, PlaintextLength: 1})
	if err != nil || dk.WrapAlgorithm != envelope.WrapKMSContext {
		t.Fatalf("legacy keyring writes %v: %v", dk, err)
	}
}
