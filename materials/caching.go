package materials

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/s3ec/s3ec-go/envelope"
)

var _ Keyring = (*CachingKeyring)(nil)

// Defaults of [CachingOptions].
const (
	DefaultCacheMaxObjects = 1000
	DefaultCacheMaxAge     = 5 * time.Minute
	DefaultCacheMaxBytes   = 1 << 30
	DefaultCacheMaxEntries = 1000
)

// CachingOptions configures a [CachingKeyring]. The zero value of every
// field is its default.
type CachingOptions struct {
	// MaxObjects is the most objects one cached data key encrypts. Default
	// DefaultCacheMaxObjects (1000). 1 turns encryption caching off.
	MaxObjects int

	// MaxAge is how long a data key stays in the cache after the inner
	// keyring returned it, for encryption and decryption alike. It is also
	// how long a disabled KMS key or a revoked permission can go unnoticed.
	// Default DefaultCacheMaxAge (5 minutes).
	MaxAge time.Duration

	// MaxBytes is the most plaintext bytes one cached data key encrypts, in
	// all. A request of unknown length (PlaintextLength < 0), or longer than
	// MaxBytes, gets a fresh data key that is not cached. Default
	// DefaultCacheMaxBytes (1 GiB).
	MaxBytes int64

	// MaxEntries bounds the cache: the least recently used entry (data key
	// for encryption or unwrapped key) is evicted, and zeroed, beyond it.
	// Default DefaultCacheMaxEntries (1000).
	MaxEntries int
}

// CachingKeyring is a [Keyring] that reuses data keys, for workloads of many
// small objects where a KMS call per object is the cost that matters.
// Caching is opt-in: wrap the keyring you would use otherwise.
//
// GenerateDataKey reuses a data key for up to MaxObjects objects, MaxAge and
// MaxBytes bytes, and only for the key-committing suite
// ([envelope.SuiteAESGCMCommitting], the V3 format): each object still gets
// its own random message id, and so its own derived content key and
// commitment, so reusing the data key never reuses a content key and
// nonce. Requests for any other suite go to the inner keyring every time.
// A data key is reused only for the same encryption context.
//
// DecryptDataKey remembers unwrapped keys by suite, wrap algorithm, wrapped
// key, stored description and expected encryption context, so that objects
// written with one cached data key cost one unwrap. A wrapped key or context
// that differs in any byte is a miss and goes to the inner keyring; errors
// are never cached.
//
// The cache holds at most MaxEntries keys, evicting the least recently used;
// keys are zeroed when they are evicted, expire, or are used up, and all of
// them on [CachingKeyring.Close]. Concurrent misses for the same entry make
// one inner call. It is safe for concurrent use.
type CachingKeyring struct {
	inner Keyring
	opts  CachingOptions

	mu       sync.Mutex
	lru      *list.List // of *cacheEntry, most recent first
	entries  map[cacheKey]*list.Element
	inflight map[cacheKey]chan struct{}
	closed   bool
	stats    CacheStats
}

// CacheStats are the counters of a [CachingKeyring].
type CacheStats struct {
	// EncryptHits and EncryptMisses count GenerateDataKey calls served
	// from the cache and calls that needed a new data key.
	EncryptHits, EncryptMisses int64
	// EncryptBypassed counts GenerateDataKey calls that were not eligible
	// for caching: another suite than the key-committing one, an unknown or
	// too large PlaintextLength, or a closed cache.
	EncryptBypassed int64
	// DecryptHits and DecryptMisses count DecryptDataKey calls served from
	// the cache and calls passed to the inner keyring.
	DecryptHits, DecryptMisses int64
	// InnerGenerateCalls and InnerDecryptCalls count the calls made to the
	// inner keyring: with a KMS keyring, the KMS requests.
	InnerGenerateCalls, InnerDecryptCalls int64
	// Evictions counts entries removed before Close: used up, expired, or
	// least recently used.
	Evictions int64
	// Entries is the number of keys cached now.
	Entries int
}

// cacheKey is a SHA-256 digest of what identifies an entry; the cache never
// holds wrapped keys or contexts themselves.
type cacheKey [sha256.Size]byte

type cacheEntry struct {
	key     cacheKey
	expires time.Time

	// Encryption entries: the data key, and how much it has done.
	dataKey *DataKey
	uses    int
	bytes   int64

	// Decryption entries: the unwrapped key.
	plaintext []byte

	// expiry evicts and zeroes the entry at MaxAge, whether or not it is
	// looked up again.
	expiry *time.Timer
}

func (e *cacheEntry) zero() {
	e.dataKey.Zero()
	clear(e.plaintext)
}

// NewCachingKeyring returns a keyring that caches the data keys of inner.
func NewCachingKeyring(inner Keyring, optFns ...func(*CachingOptions)) (*CachingKeyring, error) {
	if inner == nil {
		return nil, errors.New("materials: caching keyring: inner keyring is nil")
	}
	var o CachingOptions
	for _, fn := range optFns {
		if fn != nil { // a nil option sets nothing
			fn(&o)
		}
	}
	for _, f := range []struct {
		name     string
		negative bool
	}{
		{"MaxObjects", o.MaxObjects < 0}, {"MaxAge", o.MaxAge < 0}, {"MaxBytes", o.MaxBytes < 0}, {"MaxEntries", o.MaxEntries < 0},
	} {
		if f.negative {
			return nil, fmt.Errorf("materials: caching keyring: CachingOptions.%s is negative", f.name)
		}
	}
	if o.MaxObjects == 0 {
		o.MaxObjects = DefaultCacheMaxObjects
	}
	if o.MaxAge == 0 {
		o.MaxAge = DefaultCacheMaxAge
	}
	if o.MaxBytes == 0 {
		o.MaxBytes = DefaultCacheMaxBytes
	}
	if o.MaxEntries == 0 {
		o.MaxEntries = DefaultCacheMaxEntries
	}
	return &CachingKeyring{
		inner:    inner,
		opts:     o,
		lru:      list.New(),
		entries:  map[cacheKey]*list.Element{},
		inflight: map[cacheKey]chan struct{}{},
	}, nil
}

// Options returns the keyring's options, defaults filled in.
func (c *CachingKeyring) Options() CachingOptions { return c.opts }

// Stats returns a snapshot of the keyring's counters.
func (c *CachingKeyring) Stats() CacheStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.stats
	s.Entries = c.lru.Len()
	return s
}

// Close zeroes and drops every cached key. The keyring stays usable, but
// caches nothing any more: every call goes to the inner keyring. Close
// does not close the inner keyring. It always returns nil.
func (c *CachingKeyring) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	for el := c.lru.Front(); el != nil; el = el.Next() {
		e := el.Value.(*cacheEntry)
		if e.expiry != nil {
			e.expiry.Stop()
		}
		e.zero()
	}
	c.lru.Init()
	clear(c.entries)
	return nil
}

// GenerateDataKey returns a cached data key for req.Suite and
// req.EncryptionContext when one has encrypted fewer than MaxObjects
// objects and, with req.PlaintextLength, at most MaxBytes bytes, and is
// younger than MaxAge; otherwise it asks the inner keyring for a new one and
// caches it. Only the key-committing suite is cached. The returned DataKey
// is the caller's own copy: zero it as usual.
func (c *CachingKeyring) GenerateDataKey(ctx context.Context, req *EncryptionRequest) (*DataKey, error) {
	if req == nil {
		return nil, errors.New("materials: nil EncryptionRequest")
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("materials: caching keyring: %w", err)
	}
	n := req.PlaintextLength
	if req.Suite != envelope.SuiteAESGCMCommitting || n < 0 || n > c.opts.MaxBytes || c.opts.MaxObjects == 1 {
		c.mu.Lock()
		c.stats.EncryptBypassed++
		c.stats.InnerGenerateCalls++
		c.mu.Unlock()
		return c.inner.GenerateDataKey(ctx, req)
	}
	key := encryptCacheKey(req.Suite, req.EncryptionContext)
	for {
		c.mu.Lock()
		if c.closed {
			c.stats.EncryptBypassed++
			c.stats.InnerGenerateCalls++
			c.mu.Unlock()
			return c.inner.GenerateDataKey(ctx, req)
		}
		if e := c.lookup(key); e != nil {
			if e.uses < c.opts.MaxObjects && e.bytes+n <= c.opts.MaxBytes {
				e.uses++
				e.bytes += n
				dk := cloneDataKey(e.dataKey)
				if e.uses == c.opts.MaxObjects {
					c.evict(key)
				}
				c.stats.EncryptHits++
				c.mu.Unlock()
				return dk, nil
			}
			c.evict(key)
		}
		wait, leader := c.claim(key)
		if !leader {
			c.mu.Unlock()
			if err := waitFor(ctx, wait); err != nil {
				return nil, fmt.Errorf("materials: caching keyring: %w", err)
			}
			continue
		}
		c.stats.EncryptMisses++
		c.stats.InnerGenerateCalls++
		c.mu.Unlock()

		// A panic of the inner keyring still ends this fill: the callers
		// waiting for it went on waiting until their deadlines.
		defer c.releaseOnPanic(key)()
		dk, err := c.inner.GenerateDataKey(ctx, &EncryptionRequest{
			Suite:             req.Suite,
			EncryptionContext: maps.Clone(req.EncryptionContext),
			PlaintextLength:   n,
		})
		c.mu.Lock()
		c.release(key)
		if err == nil && dk != nil && !c.closed {
			c.insert(&cacheEntry{key: key, dataKey: cloneDataKey(dk), uses: 1, bytes: n})
		}
		c.mu.Unlock()
		return dk, err
	}
}

// DecryptDataKey returns the cached plaintext of req.Key when the same
// wrapped key was unwrapped, for the same suite, description and expected
// context, less than MaxAge ago; otherwise it asks the inner keyring and
// caches a successful result. The returned key is the caller's own copy.
func (c *CachingKeyring) DecryptDataKey(ctx context.Context, req *DecryptionRequest) ([]byte, error) {
	if req == nil {
		return nil, errors.New("materials: nil DecryptionRequest")
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("materials: caching keyring: %w", err)
	}
	key := decryptCacheKey(req)
	for {
		c.mu.Lock()
		if c.closed {
			c.stats.DecryptMisses++
			c.stats.InnerDecryptCalls++
			c.mu.Unlock()
			return c.inner.DecryptDataKey(ctx, req)
		}
		if e := c.lookup(key); e != nil {
			pt := slices.Clone(e.plaintext)
			c.stats.DecryptHits++
			c.mu.Unlock()
			return pt, nil
		}
		wait, leader := c.claim(key)
		if !leader {
			c.mu.Unlock()
			if err := waitFor(ctx, wait); err != nil {
				return nil, fmt.Errorf("materials: caching keyring: %w", err)
			}
			continue
		}
		c.stats.DecryptMisses++
		c.stats.InnerDecryptCalls++
		c.mu.Unlock()

		defer c.releaseOnPanic(key)()
		pt, err := c.inner.DecryptDataKey(ctx, req)
		c.mu.Lock()
		c.release(key)
		if err == nil && !c.closed {
			c.insert(&cacheEntry{key: key, plaintext: slices.Clone(pt)})
		}
		c.mu.Unlock()
		return pt, err
	}
}

// ReEncryptSources is the inner keyring's answer: a service re-encryption
// is never served from the cache.
func (c *CachingKeyring) ReEncryptSources(req *DecryptionRequest) ([]ReEncryptSource, error) {
	return ReEncryptSourcesOf(c.inner, req)
}

// openingKey is the inner keyring's.
func (c *CachingKeyring) openingKey(s envelope.Suite, edk *EncryptedDataKey) (keyIdentity, bool) {
	return openingKeyOf(c.inner, s, edk)
}

// lookup returns the live entry for key and marks it recently used; an
// expired entry is evicted. c.mu is held.
func (c *CachingKeyring) lookup(key cacheKey) *cacheEntry {
	el, ok := c.entries[key]
	if !ok {
		return nil
	}
	e := el.Value.(*cacheEntry)
	if !time.Now().Before(e.expires) {
		c.evict(key)
		return nil
	}
	c.lru.MoveToFront(el)
	return e
}

// insert adds e, replacing any entry under the same key, and evicts the
// least recently used entries beyond MaxEntries. c.mu is held.
func (c *CachingKeyring) insert(e *cacheEntry) {
	c.evict(e.key)
	e.expires = time.Now().Add(c.opts.MaxAge)
	c.entries[e.key] = c.lru.PushFront(e)
	// Zeroed at MaxAge, looked up again or not: a long-running process
	// kept expired keys in memory until the same entry was asked for.
	e.expiry = time.AfterFunc(c.opts.MaxAge, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if el, ok := c.entries[e.key]; ok && el.Value.(*cacheEntry) == e {
			c.evict(e.key)
		}
	})
	for c.lru.Len() > c.opts.MaxEntries {
		c.evict(c.lru.Back().Value.(*cacheEntry).key)
	}
}

// evict removes and zeroes the entry under key, if any. c.mu is held.
func (c *CachingKeyring) evict(key cacheKey) {
	el, ok := c.entries[key]
	if !ok {
		return
	}
	delete(c.entries, key)
	c.lru.Remove(el)
	e := el.Value.(*cacheEntry)
	if e.expiry != nil {
		e.expiry.Stop()
	}
	e.zero()
	c.stats.Evictions++
}

// claim makes the caller the one that fills key (leader) or returns the
// channel that is closed when the current leader is done. c.mu is held.
func (c *CachingKeyring) claim(key cacheKey) (wait chan struct{}, leader bool) {
	if ch, ok := c.inflight[key]; ok {
		return ch, false
	}
	c.inflight[key] = make(chan struct{})
	return nil, true
}

// release ends the leader's fill of key. c.mu is held.
func (c *CachingKeyring) release(key cacheKey) {
	if ch, ok := c.inflight[key]; ok {
		close(ch)
		delete(c.inflight, key)
	}
}

// releaseOnPanic returns the deferred function of a leader's fill of key:
// when the inner keyring panics, it releases the claim (and the panic goes
// on); after a normal return the fill has released it already.
func (c *CachingKeyring) releaseOnPanic(key cacheKey) func() {
	ch := c.inflightOf(key)
	return func() {
		if r := recover(); r != nil {
			c.mu.Lock()
			if c.inflight[key] == ch {
				c.release(key)
			}
			c.mu.Unlock()
			panic(r)
		}
	}
}

// inflightOf returns the channel of key's fill under way.
func (c *CachingKeyring) inflightOf(key cacheKey) chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.inflight[key]
}

func waitFor(ctx context.Context, ch chan struct{}) error {
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func cloneDataKey(dk *DataKey) *DataKey {
	return &DataKey{
		Plaintext: slices.Clone(dk.Plaintext),
		EncryptedDataKey: EncryptedDataKey{
			WrapAlgorithm: dk.WrapAlgorithm,
			Ciphertext:    slices.Clone(dk.Ciphertext),
			Description:   cloneContext(dk.Description),
		},
	}
}

// Cache keys are SHA-256 digests of an unambiguous, length-prefixed
// encoding of what selects an entry, with a different first byte for
// encryption and decryption entries.
const (
	cacheKindEncrypt = 1
	cacheKindDecrypt = 2
)

func encryptCacheKey(s envelope.Suite, ec map[string]string) cacheKey {
	h := sha256.New()
	h.Write([]byte{cacheKindEncrypt})
	writeUint(h, uint64(s))
	writeMap(h, ec)
	return cacheKey(h.Sum(nil))
}

func decryptCacheKey(req *DecryptionRequest) cacheKey {
	h := sha256.New()
	h.Write([]byte{cacheKindDecrypt})
	writeUint(h, uint64(req.Suite))
	writeBytes(h, []byte(req.Key.WrapAlgorithm))
	writeBytes(h, req.Key.Ciphertext)
	writeMap(h, req.Key.Description)
	writeMap(h, req.EncryptionContext)
	return cacheKey(h.Sum(nil))
}

func writeUint(h hash.Hash, v uint64) {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	h.Write(b[:])
}

func writeBytes(h hash.Hash, b []byte) {
	writeUint(h, uint64(len(b)))
	h.Write(b)
}

// writeMap encodes a map in sorted key order; nil and empty are the same,
// as they are to every keyring.
func writeMap(h hash.Hash, m map[string]string) {
	writeUint(h, uint64(len(m)))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		writeBytes(h, []byte(k))
		writeBytes(h, []byte(m[k]))
	}
}
