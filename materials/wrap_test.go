package materials_test

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/internal/testkit/kmstest"
	"github.com/s3ec/s3ec-go/materials"
)

func wrapOrFatal(t *testing.T, w materials.KeyWrapper, req *materials.WrapRequest) *materials.EncryptedDataKey {
	t.Helper()
	edk, err := w.WrapDataKey(context.Background(), req)
	if err != nil {
		t.Fatalf("WrapDataKey: %v", err)
	}
	return edk
}

func unwrapOrFatal(t *testing.T, kr materials.Keyring, s envelope.Suite, edk materials.EncryptedDataKey, ec map[string]string) []byte {
	t.Helper()
	k, err := kr.DecryptDataKey(context.Background(), &materials.DecryptionRequest{Suite: s, Key: edk, EncryptionContext: ec})
	if err != nil {
		t.Fatalf("DecryptDataKey: %v", err)
	}
	return k
}

func TestAESWrapDataKey(t *testing.T) {
	oldKey, newKey := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 16)
	oldKR := newAESKR(t, oldKey, func(o *materials.AESKeyringOptions) { o.MaterialDescription = map[string]string{"v": "1"} })
	newKR := newAESKR(t, newKey, func(o *materials.AESKeyringOptions) { o.MaterialDescription = map[string]string{"v": "2"} })
	for _, s := range bothSuites {
		dk, err := oldKR.GenerateDataKey(context.Background(), &materials.EncryptionRequest{Suite: s})
		if err != nil {
			t.Fatal(err)
		}
		edk := wrapOrFatal(t, newKR, &materials.WrapRequest{Suite: s, Plaintext: dk.Plaintext, Replaces: &dk.EncryptedDataKey})
		if edk.WrapAlgorithm != envelope.WrapAESGCM || edk.Description["v"] != "2" || len(edk.Ciphertext) != 60 {
			t.Fatalf("%v: wrapped key %q %v, %d bytes", s, edk.WrapAlgorithm, edk.Description, len(edk.Ciphertext))
		}
		if got := unwrapOrFatal(t, newKR, s, *edk, nil); !bytes.Equal(got, dk.Plaintext) {
			t.Fatalf("%v: re-wrapped key unwraps to another key", s)
		}
		if _, err := oldKR.DecryptDataKey(context.Background(), &materials.DecryptionRequest{Suite: s, Key: *edk}); !errors.Is(err, materials.ErrUnwrap) {
			t.Fatalf("%v: the old key opens the new wrap: %v", s, err)
		}
		other := envelope.SuiteAESGCM
		if s == other {
			other = envelope.SuiteAESGCMCommitting
		}
		if _, err := newKR.DecryptDataKey(context.Background(), &materials.DecryptionRequest{Suite: other, Key: *edk}); !errors.Is(err, materials.ErrUnwrap) {
			t.Fatalf("%v: the wrap is not bound to the suite: %v", s, err)
		}
	}

	dk, _ := oldKR.GenerateDataKey(context.Background(), &materials.EncryptionRequest{Suite: envelope.SuiteAESGCMCommitting})
	s := envelope.SuiteAESGCMCommitting
	for name, kr := range map[string]*materials.AESKeyring{
		"same keyring":                  oldKR,
		"same key, another description": newAESKR(t, oldKey, func(o *materials.AESKeyringOptions) { o.MaterialDescription = map[string]string{"v": "9"} }),
	} {
		_, err := kr.WrapDataKey(context.Background(), &materials.WrapRequest{Suite: s, Plaintext: dk.Plaintext, Replaces: &dk.EncryptedDataKey})
		if !errors.Is(err, materials.ErrSameWrappingKey) {
			t.Errorf("%s: got %v, want ErrSameWrappingKey", name, err)
		}
	}
	// A material description is not a key's identity: another key with the
	// same description is another key (TestRotateAESEqualDescriptions).
	sameDesc := newAESKR(t, newKey, func(o *materials.AESKeyringOptions) { o.MaterialDescription = map[string]string{"v": "1"} })
	for name, current := range map[string]materials.Keyring{"no Current": nil, "Current": oldKR, "Current in a Multi": materials.NewMulti(newKR, oldKR)} {
		edk := wrapOrFatal(t, sameDesc, &materials.WrapRequest{Suite: s, Plaintext: dk.Plaintext, Replaces: &dk.EncryptedDataKey, Current: current})
		if got := unwrapOrFatal(t, sameDesc, s, *edk, nil); !bytes.Equal(got, dk.Plaintext) {
			t.Fatalf("another key, the same description, %s: re-wrapped key unwraps to another key", name)
		}
	}
	// Without Replaces nothing is compared.
	wrapOrFatal(t, oldKR, &materials.WrapRequest{Suite: s, Plaintext: dk.Plaintext})

	for name, req := range map[string]*materials.WrapRequest{
		"context":       {Suite: s, Plaintext: dk.Plaintext, EncryptionContext: map[string]string{"a": "b"}},
		"short key":     {Suite: s, Plaintext: dk.Plaintext[:16]},
		"CBC suite":     {Suite: envelope.SuiteAESCBC, Plaintext: dk.Plaintext},
		"unknown suite": {Suite: 0x99, Plaintext: dk.Plaintext},
	} {
		if _, err := newKR.WrapDataKey(context.Background(), req); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := newKR.WrapDataKey(ctx, &materials.WrapRequest{Suite: s, Plaintext: dk.Plaintext}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

func TestRSAWrapDataKey(t *testing.T) {
	k0 := vectorPrivateKey(t, "jce-rsa2048-v2-md-17", 0)
	k1 := vectorPrivateKey(t, "jce-rsa2048-v2-rotation-17", 0)
	oldKR := newRSAKR(t, nil, k0, func(o *materials.RSAKeyringOptions) { o.MaterialDescription = map[string]string{"v": "1"} })
	// The new keyring holds only a public key: a writer that rotates for a
	// reader who holds the private key.
	newPub := newRSAKR(t, &k1.PublicKey, nil, func(o *materials.RSAKeyringOptions) { o.MaterialDescription = map[string]string{"v": "2"} })
	newPriv := newRSAKR(t, nil, k1, func(o *materials.RSAKeyringOptions) { o.MaterialDescription = map[string]string{"v": "2"} })
	for _, s := range bothSuites {
		dk, err := oldKR.GenerateDataKey(context.Background(), &materials.EncryptionRequest{Suite: s})
		if err != nil {
			t.Fatal(err)
		}
		edk := wrapOrFatal(t, newPub, &materials.WrapRequest{Suite: s, Plaintext: dk.Plaintext, Replaces: &dk.EncryptedDataKey})
		if edk.WrapAlgorithm != envelope.WrapRSAOAEPSHA1 || edk.Description["v"] != "2" {
			t.Fatalf("%v: wrapped key %q %v", s, edk.WrapAlgorithm, edk.Description)
		}
		if got := unwrapOrFatal(t, newPriv, s, *edk, nil); !bytes.Equal(got, dk.Plaintext) {
			t.Fatalf("%v: re-wrapped key unwraps to another key", s)
		}
		if _, err := oldKR.DecryptDataKey(context.Background(), &materials.DecryptionRequest{Suite: s, Key: *edk}); !errors.Is(err, materials.ErrUnwrap) {
			t.Fatalf("%v: the old key opens the new wrap: %v", s, err)
		}
	}
	s := envelope.SuiteAESGCMCommitting
	dk, _ := oldKR.GenerateDataKey(context.Background(), &materials.EncryptionRequest{Suite: s})
	for name, kr := range map[string]*materials.RSAKeyring{
		"same keyring":                   oldKR,
		"same key pair, new description": newRSAKR(t, nil, k0, func(o *materials.RSAKeyringOptions) { o.MaterialDescription = map[string]string{"v": "3"} }),
	} {
		_, err := kr.WrapDataKey(context.Background(), &materials.WrapRequest{Suite: s, Plaintext: dk.Plaintext, Replaces: &dk.EncryptedDataKey})
		if !errors.Is(err, materials.ErrSameWrappingKey) {
			t.Errorf("%s: got %v, want ErrSameWrappingKey", name, err)
		}
	}
	// An encrypt-only keyring of the same key pair: its public key is that of
	// the current keyring's private key that opens the wrap.
	samePub := newRSAKR(t, &k0.PublicKey, nil, func(o *materials.RSAKeyringOptions) { o.MaterialDescription = map[string]string{"v": "4"} })
	for name, current := range map[string]materials.Keyring{"Current": oldKR, "Current in a Multi": materials.NewMulti(newPriv, oldKR)} {
		_, err := samePub.WrapDataKey(context.Background(), &materials.WrapRequest{Suite: s, Plaintext: dk.Plaintext, Replaces: &dk.EncryptedDataKey, Current: current})
		if !errors.Is(err, materials.ErrSameWrappingKey) {
			t.Errorf("same public key, %s: got %v, want ErrSameWrappingKey", name, err)
		}
	}
	// Another key pair with the same description is another key.
	sameDesc := newRSAKR(t, &k1.PublicKey, nil, func(o *materials.RSAKeyringOptions) { o.MaterialDescription = map[string]string{"v": "1"} })
	for name, current := range map[string]materials.Keyring{"no Current": nil, "Current": oldKR} {
		if _, err := sameDesc.WrapDataKey(context.Background(), &materials.WrapRequest{Suite: s, Plaintext: dk.Plaintext, Replaces: &dk.EncryptedDataKey, Current: current}); err != nil {
			t.Errorf("another key pair, the same description, %s: %v", name, err)
		}
	}
	if _, err := newPub.WrapDataKey(context.Background(), &materials.WrapRequest{Suite: s, Plaintext: dk.Plaintext, EncryptionContext: map[string]string{"a": "b"}}); !errors.Is(err, materials.ErrContextNotSupported) {
		t.Errorf("context: %v", err)
	}
}

// kmsOnly hides every method but those of KMSClient, as an older fake
// would.
type kmsOnly struct{ materials.KMSClient }

func TestKMSWrapDataKey(t *testing.T) {
	srv := kmstest.New(t)
	keyA := srv.CreateKey()
	kr := newKMSKeyringForTest(t, srv.Client(), keyA)
	ec := map[string]string{"tenant": "acme"}
	for _, s := range kmsSuites {
		srv.ResetCalls()
		pt := bytes.Repeat([]byte{byte(s)}, 32)
		edk := wrapOrFatal(t, kr, &materials.WrapRequest{Suite: s, Plaintext: pt, EncryptionContext: maps.Clone(ec)})
		want := map[string]string{"tenant": "acme", envelope.ReservedContextKey: s.CipherName()}
		if edk.WrapAlgorithm != envelope.WrapKMSContext || !maps.Equal(edk.Description, want) {
			t.Fatalf("%v: wrapped key %q %v", s, edk.WrapAlgorithm, edk.Description)
		}
		if c, ok := srv.LastCall("Encrypt"); !ok || srv.Calls("*") != 1 || c.KeyID != keyA || !maps.Equal(c.EncryptionContext, want) {
			t.Fatalf("%v: KMS saw %+v (%d calls)", s, c, srv.Calls("*"))
		}
		if got := unwrapOrFatal(t, kr, s, *edk, ec); !bytes.Equal(got, pt) {
			t.Fatalf("%v: wrapped key unwraps to another key", s)
		}
	}
	s := envelope.SuiteAESGCMCommitting
	if _, err := kr.WrapDataKey(context.Background(), &materials.WrapRequest{Suite: s, Plaintext: make([]byte, 32), EncryptionContext: map[string]string{envelope.ReservedContextKey: "x"}}); !errors.Is(err, materials.ErrReservedContextKey) {
		t.Errorf("reserved context key: %v", err)
	}
	old := newKMSKeyringForTest(t, kmsOnly{srv.Client()}, keyA)
	if _, err := old.WrapDataKey(context.Background(), &materials.WrapRequest{Suite: s, Plaintext: make([]byte, 32)}); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("client without Encrypt: %v", err)
	}
}

func TestKMSReEncryptDataKey(t *testing.T) {
	srv := kmstest.New(t)
	keyA, keyB := srv.CreateKey(), srv.CreateKey()
	srv.CreateAlias("alias/app", keyB)
	krA := newKMSKeyringForTest(t, srv.Client(), keyA)
	krAlias := newKMSKeyringForTest(t, srv.Client(), "alias/app")
	krB := newKMSKeyringForTest(t, srv.Client(), keyB)
	s := envelope.SuiteAESGCMCommitting
	ec := map[string]string{"tenant": "acme"}
	dk, err := krA.GenerateDataKey(context.Background(), &materials.EncryptionRequest{Suite: s, EncryptionContext: ec})
	if err != nil {
		t.Fatal(err)
	}

	srv.ResetCalls()
	newEC := map[string]string{"tenant": "acme", "moved": "yes"}
	out, err := krAlias.ReEncryptDataKey(context.Background(), &materials.ReEncryptRequest{
		Suite: s, Key: dk.EncryptedDataKey, SourceEncryptionContext: ec, EncryptionContext: newEC,
	})
	if err != nil {
		t.Fatal(err)
	}
	if srv.Calls("ReEncrypt") != 1 || srv.Calls("*") != 1 {
		t.Fatalf("KMS calls: %d ReEncrypt, %d in all; want 1 and 1 (the key never leaves KMS)", srv.Calls("ReEncrypt"), srv.Calls("*"))
	}
	if out.SourceKeyID != keyA || out.KeyID != keyB {
		t.Fatalf("keys reported %q -> %q, want %q -> %q", out.SourceKeyID, out.KeyID, keyA, keyB)
	}
	want := map[string]string{"tenant": "acme", "moved": "yes", envelope.ReservedContextKey: "115"}
	if out.WrapAlgorithm != envelope.WrapKMSContext || !maps.Equal(out.Description, want) {
		t.Fatalf("re-encrypted key %q %v", out.WrapAlgorithm, out.Description)
	}
	if got := unwrapOrFatal(t, krB, s, out.EncryptedDataKey, newEC); !bytes.Equal(got, dk.Plaintext) {
		t.Fatal("the re-encrypted key unwraps to another key")
	}
	if _, err := krA.DecryptDataKey(context.Background(), &materials.DecryptionRequest{Suite: s, Key: out.EncryptedDataKey, EncryptionContext: newEC}); !errors.Is(err, materials.ErrUnwrap) {
		t.Fatalf("the old key's keyring opens the new blob: %v", err)
	}

	// The same key, through its ARN or an alias, is refused unless allowed.
	srv.ResetCalls()
	_, err = krB.ReEncryptDataKey(context.Background(), &materials.ReEncryptRequest{Suite: s, Key: out.EncryptedDataKey, SourceEncryptionContext: newEC, EncryptionContext: newEC})
	if !errors.Is(err, materials.ErrSameWrappingKey) {
		t.Fatalf("same key: %v", err)
	}
	if _, err := krAlias.ReEncryptDataKey(context.Background(), &materials.ReEncryptRequest{Suite: s, Key: out.EncryptedDataKey, SourceEncryptionContext: newEC, AllowSameKey: true}); err != nil {
		t.Fatalf("same key allowed: %v", err)
	}

	// Checks before KMS: context, wrap algorithm, legacy opt-in.
	srv.ResetCalls()
	legacy := dk.EncryptedDataKey
	legacy.WrapAlgorithm = envelope.WrapKMS
	for name, c := range map[string]struct {
		req  *materials.ReEncryptRequest
		want error
	}{
		"wrong source context": {&materials.ReEncryptRequest{Suite: s, Key: dk.EncryptedDataKey, SourceEncryptionContext: map[string]string{"tenant": "x"}}, materials.ErrContextMismatch},
		"no source context":    {&materials.ReEncryptRequest{Suite: s, Key: dk.EncryptedDataKey}, materials.ErrContextMismatch},
		"other suite":          {&materials.ReEncryptRequest{Suite: envelope.SuiteAESGCM, Key: dk.EncryptedDataKey, SourceEncryptionContext: ec}, envelope.ErrMalformed},
		"legacy kms":           {&materials.ReEncryptRequest{Suite: s, Key: legacy}, envelope.ErrPolicy},
		"reserved destination": {&materials.ReEncryptRequest{Suite: s, Key: dk.EncryptedDataKey, SourceEncryptionContext: ec, EncryptionContext: map[string]string{"kms_cmk_id": "x"}}, materials.ErrReservedContextKey},
	} {
		if _, err := krB.ReEncryptDataKey(context.Background(), c.req); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", name, err, c.want)
		}
	}
	if srv.Calls("*") != 0 {
		t.Errorf("refused requests reached KMS %d times", srv.Calls("*"))
	}

	// A blob of another KMS's key, and a wrong SourceKeyID, are ErrUnwrap.
	other := kmstest.New(t)
	foreign, err := newKMSKeyringForTest(t, other.Client(), other.CreateKey()).GenerateDataKey(context.Background(), &materials.EncryptionRequest{Suite: s})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := krB.ReEncryptDataKey(context.Background(), &materials.ReEncryptRequest{Suite: s, Key: foreign.EncryptedDataKey}); !errors.Is(err, materials.ErrUnwrap) {
		t.Errorf("foreign blob: %v", err)
	}
	_, err = krB.ReEncryptDataKey(context.Background(), &materials.ReEncryptRequest{Suite: s, Key: dk.EncryptedDataKey, SourceEncryptionContext: ec, SourceKeyID: keyB})
	var incorrect *types.IncorrectKeyException
	if !errors.Is(err, materials.ErrUnwrap) || !errors.As(err, &incorrect) {
		t.Errorf("wrong SourceKeyID: %v", err)
	}

	old := newKMSKeyringForTest(t, kmsOnly{srv.Client()}, keyB)
	if _, err := old.ReEncryptDataKey(context.Background(), &materials.ReEncryptRequest{Suite: s, Key: dk.EncryptedDataKey, SourceEncryptionContext: ec}); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("client without ReEncrypt: %v", err)
	}
}
