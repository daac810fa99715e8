package objectcrypto_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/internal/objectcrypto"
	"github.com/s3ec/s3ec-go/materials"
)

// readOnly hides every method of a keyring but Keyring's own: it cannot
// wrap an existing data key.
type readOnly struct{ materials.Keyring }

func sealedEnvelope(t *testing.T, kr materials.Keyring, policy envelope.Policy, pt []byte) (*envelope.Envelope, []byte) {
	t.Helper()
	s, err := objectcrypto.NewSealer(context.Background(), kr, policy, nil, int64(len(pt)))
	if err != nil {
		t.Fatal(err)
	}
	ct, err := io.ReadAll(s.Reader(bytes.NewReader(pt)))
	if err != nil {
		t.Fatal(err)
	}
	return s.Envelope, ct
}

func openWith(kr materials.Keyring, policy envelope.Policy, env *envelope.Envelope, ct []byte) ([]byte, error) {
	op, err := objectcrypto.Open(context.Background(), kr, objectcrypto.DecryptOptions{Policy: policy}, env)
	if err != nil {
		return nil, err
	}
	defer op.Close()
	return op.ReadVerified(bytes.NewReader(ct), 1<<20, int64(len(ct)))
}

// A re-wrap moves the data key and nothing else: the content entries stay,
// the object opens with the new keyring and no longer with the old one.
func TestRewrapMovesOnlyTheWrappedKey(t *testing.T) {
	ctx := context.Background()
	for _, policy := range []envelope.Policy{{}, {Commitment: envelope.ForbidEncryptAllowDecrypt}} {
		oldKR, newKR := partsKeyring(t), partsKeyring(t)
		pt := []byte("the content does not change")
		env, ct := sealedEnvelope(t, oldKR, policy, pt)
		rw, err := objectcrypto.Rewrap(ctx, env, objectcrypto.RewrapRequest{Current: oldKR, Policy: policy, Next: newKR})
		if err != nil {
			t.Fatal(err)
		}
		got := rw.Envelope
		if got.Format != env.Format || got.Suite != env.Suite || !bytes.Equal(got.IV, env.IV) ||
			!bytes.Equal(got.MessageID, env.MessageID) || !bytes.Equal(got.Commitment, env.Commitment) {
			t.Fatalf("%v: the content part of the envelope changed", env.Format)
		}
		if bytes.Equal(got.EncryptedKey, env.EncryptedKey) {
			t.Fatalf("%v: the wrapped key did not change", env.Format)
		}
		if out, err := openWith(newKR, policy, got, ct); err != nil || !bytes.Equal(out, pt) {
			t.Fatalf("%v: the new keyring does not read the re-wrapped object: %v", env.Format, err)
		}
		if _, err := openWith(oldKR, policy, got, ct); err == nil {
			t.Fatalf("%v: the old keyring still reads the re-wrapped envelope", env.Format)
		}
		if env.Format == envelope.FormatV2 {
			// The default policy does not read V2: it does not re-wrap it.
			_, err := objectcrypto.Rewrap(ctx, env, objectcrypto.RewrapRequest{Current: oldKR, Next: newKR})
			if !errors.Is(err, envelope.ErrPolicy) {
				t.Fatalf("V2 under the default policy: %v, want ErrPolicy", err)
			}
		}
	}
}

// Nothing is re-wrapped on the authority of a keyring that cannot read the
// object; a keyring that already unwraps it is ErrSameWrappingKey unless
// allowed; a keyring that cannot wrap is ErrCannotWrap.
func TestRewrapAuthorization(t *testing.T) {
	ctx := context.Background()
	owner, stranger, next := partsKeyring(t), partsKeyring(t), partsKeyring(t)
	env, _ := sealedEnvelope(t, owner, envelope.Policy{}, []byte("x"))

	if _, err := objectcrypto.Rewrap(ctx, env, objectcrypto.RewrapRequest{Current: stranger, Next: next}); err == nil {
		t.Fatal("re-wrapped on the authority of a keyring that cannot read the object")
	}
	_, err := objectcrypto.Rewrap(ctx, env, objectcrypto.RewrapRequest{Current: owner, Next: owner})
	if !errors.Is(err, materials.ErrSameWrappingKey) {
		t.Fatalf("onto its own key: %v, want ErrSameWrappingKey", err)
	}
	if _, err := objectcrypto.Rewrap(ctx, env, objectcrypto.RewrapRequest{Current: owner, Next: owner, AllowSameKey: true}); err != nil {
		t.Fatalf("onto its own key, allowed: %v", err)
	}
	_, err = objectcrypto.Rewrap(ctx, env, objectcrypto.RewrapRequest{Current: owner, Next: readOnly{next}})
	if !errors.Is(err, objectcrypto.ErrCannotWrap) {
		t.Fatalf("a keyring that cannot wrap: %v, want ErrCannotWrap", err)
	}
	// A rotation run again: the current keyring no longer reads the object
	// (it moved), the new one does: already done, not an authorization
	// failure.
	rw, err := objectcrypto.Rewrap(ctx, env, objectcrypto.RewrapRequest{Current: owner, Next: next})
	if err != nil {
		t.Fatal(err)
	}
	_, err = objectcrypto.Rewrap(ctx, rw.Envelope, objectcrypto.RewrapRequest{Current: owner, Next: next})
	if !errors.Is(err, materials.ErrSameWrappingKey) {
		t.Fatalf("run again: %v, want ErrSameWrappingKey", err)
	}
}

// Formats that are never written are never re-wrapped.
func TestRewrapRefusesV1AndCBC(t *testing.T) {
	kr := partsKeyring(t)
	env, _ := sealedEnvelope(t, kr, envelope.Policy{Commitment: envelope.ForbidEncryptAllowDecrypt}, []byte("x"))
	for _, e := range []*envelope.Envelope{
		func() *envelope.Envelope { c := env.Clone(); c.Format = envelope.FormatV1; return c }(),
		func() *envelope.Envelope { c := env.Clone(); c.Suite = envelope.SuiteAESCBC; return c }(),
	} {
		_, err := objectcrypto.Rewrap(context.Background(), e, objectcrypto.RewrapRequest{
			Current: kr, Next: partsKeyring(t),
			Policy: envelope.Policy{Commitment: envelope.ForbidEncryptAllowDecrypt, LegacyUnauthenticated: true},
		})
		if !errors.Is(err, envelope.ErrPolicy) {
			t.Fatalf("%v %v: %v, want ErrPolicy", e.Format, e.Suite, err)
		}
	}
}
