package materials_test

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"

	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/internal/testkit/kmstest"
	"github.com/s3ec/s3ec-go/materials"
)

// The TestKMSPeer tests drive the KMS keyrings against a KMS that they
// administer only through the KMS API (CreateKey, CreateAlias, UpdateAlias,
// DisableKey, ...), so that they run unchanged against the project's KMS
// test server (the default) and against another implementation:
//
//	S3EC_TEST_KMS_ENDPOINT=http://127.0.0.1:PORT S3EC_TEST_KMS_NAME=local-kms \
//	    go test -run TestKMSPeer ./materials/
//
// (scripts/integration.sh local-kms starts local-kms and does that). The
// credentials are static test ones, and the region S3EC_TEST_KMS_REGION
// (default us-east-1). Where the two servers answer differently, the
// expected answer of each is in kmsPeerQuirks below and in
// docs/KMS-SERVERS.md. The tests that need what only the test server can do
// (faults, throttling, lying answers, keys of other accounts) are in
// kms_test.go and always use the test server.
const (
	envKMSEndpoint = "S3EC_TEST_KMS_ENDPOINT"
	envKMSName     = "S3EC_TEST_KMS_NAME"
	envKMSRegion   = "S3EC_TEST_KMS_REGION"
)

// kmsPeer is the KMS the peer tests use.
type kmsPeer struct {
	t    *testing.T
	name string // "kmstest", or S3EC_TEST_KMS_NAME
	c    *kms.Client
}

// kmsPeerQuirk is how a KMS implementation answers where implementations
// differ.
type kmsPeerQuirk struct {
	// wrongKeyCode is the error of Decrypt with a KeyId that is not the
	// key of the ciphertext (AWS documents IncorrectKeyException).
	wrongKeyCode string
	// checksSourceKeyID: ReEncrypt refuses a ciphertext of another key
	// than SourceKeyId (AWS documents IncorrectKeyException).
	checksSourceKeyID bool
	// bindsKeyReference: the key a ciphertext names is authenticated, so a
	// ciphertext whose key reference was altered fails even when Decrypt
	// names the key with KeyId (AWS ciphertexts are authenticated whole).
	bindsKeyReference bool
	// keyStateWithoutKeyID maps the error of Decrypt without KeyId
	// (discovery) on a disabled or pending-deletion key; "" when it is the
	// state's own error, as AWS documents (DisabledException,
	// KMSInvalidStateException).
	keyStateWithoutKeyID string
	// afterCancelDeletion is the key state after CancelKeyDeletion (AWS
	// documents Disabled).
	afterCancelDeletion types.KeyState
}

var kmsPeerQuirks = map[string]kmsPeerQuirk{
	"kmstest": {wrongKeyCode: "IncorrectKeyException", checksSourceKeyID: true, bindsKeyReference: true,
		afterCancelDeletion: types.KeyStateDisabled},
	"local-kms": {wrongKeyCode: "InvalidCiphertextException", keyStateWithoutKeyID: "AccessDeniedException",
		afterCancelDeletion: types.KeyStateEnabled},
}

func newKMSPeer(t *testing.T) *kmsPeer {
	t.Helper()
	ep := os.Getenv(envKMSEndpoint)
	if ep == "" {
		return &kmsPeer{t: t, name: "kmstest", c: kmstest.New(t).Client()}
	}
	region := os.Getenv(envKMSRegion)
	if region == "" {
		region = "us-east-1"
	}
	name := os.Getenv(envKMSName)
	if name == "" {
		name = ep
	}
	c := kms.New(kms.Options{
		BaseEndpoint: aws.String(ep),
		Region:       region,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKIDPEERTEST", SecretAccessKey: "peer-test-secret", Source: "peer"}, nil
		}),
		RetryMaxAttempts: 1,
	})
	return &kmsPeer{t: t, name: name, c: c}
}

// quirk returns the peer's known differences; an unknown peer is held to
// what the KMS documentation says.
func (p *kmsPeer) quirk() kmsPeerQuirk {
	if q, ok := kmsPeerQuirks[p.name]; ok {
		return q
	}
	return kmsPeerQuirks["kmstest"]
}

func (p *kmsPeer) createKey() string {
	p.t.Helper()
	out, err := p.c.CreateKey(context.Background(), &kms.CreateKeyInput{Description: aws.String("s3ec-go peer test")})
	if err != nil {
		p.t.Fatalf("%s: CreateKey: %v", p.name, err)
	}
	return aws.ToString(out.KeyMetadata.Arn)
}

// alias returns a fresh alias name pointing at target (the server may be
// shared between runs, so names are unique).
func (p *kmsPeer) alias(target string) string {
	p.t.Helper()
	name := "alias/s3ec-peer-" + strings.ReplaceAll(p.t.Name(), "/", "-") + "-" + target[strings.LastIndex(target, "/")+1:][:8]
	if _, err := p.c.CreateAlias(context.Background(), &kms.CreateAliasInput{AliasName: aws.String(name), TargetKeyId: aws.String(target)}); err != nil {
		p.t.Fatalf("%s: CreateAlias: %v", p.name, err)
	}
	return name
}

func (p *kmsPeer) do(what string, err error) {
	p.t.Helper()
	if err != nil {
		p.t.Fatalf("%s: %s: %v", p.name, what, err)
	}
}

// aliasARN is the ARN of alias name in the region and account of key ARN
// keyARN.
func aliasARN(keyARN, name string) string {
	return keyARN[:strings.LastIndex(keyARN, ":")+1] + name
}

// apiCode is the KMS error code err carries, or "".
func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func TestKMSPeerKeyring(t *testing.T) {
	p := newKMSPeer(t)
	arn := p.createKey()
	name := p.alias(arn)
	forms := map[string]string{"key ARN": arn, "key id": arn[strings.LastIndex(arn, "/")+1:], "alias": name, "alias ARN": aliasARN(arn, name)}
	var keys []*materials.DataKey
	var suites []envelope.Suite
	var ecs []map[string]string
	for form, id := range forms {
		kr := newKMSKeyringForTest(t, p.c, id)
		for _, s := range kmsSuites {
			for _, ec := range []map[string]string{nil, {"department": "finance", "project": "x"}} {
				dk := kmsGenerate(t, kr, s, ec)
				want := maps.Clone(ec)
				if want == nil {
					want = map[string]string{}
				}
				want["aws:x-amz-cek-alg"] = s.CipherName()
				if dk.WrapAlgorithm != envelope.WrapKMSContext || !maps.Equal(dk.Description, want) || len(dk.Plaintext) != 32 {
					t.Fatalf("%s %s %v: data key %q %v (%d bytes)", p.name, form, s, dk.WrapAlgorithm, dk.Description, len(dk.Plaintext))
				}
				keys, suites, ecs = append(keys, dk), append(suites, s), append(ecs, ec)
			}
		}
	}
	// Every form unwraps every data key: they all name the one key.
	for form, id := range forms {
		kr := newKMSKeyringForTest(t, p.c, id)
		for i, dk := range keys {
			got, err := kmsDecrypt(kr, suites[i], dk.EncryptedDataKey, ecs[i])
			if err != nil {
				t.Fatalf("%s: keyring by %s: DecryptDataKey: %v", p.name, form, err)
			}
			if !bytes.Equal(got, dk.Plaintext) {
				t.Fatalf("%s: keyring by %s unwrapped another data key", p.name, form)
			}
		}
	}
	// WrapDataKey (Encrypt) with a caller-made data key.
	kr := newKMSKeyringForTest(t, p.c, arn)
	plain := bytes.Repeat([]byte{7}, 32)
	edk, err := kr.WrapDataKey(context.Background(), &materials.WrapRequest{Suite: envelope.SuiteAESGCMCommitting, Plaintext: plain, EncryptionContext: map[string]string{"a": "b"}})
	if err != nil {
		t.Fatalf("%s: WrapDataKey: %v", p.name, err)
	}
	mustUnwrapTo(t, kr, envelope.SuiteAESGCMCommitting, &materials.DataKey{EncryptedDataKey: *edk, Plaintext: plain}, map[string]string{"a": "b"})
}

// TestKMSPeerContext: the context is bound by KMS, not only compared by us.
func TestKMSPeerContext(t *testing.T) {
	p := newKMSPeer(t)
	kr := newKMSKeyringForTest(t, p.c, p.createKey())
	ec := map[string]string{"tenant": "a"}
	dk := kmsGenerate(t, kr, envelope.SuiteAESGCMCommitting, ec)

	// A caller expecting another context: refused before KMS is asked.
	_, err := kmsDecrypt(kr, envelope.SuiteAESGCMCommitting, dk.EncryptedDataKey, map[string]string{"tenant": "b"})
	wantErr(t, err, materials.ErrContextMismatch)

	// The stored context altered consistently with what the caller
	// expects: our comparison passes, so it is KMS that refuses.
	forged := dk.EncryptedDataKey
	forged.Description = maps.Clone(dk.Description)
	forged.Description["tenant"] = "b"
	_, err = kmsDecrypt(kr, envelope.SuiteAESGCMCommitting, forged, map[string]string{"tenant": "b"})
	wantErr(t, err, materials.ErrUnwrap)
	if code := apiCode(err); code != "InvalidCiphertextException" {
		t.Fatalf("%s: Decrypt with another context: code %q (%v), want InvalidCiphertextException", p.name, code, err)
	}
	// A context entry added.
	forged.Description = maps.Clone(dk.Description)
	forged.Description["extra"] = "x"
	_, err = kmsDecrypt(kr, envelope.SuiteAESGCMCommitting, forged, map[string]string{"tenant": "a", "extra": "x"})
	wantErr(t, err, materials.ErrUnwrap)
	// The data key written for the non-committing suite, read as the
	// committing one (aws:x-amz-cek-alg rewritten to match).
	gcm := kmsGenerate(t, kr, envelope.SuiteAESGCM, ec)
	forged = gcm.EncryptedDataKey
	forged.Description = maps.Clone(gcm.Description)
	forged.Description["aws:x-amz-cek-alg"] = envelope.SuiteAESGCMCommitting.CipherName()
	_, err = kmsDecrypt(kr, envelope.SuiteAESGCMCommitting, forged, ec)
	wantErr(t, err, materials.ErrUnwrap)
	mustUnwrapTo(t, kr, envelope.SuiteAESGCMCommitting, dk, ec)
}

// TestKMSPeerWrongKeyAndCorrupt: a data key of another key, and a flipped
// byte, are unwrap errors.
func TestKMSPeerWrongKeyAndCorrupt(t *testing.T) {
	p := newKMSPeer(t)
	arnA, arnB := p.createKey(), p.createKey()
	krA, krB := newKMSKeyringForTest(t, p.c, arnA), newKMSKeyringForTest(t, p.c, arnB)
	dk := kmsGenerate(t, krA, envelope.SuiteAESGCMCommitting, nil)

	_, err := kmsDecrypt(krB, envelope.SuiteAESGCMCommitting, dk.EncryptedDataKey, nil)
	wantErr(t, err, materials.ErrUnwrap)
	if code, want := apiCode(err), p.quirk().wrongKeyCode; code != want {
		t.Fatalf("%s: Decrypt with another KeyId: code %q (%v), want %s", p.name, code, err, want)
	}
	for _, at := range []int{0, len(dk.Ciphertext) / 2, len(dk.Ciphertext) - 1} {
		bad := dk.EncryptedDataKey
		bad.Ciphertext = bytes.Clone(dk.Ciphertext)
		bad.Ciphertext[at] ^= 0x01
		for i, kr := range []materials.Keyring{krA, newKMSDiscoveryForTest(t, p.c)} {
			got, err := kmsDecrypt(kr, envelope.SuiteAESGCMCommitting, bad, nil)
			switch {
			case err == nil && bytes.Equal(got, dk.Plaintext) && i == 0 && !p.quirk().bindsKeyReference:
				// Decrypt with KeyId ignored the altered key reference
				// and opened the unaltered rest: the true data key.
				t.Logf("%s: flipped byte %d (with KeyId): the true data key (key reference not authenticated)", p.name, at)
			case err == nil:
				t.Fatalf("%s: flipped byte %d unwrapped (same data key: %v)", p.name, at, bytes.Equal(got, dk.Plaintext))
			case !errors.Is(err, materials.ErrUnwrap):
				// A flip in the key reference may name a key that does
				// not exist: a KMS error, not an unwrap error.
				if apiCode(err) == "" {
					t.Fatalf("%s: flipped byte %d: %v, want ErrUnwrap or a KMS error", p.name, at, err)
				}
				t.Logf("%s: flipped byte %d: %s", p.name, at, apiCode(err))
			}
		}
	}
	// Garbage that is no ciphertext of this KMS at all.
	bad := dk.EncryptedDataKey
	bad.Ciphertext = bytes.Repeat([]byte{0x42}, len(dk.Ciphertext))
	_, err = kmsDecrypt(krA, envelope.SuiteAESGCMCommitting, bad, nil)
	if err == nil {
		t.Fatalf("%s: garbage ciphertext unwrapped", p.name)
	}
	t.Logf("%s: garbage ciphertext: %s (%v)", p.name, apiCode(err), errors.Is(err, materials.ErrUnwrap))
}

// TestKMSPeerDiscovery: discovery without KeyId, limited by an allow-list
// of key ARNs that the server's answer must match.
func TestKMSPeerDiscovery(t *testing.T) {
	p := newKMSPeer(t)
	arnA, arnB := p.createKey(), p.createKey()
	dkA := kmsGenerate(t, newKMSKeyringForTest(t, p.c, arnA), envelope.SuiteAESGCMCommitting, map[string]string{"k": "v"})
	dkB := kmsGenerate(t, newKMSKeyringForTest(t, p.c, arnB), envelope.SuiteAESGCM, nil)

	open := newKMSDiscoveryForTest(t, p.c)
	mustUnwrapTo(t, open, envelope.SuiteAESGCMCommitting, dkA, map[string]string{"k": "v"})
	mustUnwrapTo(t, open, envelope.SuiteAESGCM, dkB, nil)

	onlyA := newKMSDiscoveryForTest(t, p.c, func(o *materials.KMSDiscoveryOptions) { o.AllowedKeyARNs = []string{arnA} })
	mustUnwrapTo(t, onlyA, envelope.SuiteAESGCMCommitting, dkA, map[string]string{"k": "v"})
	_, err := kmsDecrypt(onlyA, envelope.SuiteAESGCM, dkB.EncryptedDataKey, nil)
	wantErr(t, err, materials.ErrNotMine)

	// In a multi-keyring the other allow-list takes it.
	m := materials.NewMulti(nil, onlyA, newKMSDiscoveryForTest(t, p.c, func(o *materials.KMSDiscoveryOptions) { o.AllowedKeyARNs = []string{arnB} }))
	mustUnwrapTo(t, m, envelope.SuiteAESGCM, dkB, nil)

	// Discovery context checks are the same as the keyring's.
	_, err = kmsDecrypt(open, envelope.SuiteAESGCMCommitting, dkA.EncryptedDataKey, map[string]string{"k": "w"})
	wantErr(t, err, materials.ErrContextMismatch)
}

// TestKMSPeerReEncrypt: rotation of a wrapped key to another KMS key with
// ReEncrypt, with SourceKeyId.
func TestKMSPeerReEncrypt(t *testing.T) {
	p := newKMSPeer(t)
	arnA, arnB := p.createKey(), p.createKey()
	krA, krB := newKMSKeyringForTest(t, p.c, arnA), newKMSKeyringForTest(t, p.c, arnB)
	ec := map[string]string{"tenant": "a"}
	dk := kmsGenerate(t, krA, envelope.SuiteAESGCMCommitting, ec)
	ctx := context.Background()

	var authorized string
	out, err := krB.ReEncryptDataKey(ctx, &materials.ReEncryptRequest{
		Suite: envelope.SuiteAESGCMCommitting, Key: dk.EncryptedDataKey,
		SourceEncryptionContext: ec, EncryptionContext: ec, SourceKeyID: arnA,
		AuthorizeSource: func(src string) error { authorized = src; return nil },
	})
	if err != nil {
		t.Fatalf("%s: ReEncryptDataKey A->B: %v", p.name, err)
	}
	if out.SourceKeyID != arnA || out.KeyID != arnB || authorized != arnA {
		t.Fatalf("%s: ReEncrypt reported source %q destination %q (authorized %q), want %s -> %s", p.name, out.SourceKeyID, out.KeyID, authorized, arnA, arnB)
	}
	mustUnwrapTo(t, krB, envelope.SuiteAESGCMCommitting, &materials.DataKey{EncryptedDataKey: out.EncryptedDataKey, Plaintext: dk.Plaintext}, ec)
	_, err = kmsDecrypt(krA, envelope.SuiteAESGCMCommitting, out.EncryptedDataKey, ec)
	wantErr(t, err, materials.ErrUnwrap)

	// A new context on the way.
	ec2 := map[string]string{"tenant": "a", "moved": "yes"}
	out2, err := krA.ReEncryptDataKey(ctx, &materials.ReEncryptRequest{
		Suite: envelope.SuiteAESGCMCommitting, Key: out.EncryptedDataKey,
		SourceEncryptionContext: ec, EncryptionContext: ec2, SourceKeyID: arnB,
	})
	if err != nil {
		t.Fatalf("%s: ReEncryptDataKey B->A: %v", p.name, err)
	}
	mustUnwrapTo(t, krA, envelope.SuiteAESGCMCommitting, &materials.DataKey{EncryptedDataKey: out2.EncryptedDataKey, Plaintext: dk.Plaintext}, ec2)

	// SourceKeyId naming another key than the ciphertext's: KMS (per its
	// documentation) refuses with IncorrectKeyException; a KMS that does
	// not check it answers with the true source, which we refuse.
	_, err = krB.ReEncryptDataKey(ctx, &materials.ReEncryptRequest{
		Suite: envelope.SuiteAESGCMCommitting, Key: dk.EncryptedDataKey,
		SourceEncryptionContext: ec, EncryptionContext: ec, SourceKeyID: arnB, AllowSameKey: true,
	})
	wantErr(t, err, materials.ErrUnwrap)
	code := apiCode(err)
	if p.quirk().checksSourceKeyID && code != "IncorrectKeyException" {
		t.Fatalf("%s: ReEncrypt with a wrong SourceKeyId: code %q (%v), want IncorrectKeyException", p.name, code, err)
	}
	if !p.quirk().checksSourceKeyID && (code != "" || !strings.Contains(err.Error(), "reported key")) {
		t.Fatalf("%s: ReEncrypt with a wrong SourceKeyId: %v, want our reported-key refusal", p.name, err)
	}

	// The wrong source context: KMS refuses.
	_, err = krB.ReEncryptDataKey(ctx, &materials.ReEncryptRequest{
		Suite: envelope.SuiteAESGCMCommitting, Key: withDescription(dk.EncryptedDataKey, "tenant", "z"),
		SourceEncryptionContext: map[string]string{"tenant": "z"}, EncryptionContext: ec, SourceKeyID: arnA,
	})
	wantErr(t, err, materials.ErrUnwrap)
	if code := apiCode(err); code != "InvalidCiphertextException" {
		t.Fatalf("%s: ReEncrypt with another source context: code %q (%v)", p.name, code, err)
	}

	// Re-encrypting to the key that already wraps it.
	_, err = krA.ReEncryptDataKey(ctx, &materials.ReEncryptRequest{
		Suite: envelope.SuiteAESGCMCommitting, Key: dk.EncryptedDataKey,
		SourceEncryptionContext: ec, EncryptionContext: ec, SourceKeyID: arnA,
	})
	wantErr(t, err, materials.ErrSameWrappingKey)
}

func withDescription(edk materials.EncryptedDataKey, k, v string) materials.EncryptedDataKey {
	edk.Description = maps.Clone(edk.Description)
	edk.Description[k] = v
	return edk
}

// TestKMSPeerAliasMove: an alias that moves to another key.
func TestKMSPeerAliasMove(t *testing.T) {
	p := newKMSPeer(t)
	arnA, arnB := p.createKey(), p.createKey()
	name := p.alias(arnA)
	byAlias := newKMSKeyringForTest(t, p.c, name)
	byAliasARN := newKMSKeyringForTest(t, p.c, aliasARN(arnA, name))
	byARN := newKMSKeyringForTest(t, p.c, arnA)
	dk := kmsGenerate(t, byAlias, envelope.SuiteAESGCMCommitting, nil)
	mustUnwrapTo(t, byARN, envelope.SuiteAESGCMCommitting, dk, nil)

	_, err := p.c.UpdateAlias(context.Background(), &kms.UpdateAliasInput{AliasName: aws.String(name), TargetKeyId: aws.String(arnB)})
	p.do("UpdateAlias", err)
	d, err := p.c.DescribeKey(context.Background(), &kms.DescribeKeyInput{KeyId: aws.String(name)})
	p.do("DescribeKey(alias)", err)
	if aws.ToString(d.KeyMetadata.Arn) != arnB {
		t.Fatalf("%s: alias resolves to %s after the move, want %s", p.name, aws.ToString(d.KeyMetadata.Arn), arnB)
	}
	for _, kr := range []materials.Keyring{byAlias, byAliasARN} {
		_, err := kmsDecrypt(kr, envelope.SuiteAESGCMCommitting, dk.EncryptedDataKey, nil)
		wantErr(t, err, materials.ErrUnwrap)
		if code, want := apiCode(err), p.quirk().wrongKeyCode; code != want {
			t.Fatalf("%s: old data key by the moved alias: code %q (%v), want %s", p.name, code, err, want)
		}
	}
	mustUnwrapTo(t, byARN, envelope.SuiteAESGCMCommitting, dk, nil)
	mustUnwrapTo(t, newKMSDiscoveryForTest(t, p.c), envelope.SuiteAESGCMCommitting, dk, nil)
	fresh := kmsGenerate(t, byAlias, envelope.SuiteAESGCMCommitting, nil)
	mustUnwrapTo(t, newKMSKeyringForTest(t, p.c, arnB), envelope.SuiteAESGCMCommitting, fresh, nil)

	// Deleting the alias: NotFoundException, not an unwrap error.
	_, err = p.c.DeleteAlias(context.Background(), &kms.DeleteAliasInput{AliasName: aws.String(name)})
	p.do("DeleteAlias", err)
	_, err = byAlias.GenerateDataKey(context.Background(), &materials.EncryptionRequest{Suite: envelope.SuiteAESGCM})
	var nf *types.NotFoundException
	if !errors.As(err, &nf) {
		t.Fatalf("%s: GenerateDataKey by a deleted alias: %v, want *types.NotFoundException", p.name, err)
	}
	_, err = kmsDecrypt(byAlias, envelope.SuiteAESGCMCommitting, fresh.EncryptedDataKey, nil)
	if !errors.As(err, &nf) || errors.Is(err, materials.ErrUnwrap) {
		t.Fatalf("%s: Decrypt by a deleted alias: %v, want *types.NotFoundException and not ErrUnwrap", p.name, err)
	}
}

// TestKMSPeerKeyStates: disabled and pending-deletion keys, and keys that
// do not exist: KMS errors, never unwrap errors.
func TestKMSPeerKeyStates(t *testing.T) {
	p := newKMSPeer(t)
	ctx := context.Background()
	arn := p.createKey()
	kr := newKMSKeyringForTest(t, p.c, arn)
	disc := newKMSDiscoveryForTest(t, p.c)
	dk := kmsGenerate(t, kr, envelope.SuiteAESGCM, nil)

	_, err := p.c.DisableKey(ctx, &kms.DisableKeyInput{KeyId: aws.String(arn)})
	p.do("DisableKey", err)
	for i, r := range []materials.Keyring{kr, disc} {
		_, err := kmsDecrypt(r, envelope.SuiteAESGCM, dk.EncryptedDataKey, nil)
		want := "DisabledException"
		if q := p.quirk().keyStateWithoutKeyID; i == 1 && q != "" {
			want = q
		}
		if apiCode(err) != want || errors.Is(err, materials.ErrUnwrap) {
			t.Fatalf("%s: disabled key: %v, want %s and not ErrUnwrap", p.name, err, want)
		}
	}
	_, err = kr.GenerateDataKey(ctx, &materials.EncryptionRequest{Suite: envelope.SuiteAESGCM})
	var de *types.DisabledException
	if !errors.As(err, &de) {
		t.Fatalf("%s: GenerateDataKey on a disabled key: %v", p.name, err)
	}
	_, err = p.c.EnableKey(ctx, &kms.EnableKeyInput{KeyId: aws.String(arn)})
	p.do("EnableKey", err)
	mustUnwrapTo(t, kr, envelope.SuiteAESGCM, dk, nil)

	_, err = p.c.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: aws.String(arn), PendingWindowInDays: aws.Int32(7)})
	p.do("ScheduleKeyDeletion", err)
	for i, r := range []materials.Keyring{kr, disc} {
		_, err = kmsDecrypt(r, envelope.SuiteAESGCM, dk.EncryptedDataKey, nil)
		want := "KMSInvalidStateException"
		if q := p.quirk().keyStateWithoutKeyID; i == 1 && q != "" {
			want = q
		}
		if apiCode(err) != want || errors.Is(err, materials.ErrUnwrap) {
			t.Fatalf("%s: pending deletion: %v, want %s and not ErrUnwrap", p.name, err, want)
		}
	}
	_, err = kr.GenerateDataKey(ctx, &materials.EncryptionRequest{Suite: envelope.SuiteAESGCM})
	var is *types.KMSInvalidStateException
	if !errors.As(err, &is) {
		t.Fatalf("%s: GenerateDataKey on a key pending deletion: %v", p.name, err)
	}
	// A key whose deletion is cancelled comes back disabled (KMS
	// documentation: CancelKeyDeletion leaves the key Disabled; local-kms
	// re-enables it).
	_, err = p.c.CancelKeyDeletion(ctx, &kms.CancelKeyDeletionInput{KeyId: aws.String(arn)})
	p.do("CancelKeyDeletion", err)
	d, err := p.c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(arn)})
	p.do("DescribeKey", err)
	if want := p.quirk().afterCancelDeletion; d.KeyMetadata.KeyState != want {
		t.Fatalf("%s: key state after CancelKeyDeletion: %s, want %s", p.name, d.KeyMetadata.KeyState, want)
	}

	// A key that does not exist.
	missing := aliasARN(arn, "key/00000000-0000-4000-8000-000000000000")
	_, err = newKMSKeyringForTest(t, p.c, missing).GenerateDataKey(ctx, &materials.EncryptionRequest{Suite: envelope.SuiteAESGCM})
	var nf *types.NotFoundException
	if !errors.As(err, &nf) {
		t.Fatalf("%s: GenerateDataKey with a key that does not exist: %v, want *types.NotFoundException", p.name, err)
	}
}
