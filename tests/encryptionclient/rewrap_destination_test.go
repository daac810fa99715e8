package encryptionclient_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/materials"
)

// Re-encryption into an additional instruction file (Java's
// ReEncryptInstructionFile with a custom suffix, to share an object with
// a partner's RSA key): the AES-written object gains K.instruction-rsa,
// readable with the RSA keyring and WithInstructionFileSuffix; the object
// and its own instruction file stay, and still read with AES.
func TestRewrapIntoAdditionalInstructionFile(t *testing.T) {
	for _, tc := range []struct {
		name    string
		storage encryptionclient.EnvelopeStorage
		policy  envelope.CommitmentPolicy
	}{
		{"V3 instruction file", encryptionclient.StoreInstructionFile, envelope.RequireEncryptRequireDecrypt},
		{"V3 metadata", encryptionclient.StoreMetadata, envelope.RequireEncryptRequireDecrypt},
		{"V2 instruction file", encryptionclient.StoreInstructionFile, envelope.ForbidEncryptAllowDecrypt},
		{"V2 metadata", encryptionclient.StoreMetadata, envelope.ForbidEncryptAllowDecrypt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			testRewrapIntoAdditionalInstructionFile(t, tc.storage, tc.policy)
		})
	}
}

func testRewrapIntoAdditionalInstructionFile(t *testing.T, storage encryptionclient.EnvelopeStorage, policy envelope.CommitmentPolicy) {
	e := newEnv(t)
	ctx := context.Background()
	opts := func(o *encryptionclient.Options) { o.EnvelopeStorage, o.CommitmentPolicy = storage, policy }
	aesKR, rsaKR := e.krs["aes"], e.krs["rsa"]
	aesC := e.client(aesKR, opts)
	data := randBytes(t, 3000)
	if err := e.put(aesC, ctx, "shared/obj", data); err != nil {
		t.Fatal(err)
	}
	objBefore, metaBefore, _ := e.raw("shared/obj")
	instrBefore, instrMetaBefore, instrErr := e.raw("shared/obj.instruction")

	in := &encryptionclient.RewrapInput{Bucket: &e.bucket, Key: aws.String("shared/obj"), Keyring: rsaKR, DestinationInstructionFileSuffix: ".instruction-rsa"}
	out, err := aesC.Rewrap(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if !out.InstructionFile || out.DestinationKey != "shared/obj.instruction-rsa" || out.To != envelope.WrapRSAOAEPSHA1 {
		t.Fatalf("output %+v", out)
	}
	// The object and its instruction file are as they were.
	objAfter, metaAfter, _ := e.raw("shared/obj")
	if !bytes.Equal(objAfter, objBefore) || len(metaAfter) != len(metaBefore) {
		t.Fatal("the object changed")
	}
	for k, v := range metaBefore {
		if metaAfter[k] != v {
			t.Fatalf("object metadata %s changed", k)
		}
	}
	if instrErr == nil {
		instrAfter, instrMetaAfter, err := e.raw("shared/obj.instruction")
		if err != nil || !bytes.Equal(instrAfter, instrBefore) || instrMetaAfter["s3ec-instruction-id"] != instrMetaBefore["s3ec-instruction-id"] {
			t.Fatalf("the original instruction file changed: %v", err)
		}
	}
	// The new file is marked and carries the object's binding, if any.
	_, rsaMeta, err := e.raw("shared/obj.instruction-rsa")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := rsaMeta["x-amz-crypto-instr-file"]; !ok || rsaMeta["s3ec-instruction-id"] != metaBefore["s3ec-instruction-id"] {
		t.Fatalf("instruction-rsa metadata %v (object %v)", rsaMeta, metaBefore)
	}

	rsaCtx := encryptionclient.WithInstructionFileSuffix(ctx, ".instruction-rsa")
	rsaC := e.client(rsaKR, opts)
	if got, err := e.get(rsaC, rsaCtx, "shared/obj"); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read with RSA and the new suffix: %v", err)
	}
	if _, err := e.get(rsaC, ctx, "shared/obj"); err == nil {
		t.Fatal("the RSA keyring reads the original envelope")
	}
	if got, err := e.get(aesC, ctx, "shared/obj"); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read with AES: %v", err)
	}
	head, err := rsaC.HeadObject(rsaCtx, &s3.HeadObjectInput{Bucket: &e.bucket, Key: aws.String("shared/obj")})
	if err != nil || aws.ToInt64(head.ContentLength) != int64(len(data)) {
		t.Fatalf("HeadObject with the new suffix: %v", err)
	}

	// Conditional: a second re-wrap into the same suffix is refused
	// unless it may overwrite.
	_, err = aesC.Rewrap(ctx, in)
	mustErrorIs(t, err, encryptionclient.ErrObjectChanged)
	in.OverwriteDestination = true
	if _, err := aesC.Rewrap(ctx, in); err != nil {
		t.Fatalf("overwrite: %v", err)
	}
	// The same suffix as the source is refused.
	_, err = aesC.Rewrap(ctx, &encryptionclient.RewrapInput{Bucket: &e.bucket, Key: aws.String("shared/obj"), Keyring: rsaKR, DestinationInstructionFileSuffix: ".instruction"})
	mustErrorIs(t, err, encryptionclient.ErrInvalidInput)
	// The current keyring must authorize the read of the source.
	otherAES, _ := materials.NewAESKeyring(randBytes(t, 32))
	_, err = e.client(otherAES, opts).Rewrap(ctx, &encryptionclient.RewrapInput{Bucket: &e.bucket, Key: aws.String("shared/obj"), Keyring: rsaKR, DestinationInstructionFileSuffix: ".instruction-x"})
	if err == nil || e.exists("shared/obj.instruction-x") {
		t.Fatal("a keyring that cannot read the object re-wrapped it")
	}

	// RotatePrefix is unaffected: it rotates the object, skips the extra
	// file as not encrypted, and leaves it as it is.
	rsaBody, _, _ := e.raw("shared/obj.instruction-rsa")
	nextAES, _ := materials.NewAESKeyring(randBytes(t, 32), func(o *materials.AESKeyringOptions) { o.MaterialDescription = map[string]string{"v": "2"} })
	rot, err := aesC.RotatePrefix(ctx, &encryptionclient.RotatePrefixInput{Bucket: &e.bucket, Prefix: aws.String("shared/"), Keyring: nextAES})
	if err != nil {
		t.Fatal(err)
	}
	if rot.Rotated != 1 || rot.Failed != 0 {
		t.Fatalf("rotation counts %+v", rot.RotateCounts)
	}
	if after, _, _ := e.raw("shared/obj.instruction-rsa"); !bytes.Equal(after, rsaBody) {
		t.Fatal("the rotation rewrote the extra instruction file")
	}
	if got, err := e.get(e.client(nextAES, opts), ctx, "shared/obj"); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read after rotation: %v", err)
	}
	if got, err := e.get(rsaC, rsaCtx, "shared/obj"); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("RSA read after rotation: %v", err)
	}
}
