package objectcrypto

import (
	"math/bits"
	"sync"

	"github.com/s3ec/s3ec-go/envelope"
)

// The buffers of authenticated in-memory reads come from a small bounded
// free list, one slot per size class, so that a process doing repeated
// large GETs reuses one buffer instead of allocating the next while the
// last one still waits for the garbage collector.
//
// Class k holds bodies of up to 2^k bytes of ciphertext plus the tag: a
// 64 MiB object fits class 26 exactly. Only classes from 1 MiB up are
// pooled (smaller buffers cost little to allocate), and the free list
// never holds more than poolBudget bytes in all; a buffer that does not
// fit is left to the garbage collector.
//
// A buffer is taken by one body and given back only by that body, once:
// when it is closed or read to its end, after it dropped every reference
// to it (verifiedReader). The buffers only ever hold ciphertext; plaintext
// is produced in the caller's Read buffer.
const (
	minPoolClass = 20 // 1 MiB
	maxPoolClass = 40 // beyond any limit a platform can allocate in one piece
	// poolBudget: two idle buffers for 64 MiB objects (the client's
	// default BufferSize), or one of them and all the smaller classes.
	poolBudget = 2 * (64<<20 + envelope.TagSize)
)

type bufferPool struct {
	mu    sync.Mutex
	idle  int64                    // bytes held in free
	free  [maxPoolClass + 1][]byte // one idle buffer per class, or nil
	stats poolStats
}

// poolStats count what the pool did, for tests.
type poolStats struct{ gets, hits, puts, dropped int }

var buffers bufferPool

// classOf returns the smallest class whose buffers hold a body of n bytes
// (ciphertext and tag), and whether buffers of that class are pooled.
func classOf(n int64) (int, bool) {
	pt := max(n-envelope.TagSize, 1)
	k := bits.Len64(uint64(pt - 1))
	return k, k >= minPoolClass && k <= maxPoolClass
}

// classSize is the capacity of buffers of class k.
func classSize(k int) int64 { return int64(1)<<k + envelope.TagSize }

// get returns a buffer of length 0 and a capacity of at least n bytes:
// exactly classSize of n's class, so that put can tell its class, or n
// itself when the class is not pooled. The second result says whether it
// came from the free list (already touched, resident) or was allocated.
func (p *bufferPool) get(n int64) ([]byte, bool) {
	k, pooled := classOf(n)
	if !pooled {
		return make([]byte, 0, n), false
	}
	p.mu.Lock()
	p.stats.gets++
	b := p.free[k]
	if b != nil {
		p.free[k] = nil
		p.idle -= int64(cap(b))
		p.stats.hits++
	}
	p.mu.Unlock()
	if b != nil {
		return b[:0], true
	}
	return make([]byte, 0, classSize(k)), false
}

// takeIdle returns the pooled buffer of n's class, of length 0, if the free
// list holds one, or nil: unlike get it never allocates. Such a buffer is
// resident already, so taking it commits no new memory.
func (p *bufferPool) takeIdle(n int64) []byte {
	k, pooled := classOf(n)
	if !pooled {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	b := p.free[k]
	if b != nil {
		p.free[k] = nil
		p.idle -= int64(cap(b))
		p.stats.gets++
		p.stats.hits++
	}
	return b
}

// put gives back a buffer that get returned. The caller must hold no
// reference to it any more. Buffers of other capacities are dropped.
func (p *bufferPool) put(b []byte) {
	c := int64(cap(b))
	k, pooled := classOf(c)
	if !pooled || c != classSize(k) {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.free[k] != nil || p.idle+c > poolBudget {
		p.stats.dropped++
		return
	}
	p.free[k] = b[:0]
	p.idle += c
	p.stats.puts++
}
