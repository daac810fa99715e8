package kmstest

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// A key of another account is usable by any caller, also as the source of
// a ReEncrypt to one of the server's own keys; SourceKeyId is enforced and
// recorded.
func TestKeyOfAnotherAccount(t *testing.T) {
	s, c, own := setup(t)
	foreign := s.CreateKey(WithAccount("444455556666"))
	if !strings.HasPrefix(foreign, "arn:aws:kms:"+Region+":444455556666:key/") {
		t.Fatalf("ARN %q", foreign)
	}
	gen, err := c.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: aws.String(foreign), KeySpec: types.DataKeySpecAes256})
	if err != nil || aws.ToString(gen.KeyId) != foreign {
		t.Fatalf("GenerateDataKey with the foreign key: %v", err)
	}
	re, err := c.ReEncrypt(ctx, &kms.ReEncryptInput{CiphertextBlob: gen.CiphertextBlob, DestinationKeyId: aws.String(own)})
	if err != nil || aws.ToString(re.SourceKeyId) != foreign || aws.ToString(re.KeyId) != own {
		t.Fatalf("ReEncrypt from the foreign key: %+v %v", re, err)
	}
	_, err = c.ReEncrypt(ctx, &kms.ReEncryptInput{CiphertextBlob: gen.CiphertextBlob, SourceKeyId: aws.String(own), DestinationKeyId: aws.String(own)})
	wantCode(t, err, codeIncorrectKey)
	if call, _ := s.LastCall("ReEncrypt"); call.SourceKeyID != own || call.KeyID != own {
		t.Fatalf("call log %+v", call)
	}
}

// SetLie changes the key ids of successful answers only, and the truth
// returns with a zero Lie.
func TestSetLie(t *testing.T) {
	s, c, key := setup(t)
	other := s.CreateKey()
	gen, err := c.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: aws.String(key), KeySpec: types.DataKeySpecAes256})
	if err != nil {
		t.Fatal(err)
	}
	s.SetLie("Decrypt", Lie{KeyID: other})
	s.SetLie("ReEncrypt", Lie{KeyID: key, SourceKeyID: other})
	dec, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: gen.CiphertextBlob})
	if err != nil || aws.ToString(dec.KeyId) != other || len(dec.Plaintext) != 32 {
		t.Fatalf("lying Decrypt: %v", err)
	}
	re, err := c.ReEncrypt(ctx, &kms.ReEncryptInput{CiphertextBlob: gen.CiphertextBlob, DestinationKeyId: aws.String(other)})
	if err != nil || aws.ToString(re.SourceKeyId) != other || aws.ToString(re.KeyId) != key {
		t.Fatalf("lying ReEncrypt: %+v %v", re, err)
	}
	// The blob is really under the requested destination.
	if _, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: re.CiphertextBlob, KeyId: aws.String(other)}); err != nil {
		t.Fatalf("re-encrypted blob: %v", err)
	}
	_, err = c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: []byte("junk")})
	wantCode(t, err, codeInvalidCT)
	s.SetLie("Decrypt", Lie{})
	if dec, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: gen.CiphertextBlob}); err != nil || aws.ToString(dec.KeyId) != key {
		t.Fatalf("truthful Decrypt: %v", err)
	}
}
