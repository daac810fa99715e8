package encryptionclient_test

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"maps"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/materials"
)

// putJavaV1KMSObject stores a V2 object as the AWS SDK for Java v1 writes
// it with a KMS key and a caller context: wrap "kms", material description
// {kms_cmk_id, <user entries>}, which is the KMS encryption context.
func putJavaV1KMSObject(t *testing.T, e *env, key string, user map[string]string, plaintext []byte) {
	t.Helper()
	matdesc := map[string]string{"kms_cmk_id": e.keyARN}
	maps.Copy(matdesc, user)
	gen, err := e.kms.Client().GenerateDataKey(context.Background(), &kms.GenerateDataKeyInput{
		KeyId: aws.String(e.keyARN), KeySpec: kmstypes.DataKeySpecAes256, EncryptionContext: matdesc,
	})
	if err != nil {
		t.Fatal(err)
	}
	block, _ := aes.NewCipher(gen.Plaintext)
	gcm, _ := cipher.NewGCM(block)
	iv := randBytes(t, 12)
	e.putRaw(key, gcm.Seal(nil, iv, plaintext, nil), map[string]string{
		"x-amz-key-v2": base64.StdEncoding.EncodeToString(gen.CiphertextBlob), "x-amz-iv": base64.StdEncoding.EncodeToString(iv),
		"x-amz-matdesc": envelope.RenderDescription(matdesc), "x-amz-wrap-alg": "kms",
		"x-amz-cek-alg": "AES/GCM/NoPadding", "x-amz-tag-len": "128",
	})
}

// TestLegacyKMSWrapReadsWithCallerContext: the Java v1 object reads with
// the caller context equal to its material description minus kms_cmk_id
// (and, as before, with none); any other context is ErrContextMismatch.
func TestLegacyKMSWrapReadsWithCallerContext(t *testing.T) {
	e := newEnv(t)
	if e.realKMS {
		t.Skip("needs the KMS test server")
	}
	user := map[string]string{"department": "finance", "stage": "prod"}
	plaintext := []byte("written by the Java v1 client with a context")
	putJavaV1KMSObject(t, e, "javav1", user, plaintext)
	kr, err := materials.NewKMSKeyring(e.kms.Client(), e.keyARN, func(o *materials.KMSKeyringOptions) { o.EnableLegacyWrapping = true })
	if err != nil {
		t.Fatal(err)
	}
	c := e.reader(kr)
	for _, ctx := range []context.Context{
		encryptionclient.WithEncryptionContext(context.Background(), map[string]string{"department": "finance", "stage": "prod"}),
		context.Background(),
	} {
		if got, err := e.get(c, ctx, "javav1"); err != nil || !bytes.Equal(got, plaintext) {
			t.Fatalf("read: %q, %v", got, err)
		}
	}
	for name, ec := range map[string]map[string]string{
		"extra key":   {"department": "finance", "stage": "prod", "team": "x"},
		"missing key": {"department": "finance"},
		"other value": {"department": "finance", "stage": "dev"},
	} {
		_, err := e.get(c, encryptionclient.WithEncryptionContext(context.Background(), ec), "javav1")
		if err == nil {
			t.Fatalf("%s: read succeeded", name)
		}
		mustErrorIs(t, err, encryptionclient.ErrContextMismatch)
	}
}

// TestRewrapLegacyKMSWrapWithCallerContext: Rewrap's authorization makes
// the same comparison, and the user entries move to the kms+context wrap.
func TestRewrapLegacyKMSWrapWithCallerContext(t *testing.T) {
	e := newEnv(t)
	if e.realKMS {
		t.Skip("needs the KMS test server")
	}
	user := map[string]string{"department": "finance"}
	plaintext := []byte("rotate me")
	putJavaV1KMSObject(t, e, "javav1", user, plaintext)
	legacyOK := func(o *materials.KMSKeyringOptions) { o.EnableLegacyWrapping = true }
	oldKR, _ := materials.NewKMSKeyring(e.kms.Client(), e.keyARN, legacyOK)
	newKey := e.kms.CreateKey()
	next, _ := materials.NewKMSKeyring(e.kms.Client(), newKey, legacyOK) // ReEncrypt checks the source as a read
	strictKR, _ := materials.NewKMSKeyring(e.kms.Client(), newKey)
	c := e.reader(oldKR)
	in := &encryptionclient.RewrapInput{Bucket: &e.bucket, Key: aws.String("javav1"), Keyring: next}

	_, err := c.Rewrap(encryptionclient.WithEncryptionContext(context.Background(), map[string]string{"department": "sales"}), in)
	mustErrorIs(t, err, encryptionclient.ErrContextMismatch)
	_, err = c.Rewrap(encryptionclient.WithEncryptionContext(context.Background(), map[string]string{"department": "finance", "x": "y"}), in)
	mustErrorIs(t, err, encryptionclient.ErrContextMismatch)

	out, err := c.Rewrap(encryptionclient.WithEncryptionContext(context.Background(), user), in)
	if err != nil {
		t.Fatal(err)
	}
	if out.From != envelope.WrapKMS || out.To != envelope.WrapKMSContext {
		t.Fatalf("output %+v", out)
	}
	strict := e.reader(strictKR)
	if got, err := e.get(strict, encryptionclient.WithEncryptionContext(context.Background(), user), "javav1"); err != nil || !bytes.Equal(got, plaintext) {
		t.Fatalf("rewrapped object with its context: %q %v", got, err)
	}
	_, err = e.get(strict, context.Background(), "javav1")
	mustErrorIs(t, err, encryptionclient.ErrContextMismatch)

	// Without a caller context, a re-wrap that keeps the stored context
	// accepts it and moves it unchanged (as for kms+context objects).
	putJavaV1KMSObject(t, e, "javav1b", user, plaintext)
	_, err = c.Rewrap(context.Background(), &encryptionclient.RewrapInput{Bucket: &e.bucket, Key: aws.String("javav1b"), Keyring: next})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := e.get(strict, encryptionclient.WithEncryptionContext(context.Background(), user), "javav1b"); err != nil || !bytes.Equal(got, plaintext) {
		t.Fatalf("rewrapped object keeps its context: %q %v", got, err)
	}
}
