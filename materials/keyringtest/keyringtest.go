// Package keyringtest is a conformance suite for implementations of
// [materials.Keyring]. Every keyring in this module runs it, and third-party
// keyrings should too.
//
// Call [Run] from a test with a [Harness] that builds the keyring under test:
//
//	func TestConformance(t *testing.T) {
//		keyringtest.Run(t, keyringtest.Harness{
//			New: func(t *testing.T) materials.Keyring {
//				kr, err := materials.NewAESKeyring(key1)
//				if err != nil {
//					t.Fatal(err)
//				}
//				return kr
//			},
//			Other: func(t *testing.T) materials.Keyring { ... key2 ... },
//			Suites: []envelope.Suite{envelope.SuiteAESGCM, envelope.SuiteAESGCMCommitting},
//		})
//	}
//
// The suite checks, with one subtest each:
//
//   - RoundTrip/<suite>: GenerateDataKey returns a fresh 32-byte key, a
//     non-empty known wrap algorithm, a non-nil Description and a wrapped key
//     that is not the plaintext; DecryptDataKey returns the same key. Two
//     calls give different keys. Changing the returned plaintext or
//     Description does not change what the keyring does next.
//   - OtherSuite: a key wrapped for one suite does not unwrap for another
//     (an error wrapping [materials.ErrUnwrap] or
//     [materials.ErrContextMismatch], or an [envelope.ErrMalformed] error).
//     Needs at least two Suites.
//   - UnsupportedSuite: GenerateDataKey refuses [envelope.SuiteAESCBC] (no
//     client writes it) and an unknown suite.
//   - ForeignWrapAlgorithm: a wrapped key whose WrapAlgorithm is another
//     keyring's (kms+context, AES/GCM, RSA-OAEP-SHA1, minus the keyring's own)
//     or an unknown one fails with an error wrapping [materials.ErrNotMine].
//   - OtherKey: a key wrapped by Harness.Other does not unwrap (any error),
//     and the other way round. Skipped when Other is nil.
//   - BitFlip: one flipped bit in the first, middle or last byte of the
//     wrapped key gives an error wrapping [materials.ErrUnwrap].
//   - Truncated: a wrapped key missing its last byte, or empty, gives an
//     error.
//   - Context (SupportsContext): a round trip with a caller context; a wrong,
//     extra or missing context on decrypt fails with an error wrapping
//     [materials.ErrContextMismatch] or [materials.ErrUnwrap]; a caller
//     context that uses [envelope.ReservedContextKey] is refused on encrypt
//     with [materials.ErrReservedContextKey].
//   - NoContext (!SupportsContext): a non-empty context is refused on both
//     calls with [materials.ErrContextNotSupported]; an empty, non-nil map is
//     accepted.
//   - Canceled: a cancelled context.Context makes both calls fail with an
//     error that wraps [context.Canceled].
//   - Concurrent: 50 goroutines round-trip through one keyring (run the
//     tests with -race).
//
// The API of this package (Run and the Harness fields) is stable; new checks
// may be added as subtests.
package keyringtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"testing"

	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/materials"
)

// Harness describes the keyring under test.
type Harness struct {
	// New returns the keyring under test. It is called once per subtest
	// (so each subtest may get a fresh fake service); the keyring it returns
	// is used for both GenerateDataKey and DecryptDataKey. Register any
	// cleanup with t.Cleanup. Required.
	New func(t *testing.T) materials.Keyring

	// Other returns an independent keyring of the same kind that uses a
	// different key (for KMS: another key id served by the same fake KMS
	// as New, if the harness shares one). Keys it wraps must not unwrap
	// under New's keyring and the other way round. Nil skips OtherKey.
	Other func(t *testing.T) materials.Keyring

	// SupportsContext is true for keyrings that bind a per-request
	// encryption context (KMS); false for keyrings that must refuse one
	// with [materials.ErrContextNotSupported] (AES, RSA).
	SupportsContext bool

	// Suites are the content suites the keyring can generate data keys for,
	// usually [envelope.SuiteAESGCM] and [envelope.SuiteAESGCMCommitting].
	// Required; the first one is used by the subtests that need only one.
	Suites []envelope.Suite
}

// Run runs the conformance suite against the keyring described by h.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.New == nil {
		t.Fatal("keyringtest: Harness.New is nil")
	}
	if len(h.Suites) == 0 {
		t.Fatal("keyringtest: Harness.Suites is empty")
	}
	t.Run("RoundTrip", func(t *testing.T) {
		for _, s := range h.Suites {
			t.Run(s.String(), func(t *testing.T) { testRoundTrip(t, h, s) })
		}
	})
	t.Run("OtherSuite", func(t *testing.T) { testOtherSuite(t, h) })
	t.Run("UnsupportedSuite", func(t *testing.T) { testUnsupportedSuite(t, h) })
	t.Run("ForeignWrapAlgorithm", func(t *testing.T) { testForeignWrap(t, h) })
	t.Run("OtherKey", func(t *testing.T) { testOtherKey(t, h) })
	t.Run("BitFlip", func(t *testing.T) { testBitFlip(t, h) })
	t.Run("Truncated", func(t *testing.T) { testTruncated(t, h) })
	if h.SupportsContext {
		t.Run("Context", func(t *testing.T) { testContext(t, h) })
	} else {
		t.Run("NoContext", func(t *testing.T) { testNoContext(t, h) })
	}
	t.Run("Canceled", func(t *testing.T) { testCanceled(t, h) })
	t.Run("Concurrent", func(t *testing.T) { testConcurrent(t, h) })
}

// generate calls GenerateDataKey and checks the invariants every data key
// must satisfy.
func generate(t *testing.T, kr materials.Keyring, s envelope.Suite, ec map[string]string) *materials.DataKey {
	t.Helper()
	dk, err := kr.GenerateDataKey(context.Background(), &materials.EncryptionRequest{Suite: s, EncryptionContext: ec})
	if err != nil {
		t.Fatalf("GenerateDataKey(%v): %v", s, err)
	}
	if dk == nil {
		t.Fatalf("GenerateDataKey(%v) returned nil and no error", s)
	}
	if len(dk.Plaintext) != envelope.DataKeySize {
		t.Fatalf("GenerateDataKey(%v): plaintext is %d bytes, want %d", s, len(dk.Plaintext), envelope.DataKeySize)
	}
	if !dk.WrapAlgorithm.Known() || dk.WrapAlgorithm.Legacy() {
		t.Fatalf("GenerateDataKey(%v): wrap algorithm %q is not a known non-legacy one", s, dk.WrapAlgorithm)
	}
	if dk.Description == nil {
		t.Fatalf("GenerateDataKey(%v): Description is nil", s)
	}
	if len(dk.Ciphertext) == 0 {
		t.Fatalf("GenerateDataKey(%v): wrapped key is empty", s)
	}
	if bytes.Contains(dk.Ciphertext, dk.Plaintext) {
		t.Fatalf("GenerateDataKey(%v): wrapped key contains the plaintext key", s)
	}
	t.Cleanup(dk.Zero)
	return dk
}

// decrypt unwraps edk with the same suite and context it was made with.
func decrypt(ctx context.Context, kr materials.Keyring, s envelope.Suite, edk materials.EncryptedDataKey, ec map[string]string) ([]byte, error) {
	return kr.DecryptDataKey(ctx, &materials.DecryptionRequest{Suite: s, Key: edk, EncryptionContext: ec})
}

// cloneEDK deep-copies a wrapped key, so that mutations do not touch the
// original.
func cloneEDK(edk materials.EncryptedDataKey) materials.EncryptedDataKey {
	return materials.EncryptedDataKey{
		WrapAlgorithm: edk.WrapAlgorithm,
		Ciphertext:    bytes.Clone(edk.Ciphertext),
		Description:   maps.Clone(edk.Description),
	}
}

// mustFail checks that a DecryptDataKey result is a failure.
func mustFail(t *testing.T, what string, key []byte, err error) {
	t.Helper()
	if err == nil {
		materials.Zero(key)
		t.Fatalf("%s: DecryptDataKey succeeded, want an error", what)
	}
	if key != nil {
		t.Errorf("%s: DecryptDataKey returned a key together with error %v", what, err)
	}
}

func isAny(err error, targets ...error) bool {
	for _, target := range targets {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

func testRoundTrip(t *testing.T, h Harness, s envelope.Suite) {
	kr := h.New(t)
	dk := generate(t, kr, s, nil)
	want := bytes.Clone(dk.Plaintext)
	edk := cloneEDK(dk.EncryptedDataKey)

	got, err := decrypt(context.Background(), kr, s, edk, nil)
	if err != nil {
		t.Fatalf("DecryptDataKey(%v): %v", s, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("DecryptDataKey(%v) returned another key than GenerateDataKey", s)
	}
	if !bytes.Equal(edk.Ciphertext, dk.Ciphertext) || !maps.Equal(edk.Description, dk.Description) {
		t.Errorf("DecryptDataKey(%v) modified the request's wrapped key or Description", s)
	}

	// The caller owns what it was given: zeroing the returned key or
	// editing the returned Description does not change the keyring.
	materials.Zero(got)
	dk.Zero()
	for k := range dk.Description {
		dk.Description[k] = "changed"
	}
	dk.Description["keyringtest-added"] = "x"
	again, err := decrypt(context.Background(), kr, s, edk, nil)
	if err != nil {
		t.Fatalf("second DecryptDataKey(%v): %v", s, err)
	}
	if !bytes.Equal(again, want) {
		t.Fatalf("second DecryptDataKey(%v) returned another key: the keyring aliases a buffer it returned", s)
	}
	materials.Zero(again)
	dk2 := generate(t, kr, s, nil)
	if _, ok := dk2.Description["keyringtest-added"]; ok {
		t.Errorf("GenerateDataKey(%v): editing a returned Description changed the next one", s)
	}

	// Two data keys are independent.
	if bytes.Equal(dk2.Plaintext, want) {
		t.Errorf("GenerateDataKey(%v) returned the same key twice", s)
	}
	if bytes.Equal(dk2.Ciphertext, edk.Ciphertext) {
		t.Errorf("GenerateDataKey(%v) returned the same wrapped key twice", s)
	}
}

func testOtherSuite(t *testing.T, h Harness) {
	if len(h.Suites) < 2 {
		t.Skip("needs two suites")
	}
	kr := h.New(t)
	for i, from := range h.Suites {
		for j, to := range h.Suites {
			if i == j {
				continue
			}
			dk := generate(t, kr, from, nil)
			key, err := decrypt(context.Background(), kr, to, cloneEDK(dk.EncryptedDataKey), nil)
			what := fmt.Sprintf("key wrapped for %v, unwrapped for %v", from, to)
			mustFail(t, what, key, err)
			if !isAny(err, materials.ErrUnwrap, materials.ErrContextMismatch, envelope.ErrMalformed) {
				t.Errorf("%s: got %v, want an error wrapping ErrUnwrap, ErrContextMismatch or envelope.ErrMalformed", what, err)
			}
		}
	}
}

func testUnsupportedSuite(t *testing.T, h Harness) {
	kr := h.New(t)
	for _, s := range []envelope.Suite{envelope.SuiteAESCBC, envelope.Suite(0x0099)} {
		dk, err := kr.GenerateDataKey(context.Background(), &materials.EncryptionRequest{Suite: s})
		if err == nil {
			dk.Zero()
			t.Errorf("GenerateDataKey(%v) succeeded, want an error", s)
		}
	}
}

func testForeignWrap(t *testing.T, h Harness) {
	kr := h.New(t)
	s := h.Suites[0]
	dk := generate(t, kr, s, nil)
	foreign := []envelope.WrapAlgorithm{"keyringtest/unknown", ""}
	for _, w := range []envelope.WrapAlgorithm{envelope.WrapKMSContext, envelope.WrapAESGCM, envelope.WrapRSAOAEPSHA1} {
		if w != dk.WrapAlgorithm {
			foreign = append(foreign, w)
		}
	}
	for _, w := range foreign {
		edk := cloneEDK(dk.EncryptedDataKey)
		edk.WrapAlgorithm = w
		key, err := decrypt(context.Background(), kr, s, edk, nil)
		what := fmt.Sprintf("wrap algorithm %q for a %q keyring", w, dk.WrapAlgorithm)
		mustFail(t, what, key, err)
		if !errors.Is(err, materials.ErrNotMine) {
			t.Errorf("%s: got %v, want an error wrapping ErrNotMine", what, err)
		}
	}
}

func testOtherKey(t *testing.T, h Harness) {
	if h.Other == nil {
		t.Skip("Harness.Other is nil")
	}
	kr, other := h.New(t), h.Other(t)
	s := h.Suites[0]
	for _, dir := range []struct {
		name     string
		from, to materials.Keyring
	}{{"other to new", other, kr}, {"new to other", kr, other}} {
		dk := generate(t, dir.from, s, nil)
		key, err := decrypt(context.Background(), dir.to, s, cloneEDK(dk.EncryptedDataKey), nil)
		mustFail(t, dir.name, key, err)
		if errors.Is(err, context.Canceled) {
			t.Errorf("%s: got %v, want a key error", dir.name, err)
		}
	}
}

func testBitFlip(t *testing.T, h Harness) {
	kr := h.New(t)
	s := h.Suites[0]
	dk := generate(t, kr, s, nil)
	n := len(dk.Ciphertext)
	for _, pos := range []int{0, n / 2, n - 1} {
		for _, bit := range []byte{0x01, 0x80} {
			edk := cloneEDK(dk.EncryptedDataKey)
			edk.Ciphertext[pos] ^= bit
			key, err := decrypt(context.Background(), kr, s, edk, nil)
			what := fmt.Sprintf("bit 0x%02x of byte %d flipped", bit, pos)
			mustFail(t, what, key, err)
			if !errors.Is(err, materials.ErrUnwrap) {
				t.Errorf("%s: got %v, want an error wrapping ErrUnwrap", what, err)
			}
		}
	}
}

func testTruncated(t *testing.T, h Harness) {
	kr := h.New(t)
	s := h.Suites[0]
	dk := generate(t, kr, s, nil)
	for _, n := range []int{len(dk.Ciphertext) - 1, 0} {
		edk := cloneEDK(dk.EncryptedDataKey)
		edk.Ciphertext = edk.Ciphertext[:n]
		key, err := decrypt(context.Background(), kr, s, edk, nil)
		mustFail(t, fmt.Sprintf("wrapped key truncated to %d bytes", n), key, err)
	}
}

func testContext(t *testing.T, h Harness) {
	kr := h.New(t)
	s := h.Suites[0]
	ec := map[string]string{"department": "finance", "project": "x"}
	dk := generate(t, kr, s, maps.Clone(ec))
	want := bytes.Clone(dk.Plaintext)

	got, err := decrypt(context.Background(), kr, s, cloneEDK(dk.EncryptedDataKey), maps.Clone(ec))
	if err != nil {
		t.Fatalf("DecryptDataKey with the same context: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("DecryptDataKey with the same context returned another key")
	}
	materials.Zero(got)

	for _, c := range []struct {
		name string
		ec   map[string]string
	}{
		{"wrong value", map[string]string{"department": "sales", "project": "x"}},
		{"missing entry", map[string]string{"department": "finance"}},
		{"extra entry", map[string]string{"department": "finance", "project": "x", "extra": "y"}},
		{"nil", nil},
		{"empty", map[string]string{}},
	} {
		key, err := decrypt(context.Background(), kr, s, cloneEDK(dk.EncryptedDataKey), c.ec)
		what := "context " + c.name
		mustFail(t, what, key, err)
		if !isAny(err, materials.ErrContextMismatch, materials.ErrUnwrap) {
			t.Errorf("%s: got %v, want an error wrapping ErrContextMismatch or ErrUnwrap", what, err)
		}
	}

	// A key made without a user context does not unwrap when the caller
	// expects one.
	plain := generate(t, kr, s, nil)
	key, err := decrypt(context.Background(), kr, s, cloneEDK(plain.EncryptedDataKey), maps.Clone(ec))
	mustFail(t, "context expected, none stored", key, err)
	if !isAny(err, materials.ErrContextMismatch, materials.ErrUnwrap) {
		t.Errorf("context expected, none stored: got %v, want an error wrapping ErrContextMismatch or ErrUnwrap", err)
	}

	reserved := map[string]string{envelope.ReservedContextKey: s.CipherName()}
	rdk, err := kr.GenerateDataKey(context.Background(), &materials.EncryptionRequest{Suite: s, EncryptionContext: reserved})
	if err == nil {
		rdk.Zero()
		t.Fatalf("GenerateDataKey with %q in the context succeeded, want an error", envelope.ReservedContextKey)
	}
	if !errors.Is(err, materials.ErrReservedContextKey) {
		t.Errorf("GenerateDataKey with %q in the context: got %v, want an error wrapping ErrReservedContextKey", envelope.ReservedContextKey, err)
	}
}

func testNoContext(t *testing.T, h Harness) {
	kr := h.New(t)
	s := h.Suites[0]
	ec := map[string]string{"department": "finance"}
	dk, err := kr.GenerateDataKey(context.Background(), &materials.EncryptionRequest{Suite: s, EncryptionContext: ec})
	if err == nil {
		dk.Zero()
		t.Fatal("GenerateDataKey with a context succeeded, want ErrContextNotSupported")
	}
	if !errors.Is(err, materials.ErrContextNotSupported) {
		t.Errorf("GenerateDataKey with a context: got %v, want an error wrapping ErrContextNotSupported", err)
	}

	good := generate(t, kr, s, map[string]string{})
	key, err := decrypt(context.Background(), kr, s, cloneEDK(good.EncryptedDataKey), ec)
	mustFail(t, "DecryptDataKey with a context", key, err)
	if !errors.Is(err, materials.ErrContextNotSupported) {
		t.Errorf("DecryptDataKey with a context: got %v, want an error wrapping ErrContextNotSupported", err)
	}

	key, err = decrypt(context.Background(), kr, s, cloneEDK(good.EncryptedDataKey), map[string]string{})
	if err != nil {
		t.Fatalf("DecryptDataKey with an empty context: %v", err)
	}
	if !bytes.Equal(key, good.Plaintext) {
		t.Error("DecryptDataKey with an empty context returned another key")
	}
	materials.Zero(key)
}

func testCanceled(t *testing.T, h Harness) {
	kr := h.New(t)
	s := h.Suites[0]
	ctx, cancel := context.WithCancel(context.Background())
	cancel()

	dk, err := kr.GenerateDataKey(ctx, &materials.EncryptionRequest{Suite: s})
	if err == nil {
		dk.Zero()
		t.Error("GenerateDataKey with a cancelled context succeeded")
	} else if !errors.Is(err, context.Canceled) {
		t.Errorf("GenerateDataKey with a cancelled context: got %v, want an error wrapping context.Canceled", err)
	}

	good := generate(t, kr, s, nil)
	key, err := decrypt(ctx, kr, s, cloneEDK(good.EncryptedDataKey), nil)
	mustFail(t, "DecryptDataKey with a cancelled context", key, err)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("DecryptDataKey with a cancelled context: got %v, want an error wrapping context.Canceled", err)
	}
}

func testConcurrent(t *testing.T, h Harness) {
	const workers = 50
	kr := h.New(t)
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := h.Suites[i%len(h.Suites)]
			dk, err := kr.GenerateDataKey(context.Background(), &materials.EncryptionRequest{Suite: s})
			if err != nil {
				errs <- fmt.Errorf("worker %d: GenerateDataKey: %w", i, err)
				return
			}
			defer dk.Zero()
			key, err := decrypt(context.Background(), kr, s, dk.EncryptedDataKey, nil)
			if err != nil {
				errs <- fmt.Errorf("worker %d: DecryptDataKey: %w", i, err)
				return
			}
			defer materials.Zero(key)
			if !bytes.Equal(key, dk.Plaintext) {
				errs <- fmt.Errorf("worker %d: DecryptDataKey returned another key", i)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
