package materials

import (
	"bytes"
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/s3ec/s3ec-go/envelope"
)

// TestAttackCachingZeroesExpiredKeys: the CachingKeyring promises
// that "keys are zeroed when they are evicted, expire, or are used up", and
// MaxAge is "how long a data key stays in the cache". An entry past MaxAge
// is only dropped when a later call looks up the same entry (or LRU
// pressure or Close reaches it): a process that encrypted or read a few
// objects and then does other work (a warm Lambda container, a
// long-running service with another context) keeps the plaintext data
// keys in memory indefinitely after they expired. Here, after MaxAge,
// other calls of the keyring run and the expired keys are still intact.
func TestAttackCachingZeroesExpiredKeys(t *testing.T) {
	key := make([]byte, 32)
	rand.Read(key)
	inner, err := NewAESKeyring(key)
	if err != nil {
		t.Fatal(err)
	}
	const maxAge = 50 * time.Millisecond
	c, err := NewCachingKeyring(inner, func(o *CachingOptions) { o.MaxAge = maxAge })
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()

	// One encryption entry and one decryption entry.
	dk, err := c.GenerateDataKey(ctx, &EncryptionRequest{Suite: envelope.SuiteAESGCMCommitting, PlaintextLength: 1})
	if err != nil {
		t.Fatal(err)
	}
	other, err := inner.GenerateDataKey(ctx, &EncryptionRequest{Suite: envelope.SuiteAESGCMCommitting})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.DecryptDataKey(ctx, &DecryptionRequest{Suite: envelope.SuiteAESGCMCommitting, Key: other.EncryptedDataKey}); err != nil {
		t.Fatal(err)
	}
	held := cachedBuffers(c)
	if len(held) != 2 {
		t.Fatalf("%d cached keys, want 2", len(held))
	}

	time.Sleep(3 * maxAge)
	// The keyring is still in use, for other entries: a non-cached suite
	// and a stats read.
	if _, err := c.GenerateDataKey(ctx, &EncryptionRequest{Suite: envelope.SuiteAESGCM, PlaintextLength: 1}); err != nil {
		t.Fatal(err)
	}
	st := c.Stats()

	if !allZero(held) {
		n := 0
		for _, b := range held {
			if !bytes.Equal(b, make([]byte, len(b))) {
				n++
			}
		}
		t.Errorf("%d of 2 cached plaintext data keys still intact %v after they expired (MaxAge %v); Stats reports %d entries", n, 3*maxAge, maxAge, st.Entries)
	}
	dk.Zero()
}
