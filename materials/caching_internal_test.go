package materials

import (
	"bytes"
	"context"
	"crypto/rand"
	"testing"

	"github.com/s3ec/s3ec-go/envelope"
)

// cachedBuffers returns the key buffers the cache holds, to check that they
// are zeroed once dropped.
func cachedBuffers(c *CachingKeyring) [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out [][]byte
	for el := c.lru.Front(); el != nil; el = el.Next() {
		e := el.Value.(*cacheEntry)
		if e.dataKey != nil {
			out = append(out, e.dataKey.Plaintext)
		}
		if e.plaintext != nil {
			out = append(out, e.plaintext)
		}
	}
	return out
}

func allZero(bufs [][]byte) bool {
	for _, b := range bufs {
		if len(b) != envelope.DataKeySize || !bytes.Equal(b, make([]byte, len(b))) {
			return false
		}
	}
	return true
}

func TestCachingZeroesOnEvictionAndClose(t *testing.T) {
	key := make([]byte, 32)
	rand.Read(key)
	inner, err := NewAESKeyring(key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewCachingKeyring(inner, func(o *CachingOptions) { o.MaxEntries = 1; o.MaxObjects = 2 })
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	req := &EncryptionRequest{Suite: envelope.SuiteAESGCMCommitting, PlaintextLength: 1}

	// Used up: the second use of a MaxObjects-2 key drops it.
	dk, err := c.GenerateDataKey(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	held := cachedBuffers(c)
	if len(held) != 1 || !bytes.Equal(held[0], dk.Plaintext) {
		t.Fatal("the data key is not cached")
	}
	dk2, err := c.GenerateDataKey(ctx, req)
	if err != nil || !bytes.Equal(dk2.Plaintext, dk.Plaintext) {
		t.Fatalf("second use: %v", err)
	}
	if !allZero(held) || len(cachedBuffers(c)) != 0 {
		t.Fatal("a used-up data key was not zeroed and dropped")
	}
	if bytes.Equal(dk.Plaintext, make([]byte, 32)) {
		t.Fatal("dropping the cache entry zeroed a caller's copy")
	}

	// LRU: a decryption entry pushes the encryption entry out.
	if _, err := c.GenerateDataKey(ctx, req); err != nil {
		t.Fatal(err)
	}
	held = cachedBuffers(c)
	k, err := c.DecryptDataKey(ctx, &DecryptionRequest{Suite: envelope.SuiteAESGCMCommitting, Key: dk.EncryptedDataKey})
	if err != nil || !bytes.Equal(k, dk.Plaintext) {
		t.Fatalf("decrypt: %v", err)
	}
	if !allZero(held) {
		t.Fatal("the evicted entry was not zeroed")
	}

	// Close zeroes what is left.
	held = cachedBuffers(c)
	if len(held) != 1 {
		t.Fatalf("%d entries, want 1", len(held))
	}
	c.Close()
	if !allZero(held) {
		t.Fatal("Close did not zero the cached keys")
	}
	if !bytes.Equal(k, dk.Plaintext) {
		t.Fatal("Close zeroed a caller's copy")
	}
}
