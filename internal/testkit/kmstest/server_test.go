package kmstest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"
)

var ctx = context.Background()

func setup(t *testing.T) (*Server, *kms.Client, string) {
	t.Helper()
	s := New(t)
	return s, s.Client(), s.CreateKey(WithDescription("test key"))
}

// wantCode asserts err is an API error with the given code, and returns it.
func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("error = %v, want API error %s", err, code)
	}
	if apiErr.ErrorCode() != code {
		t.Fatalf("error code = %s (%v), want %s", apiErr.ErrorCode(), err, code)
	}
}

func wantType[T error](t *testing.T, err error) {
	t.Helper()
	var target T
	if !errors.As(err, &target) {
		t.Fatalf("error = %v (%T), want %T", err, err, target)
	}
}

func TestGenerateDataKeyDecrypt(t *testing.T) {
	s, c, arn := setup(t)
	ec := map[string]string{"b": "2", "a": "1"}
	out, err := c.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{
		KeyId: aws.String(arn), KeySpec: types.DataKeySpecAes256, EncryptionContext: ec,
		GrantTokens: []string{"g1", "g2"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Plaintext) != 32 || aws.ToString(out.KeyId) != arn || len(out.CiphertextBlob) == 0 {
		t.Fatalf("bad output: %d-byte plaintext, key %s", len(out.Plaintext), aws.ToString(out.KeyId))
	}
	call, _ := s.LastCall("GenerateDataKey")
	if call.KeyID != arn || strings.Join(call.GrantTokens, ",") != "g1,g2" || call.EncryptionContext["a"] != "1" {
		t.Fatalf("call log = %+v", call)
	}

	// Discovery (no KeyId), key id, key ARN.
	for _, id := range []*string{nil, aws.String(arn), aws.String(arn[strings.LastIndex(arn, "/")+1:])} {
		dec, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: out.CiphertextBlob, EncryptionContext: map[string]string{"a": "1", "b": "2"}, KeyId: id})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(dec.Plaintext, out.Plaintext) || aws.ToString(dec.KeyId) != arn || dec.EncryptionAlgorithm != types.EncryptionAlgorithmSpecSymmetricDefault {
			t.Fatal("decrypt returned the wrong key")
		}
	}

	// Wrong, missing and extra context entries.
	for _, bad := range []map[string]string{nil, {"a": "1"}, {"a": "1", "b": "3"}, {"a": "1", "b": "2", "c": "3"}} {
		_, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: out.CiphertextBlob, EncryptionContext: bad})
		wantType[*types.InvalidCiphertextException](t, err)
	}
	// Altered blob.
	for i := range out.CiphertextBlob {
		blob := bytes.Clone(out.CiphertextBlob)
		blob[i] ^= 1
		_, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: blob, EncryptionContext: ec})
		if err == nil {
			t.Fatalf("flipped byte %d decrypted", i)
		}
	}
	_, err = c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: []byte("garbage")})
	wantType[*types.InvalidCiphertextException](t, err)

	if s.Calls("GenerateDataKey") != 1 || s.Calls("Decrypt") < 8 {
		t.Fatalf("call counts: %d, %d", s.Calls("GenerateDataKey"), s.Calls("Decrypt"))
	}
}

func TestGenerateDataKeySizes(t *testing.T) {
	_, c, arn := setup(t)
	for _, tc := range []struct {
		spec types.DataKeySpec
		n    *int32
		want int
	}{{types.DataKeySpecAes256, nil, 32}, {types.DataKeySpecAes128, nil, 16}, {"", aws.Int32(1), 1}, {"", aws.Int32(1024), 1024}} {
		out, err := c.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: aws.String(arn), KeySpec: tc.spec, NumberOfBytes: tc.n})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Plaintext) != tc.want {
			t.Fatalf("got %d bytes, want %d", len(out.Plaintext), tc.want)
		}
	}
	for _, in := range []*kms.GenerateDataKeyInput{
		{KeyId: aws.String(arn)},
		{KeyId: aws.String(arn), NumberOfBytes: aws.Int32(0)},
		{KeyId: aws.String(arn), NumberOfBytes: aws.Int32(1025)},
		{KeyId: aws.String(arn), KeySpec: types.DataKeySpecAes256, NumberOfBytes: aws.Int32(32)},
		{KeyId: aws.String(arn), KeySpec: "AES_512"},
		{KeyId: aws.String(arn), KeySpec: types.DataKeySpecAes256, GrantTokens: make([]string, 11)},
	} {
		_, err := c.GenerateDataKey(ctx, in)
		wantCode(t, err, "ValidationException")
	}
	_, err := c.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: aws.String(arn), KeySpec: types.DataKeySpecAes256, DryRun: aws.Bool(true)})
	wantType[*types.DryRunOperationException](t, err)
}

func TestGenerateDataKeyWithoutPlaintext(t *testing.T) {
	_, c, arn := setup(t)
	out, err := c.GenerateDataKeyWithoutPlaintext(ctx, &kms.GenerateDataKeyWithoutPlaintextInput{KeyId: aws.String(arn), KeySpec: types.DataKeySpecAes256})
	if err != nil {
		t.Fatal(err)
	}
	dec, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: out.CiphertextBlob})
	if err != nil || len(dec.Plaintext) != 32 {
		t.Fatalf("decrypt: %v", err)
	}
}

func TestEncryptReEncrypt(t *testing.T) {
	_, c, arn := setup(t)
	dst := New(t) // a second server must not decrypt the first one's blobs
	arn2 := func() string {
		out, err := c.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("second")})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.KeyMetadata.Arn)
	}()
	pt := []byte("attack at dawn")
	enc, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(arn), Plaintext: pt, EncryptionContext: map[string]string{"k": "v"}})
	if err != nil {
		t.Fatal(err)
	}
	if enc.EncryptionAlgorithm != types.EncryptionAlgorithmSpecSymmetricDefault || aws.ToString(enc.KeyId) != arn {
		t.Fatalf("encrypt output: %+v", enc)
	}
	re, err := c.ReEncrypt(ctx, &kms.ReEncryptInput{
		CiphertextBlob: enc.CiphertextBlob, SourceEncryptionContext: map[string]string{"k": "v"}, SourceKeyId: aws.String(arn),
		DestinationKeyId: aws.String(arn2), DestinationEncryptionContext: map[string]string{"k2": "v2"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(re.SourceKeyId) != arn || aws.ToString(re.KeyId) != arn2 {
		t.Fatalf("reencrypt key ids: %s %s", aws.ToString(re.SourceKeyId), aws.ToString(re.KeyId))
	}
	dec, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: re.CiphertextBlob, EncryptionContext: map[string]string{"k2": "v2"}, KeyId: aws.String(arn2)})
	if err != nil || !bytes.Equal(dec.Plaintext, pt) {
		t.Fatalf("decrypt after reencrypt: %v", err)
	}
	_, err = c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: re.CiphertextBlob, EncryptionContext: map[string]string{"k2": "v2"}, KeyId: aws.String(arn)})
	wantType[*types.IncorrectKeyException](t, err)
	_, err = c.ReEncrypt(ctx, &kms.ReEncryptInput{CiphertextBlob: enc.CiphertextBlob, SourceKeyId: aws.String(arn2), DestinationKeyId: aws.String(arn2), SourceEncryptionContext: map[string]string{"k": "v"}})
	wantType[*types.IncorrectKeyException](t, err)
	_, err = c.ReEncrypt(ctx, &kms.ReEncryptInput{CiphertextBlob: enc.CiphertextBlob, DestinationKeyId: aws.String(arn2)})
	wantType[*types.InvalidCiphertextException](t, err)

	// Another server's blob is just invalid here.
	_, err = dst.Client().Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: map[string]string{"k": "v"}})
	wantType[*types.InvalidCiphertextException](t, err)

	for _, n := range []int{0, 4097} {
		_, err = c.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(arn), Plaintext: make([]byte, n)})
		wantCode(t, err, "ValidationException")
	}
	_, err = c.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(arn), Plaintext: pt, EncryptionAlgorithm: types.EncryptionAlgorithmSpecRsaesOaepSha256})
	wantType[*types.InvalidKeyUsageException](t, err)
}

func TestKeyAddressingAndAliases(t *testing.T) {
	s, c, arn := setup(t)
	id := arn[strings.LastIndex(arn, "/")+1:]
	arn2 := s.CreateKey()
	if _, err := c.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/app"), TargetKeyId: aws.String(id)}); err != nil {
		t.Fatal(err)
	}
	for _, kid := range []string{id, arn, "alias/app", AliasARN("alias/app")} {
		d, err := c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(kid)})
		if err != nil {
			t.Fatalf("%s: %v", kid, err)
		}
		m := d.KeyMetadata
		if aws.ToString(m.Arn) != arn || aws.ToString(m.KeyId) != id || !m.Enabled || m.KeyState != types.KeyStateEnabled ||
			aws.ToString(m.Description) != "test key" || aws.ToString(m.AWSAccountId) != Account || m.CreationDate == nil {
			t.Fatalf("%s: metadata %+v", kid, m)
		}
	}
	if s.KeyARN("alias/app") != arn {
		t.Fatal("KeyARN(alias)")
	}

	// A blob made through the alias decrypts after the alias moves, without
	// KeyId; with the alias as KeyId it is now the wrong key.
	out, err := c.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: aws.String("alias/app"), KeySpec: types.DataKeySpecAes256})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.KeyId) != arn {
		t.Fatalf("GenerateDataKey KeyId = %s", aws.ToString(out.KeyId))
	}
	if _, err := c.UpdateAlias(ctx, &kms.UpdateAliasInput{AliasName: aws.String("alias/app"), TargetKeyId: aws.String(arn2)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: out.CiphertextBlob}); err != nil {
		t.Fatal(err)
	}
	_, err = c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: out.CiphertextBlob, KeyId: aws.String("alias/app")})
	wantType[*types.IncorrectKeyException](t, err)
	s.UpdateAlias("alias/app", arn)
	if _, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: out.CiphertextBlob, KeyId: aws.String(AliasARN("alias/app"))}); err != nil {
		t.Fatal(err)
	}

	s.CreateAlias("alias/other", arn2)
	la, err := c.ListAliases(ctx, &kms.ListAliasesInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(la.Aliases) != 2 || aws.ToString(la.Aliases[0].AliasName) != "alias/app" || aws.ToString(la.Aliases[0].TargetKeyId) != id ||
		aws.ToString(la.Aliases[0].AliasArn) != AliasARN("alias/app") || la.Truncated {
		t.Fatalf("ListAliases = %+v", la.Aliases)
	}
	la, err = c.ListAliases(ctx, &kms.ListAliasesInput{KeyId: aws.String(arn2), Limit: aws.Int32(1)})
	if err != nil || len(la.Aliases) != 1 || aws.ToString(la.Aliases[0].AliasName) != "alias/other" {
		t.Fatalf("ListAliases(KeyId) = %v, %v", la, err)
	}
	p := kms.NewListAliasesPaginator(c, &kms.ListAliasesInput{Limit: aws.Int32(1)})
	var names []string
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range page.Aliases {
			names = append(names, aws.ToString(a.AliasName))
		}
	}
	if strings.Join(names, ",") != "alias/app,alias/other" {
		t.Fatalf("paginated aliases = %v", names)
	}

	_, err = c.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/app"), TargetKeyId: aws.String(arn2)})
	wantType[*types.AlreadyExistsException](t, err)
	_, err = c.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/aws/s3"), TargetKeyId: aws.String(arn2)})
	wantType[*types.InvalidAliasNameException](t, err)
	_, err = c.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/x"), TargetKeyId: aws.String("alias/app")})
	wantCode(t, err, "ValidationException")
	_, err = c.UpdateAlias(ctx, &kms.UpdateAliasInput{AliasName: aws.String("alias/none"), TargetKeyId: aws.String(arn2)})
	wantType[*types.NotFoundException](t, err)
	if _, err := c.DeleteAlias(ctx, &kms.DeleteAliasInput{AliasName: aws.String("alias/other")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.DeleteAlias(ctx, &kms.DeleteAliasInput{AliasName: aws.String("alias/other")})
	wantType[*types.NotFoundException](t, err)
	_, err = c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("alias/other")})
	wantType[*types.NotFoundException](t, err)

	for _, missing := range []string{"no-such-key", keyARN(Region, Account, "00000000-0000-4000-8000-000000000000"), "arn:aws:kms:eu-west-1:111122223333:key/" + id} {
		_, err = c.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: aws.String(missing), KeySpec: types.DataKeySpecAes256})
		wantType[*types.NotFoundException](t, err)
	}
	_, err = c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: out.CiphertextBlob, KeyId: aws.String("no-such-key")})
	wantType[*types.NotFoundException](t, err)

	lk, err := c.ListKeys(ctx, &kms.ListKeysInput{})
	if err != nil || len(lk.Keys) != 2 {
		t.Fatalf("ListKeys = %v, %v", lk, err)
	}
}

func TestRotation(t *testing.T) {
	s, c, arn := setup(t)
	old, err := c.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: aws.String(arn), KeySpec: types.DataKeySpecAes256})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.EnableKeyRotation(ctx, &kms.EnableKeyRotationInput{KeyId: aws.String(arn), RotationPeriodInDays: aws.Int32(90)}); err != nil {
		t.Fatal(err)
	}
	st, err := c.GetKeyRotationStatus(ctx, &kms.GetKeyRotationStatusInput{KeyId: aws.String(arn)})
	if err != nil || !st.KeyRotationEnabled || aws.ToInt32(st.RotationPeriodInDays) != 90 {
		t.Fatalf("rotation status: %+v, %v", st, err)
	}
	if _, err := c.RotateKeyOnDemand(ctx, &kms.RotateKeyOnDemandInput{KeyId: aws.String(arn)}); err != nil {
		t.Fatal(err)
	}
	s.RotateKey(arn)
	if s.KeyVersions(arn) != 3 {
		t.Fatalf("versions = %d", s.KeyVersions(arn))
	}
	fresh, err := c.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: aws.String(arn), KeySpec: types.DataKeySpecAes256})
	if err != nil {
		t.Fatal(err)
	}
	for _, dk := range []*kms.GenerateDataKeyOutput{old, fresh} {
		dec, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: dk.CiphertextBlob, KeyId: aws.String(arn)})
		if err != nil || !bytes.Equal(dec.Plaintext, dk.Plaintext) {
			t.Fatalf("decrypt after rotation: %v", err)
		}
	}
	if _, err := c.DisableKeyRotation(ctx, &kms.DisableKeyRotationInput{KeyId: aws.String(arn)}); err != nil {
		t.Fatal(err)
	}
	_, err = c.EnableKeyRotation(ctx, &kms.EnableKeyRotationInput{KeyId: aws.String(arn), RotationPeriodInDays: aws.Int32(10)})
	wantCode(t, err, "ValidationException")
}

func TestKeyStates(t *testing.T) {
	s, c, arn := setup(t)
	out, err := c.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: aws.String(arn), KeySpec: types.DataKeySpecAes256})
	if err != nil {
		t.Fatal(err)
	}
	decrypt := func() error {
		_, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: out.CiphertextBlob})
		return err
	}
	generate := func() error {
		_, err := c.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: aws.String(arn), KeySpec: types.DataKeySpecAes256})
		return err
	}

	if _, err := c.DisableKey(ctx, &kms.DisableKeyInput{KeyId: aws.String(arn)}); err != nil {
		t.Fatal(err)
	}
	wantType[*types.DisabledException](t, decrypt())
	wantType[*types.DisabledException](t, generate())
	d, err := c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(arn)})
	if err != nil || d.KeyMetadata.Enabled || d.KeyMetadata.KeyState != types.KeyStateDisabled {
		t.Fatalf("describe disabled key: %+v, %v", d, err)
	}
	if _, err := c.EnableKey(ctx, &kms.EnableKeyInput{KeyId: aws.String(arn)}); err != nil {
		t.Fatal(err)
	}
	if err := decrypt(); err != nil {
		t.Fatal(err)
	}
	s.DisableKey(arn)
	wantType[*types.DisabledException](t, decrypt())
	s.EnableKey(arn)

	sk, err := c.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: aws.String(arn), PendingWindowInDays: aws.Int32(7)})
	if err != nil || sk.KeyState != types.KeyStatePendingDeletion || sk.DeletionDate == nil {
		t.Fatalf("ScheduleKeyDeletion: %+v, %v", sk, err)
	}
	wantType[*types.KMSInvalidStateException](t, decrypt())
	wantType[*types.KMSInvalidStateException](t, generate())
	_, err = c.EnableKey(ctx, &kms.EnableKeyInput{KeyId: aws.String(arn)})
	wantType[*types.KMSInvalidStateException](t, err)
	if _, err := c.CancelKeyDeletion(ctx, &kms.CancelKeyDeletionInput{KeyId: aws.String(arn)}); err != nil {
		t.Fatal(err)
	}
	wantType[*types.DisabledException](t, decrypt())
	s.EnableKey(arn)

	s.SetAccessDenied(arn, true)
	for _, err := range []error{decrypt(), generate()} {
		wantCode(t, err, "AccessDeniedException")
	}
	s.SetAccessDenied(arn, false)
	if err := decrypt(); err != nil {
		t.Fatal(err)
	}
	s.ScheduleKeyDeletion(arn)
	wantType[*types.KMSInvalidStateException](t, decrypt())
}

func TestImportDataKey(t *testing.T) {
	s, c, _ := setup(t)
	vectorARN := "arn:aws:kms:us-west-2:111122223333:key/73960ced-00f3-1435-86c2-8343e2f4b6b2"
	blob := bytes.Repeat([]byte{0xAB}, 184)
	ec := map[string]string{"aws:x-amz-cek-alg": "115"}
	pt := bytes.Repeat([]byte{7}, 32)
	s.ImportDataKey(vectorARN, blob, ec, pt)
	other := s.CreateKey()

	for _, kid := range []*string{nil, aws.String(vectorARN), aws.String("73960ced-00f3-1435-86c2-8343e2f4b6b2")} {
		dec, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: blob, EncryptionContext: ec, KeyId: kid})
		if err != nil || !bytes.Equal(dec.Plaintext, pt) || aws.ToString(dec.KeyId) != vectorARN {
			t.Fatalf("decrypt imported blob: %v", err)
		}
	}
	_, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: blob, EncryptionContext: map[string]string{"aws:x-amz-cek-alg": "115", "x": "y"}})
	wantType[*types.InvalidCiphertextException](t, err)
	_, err = c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: blob})
	wantType[*types.InvalidCiphertextException](t, err)
	_, err = c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: blob, EncryptionContext: ec, KeyId: aws.String(other)})
	wantType[*types.IncorrectKeyException](t, err)
	flipped := bytes.Clone(blob)
	flipped[0] ^= 1
	_, err = c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: flipped, EncryptionContext: ec})
	wantType[*types.InvalidCiphertextException](t, err)

	// The imported blob re-encrypts to a real one.
	re, err := c.ReEncrypt(ctx, &kms.ReEncryptInput{CiphertextBlob: blob, SourceEncryptionContext: ec, DestinationKeyId: aws.String(other)})
	if err != nil {
		t.Fatal(err)
	}
	dec, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: re.CiphertextBlob})
	if err != nil || !bytes.Equal(dec.Plaintext, pt) {
		t.Fatalf("decrypt re-encrypted imported blob: %v", err)
	}
}

func TestFaults(t *testing.T) {
	s, c, arn := setup(t)
	gen := func() error {
		_, err := c.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: aws.String(arn), KeySpec: types.DataKeySpecAes256})
		return err
	}
	s.FailNext("GenerateDataKey", "KMSInternalException", 1)
	s.FailNext("*", "ThrottlingException", 1)
	s.FailNext("GenerateDataKey", "DependencyTimeoutException", 1)
	s.FailNext("Decrypt", "KeyUnavailableException", 1)
	wantType[*types.KMSInternalException](t, gen())
	wantCode(t, gen(), "ThrottlingException")
	wantType[*types.DependencyTimeoutException](t, gen())
	if err := gen(); err != nil {
		t.Fatal(err)
	}
	_, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: []byte("x")})
	wantType[*types.KeyUnavailableException](t, err)
	s.FailNext("Decrypt", "AccessDeniedException", 2)
	for range 2 {
		_, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: []byte("x")})
		wantCode(t, err, "AccessDeniedException")
		var typed *types.InvalidCiphertextException
		if errors.As(err, &typed) {
			t.Fatal("AccessDenied matched a modeled type")
		}
	}
	log := s.CallLog()
	if len(log) != 7 || log[0].ErrorCode != "KMSInternalException" || log[3].ErrorCode != "" {
		t.Fatalf("call log = %+v", log)
	}

	// A client that retries gets through a transient fault.
	s.FailNext("GenerateDataKey", "ThrottlingException", 1)
	rc := s.Client(func(o *kms.Options) {
		o.RetryMaxAttempts = 0
		o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
			so.MaxAttempts = 2
			so.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
		})
	})
	if _, err := rc.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: aws.String(arn), KeySpec: types.DataKeySpecAes256}); err != nil {
		t.Fatal(err)
	}
	s.ResetCalls()
	if s.Calls("*") != 0 {
		t.Fatal("ResetCalls")
	}
}

func TestDelayAndCancel(t *testing.T) {
	s, c, arn := setup(t)
	s.SetDelay("GenerateDataKey", time.Minute)
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.GenerateDataKey(cctx, &kms.GenerateDataKeyInput{KeyId: aws.String(arn), KeySpec: types.DataKeySpecAes256})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Fatal("delay did not stop with the client")
	}
	s.SetDelay("GenerateDataKey", 0)
	if _, err := c.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: aws.String(arn), KeySpec: types.DataKeySpecAes256}); err != nil {
		t.Fatal(err)
	}

	// Close does not wait for a delayed request.
	s2 := NewServer()
	s2.SetDelay("*", time.Hour)
	done := make(chan error, 1)
	go func() {
		_, err := s2.Client().ListKeys(ctx, &kms.ListKeysInput{})
		done <- err
	}()
	time.Sleep(100 * time.Millisecond) // let the request reach the delay
	start = time.Now()
	s2.Close()
	s2.Close()
	if time.Since(start) > 5*time.Second {
		t.Fatal("Close waited for a delayed request")
	}
	if err := <-done; err == nil {
		t.Fatal("delayed request succeeded after Close")
	}
}

func TestProtocol(t *testing.T) {
	s, _, _ := setup(t)
	post := func(target, ctype, body string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, s.URL+"/", strings.NewReader(body))
		req.Header.Set("X-Amz-Target", target)
		req.Header.Set("Content-Type", ctype)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if ct := resp.Header.Get("Content-Type"); ct != contentType {
			t.Fatalf("response content type %q", ct)
		}
		return resp.StatusCode, string(b)
	}
	for _, tc := range []struct{ target, ctype, body, want string }{
		{"TrentService.Nope", contentType, "{}", "UnknownOperationException"},
		{"Other.Decrypt", contentType, "{}", "UnknownOperationException"},
		{"TrentService.Decrypt", "application/json", "{}", "SerializationException"},
		{"TrentService.Decrypt", contentType, "{", "SerializationException"},
		{"TrentService.Decrypt", contentType, `{"CiphertextBlob":"***"}`, "SerializationException"},
	} {
		code, body := post(tc.target, tc.ctype, tc.body)
		if code != 400 || !strings.Contains(body, `"__type":"`+tc.want+`"`) {
			t.Fatalf("%s: %d %s", tc.target, code, body)
		}
	}
	s.FailNext("Decrypt", "KMSInternalException", 1)
	if code, _ := post("TrentService.Decrypt", contentType, `{"CiphertextBlob":"AA=="}`); code != 500 {
		t.Fatalf("internal error status %d", code)
	}
	code, body := post("TrentService.CreateKey", contentType, `{}`)
	if code != 200 || !strings.Contains(body, `"KeyState":"Enabled"`) {
		t.Fatalf("CreateKey: %d %s", code, body)
	}
}

func TestConcurrent(t *testing.T) {
	s, c, arn := setup(t)
	s.CreateAlias("alias/c", arn)
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ec := map[string]string{"i": string(rune('a' + i))}
			out, err := c.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: aws.String("alias/c"), KeySpec: types.DataKeySpecAes256, EncryptionContext: ec})
			if err != nil {
				errs <- err
				return
			}
			if i%4 == 0 {
				s.RotateKey(arn)
			}
			dec, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: out.CiphertextBlob, EncryptionContext: ec, KeyId: aws.String(arn)})
			if err != nil {
				errs <- err
				return
			}
			if !bytes.Equal(dec.Plaintext, out.Plaintext) {
				errs <- errors.New("wrong plaintext")
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if s.Calls("Decrypt") != 16 {
		t.Fatalf("Decrypt calls = %d", s.Calls("Decrypt"))
	}
}

func TestAdminPanics(t *testing.T) {
	s, _, arn := setup(t)
	for name, f := range map[string]func(){
		"CreateAlias bad name":  func() { s.CreateAlias("app", arn) },
		"CreateAlias dup":       func() { s.CreateAlias("alias/a", arn); s.CreateAlias("alias/a", arn) },
		"UpdateAlias missing":   func() { s.UpdateAlias("alias/missing", arn) },
		"RotateKey missing":     func() { s.RotateKey("missing") },
		"ImportDataKey bad key": func() { s.ImportDataKey("alias/none", []byte{1}, nil, []byte{1}) },
		"WithARN bad":           func() { s.CreateKey(WithARN("arn:aws:kms:us-east-1:1:alias/x")) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}

func TestFailEvery(t *testing.T) {
	s, c, arn := setup(t)
	gen := func() error {
		_, err := c.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: aws.String(arn), KeySpec: types.DataKeySpecAes256})
		return err
	}
	s.FailEvery("GenerateDataKey", "ThrottlingException", 3)
	var failed []int
	for i := 1; i <= 9; i++ {
		if err := gen(); err != nil {
			wantCode(t, err, "ThrottlingException")
			failed = append(failed, i)
		}
	}
	if len(failed) != 3 || failed[0] != 3 || failed[1] != 6 || failed[2] != 9 {
		t.Fatalf("failed requests = %v, want [3 6 9]", failed)
	}
	// Other operations are not counted or failed.
	if _, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(arn), Plaintext: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	// FailNext is served first and does not advance the rate.
	s.FailNext("GenerateDataKey", "KMSInternalException", 1)
	wantType[*types.KMSInternalException](t, gen())
	for i := 1; i <= 3; i++ {
		if err := gen(); (err != nil) != (i == 3) {
			t.Fatalf("request %d after FailNext: %v", i, err)
		}
	}
	// "*" covers every operation; 1 fails them all; n <= 0 stops.
	s.FailEvery("GenerateDataKey", "", 0)
	s.FailEvery("*", "ThrottlingException", 1)
	wantCode(t, gen(), "ThrottlingException")
	_, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(arn), Plaintext: []byte("x")})
	wantCode(t, err, "ThrottlingException")
	s.FailEvery("*", "", 0)
	if err := gen(); err != nil {
		t.Fatal(err)
	}
}
