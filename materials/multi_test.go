package materials

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/s3ec/s3ec-go/envelope"
)

// fakeKeyring returns fixed results and counts its calls.
type fakeKeyring struct {
	key    []byte
	err    error
	onCall func()
	calls  atomic.Int32
}

func (f *fakeKeyring) GenerateDataKey(ctx context.Context, req *EncryptionRequest) (*DataKey, error) {
	f.calls.Add(1)
	if f.err != nil {
		return nil, f.err
	}
	return &DataKey{Plaintext: bytes.Clone(f.key), EncryptedDataKey: EncryptedDataKey{WrapAlgorithm: "fake", Description: map[string]string{}}}, nil
}

func (f *fakeKeyring) DecryptDataKey(ctx context.Context, req *DecryptionRequest) ([]byte, error) {
	f.calls.Add(1)
	if f.onCall != nil {
		f.onCall()
	}
	if f.err != nil {
		return nil, f.err
	}
	return bytes.Clone(f.key), nil
}

var anyRequest = &DecryptionRequest{Suite: envelope.SuiteAESGCM, Key: EncryptedDataKey{WrapAlgorithm: envelope.WrapAESGCM}}

func TestMultiOrder(t *testing.T) {
	errA := errors.New("materials: a failed")
	gen := &fakeKeyring{err: errA}
	b := &fakeKeyring{key: key32(2)}
	c := &fakeKeyring{key: key32(3)}
	m := NewMulti(gen, nil, b, c)
	got, err := m.DecryptDataKey(context.Background(), anyRequest)
	if err != nil || !bytes.Equal(got, key32(2)) {
		t.Fatalf("got %x, %v; want b's key", got, err)
	}
	if gen.calls.Load() != 1 || b.calls.Load() != 1 || c.calls.Load() != 0 {
		t.Fatalf("calls gen=%d b=%d c=%d, want 1 1 0", gen.calls.Load(), b.calls.Load(), c.calls.Load())
	}
	// The generator is tried first.
	g2 := &fakeKeyring{key: key32(9)}
	if got, _ := NewMulti(g2, b).DecryptDataKey(context.Background(), anyRequest); !bytes.Equal(got, key32(9)) {
		t.Fatal("generator not tried first")
	}
	// GenerateDataKey uses only the generator.
	dk, err := NewMulti(g2, b).GenerateDataKey(context.Background(), &EncryptionRequest{Suite: envelope.SuiteAESGCM})
	if err != nil || !bytes.Equal(dk.Plaintext, key32(9)) || b.calls.Load() != 1 {
		t.Fatalf("GenerateDataKey: %v", err)
	}
}

func TestMultiNoMatch(t *testing.T) {
	e1 := errors.New("materials: first")
	e2 := &envelope.PolicyError{What: "legacy wrapping algorithm AESWrap", Option: "x"}
	e3 := errors.Join(ErrNotMine)
	m := NewMulti(&fakeKeyring{err: e1}, &fakeKeyring{err: e2}, &fakeKeyring{err: e3})
	got, err := m.DecryptDataKey(context.Background(), anyRequest)
	if got != nil {
		t.Fatal("key returned with an error")
	}
	var nm *NoMatchError
	if !errors.As(err, &nm) {
		t.Fatalf("got %T %v, want *NoMatchError", err, err)
	}
	if len(nm.Errors) != 3 || nm.Errors[0] != e1 || nm.Errors[1] != e2 || nm.Errors[2] != e3 {
		t.Fatalf("Errors = %v", nm.Errors)
	}
	if !errors.Is(err, envelope.ErrPolicy) || !errors.Is(err, ErrNotMine) || !errors.Is(err, e1) {
		t.Fatal("errors.Is does not see through NoMatchError")
	}
	if !strings.HasPrefix(err.Error(), "materials: no keyring could unwrap") || !strings.Contains(err.Error(), "first") {
		t.Fatalf("message %q", err)
	}

	// No keyrings at all.
	if _, err := NewMulti(nil).DecryptDataKey(context.Background(), anyRequest); !errors.As(err, &nm) {
		t.Fatalf("empty multi: got %v", err)
	}
}

func TestMultiNoGenerator(t *testing.T) {
	b := &fakeKeyring{key: key32(2)}
	m := NewMulti(nil, b)
	if _, err := m.GenerateDataKey(context.Background(), &EncryptionRequest{Suite: envelope.SuiteAESGCM}); err == nil || !strings.Contains(err.Error(), "no generator") {
		t.Fatalf("GenerateDataKey without generator: %v", err)
	}
	if got, err := m.DecryptDataKey(context.Background(), anyRequest); err != nil || !bytes.Equal(got, key32(2)) {
		t.Fatalf("decrypt-only: %v", err)
	}
}

func TestMultiCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first := &fakeKeyring{err: errors.New("materials: first"), onCall: cancel}
	second := &fakeKeyring{key: key32(2)}
	_, err := NewMulti(first, second).DecryptDataKey(ctx, anyRequest)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	var nm *NoMatchError
	if errors.As(err, &nm) {
		t.Fatal("cancellation reported as NoMatchError")
	}
	if second.calls.Load() != 0 {
		t.Fatal("kept trying after cancellation")
	}
	// Already cancelled: nothing is called.
	third := &fakeKeyring{key: key32(3)}
	if _, err := NewMulti(third).DecryptDataKey(ctx, anyRequest); !errors.Is(err, context.Canceled) || third.calls.Load() != 0 {
		t.Fatalf("pre-cancelled: %v, %d calls", err, third.calls.Load())
	}
}

// A real migration: new objects with RSA, old ones under two AES keys.
func TestMultiRealKeyrings(t *testing.T) {
	oldAES := newAES(t, key32(1), func(o *AESKeyringOptions) { o.MaterialDescription = map[string]string{"k": "old"} })
	otherAES := newAES(t, key32(2))
	rsaKR := newRSA(t, nil, testRSAKey(t, 0))
	m := NewMulti(rsaKR, otherAES, oldAES)
	s := envelope.SuiteAESGCMCommitting
	for _, kr := range []Keyring{oldAES, otherAES, rsaKR, m} {
		dk, err := kr.GenerateDataKey(context.Background(), &EncryptionRequest{Suite: s})
		if err != nil {
			t.Fatal(err)
		}
		got, err := m.DecryptDataKey(context.Background(), &DecryptionRequest{Suite: s, Key: dk.EncryptedDataKey})
		if err != nil || !bytes.Equal(got, dk.Plaintext) {
			t.Fatalf("%T: %v", kr, err)
		}
	}
	// A KMS object: every keyring says "not mine".
	_, err := m.DecryptDataKey(context.Background(), &DecryptionRequest{Suite: s, Key: EncryptedDataKey{WrapAlgorithm: envelope.WrapKMSContext, Ciphertext: []byte{1}}})
	var nm *NoMatchError
	if !errors.As(err, &nm) || len(nm.Errors) != 3 {
		t.Fatalf("got %v", err)
	}
	for i, e := range nm.Errors {
		if !errors.Is(e, ErrNotMine) {
			t.Errorf("keyring %d: %v, want ErrNotMine", i, e)
		}
	}
}
