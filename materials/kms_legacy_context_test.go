package materials_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/internal/testkit/kmstest"
	"github.com/s3ec/s3ec-go/materials"
)

// legacyDataKeyWith makes a data key as the AWS SDK for Java v1 writes the
// legacy "kms" wrap with a caller context: the material description
// {kms_cmk_id, <user entries>} is the KMS encryption context.
func legacyDataKeyWith(t *testing.T, c *kms.Client, keyID string, user map[string]string) *materials.DataKey {
	t.Helper()
	desc := map[string]string{"kms_cmk_id": keyID}
	for k, v := range user {
		desc[k] = v
	}
	out, err := c.GenerateDataKey(context.Background(), &kms.GenerateDataKeyInput{KeyId: aws.String(keyID), KeySpec: types.DataKeySpecAes256, EncryptionContext: desc})
	if err != nil {
		t.Fatal(err)
	}
	return &materials.DataKey{Plaintext: out.Plaintext, EncryptedDataKey: materials.EncryptedDataKey{
		WrapAlgorithm: envelope.WrapKMS, Ciphertext: out.CiphertextBlob, Description: desc,
	}}
}

// TestKMSLegacyWrapCallerContext: a legacy kms key whose material
// description holds user entries reads with the caller context that equals
// the description without kms_cmk_id (as AWS's clients do), and with none;
// any other caller context is refused before KMS is called.
func TestKMSLegacyWrapCallerContext(t *testing.T) {
	srv := kmstest.New(t)
	arn := srv.CreateKey()
	user := map[string]string{"department": "finance", "project": "x"}
	dk := legacyDataKeyWith(t, srv.Client(), arn, user)
	legacy := newKMSKeyringForTest(t, srv.Client(), arn, func(o *materials.KMSKeyringOptions) { o.EnableLegacyWrapping = true })
	disc := newKMSDiscoveryForTest(t, srv.Client(), func(o *materials.KMSDiscoveryOptions) { o.EnableLegacyWrapping = true })
	for _, kr := range []materials.Keyring{legacy, disc} {
		mustUnwrapTo(t, kr, envelope.SuiteAESCBC, dk, map[string]string{"department": "finance", "project": "x"})
		mustUnwrapTo(t, kr, envelope.SuiteAESGCM, dk, map[string]string{"project": "x", "department": "finance"})
		mustUnwrapTo(t, kr, envelope.SuiteAESGCM, dk, nil) // no caller context: nothing to compare
		for name, ec := range map[string]map[string]string{
			"extra key":   {"department": "finance", "project": "x", "team": "a"},
			"missing key": {"department": "finance"},
			"other value": {"department": "sales", "project": "x"},
			"case":        {"Department": "finance", "project": "x"},
			"with cmk id": {"department": "finance", "project": "x", "kms_cmk_id": arn},
		} {
			srv.ResetCalls()
			_, err := kmsDecrypt(kr, envelope.SuiteAESGCM, dk.EncryptedDataKey, ec)
			if name == "with cmk id" {
				wantErr(t, err, materials.ErrReservedContextKey)
			} else {
				wantErr(t, err, materials.ErrContextMismatch)
			}
			if n := srv.Calls("*"); n != 0 {
				t.Fatalf("%s: %d KMS calls for a refused context", name, n)
			}
		}
	}
	// ReEncryptSources (the authorization of a rotation) makes the same
	// comparison.
	if _, err := legacy.ReEncryptSources(&materials.DecryptionRequest{Suite: envelope.SuiteAESGCM, Key: dk.EncryptedDataKey, EncryptionContext: user}); err != nil {
		t.Fatalf("ReEncryptSources with the matching context: %v", err)
	}
	_, err := legacy.ReEncryptSources(&materials.DecryptionRequest{Suite: envelope.SuiteAESGCM, Key: dk.EncryptedDataKey, EncryptionContext: map[string]string{"department": "finance"}})
	wantErr(t, err, materials.ErrContextMismatch)
}
