package materials_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"

	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/internal/testkit/kmstest"
	"github.com/s3ec/s3ec-go/materials"
)

var kmsSuites = []envelope.Suite{envelope.SuiteAESGCM, envelope.SuiteAESGCMCommitting}

func newKMSKeyringForTest(t testing.TB, c materials.KMSClient, keyID string, optFns ...func(*materials.KMSKeyringOptions)) *materials.KMSKeyring {
	t.Helper()
	kr, err := materials.NewKMSKeyring(c, keyID, optFns...)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func newKMSDiscoveryForTest(t testing.TB, c materials.KMSClient, optFns ...func(*materials.KMSDiscoveryOptions)) *materials.KMSDiscoveryKeyring {
	t.Helper()
	kr, err := materials.NewKMSDiscoveryKeyring(c, optFns...)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func kmsGenerate(t testing.TB, kr materials.Keyring, s envelope.Suite, ec map[string]string) *materials.DataKey {
	t.Helper()
	dk, err := kr.GenerateDataKey(context.Background(), &materials.EncryptionRequest{Suite: s, EncryptionContext: ec})
	if err != nil {
		t.Fatalf("GenerateDataKey: %v", err)
	}
	return dk
}

func kmsDecrypt(kr materials.Keyring, s envelope.Suite, edk materials.EncryptedDataKey, ec map[string]string) ([]byte, error) {
	return kr.DecryptDataKey(context.Background(), &materials.DecryptionRequest{Suite: s, Key: edk, EncryptionContext: ec})
}

func mustUnwrapTo(t testing.TB, kr materials.Keyring, s envelope.Suite, dk *materials.DataKey, ec map[string]string) {
	t.Helper()
	got, err := kmsDecrypt(kr, s, dk.EncryptedDataKey, ec)
	if err != nil {
		t.Fatalf("DecryptDataKey: %v", err)
	}
	if !bytes.Equal(got, dk.Plaintext) {
		t.Fatal("DecryptDataKey returned another data key")
	}
}

// wantErr fails unless err wraps target.
func wantErr(t testing.TB, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error = %v, want one wrapping %v", err, target)
	}
}

func TestKMSKeyringRoundTrip(t *testing.T) {
	srv := kmstest.New(t)
	arn := srv.CreateKey()
	kr := newKMSKeyringForTest(t, srv.Client(), arn)
	if kr.KeyID() != arn {
		t.Fatalf("KeyID() = %s", kr.KeyID())
	}
	for _, s := range kmsSuites {
		for _, ec := range []map[string]string{nil, {}, {"department": "finance", "project": "x"}} {
			srv.ResetCalls()
			callerEC := maps.Clone(ec)
			dk := kmsGenerate(t, kr, s, callerEC)
			if !maps.Equal(callerEC, ec) {
				t.Fatal("GenerateDataKey modified the caller's context")
			}
			want := maps.Clone(ec)
			if want == nil {
				want = map[string]string{}
			}
			want["aws:x-amz-cek-alg"] = s.CipherName()
			if dk.WrapAlgorithm != envelope.WrapKMSContext || !maps.Equal(dk.Description, want) || len(dk.Plaintext) != 32 {
				t.Fatalf("%v: data key %q %v", s, dk.WrapAlgorithm, dk.Description)
			}
			gen, _ := srv.LastCall("GenerateDataKey")
			if gen.KeyID != arn || !maps.Equal(gen.EncryptionContext, want) {
				t.Fatalf("GenerateDataKey sent %+v", gen)
			}
			mustUnwrapTo(t, kr, s, dk, ec)
			dec, _ := srv.LastCall("Decrypt")
			if dec.KeyID != arn || !maps.Equal(dec.EncryptionContext, want) {
				t.Fatalf("Decrypt sent %+v", dec)
			}
			dk.Zero()
		}
	}
	if got := srv.Calls("*"); got != 2 {
		t.Fatalf("%d KMS calls in the last round, want 2", got)
	}
}

func TestKMSKeyringSuiteCheck(t *testing.T) {
	srv := kmstest.New(t)
	kr := newKMSKeyringForTest(t, srv.Client(), srv.CreateKey())
	for _, s := range []envelope.Suite{envelope.SuiteAESCBC, 0x0099} {
		if _, err := kr.GenerateDataKey(context.Background(), &materials.EncryptionRequest{Suite: s}); err == nil {
			t.Fatalf("GenerateDataKey(%v) succeeded", s)
		}
	}
	dk := kmsGenerate(t, kr, envelope.SuiteAESGCMCommitting, nil)
	srv.ResetCalls()

	// Stored aws:x-amz-cek-alg disagrees with the content suite, or is
	// missing: malformed, refused before KMS is called.
	for _, s := range []envelope.Suite{envelope.SuiteAESGCM, envelope.SuiteAESCBC, 0x0099} {
		_, err := kmsDecrypt(kr, s, dk.EncryptedDataKey, nil)
		var me *envelope.MalformedError
		if !errors.As(err, &me) || me.Field != "encryption context" {
			t.Fatalf("suite %v: error = %v, want *envelope.MalformedError", s, err)
		}
	}
	edk := dk.EncryptedDataKey
	edk.Description = map[string]string{}
	_, err := kmsDecrypt(kr, envelope.SuiteAESGCMCommitting, edk, nil)
	wantErr(t, err, envelope.ErrMalformed)
	edk.Description = nil
	_, err = kmsDecrypt(kr, envelope.SuiteAESGCMCommitting, edk, nil)
	wantErr(t, err, envelope.ErrMalformed)
	if n := srv.Calls("*"); n != 0 {
		t.Fatalf("%d KMS calls for refused requests", n)
	}
	_, err = kr.DecryptDataKey(context.Background(), nil)
	if err == nil {
		t.Fatal("nil request accepted")
	}
	_, err = kr.GenerateDataKey(context.Background(), nil)
	if err == nil {
		t.Fatal("nil request accepted")
	}
}

func TestKMSKeyringContext(t *testing.T) {
	srv := kmstest.New(t)
	kr := newKMSKeyringForTest(t, srv.Client(), srv.CreateKey())
	ec := map[string]string{"department": "finance", "project": "x"}
	dk := kmsGenerate(t, kr, envelope.SuiteAESGCM, ec)
	plain := kmsGenerate(t, kr, envelope.SuiteAESGCM, nil)
	srv.ResetCalls()

	// The error says what differs (the values are stored in the clear,
	// beside the object), and nothing about what matches.
	long := strings.Repeat("v", 100)
	for _, tc := range []struct {
		expected map[string]string
		says     string
	}{
		{nil, `: stored but not expected: "department"="finance", "project"="x" (kms keyring)`},
		{map[string]string{}, `: stored but not expected: "department"="finance", "project"="x" (kms keyring)`},
		{map[string]string{"department": "finance"}, `: stored but not expected: "project"="x" (kms keyring)`},
		{map[string]string{"department": "legal", "project": "x"}, `: stored value of "department" is "finance", expected "legal" (kms keyring)`},
		{map[string]string{"department": "finance", "project": "x", "extra": "y"}, `: expected but not stored: "extra"="y" (kms keyring)`},
		{map[string]string{"department": "legal", "extra": "y"}, `: stored value of "department" is "finance", expected "legal"; stored but not expected: "project"="x"; expected but not stored: "extra"="y" (kms keyring)`},
		{map[string]string{"department": long, "project": "x"}, `: stored value of "department" is "finance", expected "` + long[:64] + `"... (100 bytes) (kms keyring)`},
	} {
		_, err := kmsDecrypt(kr, envelope.SuiteAESGCM, dk.EncryptedDataKey, tc.expected)
		wantErr(t, err, materials.ErrContextMismatch)
		if !strings.HasSuffix(err.Error(), tc.says) {
			t.Errorf("expected context %v: %v; want it to end with %s", tc.expected, err, tc.says)
		}
		if strings.Contains(err.Error(), envelope.ReservedContextKey) {
			t.Errorf("expected context %v: %v names the reserved entry", tc.expected, err)
		}
	}
	_, err := kmsDecrypt(kr, envelope.SuiteAESGCM, plain.EncryptedDataKey, ec)
	wantErr(t, err, materials.ErrContextMismatch)
	if want := `: expected but not stored: "department"="finance", "project"="x" (kms keyring)`; !strings.HasSuffix(err.Error(), want) {
		t.Errorf("context given for an object stored without one: %v; want it to end with %s", err, want)
	}
	if n := srv.Calls("*"); n != 0 {
		t.Fatalf("%d KMS calls for mismatched contexts", n)
	}

	// A stored context altered to match the caller's: KMS refuses it.
	edk := dk.EncryptedDataKey
	edk.Description = maps.Clone(dk.Description)
	edk.Description["department"] = "legal"
	_, err = kmsDecrypt(kr, envelope.SuiteAESGCM, edk, map[string]string{"department": "legal", "project": "x"})
	wantErr(t, err, materials.ErrUnwrap)
	var ic *types.InvalidCiphertextException
	if !errors.As(err, &ic) {
		t.Fatalf("error = %v, want *types.InvalidCiphertextException reachable", err)
	}

	// kms_cmk_id in a kms+context description is sent to KMS but not
	// compared with the caller's context.
	edk = dk.EncryptedDataKey
	edk.Description = maps.Clone(dk.Description)
	edk.Description["kms_cmk_id"] = "x"
	_, err = kmsDecrypt(kr, envelope.SuiteAESGCM, edk, ec)
	wantErr(t, err, materials.ErrUnwrap)
}

func TestKMSKeyringReservedContext(t *testing.T) {
	srv := kmstest.New(t)
	kr := newKMSKeyringForTest(t, srv.Client(), srv.CreateKey())
	for _, name := range []string{"aws:x-amz-cek-alg", "kms_cmk_id"} {
		_, err := kr.GenerateDataKey(context.Background(), &materials.EncryptionRequest{
			Suite: envelope.SuiteAESGCMCommitting, EncryptionContext: map[string]string{name: "115", "a": "b"},
		})
		wantErr(t, err, materials.ErrReservedContextKey)

		dk := kmsGenerate(t, kr, envelope.SuiteAESGCMCommitting, nil)
		_, err = kmsDecrypt(kr, envelope.SuiteAESGCMCommitting, dk.EncryptedDataKey, map[string]string{name: "115"})
		wantErr(t, err, materials.ErrReservedContextKey)
	}
	if n := srv.Calls("GenerateDataKey"); n != 2 {
		t.Fatalf("GenerateDataKey calls = %d, want 2 (refusals call nothing)", n)
	}
	if n := srv.Calls("Decrypt"); n != 0 {
		t.Fatalf("Decrypt calls = %d, want 0", n)
	}
}

func TestKMSKeyringForeignAndCorrupt(t *testing.T) {
	srv := kmstest.New(t)
	arn := srv.CreateKey()
	kr := newKMSKeyringForTest(t, srv.Client(), arn)
	dk := kmsGenerate(t, kr, envelope.SuiteAESGCM, nil)

	for _, w := range []envelope.WrapAlgorithm{envelope.WrapAESGCM, envelope.WrapRSAOAEPSHA1, envelope.WrapAESWrap, "", "other"} {
		edk := dk.EncryptedDataKey
		edk.WrapAlgorithm = w
		_, err := kmsDecrypt(kr, envelope.SuiteAESGCM, edk, nil)
		wantErr(t, err, materials.ErrNotMine)
	}

	edk := dk.EncryptedDataKey
	edk.Ciphertext = bytes.Clone(dk.Ciphertext)
	edk.Ciphertext[len(edk.Ciphertext)/2] ^= 0x10
	_, err := kmsDecrypt(kr, envelope.SuiteAESGCM, edk, nil)
	wantErr(t, err, materials.ErrUnwrap)
	var ic *types.InvalidCiphertextException
	if !errors.As(err, &ic) {
		t.Fatalf("error = %v, want *types.InvalidCiphertextException reachable", err)
	}
	if !strings.HasPrefix(err.Error(), "materials: data key could not be unwrapped: kms decrypt: ") {
		t.Fatalf("error message = %q", err)
	}

	edk.Ciphertext = nil
	_, err = kmsDecrypt(kr, envelope.SuiteAESGCM, edk, nil)
	wantErr(t, err, envelope.ErrMalformed)

	// A data key of another KMS key: IncorrectKeyException, an unwrap error.
	other := newKMSKeyringForTest(t, srv.Client(), srv.CreateKey())
	_, err = kmsDecrypt(other, envelope.SuiteAESGCM, dk.EncryptedDataKey, nil)
	wantErr(t, err, materials.ErrUnwrap)
	var ik *types.IncorrectKeyException
	if !errors.As(err, &ik) {
		t.Fatalf("error = %v, want *types.IncorrectKeyException reachable", err)
	}
}

// legacyDataKey makes a data key as the legacy "kms" wrap does: the material
// description {"kms_cmk_id": key} is the KMS encryption context.
func legacyDataKey(t *testing.T, c *kms.Client, keyID string) *materials.DataKey {
	t.Helper()
	desc := map[string]string{"kms_cmk_id": keyID}
	out, err := c.GenerateDataKey(context.Background(), &kms.GenerateDataKeyInput{KeyId: aws.String(keyID), KeySpec: types.DataKeySpecAes256, EncryptionContext: desc})
	if err != nil {
		t.Fatal(err)
	}
	return &materials.DataKey{Plaintext: out.Plaintext, EncryptedDataKey: materials.EncryptedDataKey{
		WrapAlgorithm: envelope.WrapKMS, Ciphertext: out.CiphertextBlob, Description: desc,
	}}
}

func TestKMSKeyringLegacy(t *testing.T) {
	srv := kmstest.New(t)
	arn := srv.CreateKey()
	dk := legacyDataKey(t, srv.Client(), arn)
	srv.ResetCalls()

	strict := newKMSKeyringForTest(t, srv.Client(), arn)
	strictDisc := newKMSDiscoveryForTest(t, srv.Client())
	for kr, option := range map[materials.Keyring]string{
		strict:     "materials.KMSKeyringOptions.EnableLegacyWrapping",
		strictDisc: "materials.KMSDiscoveryOptions.EnableLegacyWrapping",
	} {
		_, err := kmsDecrypt(kr, envelope.SuiteAESCBC, dk.EncryptedDataKey, nil)
		var pe *envelope.PolicyError
		if !errors.As(err, &pe) || pe.Option != option || pe.What != "legacy wrapping algorithm kms" {
			t.Fatalf("error = %v, want *envelope.PolicyError naming %s", err, option)
		}
		wantErr(t, err, envelope.ErrPolicy)
	}
	if n := srv.Calls("*"); n != 0 {
		t.Fatalf("%d KMS calls without the legacy opt-in", n)
	}

	legacy := newKMSKeyringForTest(t, srv.Client(), arn, func(o *materials.KMSKeyringOptions) { o.EnableLegacyWrapping = true })
	disc := newKMSDiscoveryForTest(t, srv.Client(), func(o *materials.KMSDiscoveryOptions) { o.EnableLegacyWrapping = true })
	for _, kr := range []materials.Keyring{legacy, disc} {
		for _, s := range []envelope.Suite{envelope.SuiteAESCBC, envelope.SuiteAESGCM} {
			mustUnwrapTo(t, kr, s, dk, nil)
			mustUnwrapTo(t, kr, s, dk, map[string]string{})
		}
		// A caller context is refused: it would be a downgrade from kms+context.
		srv.ResetCalls()
		_, err := kmsDecrypt(kr, envelope.SuiteAESGCM, dk.EncryptedDataKey, map[string]string{"department": "finance"})
		wantErr(t, err, materials.ErrContextMismatch)
		if n := srv.Calls("*"); n != 0 {
			t.Fatalf("%d KMS calls for a refused context", n)
		}
	}
	srv.ResetCalls()
	mustUnwrapTo(t, legacy, envelope.SuiteAESCBC, dk, nil)
	call, _ := srv.LastCall("Decrypt")
	if call.KeyID != arn || !maps.Equal(call.EncryptionContext, map[string]string{"kms_cmk_id": arn}) {
		t.Fatalf("legacy Decrypt sent %+v", call)
	}

	// An edited material description fails at KMS.
	edk := dk.EncryptedDataKey
	edk.Description = map[string]string{"kms_cmk_id": arn + "x"}
	_, err := kmsDecrypt(legacy, envelope.SuiteAESCBC, edk, nil)
	wantErr(t, err, materials.ErrUnwrap)

	// Still never writes the legacy wrap.
	if nk := kmsGenerate(t, legacy, envelope.SuiteAESGCM, nil); nk.WrapAlgorithm != envelope.WrapKMSContext {
		t.Fatalf("legacy-enabled keyring wrote %q", nk.WrapAlgorithm)
	}
}

func TestKMSDiscoveryKeyring(t *testing.T) {
	srv := kmstest.New(t)
	arnA, arnB := srv.CreateKey(), srv.CreateKey()
	krA := newKMSKeyringForTest(t, srv.Client(), arnA)
	krB := newKMSKeyringForTest(t, srv.Client(), arnB)
	ec := map[string]string{"k": "v"}
	dkA := kmsGenerate(t, krA, envelope.SuiteAESGCMCommitting, ec)
	dkB := kmsGenerate(t, krB, envelope.SuiteAESGCM, nil)

	open := newKMSDiscoveryForTest(t, srv.Client(), func(o *materials.KMSDiscoveryOptions) { o.GrantTokens = []string{"tok"} })
	srv.ResetCalls()
	mustUnwrapTo(t, open, envelope.SuiteAESGCMCommitting, dkA, ec)
	mustUnwrapTo(t, open, envelope.SuiteAESGCM, dkB, nil)
	for _, c := range srv.CallLog() {
		if c.Op != "Decrypt" || c.KeyID != "" || !slices.Equal(c.GrantTokens, []string{"tok"}) {
			t.Fatalf("discovery sent %+v", c)
		}
	}
	_, err := kmsDecrypt(open, envelope.SuiteAESGCMCommitting, dkA.EncryptedDataKey, nil)
	wantErr(t, err, materials.ErrContextMismatch)

	onlyA := newKMSDiscoveryForTest(t, srv.Client(), func(o *materials.KMSDiscoveryOptions) { o.AllowedKeyARNs = []string{arnA} })
	mustUnwrapTo(t, onlyA, envelope.SuiteAESGCMCommitting, dkA, ec)
	_, err = kmsDecrypt(onlyA, envelope.SuiteAESGCM, dkB.EncryptedDataKey, nil)
	wantErr(t, err, materials.ErrNotMine)
	if errors.Is(err, materials.ErrUnwrap) {
		t.Fatal("allow-list refusal is also ErrUnwrap")
	}

	if _, err := open.GenerateDataKey(context.Background(), &materials.EncryptionRequest{Suite: envelope.SuiteAESGCM}); !errors.Is(err, materials.ErrDecryptOnly) {
		t.Fatalf("discovery GenerateDataKey: %v", err)
	}

	// Multi: the allow-listed discovery keyring steps aside for the next.
	m := materials.NewMulti(nil, onlyA, newKMSDiscoveryForTest(t, srv.Client(), func(o *materials.KMSDiscoveryOptions) { o.AllowedKeyARNs = []string{arnB} }))
	mustUnwrapTo(t, m, envelope.SuiteAESGCM, dkB, nil)

	for _, bad := range [][]string{{"alias/app"}, {kmstest.AliasARN("alias/app")}, {"1234abcd-12ab-34cd-56ef-1234567890ab"}, {""}} {
		if _, err := materials.NewKMSDiscoveryKeyring(srv.Client(), func(o *materials.KMSDiscoveryOptions) { o.AllowedKeyARNs = bad }); err == nil {
			t.Errorf("AllowedKeyARNs %q accepted", bad)
		}
	}
	if _, err := materials.NewKMSDiscoveryKeyring(nil); err == nil {
		t.Error("nil client accepted")
	}
	if _, err := materials.NewKMSDiscoveryKeyring(srv.Client(), func(o *materials.KMSDiscoveryOptions) { o.GrantTokens = []string{""} }); err == nil {
		t.Error("empty grant token accepted")
	}
}

func TestKMSKeyringAliases(t *testing.T) {
	srv := kmstest.New(t)
	arnA, arnB := srv.CreateKey(), srv.CreateKey()
	srv.CreateAlias("alias/app", arnA)
	byAlias := newKMSKeyringForTest(t, srv.Client(), "alias/app")
	byAliasARN := newKMSKeyringForTest(t, srv.Client(), kmstest.AliasARN("alias/app"))
	byID := newKMSKeyringForTest(t, srv.Client(), arnA[strings.LastIndex(arnA, "/")+1:])
	byARN := newKMSKeyringForTest(t, srv.Client(), arnA)

	dk := kmsGenerate(t, byAlias, envelope.SuiteAESGCMCommitting, nil)
	for _, kr := range []materials.Keyring{byAlias, byAliasARN, byID, byARN} {
		mustUnwrapTo(t, kr, envelope.SuiteAESGCMCommitting, dk, nil)
	}
	dk2 := kmsGenerate(t, byAliasARN, envelope.SuiteAESGCM, nil)
	mustUnwrapTo(t, byARN, envelope.SuiteAESGCM, dk2, nil)

	// The alias moves: keyrings that name it now mean the new key, so old
	// data keys are the wrong key for them; discovery still unwraps them.
	srv.UpdateAlias("alias/app", arnB)
	for _, kr := range []materials.Keyring{byAlias, byAliasARN} {
		_, err := kmsDecrypt(kr, envelope.SuiteAESGCMCommitting, dk.EncryptedDataKey, nil)
		wantErr(t, err, materials.ErrUnwrap)
		var ik *types.IncorrectKeyException
		if !errors.As(err, &ik) {
			t.Fatalf("error = %v, want *types.IncorrectKeyException", err)
		}
	}
	mustUnwrapTo(t, byARN, envelope.SuiteAESGCMCommitting, dk, nil)
	mustUnwrapTo(t, newKMSDiscoveryForTest(t, srv.Client()), envelope.SuiteAESGCMCommitting, dk, nil)
	fresh := kmsGenerate(t, byAlias, envelope.SuiteAESGCMCommitting, nil)
	mustUnwrapTo(t, newKMSKeyringForTest(t, srv.Client(), arnB), envelope.SuiteAESGCMCommitting, fresh, nil)

	// An alias that does not exist: NotFoundException, not an unwrap error.
	missing := newKMSKeyringForTest(t, srv.Client(), "alias/missing")
	_, err := missing.GenerateDataKey(context.Background(), &materials.EncryptionRequest{Suite: envelope.SuiteAESGCM})
	var nf *types.NotFoundException
	if !errors.As(err, &nf) {
		t.Fatalf("error = %v, want *types.NotFoundException", err)
	}
	_, err = kmsDecrypt(missing, envelope.SuiteAESGCMCommitting, dk.EncryptedDataKey, nil)
	if !errors.As(err, &nf) || errors.Is(err, materials.ErrUnwrap) {
		t.Fatalf("error = %v, want *types.NotFoundException and not ErrUnwrap", err)
	}
}

func TestKMSKeyringRotation(t *testing.T) {
	srv := kmstest.New(t)
	arn := srv.CreateKey()
	kr := newKMSKeyringForTest(t, srv.Client(), arn)
	var keys []*materials.DataKey
	for range 3 {
		keys = append(keys, kmsGenerate(t, kr, envelope.SuiteAESGCMCommitting, map[string]string{"r": "1"}))
		srv.RotateKey(arn)
	}
	if _, err := srv.Client().RotateKeyOnDemand(context.Background(), &kms.RotateKeyOnDemandInput{KeyId: aws.String(arn)}); err != nil {
		t.Fatal(err)
	}
	keys = append(keys, kmsGenerate(t, kr, envelope.SuiteAESGCMCommitting, map[string]string{"r": "1"}))
	if srv.KeyVersions(arn) != 5 {
		t.Fatalf("key versions = %d", srv.KeyVersions(arn))
	}
	for _, dk := range keys {
		mustUnwrapTo(t, kr, envelope.SuiteAESGCMCommitting, dk, map[string]string{"r": "1"})
	}
}

func TestKMSKeyringKeyStates(t *testing.T) {
	srv := kmstest.New(t)
	arn := srv.CreateKey()
	kr := newKMSKeyringForTest(t, srv.Client(), arn)
	disc := newKMSDiscoveryForTest(t, srv.Client())
	dk := kmsGenerate(t, kr, envelope.SuiteAESGCM, nil)

	srv.DisableKey(arn)
	for _, r := range []materials.Keyring{kr, disc} {
		_, err := kmsDecrypt(r, envelope.SuiteAESGCM, dk.EncryptedDataKey, nil)
		var de *types.DisabledException
		if !errors.As(err, &de) || errors.Is(err, materials.ErrUnwrap) {
			t.Fatalf("disabled key: error = %v, want *types.DisabledException and not ErrUnwrap", err)
		}
	}
	_, err := kr.GenerateDataKey(context.Background(), &materials.EncryptionRequest{Suite: envelope.SuiteAESGCM})
	var de *types.DisabledException
	if !errors.As(err, &de) {
		t.Fatalf("GenerateDataKey on a disabled key: %v", err)
	}
	srv.EnableKey(arn)
	mustUnwrapTo(t, kr, envelope.SuiteAESGCM, dk, nil)

	srv.SetAccessDenied(arn, true)
	_, err = kmsDecrypt(kr, envelope.SuiteAESGCM, dk.EncryptedDataKey, nil)
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "AccessDeniedException" || errors.Is(err, materials.ErrUnwrap) {
		t.Fatalf("access denied: error = %v", err)
	}
	srv.SetAccessDenied(arn, false)

	srv.ScheduleKeyDeletion(arn)
	_, err = kmsDecrypt(kr, envelope.SuiteAESGCM, dk.EncryptedDataKey, nil)
	var is *types.KMSInvalidStateException
	if !errors.As(err, &is) || errors.Is(err, materials.ErrUnwrap) {
		t.Fatalf("pending deletion: error = %v", err)
	}
}

func TestKMSKeyringGrantTokens(t *testing.T) {
	srv := kmstest.New(t)
	arn := srv.CreateKey()
	tokens := []string{"grant-1", "grant-2"}
	kr := newKMSKeyringForTest(t, srv.Client(), arn, func(o *materials.KMSKeyringOptions) { o.GrantTokens = tokens })
	tokens[0] = "changed" // the keyring keeps its own copy
	dk := kmsGenerate(t, kr, envelope.SuiteAESGCM, nil)
	mustUnwrapTo(t, kr, envelope.SuiteAESGCM, dk, nil)
	log := srv.CallLog()
	if len(log) != 2 {
		t.Fatalf("call log = %+v", log)
	}
	for _, c := range log {
		if !slices.Equal(c.GrantTokens, []string{"grant-1", "grant-2"}) {
			t.Fatalf("%s sent grant tokens %q", c.Op, c.GrantTokens)
		}
	}
	plain := newKMSKeyringForTest(t, srv.Client(), arn)
	mustUnwrapTo(t, plain, envelope.SuiteAESGCM, dk, nil)
	if c, _ := srv.LastCall("Decrypt"); len(c.GrantTokens) != 0 {
		t.Fatalf("keyring without tokens sent %q", c.GrantTokens)
	}
}

func TestKMSKeyringFaults(t *testing.T) {
	srv := kmstest.New(t)
	arn := srv.CreateKey()
	kr := newKMSKeyringForTest(t, srv.Client(), arn)
	disc := newKMSDiscoveryForTest(t, srv.Client())
	dk := kmsGenerate(t, kr, envelope.SuiteAESGCMCommitting, nil)

	check := func(err error, code string) {
		t.Helper()
		if err == nil {
			t.Fatalf("%s: no error", code)
		}
		if errors.Is(err, materials.ErrUnwrap) || errors.Is(err, materials.ErrNotMine) {
			t.Fatalf("%s: error %v is an unwrap/not-mine error", code, err)
		}
		var apiErr smithy.APIError
		if !errors.As(err, &apiErr) || apiErr.ErrorCode() != code {
			t.Fatalf("%s: error = %v, want API error code reachable", code, err)
		}
		if !strings.HasPrefix(err.Error(), "materials: kms ") {
			t.Fatalf("error message %q", err)
		}
	}
	for _, code := range []string{"ThrottlingException", "KMSInternalException", "DependencyTimeoutException", "KeyUnavailableException", "AccessDeniedException"} {
		srv.FailNext("Decrypt", code, 2)
		_, err := kmsDecrypt(kr, envelope.SuiteAESGCMCommitting, dk.EncryptedDataKey, nil)
		check(err, code)
		_, err = kmsDecrypt(disc, envelope.SuiteAESGCMCommitting, dk.EncryptedDataKey, nil)
		check(err, code)
		srv.FailNext("GenerateDataKey", code, 1)
		_, err = kr.GenerateDataKey(context.Background(), &materials.EncryptionRequest{Suite: envelope.SuiteAESGCM})
		check(err, code)
	}
	var internal *types.KMSInternalException
	srv.FailNext("Decrypt", "KMSInternalException", 1)
	if _, err := kmsDecrypt(kr, envelope.SuiteAESGCMCommitting, dk.EncryptedDataKey, nil); !errors.As(err, &internal) {
		t.Fatalf("error = %v, want *types.KMSInternalException", err)
	}
	mustUnwrapTo(t, kr, envelope.SuiteAESGCMCommitting, dk, nil)

	// A network failure: not an unwrap error either.
	dead := kmstest.NewServer()
	deadClient := dead.Client()
	dead.Close()
	_, err := kmsDecrypt(newKMSKeyringForTest(t, deadClient, arn), envelope.SuiteAESGCMCommitting, dk.EncryptedDataKey, nil)
	if err == nil || errors.Is(err, materials.ErrUnwrap) {
		t.Fatalf("network failure: error = %v", err)
	}
}

func TestKMSKeyringCanceled(t *testing.T) {
	srv := kmstest.New(t)
	kr := newKMSKeyringForTest(t, srv.Client(), srv.CreateKey())
	disc := newKMSDiscoveryForTest(t, srv.Client())
	dk := kmsGenerate(t, kr, envelope.SuiteAESGCM, nil)
	srv.ResetCalls()

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := kr.GenerateDataKey(ctx, &materials.EncryptionRequest{Suite: envelope.SuiteAESGCM})
	wantErr(t, err, context.Canceled)
	for _, r := range []materials.Keyring{kr, disc} {
		_, err = r.DecryptDataKey(ctx, &materials.DecryptionRequest{Suite: envelope.SuiteAESGCM, Key: dk.EncryptedDataKey})
		wantErr(t, err, context.Canceled)
	}
	if n := srv.Calls("*"); n != 0 {
		t.Fatalf("%d KMS calls with a cancelled context", n)
	}

	// Cancelled while KMS is working.
	srv.SetDelay("*", time.Minute)
	for _, r := range []materials.Keyring{kr, disc} {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(20*time.Millisecond, cancel)
		_, err = r.DecryptDataKey(ctx, &materials.DecryptionRequest{Suite: envelope.SuiteAESGCM, Key: dk.EncryptedDataKey})
		wantErr(t, err, context.Canceled)
		if errors.Is(err, materials.ErrUnwrap) {
			t.Fatal("cancellation reported as ErrUnwrap")
		}
	}
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	_, err = kr.GenerateDataKey(ctx, &materials.EncryptionRequest{Suite: envelope.SuiteAESGCM})
	wantErr(t, err, context.Canceled)
	srv.SetDelay("*", 0)
}

func TestNewKMSKeyringValidation(t *testing.T) {
	srv := kmstest.New(t)
	c := srv.Client()
	good := []string{
		"1234abcd-12ab-34cd-56ef-1234567890ab", "mrk-1234abcd12ab34cd56ef1234567890ab",
		"arn:aws:kms:us-east-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
		"alias/ExampleAlias", "arn:aws:kms:us-east-2:111122223333:alias/ExampleAlias",
		"arn:aws-cn:kms:cn-north-1:111122223333:key/x",
	}
	for _, id := range good {
		if _, err := materials.NewKMSKeyring(c, id); err != nil {
			t.Errorf("%q: %v", id, err)
		}
	}
	bad := []string{
		"", " key", "key ", "ke\ny", "alias/", "arn:aws:kms:us-east-2:111122223333:key/", "arn:aws:s3:::bucket",
		"arn:aws:kms:us-east-2:111122223333:grant/x", "arn:aws:kms::111122223333:key/x", strings.Repeat("k", 2049),
	}
	for _, id := range bad {
		_, err := materials.NewKMSKeyring(c, id)
		if err == nil {
			t.Errorf("%q accepted", id)
		} else if !strings.HasPrefix(err.Error(), "materials: ") {
			t.Errorf("error message %q", err)
		}
	}
	if _, err := materials.NewKMSKeyring(nil, "alias/x"); err == nil {
		t.Error("nil client accepted")
	}
	for _, tokens := range [][]string{{""}, make([]string, 11)} {
		if _, err := materials.NewKMSKeyring(c, "alias/x", func(o *materials.KMSKeyringOptions) { o.GrantTokens = tokens }); err == nil {
			t.Errorf("grant tokens %q accepted", tokens)
		}
	}
}

// fakeKMS is a KMSClient whose answers a test sets.
type fakeKMS struct {
	gen    *kms.GenerateDataKeyOutput
	dec    *kms.DecryptOutput
	err    error
	onCall func()
}

func (f *fakeKMS) GenerateDataKey(context.Context, *kms.GenerateDataKeyInput, ...func(*kms.Options)) (*kms.GenerateDataKeyOutput, error) {
	if f.onCall != nil {
		f.onCall()
	}
	return f.gen, f.err
}

func (f *fakeKMS) Decrypt(context.Context, *kms.DecryptInput, ...func(*kms.Options)) (*kms.DecryptOutput, error) {
	if f.onCall != nil {
		f.onCall()
	}
	return f.dec, f.err
}

func TestKMSKeyringCanceledByClient(t *testing.T) {
	// A client that reports a cancellation in its own words: the error
	// still wraps context.Canceled, and is not an unwrap error even when
	// the client's error looks like one.
	ctx, cancel := context.WithCancel(context.Background())
	f := &fakeKMS{err: &types.InvalidCiphertextException{Message: aws.String("request aborted")}, onCall: cancel}
	kr := newKMSKeyringForTest(t, f, "alias/x")
	edk := materials.EncryptedDataKey{WrapAlgorithm: envelope.WrapKMSContext, Ciphertext: []byte{1}, Description: map[string]string{"aws:x-amz-cek-alg": "115"}}
	_, err := kr.DecryptDataKey(ctx, &materials.DecryptionRequest{Suite: envelope.SuiteAESGCMCommitting, Key: edk})
	wantErr(t, err, context.Canceled)
	if errors.Is(err, materials.ErrUnwrap) {
		t.Fatalf("error = %v is ErrUnwrap", err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	f.onCall, f.err = cancel, errors.New("connection reset")
	_, err = kr.GenerateDataKey(ctx, &materials.EncryptionRequest{Suite: envelope.SuiteAESGCM})
	wantErr(t, err, context.Canceled)
}

func TestKMSKeyringBadResponses(t *testing.T) {
	short := []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	f := &fakeKMS{gen: &kms.GenerateDataKeyOutput{Plaintext: short, CiphertextBlob: []byte{1}}}
	kr := newKMSKeyringForTest(t, f, "alias/x")
	if _, err := kr.GenerateDataKey(context.Background(), &materials.EncryptionRequest{Suite: envelope.SuiteAESGCM}); err == nil {
		t.Fatal("16-byte data key accepted")
	}
	if !bytes.Equal(short, make([]byte, 16)) {
		t.Fatal("refused data key was not zeroed")
	}
	f.gen = &kms.GenerateDataKeyOutput{Plaintext: make([]byte, 32)}
	if _, err := kr.GenerateDataKey(context.Background(), &materials.EncryptionRequest{Suite: envelope.SuiteAESGCM}); err == nil {
		t.Fatal("empty wrapped key accepted")
	}
	f.gen = nil
	if _, err := kr.GenerateDataKey(context.Background(), &materials.EncryptionRequest{Suite: envelope.SuiteAESGCM}); err == nil {
		t.Fatal("nil output accepted")
	}

	edk := materials.EncryptedDataKey{WrapAlgorithm: envelope.WrapKMSContext, Ciphertext: []byte{1}, Description: map[string]string{"aws:x-amz-cek-alg": "115"}}
	long := bytes.Repeat([]byte{9}, 33)
	f.dec = &kms.DecryptOutput{Plaintext: long}
	_, err := kmsDecrypt(kr, envelope.SuiteAESGCMCommitting, edk, nil)
	wantErr(t, err, materials.ErrUnwrap)
	if !bytes.Equal(long, make([]byte, 33)) {
		t.Fatal("refused data key was not zeroed")
	}
	f.dec = nil
	if _, err := kmsDecrypt(kr, envelope.SuiteAESGCMCommitting, edk, nil); err == nil {
		t.Fatal("nil output accepted")
	}

	// Allow-list with a KMS answer that names no key.
	f.dec = &kms.DecryptOutput{Plaintext: make([]byte, 32)}
	disc := newKMSDiscoveryForTest(t, f, func(o *materials.KMSDiscoveryOptions) {
		o.AllowedKeyARNs = []string{"arn:aws:kms:us-east-1:111122223333:key/a"}
	})
	_, err = kmsDecrypt(disc, envelope.SuiteAESGCMCommitting, edk, nil)
	wantErr(t, err, materials.ErrNotMine)
}

// --- interop vectors

type kmsVectorFile struct {
	Name                  string            `json:"name"`
	Format                string            `json:"format"`
	Metadata              map[string]string `json:"metadata"`
	MetadataLocation      string            `json:"metadata_location"`
	UserEncryptionContext map[string]string `json:"user_encryption_context"`
	InstructionFile       *struct {
		Body string `json:"body"`
	} `json:"instruction_file"`
	KMS []struct {
		KeyID             string            `json:"key_id"`
		CiphertextBlobB64 string            `json:"ciphertext_blob_b64"`
		EncryptionContext map[string]string `json:"encryption_context"`
		PlaintextKeyB64   string            `json:"plaintext_key_b64"`
	} `json:"kms"`
	DecryptOptions map[string]any `json:"decrypt_options"`
	ExpectError    string         `json:"expect_error"`
}

func loadKMSVectors(t *testing.T, dirs ...string) []*kmsVectorFile {
	t.Helper()
	var out []*kmsVectorFile
	for _, dir := range dirs {
		files, err := filepath.Glob(filepath.Join("../testdata/vectors", dir, "*.json"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no vectors in %s: %v", dir, err)
		}
		for _, name := range files {
			b, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			v := new(kmsVectorFile)
			if err := json.Unmarshal(b, v); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if len(v.KMS) > 0 {
				out = append(out, v)
			}
		}
	}
	return out
}

// envelopeFields returns the metadata that holds the envelope: the object's
// or the instruction file's.
func (v *kmsVectorFile) envelopeFields(t *testing.T) map[string]string {
	t.Helper()
	if v.MetadataLocation != "instruction_file" {
		return v.Metadata
	}
	var raw map[string]any
	if err := json.Unmarshal([]byte(v.InstructionFile.Body), &raw); err != nil {
		t.Fatalf("%s: instruction file: %v", v.Name, err)
	}
	m := map[string]string{}
	for k, val := range raw {
		if s, ok := val.(string); ok {
			m[k] = s
		}
	}
	return m
}

var kmsVectorSuites = map[string]envelope.Suite{
	"115":                  envelope.SuiteAESGCMCommitting,
	"AES/GCM/NoPadding":    envelope.SuiteAESGCM,
	"AES/CBC/PKCS5Padding": envelope.SuiteAESCBC,
}

// request builds the keyring-level decryption request of a vector, or
// returns false when its envelope is too broken to name one.
func (v *kmsVectorFile) request(t *testing.T) (*materials.DecryptionRequest, bool) {
	t.Helper()
	md := v.envelopeFields(t)
	var suiteName, blobB64, descJSON string
	var wrap envelope.WrapAlgorithm
	if v.Format == "v3" {
		suiteName, blobB64, descJSON = md["x-amz-c"], md["x-amz-3"], md["x-amz-t"]
		switch md["x-amz-w"] {
		case "12":
			wrap = envelope.WrapKMSContext
		case "02":
			wrap = envelope.WrapAESGCM
		case "22":
			wrap = envelope.WrapRSAOAEPSHA1
		default:
			return nil, false
		}
	} else {
		suiteName, blobB64, descJSON = md["x-amz-cek-alg"], md["x-amz-key-v2"], md["x-amz-matdesc"]
		wrap = envelope.WrapAlgorithm(md["x-amz-wrap-alg"])
	}
	suite, ok := kmsVectorSuites[suiteName]
	if !ok || blobB64 == "" {
		return nil, false
	}
	blob, err := base64.StdEncoding.DecodeString(blobB64)
	if err != nil {
		t.Fatalf("%s: wrapped key: %v", v.Name, err)
	}
	var desc map[string]string
	if err := json.Unmarshal([]byte(descJSON), &desc); err != nil {
		t.Fatalf("%s: description: %v", v.Name, err)
	}
	return &materials.DecryptionRequest{
		Suite:             suite,
		Key:               materials.EncryptedDataKey{WrapAlgorithm: wrap, Ciphertext: blob, Description: desc},
		EncryptionContext: v.UserEncryptionContext,
	}, true
}

// importVector registers a vector's KMS data with srv.
func importKMSVector(t *testing.T, srv *kmstest.Server, v *kmsVectorFile) {
	t.Helper()
	for _, k := range v.KMS {
		blob, err1 := base64.StdEncoding.DecodeString(k.CiphertextBlobB64)
		pt, err2 := base64.StdEncoding.DecodeString(k.PlaintextKeyB64)
		if err := errors.Join(err1, err2); err != nil {
			t.Fatalf("%s: %v", v.Name, err)
		}
		srv.ImportDataKey(k.KeyID, blob, k.EncryptionContext, pt)
	}
}

func TestKMSVectors(t *testing.T) {
	vectors := loadKMSVectors(t, "v3go-v2format", "sdkv1-v2client", "v4go-v3format-committing",
		"v4go-v2format-noncommitting", "sdkv1-v1client-gcm", "sdkv1-v1client-cbc")
	if len(vectors) < 50 {
		t.Fatalf("only %d KMS vectors", len(vectors))
	}
	srv := kmstest.New(t)
	c := srv.Client()
	for _, v := range vectors {
		importKMSVector(t, srv, v)
	}
	for _, v := range vectors {
		t.Run(v.Name, func(t *testing.T) {
			req, ok := v.request(t)
			if !ok {
				t.Fatal("cannot build a request")
			}
			k := v.KMS[0]
			if want, _ := base64.StdEncoding.DecodeString(k.CiphertextBlobB64); !bytes.Equal(req.Key.Ciphertext, want) {
				t.Fatal("stored wrapped key differs from the KMS blob")
			}
			want, _ := base64.StdEncoding.DecodeString(k.PlaintextKeyB64)
			legacy := v.DecryptOptions["enable_legacy_wrapping_algorithms"] == true
			if legacy != (req.Key.WrapAlgorithm == envelope.WrapKMS) {
				t.Fatalf("legacy option %v for wrap %q", legacy, req.Key.WrapAlgorithm)
			}
			keyrings := map[string]materials.Keyring{
				"kms": newKMSKeyringForTest(t, c, k.KeyID, func(o *materials.KMSKeyringOptions) { o.EnableLegacyWrapping = legacy }),
				"discovery": newKMSDiscoveryForTest(t, c, func(o *materials.KMSDiscoveryOptions) {
					o.EnableLegacyWrapping = legacy
					o.AllowedKeyARNs = []string{k.KeyID}
				}),
			}
			for name, kr := range keyrings {
				got, err := kr.DecryptDataKey(context.Background(), req)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("%s: wrong data key", name)
				}
			}
			if legacy {
				strict := newKMSKeyringForTest(t, c, k.KeyID)
				_, err := strict.DecryptDataKey(context.Background(), req)
				wantErr(t, err, envelope.ErrPolicy)
			}
			if len(req.EncryptionContext) > 0 {
				wrong := *req
				wrong.EncryptionContext = nil
				_, err := keyrings["kms"].DecryptDataKey(context.Background(), &wrong)
				wantErr(t, err, materials.ErrContextMismatch)
			}
		})
	}
}

func TestKMSVectorsNegative(t *testing.T) {
	vectors := loadKMSVectors(t, "negative")
	srv := kmstest.New(t)
	c := srv.Client()
	ran := 0
	for _, v := range vectors {
		importKMSVector(t, srv, v)
		var accept []error
		switch {
		case v.ExpectError == "key_unwrap":
			accept = []error{materials.ErrUnwrap, materials.ErrContextMismatch}
		case v.ExpectError == "malformed_metadata" && (strings.Contains(v.Name, "cekalg") || strings.Contains(v.Name, "wrapalg")):
			accept = []error{envelope.ErrMalformed, materials.ErrNotMine}
		default:
			continue // not decided at the keyring
		}
		req, ok := v.request(t)
		if !ok {
			continue // the envelope layer refuses it first
		}
		ran++
		t.Run(v.Name, func(t *testing.T) {
			legacy := v.DecryptOptions["enable_legacy_wrapping_algorithms"] == true
			k := v.KMS[0]
			for name, kr := range map[string]materials.Keyring{
				"kms": newKMSKeyringForTest(t, c, k.KeyID, func(o *materials.KMSKeyringOptions) { o.EnableLegacyWrapping = legacy }),
				"discovery": newKMSDiscoveryForTest(t, c, func(o *materials.KMSDiscoveryOptions) {
					o.EnableLegacyWrapping = legacy
				}),
			} {
				key, err := kr.DecryptDataKey(context.Background(), req)
				if err == nil || key != nil {
					t.Fatalf("%s: decrypted a %s negative", name, v.ExpectError)
				}
				if !slices.ContainsFunc(accept, func(target error) bool { return errors.Is(err, target) }) {
					t.Fatalf("%s: error = %v, want one of %v", name, err, accept)
				}
			}
		})
	}
	if ran < 10 {
		t.Fatalf("only %d negative vectors decided at the keyring", ran)
	}
}
