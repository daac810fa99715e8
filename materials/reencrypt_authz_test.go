package materials_test

import (
	"context"
	"errors"
	"testing"

	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/internal/testkit/kmstest"
	"github.com/s3ec/s3ec-go/materials"
)

// Every keyring answers ReEncryptSources as its DecryptDataKey would
// decide: the KMS keyring names its key as SourceKeyId and accepts only
// that key as the reported source, a discovery keyring its allow-list,
// local keyrings nothing; Multi and Caching pass the answers through.
func TestReEncryptSourcesMatchDecrypt(t *testing.T) {
	srv := kmstest.New(t)
	keyA, keyB := srv.CreateKey(), srv.CreateKey()
	keyX := srv.CreateKey(kmstest.WithAccount("444455556666"))
	kmsA := newKMSKeyringForTest(t, srv.Client(), keyA)
	kmsB := newKMSKeyringForTest(t, srv.Client(), keyB)
	discA := newKMSDiscoveryForTest(t, srv.Client(), func(o *materials.KMSDiscoveryOptions) { o.AllowedKeyARNs = []string{keyA} })
	discAB := newKMSDiscoveryForTest(t, srv.Client(), func(o *materials.KMSDiscoveryOptions) { o.AllowedKeyARNs = []string{keyA, keyB} })
	discAny := newKMSDiscoveryForTest(t, srv.Client())
	aes := newAESKR(t, make([]byte, 32))
	caching, err := materials.NewCachingKeyring(kmsA)
	if err != nil {
		t.Fatal(err)
	}
	s := envelope.SuiteAESGCMCommitting
	dk := kmsGenerate(t, kmsA, s, nil)
	req := &materials.DecryptionRequest{Suite: s, Key: dk.EncryptedDataKey}

	for name, c := range map[string]struct {
		kr        materials.Keyring
		keyIDs    []string
		accepts   []string
		refuses   []string
		wantError error
	}{
		"kms":                 {kr: kmsA, keyIDs: []string{keyA}, accepts: []string{keyA}, refuses: []string{keyB, keyX, ""}},
		"discovery one key":   {kr: discA, keyIDs: []string{keyA}, accepts: []string{keyA}, refuses: []string{keyB, keyX, ""}},
		"discovery two keys":  {kr: discAB, keyIDs: []string{""}, accepts: []string{keyA, keyB}, refuses: []string{keyX, ""}},
		"discovery any key":   {kr: discAny, keyIDs: []string{""}, accepts: []string{keyA, keyX}},
		"multi aes + kms":     {kr: materials.NewMulti(aes, kmsA), keyIDs: []string{keyA}, accepts: []string{keyA}, refuses: []string{keyX}},
		"multi kms B + kms A": {kr: materials.NewMulti(kmsB, kmsA), keyIDs: []string{keyB, keyA}},
		"caching":             {kr: caching, keyIDs: []string{keyA}, accepts: []string{keyA}, refuses: []string{keyX}},
		"aes":                 {kr: aes, wantError: materials.ErrNotMine},
		"rsa":                 {kr: newRSAKR(t, nil, vectorPrivateKey(t, "jce-rsa2048-v2-md-17", 0)), wantError: materials.ErrNotMine},
		"multi aes only":      {kr: materials.NewMulti(aes), wantError: materials.ErrNotMine},
		"multi with a stranger": {kr: materials.NewMulti(kmsA, struct{ materials.Keyring }{aes}),
			wantError: errors.ErrUnsupported},
	} {
		sources, err := materials.ReEncryptSourcesOf(c.kr, req)
		if c.wantError != nil {
			if !errors.Is(err, c.wantError) {
				t.Errorf("%s: got %v, want %v", name, err, c.wantError)
			}
			continue
		}
		if err != nil || len(sources) != len(c.keyIDs) {
			t.Fatalf("%s: %v %v", name, sources, err)
		}
		for i, src := range sources {
			if src.KeyID != c.keyIDs[i] {
				t.Errorf("%s: source %d names %q, want %q", name, i, src.KeyID, c.keyIDs[i])
			}
		}
		for _, arn := range c.accepts {
			if err := sources[0].Authorize(arn); err != nil {
				t.Errorf("%s: refuses %q: %v", name, arn, err)
			}
		}
		for _, arn := range c.refuses {
			if err := sources[0].Authorize(arn); err == nil {
				t.Errorf("%s: accepts %q", name, arn)
			}
		}
	}
	// The checks before any KMS call are DecryptDataKey's.
	_, err = materials.ReEncryptSourcesOf(kmsA, &materials.DecryptionRequest{Suite: s, Key: dk.EncryptedDataKey, EncryptionContext: map[string]string{"a": "b"}})
	wantErr(t, err, materials.ErrContextMismatch)
	if err := (materials.ReEncryptSource{KeyID: keyA}).Authorize(keyA); !errors.Is(err, materials.ErrNotMine) {
		t.Errorf("a hand-made source authorizes: %v", err)
	}
}

// ReEncryptDataKey checks what KMS reports: the destination must be the
// keyring's key, the source the one asked for and one that AuthorizeSource
// accepts; Decrypt and Encrypt answers must name the keyring's key.
func TestKMSKeyringChecksReportedKeys(t *testing.T) {
	srv := kmstest.New(t)
	keyA, keyB := srv.CreateKey(), srv.CreateKey()
	keyX := srv.CreateKey(kmstest.WithAccount("444455556666"))
	kmsA := newKMSKeyringForTest(t, srv.Client(), keyA)
	kmsB := newKMSKeyringForTest(t, srv.Client(), keyB)
	s := envelope.SuiteAESGCMCommitting
	dk := kmsGenerate(t, kmsA, s, nil)
	reenc := func(r *materials.ReEncryptRequest) error {
		r.Suite, r.Key = s, dk.EncryptedDataKey
		_, err := kmsB.ReEncryptDataKey(context.Background(), r)
		return err
	}
	if err := reenc(&materials.ReEncryptRequest{SourceKeyID: keyA}); err != nil {
		t.Fatalf("truthful KMS: %v", err)
	}
	if c, _ := srv.LastCall("ReEncrypt"); c.SourceKeyID != keyA {
		t.Fatalf("SourceKeyId sent: %q", c.SourceKeyID)
	}
	// KMS refuses a SourceKeyId that did not wrap the key.
	wantErr(t, reenc(&materials.ReEncryptRequest{SourceKeyID: keyX}), materials.ErrUnwrap)
	wantErr(t, reenc(&materials.ReEncryptRequest{AuthorizeSource: func(string) error { return materials.ErrNotMine }}), materials.ErrNotMine)

	for name, c := range map[string]struct {
		op  string
		lie kmstest.Lie
		run func() error
	}{
		"ReEncrypt destination": {"ReEncrypt", kmstest.Lie{KeyID: keyX}, func() error { return reenc(&materials.ReEncryptRequest{SourceKeyID: keyA}) }},
		"ReEncrypt source":      {"ReEncrypt", kmstest.Lie{SourceKeyID: keyX}, func() error { return reenc(&materials.ReEncryptRequest{SourceKeyID: keyA}) }},
		"Decrypt":               {"Decrypt", kmstest.Lie{KeyID: keyX}, func() error { _, err := kmsDecrypt(kmsA, s, dk.EncryptedDataKey, nil); return err }},
		"Encrypt": {"Encrypt", kmstest.Lie{KeyID: keyX}, func() error {
			_, err := kmsB.WrapDataKey(context.Background(), &materials.WrapRequest{Suite: s, Plaintext: dk.Plaintext})
			return err
		}},
		"GenerateDataKey": {"GenerateDataKey", kmstest.Lie{KeyID: keyX}, func() error {
			_, err := kmsA.GenerateDataKey(context.Background(), &materials.EncryptionRequest{Suite: s})
			return err
		}},
	} {
		srv.SetLie(c.op, c.lie)
		err := c.run()
		srv.SetLie(c.op, kmstest.Lie{})
		if !errors.Is(err, materials.ErrUnwrap) {
			t.Errorf("%s naming another key: got %v, want ErrUnwrap", name, err)
		}
	}
	// A keyring configured with a bare key id checks the id.
	bare := newKMSKeyringForTest(t, srv.Client(), keyA[len(keyA)-36:])
	if _, err := kmsDecrypt(bare, s, dk.EncryptedDataKey, nil); err != nil {
		t.Fatalf("bare key id: %v", err)
	}
	srv.SetLie("Decrypt", kmstest.Lie{KeyID: keyX})
	_, err := kmsDecrypt(bare, s, dk.EncryptedDataKey, nil)
	srv.SetLie("Decrypt", kmstest.Lie{})
	wantErr(t, err, materials.ErrUnwrap)
}
