package materials_test

import (
	"bytes"
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/materials"
)

// panickyKeyring panics on the first call of each method, then delegates.
type panickyKeyring struct {
	inner        materials.Keyring
	genN, decN   atomic.Int32
	genOK, decOK atomic.Int32
}

func (p *panickyKeyring) GenerateDataKey(ctx context.Context, req *materials.EncryptionRequest) (*materials.DataKey, error) {
	if p.genN.Add(1) == 1 {
		panic("inner keyring bug (GenerateDataKey)")
	}
	p.genOK.Add(1)
	return p.inner.GenerateDataKey(ctx, req)
}

func (p *panickyKeyring) DecryptDataKey(ctx context.Context, req *materials.DecryptionRequest) ([]byte, error) {
	if p.decN.Add(1) == 1 {
		panic("inner keyring bug (DecryptDataKey)")
	}
	p.decOK.Add(1)
	return p.inner.DecryptDataKey(ctx, req)
}

// callRecovering runs f, turning a panic into a return, as the bulk
// runner and the Lambda handler do for each task (bulk.runOne).
func callRecovering(f func()) (panicked bool) {
	defer func() {
		if recover() != nil {
			panicked = true
		}
	}()
	f()
	return false
}

// TestAttackCachingSurvivesInnerPanic: the bulk runner and the
// Lambda handler recover a panic of one task ("that task alone is a
// PermanentFailure ..., the other tasks run"), and batchops puts a
// CachingKeyring around the target keyring of every ReEncrypt and Adopt
// job. A panic of the inner keyring (a KMS client wrapper's or the SDK's
// bug, reached through one task) must then cost that one call only. The
// caching keyring claims the cache entry before the inner call and
// releases the claim only when the inner call returns: after a panic the
// claim is never released, and every later call for the same entry (for
// GenerateDataKey: every object of the job with the same encryption
// context) waits on it until its context ends, without ever reaching the
// inner keyring.
func TestAttackCachingSurvivesInnerPanic(t *testing.T) {
	inner := &panickyKeyring{inner: newAESKR(t, bytes.Repeat([]byte{5}, 32))}
	c := newCaching(t, inner)
	genReq := &materials.EncryptionRequest{Suite: envelope.SuiteAESGCMCommitting, PlaintextLength: 10}

	if !callRecovering(func() { c.GenerateDataKey(context.Background(), genReq) }) {
		t.Fatal("the inner keyring's panic did not reach the caller")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	dk, err := c.GenerateDataKey(ctx, genReq)
	if errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("GenerateDataKey after one panicked call waited until its deadline (%v): the entry's claim was never released; inner keyring reached %d times after the panic", err, inner.genOK.Load())
	} else if err != nil {
		t.Errorf("GenerateDataKey after one panicked call: %v", err)
	} else {
		dk.Zero()
	}

	// The same for a read: the object whose unwrap panicked can never be
	// read again (not even retried) through this cache.
	good, err := inner.inner.GenerateDataKey(context.Background(), genReq)
	if err != nil {
		t.Fatal(err)
	}
	decReq := &materials.DecryptionRequest{Suite: envelope.SuiteAESGCMCommitting, Key: good.EncryptedDataKey}
	if !callRecovering(func() { c.DecryptDataKey(context.Background(), decReq) }) {
		t.Fatal("the inner keyring's panic did not reach the caller")
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel2()
	pt, err := c.DecryptDataKey(ctx2, decReq)
	if errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("DecryptDataKey after one panicked call waited until its deadline (%v): the entry's claim was never released", err)
	} else if err != nil || !bytes.Equal(pt, good.Plaintext) {
		t.Errorf("DecryptDataKey after one panicked call: %v", err)
	}
}
