package materials_test

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"testing"

	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/internal/testkit/kmstest"
	"github.com/s3ec/s3ec-go/materials"
)

// A lying KMS answer (another KeyId) seen through a CachingKeyring is
// refused and leaves nothing in the cache: neither a data key for
// encryption nor an unwrapped key. The next honest call goes to KMS.
func TestAttackCachingLyingKMSNotCached(t *testing.T) {
	srv := kmstest.New(t)
	keyA := srv.KeyARN(srv.CreateKey())
	other := srv.KeyARN(srv.CreateKey(kmstest.WithAccount("999999999999")))
	kr := newCaching(t, newKMSKeyringForTest(t, srv.Client(), keyA))
	ctx := context.Background()
	req := &materials.EncryptionRequest{Suite: envelope.SuiteAESGCMCommitting, EncryptionContext: map[string]string{"p": "1"}}

	srv.SetLie("GenerateDataKey", kmstest.Lie{KeyID: other})
	if dk, err := kr.GenerateDataKey(ctx, req); err == nil {
		t.Fatalf("a GenerateDataKey answer naming %s was accepted (%d-byte key)", other, len(dk.Plaintext))
	}
	srv.SetLie("GenerateDataKey", kmstest.Lie{})
	dk, err := kr.GenerateDataKey(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if n := srv.Calls("GenerateDataKey"); n != 2 {
		t.Fatalf("%d GenerateDataKey requests, want 2: the refused answer was served from the cache", n)
	}
	if st := kr.Stats(); st.EncryptHits != 0 {
		t.Fatalf("encrypt hits %d after a refused answer, want 0", st.EncryptHits)
	}

	dreq := &materials.DecryptionRequest{Suite: envelope.SuiteAESGCMCommitting, Key: dk.EncryptedDataKey, EncryptionContext: map[string]string{"p": "1"}}
	srv.SetLie("Decrypt", kmstest.Lie{KeyID: other})
	for i := range 2 {
		if key, err := kr.DecryptDataKey(ctx, dreq); err == nil {
			t.Fatalf("attempt %d: a Decrypt answer naming %s was accepted (%d-byte key)", i, other, len(key))
		} else if !errors.Is(err, materials.ErrUnwrap) {
			t.Fatalf("attempt %d: %v, want ErrUnwrap", i, err)
		}
	}
	if n := srv.Calls("Decrypt"); n != 2 {
		t.Fatalf("%d Decrypt requests for 2 refused unwraps, want 2 (a refusal was cached?)", n)
	}
	srv.SetLie("Decrypt", kmstest.Lie{})
	key, err := kr.DecryptDataKey(ctx, dreq)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(key, dk.Plaintext) {
		t.Fatal("honest unwrap returned another key")
	}
	if st := kr.Stats(); st.DecryptHits != 0 || st.InnerDecryptCalls != 3 {
		t.Fatalf("decrypt stats %+v: want 0 hits, 3 inner calls", st)
	}
}

// A CachingKeyring around a discovery keyring never lets an unwrapped key
// of a key outside AllowedKeyARNs through, however often it is asked, and
// an entry cached for an allowed key serves only that wrapped key: the
// attacker's own key (another account, usable by everyone) stays refused.
func TestAttackCachingDiscoveryAllowList(t *testing.T) {
	srv := kmstest.New(t)
	mine := srv.KeyARN(srv.CreateKey())
	theirs := srv.KeyARN(srv.CreateKey(kmstest.WithAccount("999999999999")))
	ctx := context.Background()
	gen := func(arn string) *materials.DataKey {
		dk, err := newKMSKeyringForTest(t, srv.Client(), arn).GenerateDataKey(ctx, &materials.EncryptionRequest{Suite: envelope.SuiteAESGCMCommitting})
		if err != nil {
			t.Fatal(err)
		}
		return dk
	}
	good, bad := gen(mine), gen(theirs)
	disc, err := materials.NewKMSDiscoveryKeyring(srv.Client(), func(o *materials.KMSDiscoveryOptions) { o.AllowedKeyARNs = []string{mine} })
	if err != nil {
		t.Fatal(err)
	}
	kr := newCaching(t, disc)
	if _, err := kr.DecryptDataKey(ctx, &materials.DecryptionRequest{Suite: envelope.SuiteAESGCMCommitting, Key: good.EncryptedDataKey}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		key, err := kr.DecryptDataKey(ctx, &materials.DecryptionRequest{Suite: envelope.SuiteAESGCMCommitting, Key: bad.EncryptedDataKey})
		if err == nil {
			t.Fatalf("attempt %d: the attacker's key was unwrapped through the cache (%d bytes)", i, len(key))
		}
		if !errors.Is(err, materials.ErrNotMine) {
			t.Fatalf("attempt %d: %v, want ErrNotMine", i, err)
		}
	}
	// The attacker's wrapped key with the allowed object's description
	// (what a bucket writer can pair freely) is another cache key.
	mixed := bad.EncryptedDataKey
	mixed.Description = maps.Clone(good.Description)
	if _, err := kr.DecryptDataKey(ctx, &materials.DecryptionRequest{Suite: envelope.SuiteAESGCMCommitting, Key: mixed}); err == nil {
		t.Fatal("the attacker's wrapped key with a cached object's description was accepted")
	}
	if st := kr.Stats(); st.DecryptHits != 0 {
		t.Fatalf("%d decrypt hits, want 0: a foreign wrapped key was served from the cache", st.DecryptHits)
	}
}

// What a caller does to the DataKey it got (zero it, edit its
// description or wrapped key) does not reach the cached entry: the next
// object gets the cached key intact, with the context KMS bound.
func TestAttackCachingCallerCopiesAreIndependent(t *testing.T) {
	srv := kmstest.New(t)
	kr := newCaching(t, newKMSKeyringForTest(t, srv.Client(), srv.KeyARN(srv.CreateKey())))
	ctx := context.Background()
	req := func() *materials.EncryptionRequest {
		return &materials.EncryptionRequest{Suite: envelope.SuiteAESGCMCommitting, EncryptionContext: map[string]string{"tenant": "a"}, PlaintextLength: 10}
	}
	first, err := kr.GenerateDataKey(ctx, req())
	if err != nil {
		t.Fatal(err)
	}
	wantKey := bytes.Clone(first.Plaintext)
	wantBlob := bytes.Clone(first.Ciphertext)
	for round := range 2 {
		dk, err := kr.GenerateDataKey(ctx, req())
		if err != nil {
			t.Fatal(err)
		}
		if round == 0 {
			// The miss's own copy, mutated after the hit was taken: the
			// hit must not have been affected either.
			first.Zero()
			first.Description["tenant"] = "b"
			first.Ciphertext[0] ^= 0xff
		}
		if !bytes.Equal(dk.Plaintext, wantKey) || !bytes.Equal(dk.Ciphertext, wantBlob) || dk.Description["tenant"] != "a" {
			t.Fatalf("round %d: the cached data key was changed through a caller's copy", round)
		}
		dk.Zero()
		dk.Description["tenant"] = "b"
		dk.Ciphertext[0] ^= 0xff
	}
	if srv.Calls("GenerateDataKey") != 1 {
		t.Fatalf("%d GenerateDataKey requests, want 1", srv.Calls("GenerateDataKey"))
	}
	// The last cached copy still unwraps under the context it names.
	dk, err := kr.GenerateDataKey(ctx, req())
	if err != nil {
		t.Fatal(err)
	}
	key, err := kr.DecryptDataKey(ctx, &materials.DecryptionRequest{Suite: envelope.SuiteAESGCMCommitting, Key: dk.EncryptedDataKey, EncryptionContext: map[string]string{"tenant": "a"}})
	if err != nil || !bytes.Equal(key, wantKey) {
		t.Fatalf("cached key does not unwrap to itself: %v", err)
	}
}
