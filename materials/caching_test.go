package materials_test

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/internal/testkit/kmstest"
	"github.com/s3ec/s3ec-go/materials"
	"github.com/s3ec/s3ec-go/materials/keyringtest"
)

func newCaching(t testing.TB, inner materials.Keyring, optFns ...func(*materials.CachingOptions)) *materials.CachingKeyring {
	t.Helper()
	c, err := materials.NewCachingKeyring(inner, optFns...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func oneObjectPerKey(o *materials.CachingOptions) { o.MaxObjects = 1 }

// The caching keyring passes the conformance suite: with key reuse off
// (MaxObjects 1) for both suites, where the suite's "two calls give two
// keys" holds, and with the default limits for the non-committing suite,
// which is never cached on encryption. Decryption caching is on in both.
func TestConformanceCaching(t *testing.T) {
	srv := kmstest.New(t)
	keyA, keyB := srv.CreateKey(), srv.CreateKey()
	t.Run("KMS", func(t *testing.T) {
		keyringtest.Run(t, keyringtest.Harness{
			New: func(t *testing.T) materials.Keyring {
				return newCaching(t, newKMSKeyringForTest(t, srv.Client(), keyA), oneObjectPerKey)
			},
			Other: func(t *testing.T) materials.Keyring {
				return newCaching(t, newKMSKeyringForTest(t, srv.Client(), keyB), oneObjectPerKey)
			},
			SupportsContext: true,
			Suites:          kmsSuites,
		})
	})
	t.Run("KMS-V2-default-limits", func(t *testing.T) {
		keyringtest.Run(t, keyringtest.Harness{
			New: func(t *testing.T) materials.Keyring {
				return newCaching(t, newKMSKeyringForTest(t, srv.Client(), keyA))
			},
			Other: func(t *testing.T) materials.Keyring {
				return newCaching(t, newKMSKeyringForTest(t, srv.Client(), keyB))
			},
			SupportsContext: true,
			Suites:          []envelope.Suite{envelope.SuiteAESGCM},
		})
	})
	t.Run("AES", func(t *testing.T) {
		keyringtest.Run(t, keyringtest.Harness{
			New: func(t *testing.T) materials.Keyring {
				return newCaching(t, newAESKR(t, bytes.Repeat([]byte{1}, 32)), oneObjectPerKey)
			},
			Other: func(t *testing.T) materials.Keyring {
				return newCaching(t, newAESKR(t, bytes.Repeat([]byte{2}, 32)), oneObjectPerKey)
			},
			Suites: bothSuites,
		})
	})
}

func generateN(t *testing.T, kr materials.Keyring, s envelope.Suite, ec map[string]string, n int, length int64) []*materials.DataKey {
	t.Helper()
	var out []*materials.DataKey
	for i := 0; i < n; i++ {
		dk, err := kr.GenerateDataKey(context.Background(), &materials.EncryptionRequest{Suite: s, EncryptionContext: maps.Clone(ec), PlaintextLength: length})
		if err != nil {
			t.Fatalf("GenerateDataKey %d: %v", i, err)
		}
		out = append(out, dk)
	}
	return out
}

// distinctKeys counts the different plaintext keys in dks.
func distinctKeys(dks []*materials.DataKey) int {
	seen := map[string]bool{}
	for _, dk := range dks {
		seen[string(dk.Plaintext)] = true
	}
	return len(seen)
}

func TestCachingReusesCommittingKeysUpToMaxObjects(t *testing.T) {
	srv := kmstest.New(t)
	kr := newCaching(t, newKMSKeyringForTest(t, srv.Client(), srv.CreateKey()), func(o *materials.CachingOptions) { o.MaxObjects = 3 })
	dks := generateN(t, kr, envelope.SuiteAESGCMCommitting, nil, 7, 1024)
	if got := srv.Calls("GenerateDataKey"); got != 3 {
		t.Fatalf("7 data keys with MaxObjects 3 made %d GenerateDataKey calls, want 3", got)
	}
	for i, want := range []int{0, 0, 0, 3, 3, 3, 6} {
		if !bytes.Equal(dks[i].Plaintext, dks[want].Plaintext) || !bytes.Equal(dks[i].Ciphertext, dks[want].Ciphertext) {
			t.Errorf("data key %d is not the one of object %d", i, want)
		}
	}
	if n := distinctKeys(dks); n != 3 {
		t.Errorf("%d distinct keys, want 3", n)
	}
	// Each caller owns its copy: zeroing one leaves the next intact.
	dks[3].Zero()
	if bytes.Equal(dks[4].Plaintext, make([]byte, 32)) {
		t.Fatal("zeroing a returned key zeroed another caller's key")
	}
	st := kr.Stats()
	if st.EncryptHits != 4 || st.EncryptMisses != 3 || st.InnerGenerateCalls != 3 || st.EncryptBypassed != 0 {
		t.Errorf("stats %+v, want 4 hits, 3 misses, 3 inner calls", st)
	}
}

func TestCachingBypassesNonCommittingAndUnknownLengths(t *testing.T) {
	srv := kmstest.New(t)
	kr := newCaching(t, newKMSKeyringForTest(t, srv.Client(), srv.CreateKey()), func(o *materials.CachingOptions) { o.MaxBytes = 4096 })
	v2 := generateN(t, kr, envelope.SuiteAESGCM, nil, 5, 10)
	unknown := generateN(t, kr, envelope.SuiteAESGCMCommitting, nil, 3, -1)
	tooLong := generateN(t, kr, envelope.SuiteAESGCMCommitting, nil, 2, 4097)
	if got := srv.Calls("GenerateDataKey"); got != 10 {
		t.Fatalf("%d GenerateDataKey calls, want 10 (nothing cached)", got)
	}
	for name, dks := range map[string][]*materials.DataKey{"V2": v2, "unknown length": unknown, "too long": tooLong} {
		if n := distinctKeys(dks); n != len(dks) {
			t.Errorf("%s: %d distinct keys for %d requests", name, n, len(dks))
		}
	}
	if st := kr.Stats(); st.EncryptBypassed != 10 || st.EncryptHits != 0 || st.Entries != 0 {
		t.Errorf("stats %+v, want 10 bypassed, nothing cached", st)
	}
}

func TestCachingMaxBytes(t *testing.T) {
	kr := newCaching(t, newAESKR(t, bytes.Repeat([]byte{7}, 32)), func(o *materials.CachingOptions) { o.MaxBytes = 3000 })
	dks := generateN(t, kr, envelope.SuiteAESGCMCommitting, nil, 6, 1024)
	// 1024 + 1024 fit in 3000 bytes, a third object does not.
	for i, want := range []int{0, 0, 2, 2, 4, 4} {
		if !bytes.Equal(dks[i].Plaintext, dks[want].Plaintext) {
			t.Errorf("object %d did not get the key of object %d", i, want)
		}
	}
	if n := distinctKeys(dks); n != 3 {
		t.Fatalf("%d distinct keys, want 3", n)
	}
	if st := kr.Stats(); st.InnerGenerateCalls != 3 {
		t.Errorf("%d inner calls, want 3", st.InnerGenerateCalls)
	}
}

func TestCachingMaxAge(t *testing.T) {
	srv := kmstest.New(t)
	inner := newKMSKeyringForTest(t, srv.Client(), srv.CreateKey())
	kr := newCaching(t, inner, func(o *materials.CachingOptions) { o.MaxAge = 100 * time.Millisecond })
	first := generateN(t, kr, envelope.SuiteAESGCMCommitting, nil, 2, 1)
	edk := first[0].EncryptedDataKey
	req := &materials.DecryptionRequest{Suite: envelope.SuiteAESGCMCommitting, Key: edk}
	for i := 0; i < 2; i++ {
		k, err := kr.DecryptDataKey(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		materials.Zero(k)
	}
	if g, d := srv.Calls("GenerateDataKey"), srv.Calls("Decrypt"); g != 1 || d != 1 {
		t.Fatalf("before expiry: %d GenerateDataKey and %d Decrypt calls, want 1 and 1", g, d)
	}
	time.Sleep(150 * time.Millisecond)
	second := generateN(t, kr, envelope.SuiteAESGCMCommitting, nil, 1, 1)
	if bytes.Equal(second[0].Plaintext, first[0].Plaintext) {
		t.Fatal("a data key older than MaxAge was reused")
	}
	k, err := kr.DecryptDataKey(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	materials.Zero(k)
	if g, d := srv.Calls("GenerateDataKey"), srv.Calls("Decrypt"); g != 2 || d != 2 {
		t.Fatalf("after expiry: %d GenerateDataKey and %d Decrypt calls, want 2 and 2", g, d)
	}
}

func TestCachingSeparatesEncryptionContexts(t *testing.T) {
	srv := kmstest.New(t)
	kr := newCaching(t, newKMSKeyringForTest(t, srv.Client(), srv.CreateKey()))
	a := map[string]string{"tenant": "a"}
	b := map[string]string{"tenant": "b"}
	dka := generateN(t, kr, envelope.SuiteAESGCMCommitting, a, 3, 1)
	dkb := generateN(t, kr, envelope.SuiteAESGCMCommitting, b, 3, 1)
	if srv.Calls("GenerateDataKey") != 2 {
		t.Fatalf("%d GenerateDataKey calls for two contexts, want 2", srv.Calls("GenerateDataKey"))
	}
	if bytes.Equal(dka[0].Plaintext, dkb[0].Plaintext) {
		t.Fatal("two encryption contexts share a data key")
	}
	for _, dk := range dkb {
		if dk.Description["tenant"] != "b" {
			t.Fatalf("context b got description %v", dk.Description)
		}
	}
}

func TestCachingDecrypt(t *testing.T) {
	srv := kmstest.New(t)
	inner := newKMSKeyringForTest(t, srv.Client(), srv.CreateKey())
	kr := newCaching(t, inner)
	ec := map[string]string{"tenant": "a"}
	dk, err := inner.GenerateDataKey(context.Background(), &materials.EncryptionRequest{Suite: envelope.SuiteAESGCMCommitting, EncryptionContext: ec})
	if err != nil {
		t.Fatal(err)
	}
	req := func(edk materials.EncryptedDataKey, ec map[string]string) *materials.DecryptionRequest {
		return &materials.DecryptionRequest{Suite: envelope.SuiteAESGCMCommitting, Key: edk, EncryptionContext: ec}
	}
	for i := 0; i < 10; i++ {
		k, err := kr.DecryptDataKey(context.Background(), req(dk.EncryptedDataKey, ec))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(k, dk.Plaintext) {
			t.Fatal("cached key differs")
		}
		materials.Zero(k) // the caller's copy, not the cache's
	}
	if got := srv.Calls("Decrypt"); got != 1 {
		t.Fatalf("10 unwraps of one key made %d Decrypt calls, want 1", got)
	}

	// A wrong expected context, a changed description or a flipped bit is
	// a miss that the inner keyring refuses; failures are not cached.
	wrongDesc := dk.EncryptedDataKey
	wrongDesc.Description = map[string]string{"tenant": "b", envelope.ReservedContextKey: "115"}
	flipped := dk.EncryptedDataKey
	flipped.Ciphertext = bytes.Clone(flipped.Ciphertext)
	flipped.Ciphertext[len(flipped.Ciphertext)/2] ^= 1
	for name, r := range map[string]*materials.DecryptionRequest{
		"wrong expected context": req(dk.EncryptedDataKey, map[string]string{"tenant": "b"}),
		"no expected context":    req(dk.EncryptedDataKey, nil),
		"changed description":    req(wrongDesc, map[string]string{"tenant": "b"}),
		"flipped bit":            req(flipped, ec),
	} {
		for i := 0; i < 2; i++ {
			if k, err := kr.DecryptDataKey(context.Background(), r); err == nil {
				materials.Zero(k)
				t.Errorf("%s: unwrapped", name)
			}
		}
	}
	st := kr.Stats()
	if st.DecryptHits != 9 || st.DecryptMisses != 9 {
		t.Errorf("stats %+v, want 9 hits and 9 misses", st)
	}
	// The flipped blob and the changed description reach KMS twice each;
	// the context mismatches are refused before KMS.
	if got := srv.Calls("Decrypt"); got != 5 {
		t.Errorf("%d Decrypt calls, want 5", got)
	}
}

func TestCachingBoundedLRU(t *testing.T) {
	inner := newAESKR(t, bytes.Repeat([]byte{9}, 32))
	kr := newCaching(t, inner, func(o *materials.CachingOptions) { o.MaxEntries = 2 })
	var reqs []*materials.DecryptionRequest
	for i := 0; i < 3; i++ {
		dk, err := inner.GenerateDataKey(context.Background(), &materials.EncryptionRequest{Suite: envelope.SuiteAESGCMCommitting})
		if err != nil {
			t.Fatal(err)
		}
		reqs = append(reqs, &materials.DecryptionRequest{Suite: envelope.SuiteAESGCMCommitting, Key: dk.EncryptedDataKey})
	}
	unwrap := func(i int) {
		k, err := kr.DecryptDataKey(context.Background(), reqs[i])
		if err != nil {
			t.Fatal(err)
		}
		materials.Zero(k)
	}
	unwrap(0)
	unwrap(1)
	unwrap(0) // 0 is now the most recent
	unwrap(2) // evicts 1
	if st := kr.Stats(); st.Entries != 2 || st.Evictions != 1 || st.InnerDecryptCalls != 3 {
		t.Fatalf("stats %+v, want 2 entries, 1 eviction, 3 inner calls", st)
	}
	unwrap(0)
	if st := kr.Stats(); st.InnerDecryptCalls != 3 {
		t.Fatalf("the most recently used entry was evicted: %+v", st)
	}
	unwrap(1)
	if st := kr.Stats(); st.InnerDecryptCalls != 4 || st.Entries != 2 {
		t.Fatalf("the evicted entry was still cached: %+v", st)
	}
}

func TestCachingErrorsAreNotCached(t *testing.T) {
	srv := kmstest.New(t)
	kr := newCaching(t, newKMSKeyringForTest(t, srv.Client(), srv.CreateKey()))
	srv.FailNext("GenerateDataKey", "ThrottlingException", 1)
	if _, err := kr.GenerateDataKey(context.Background(), &materials.EncryptionRequest{Suite: envelope.SuiteAESGCMCommitting}); err == nil {
		t.Fatal("the injected fault did not surface")
	}
	dks := generateN(t, kr, envelope.SuiteAESGCMCommitting, nil, 3, 0)
	if distinctKeys(dks) != 1 || srv.Calls("GenerateDataKey") != 2 {
		t.Fatalf("after a failure: %d keys, %d calls; want 1 key, 2 calls", distinctKeys(dks), srv.Calls("GenerateDataKey"))
	}
}

func TestCachingCloseAndCancel(t *testing.T) {
	srv := kmstest.New(t)
	kr := newCaching(t, newKMSKeyringForTest(t, srv.Client(), srv.CreateKey()))
	generateN(t, kr, envelope.SuiteAESGCMCommitting, nil, 2, 1)
	if kr.Stats().Entries != 1 {
		t.Fatal("nothing cached")
	}
	kr.Close()
	if kr.Stats().Entries != 0 {
		t.Fatal("Close left entries")
	}
	dks := generateN(t, kr, envelope.SuiteAESGCMCommitting, nil, 2, 1)
	if distinctKeys(dks) != 2 || srv.Calls("GenerateDataKey") != 3 {
		t.Fatal("a closed caching keyring still reuses keys")
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	kr2 := newCaching(t, newAESKR(t, bytes.Repeat([]byte{3}, 32)))
	generateN(t, kr2, envelope.SuiteAESGCMCommitting, nil, 1, 1)
	if _, err := kr2.GenerateDataKey(ctx, &materials.EncryptionRequest{Suite: envelope.SuiteAESGCMCommitting}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled context on a cache hit: %v", err)
	}
}

func TestNewCachingKeyringValidates(t *testing.T) {
	if _, err := materials.NewCachingKeyring(nil); err == nil {
		t.Error("nil inner accepted")
	}
	inner := newAESKR(t, bytes.Repeat([]byte{3}, 32))
	if _, err := materials.NewCachingKeyring(inner, func(o *materials.CachingOptions) { o.MaxAge = -1 }); err == nil {
		t.Error("negative MaxAge accepted")
	}
	kr := newCaching(t, inner)
	o := kr.Options()
	if o.MaxObjects != materials.DefaultCacheMaxObjects || o.MaxAge != materials.DefaultCacheMaxAge ||
		o.MaxBytes != materials.DefaultCacheMaxBytes || o.MaxEntries != materials.DefaultCacheMaxEntries {
		t.Errorf("defaults not filled in: %+v", o)
	}
}

// Concurrent misses for one entry make one inner call.
func TestCachingConcurrentMissesShareOneCall(t *testing.T) {
	srv := kmstest.New(t)
	srv.SetDelay("GenerateDataKey", 20*time.Millisecond)
	srv.SetDelay("Decrypt", 20*time.Millisecond)
	kr := newCaching(t, newKMSKeyringForTest(t, srv.Client(), srv.CreateKey()))
	var wg sync.WaitGroup
	keys := make([]*materials.DataKey, 64)
	for i := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dk, err := kr.GenerateDataKey(context.Background(), &materials.EncryptionRequest{Suite: envelope.SuiteAESGCMCommitting, PlaintextLength: 1024})
			if err != nil {
				t.Error(err)
				return
			}
			keys[i] = dk
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	if got := srv.Calls("GenerateDataKey"); got != 1 || distinctKeys(keys) != 1 {
		t.Fatalf("64 concurrent requests: %d GenerateDataKey calls, %d keys; want 1 and 1", got, distinctKeys(keys))
	}
	req := &materials.DecryptionRequest{Suite: envelope.SuiteAESGCMCommitting, Key: keys[0].EncryptedDataKey}
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k, err := kr.DecryptDataKey(context.Background(), req)
			if err != nil {
				t.Error(err)
				return
			}
			if !bytes.Equal(k, keys[0].Plaintext) {
				t.Error("wrong key")
			}
			materials.Zero(k)
		}()
	}
	wg.Wait()
	if got := srv.Calls("Decrypt"); got != 1 {
		t.Fatalf("64 concurrent unwraps: %d Decrypt calls, want 1", got)
	}
	if st := kr.Stats(); st.EncryptHits != 63 || st.DecryptHits != 63 {
		t.Errorf("stats %+v, want 63 hits each way", st)
	}
}
