package objectcrypto

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"sync"
	"testing"
	"unsafe"

	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/materials"
)

// sealedObject encrypts data under a fresh AES keyring and opens it again.
func sealedObject(t testing.TB, data []byte) (*Opener, []byte) {
	t.Helper()
	key := make([]byte, 32)
	rand.Read(key)
	kr, err := materials.NewAESKeyring(key)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSealer(context.Background(), kr, envelope.Policy{}, nil, int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(s.Reader(bytes.NewReader(data)))
	if err != nil {
		t.Fatal(err)
	}
	meta, _ := s.Envelope.Metadata()
	env, err := envelope.Decode(meta, nil)
	if err != nil {
		t.Fatal(err)
	}
	op, err := Open(context.Background(), kr, DecryptOptions{}, env)
	if err != nil {
		t.Fatal(err)
	}
	return op, body
}

// resetPool empties the shared pool for a test and restores nothing: the
// pool holds only reusable buffers.
func resetPool(t *testing.T) {
	t.Helper()
	buffers.mu.Lock()
	buffers.free = [maxPoolClass + 1][]byte{}
	buffers.idle, buffers.stats = 0, poolStats{}
	buffers.mu.Unlock()
}

func bufAddr(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b[:1]))) }

// Size classes: a body of 2^k bytes of plaintext and its tag fits class k
// exactly; smaller bodies are not pooled.
func TestPoolClasses(t *testing.T) {
	for _, c := range []struct {
		n      int64
		k      int
		pooled bool
	}{
		{1 << 20, 20, true}, {1<<20 + envelope.TagSize, 20, true}, {1<<20 + envelope.TagSize + 1, 21, true},
		{64<<20 + envelope.TagSize, 26, true}, {1 << 19, 19, false}, {1000, 10, false},
	} {
		k, pooled := classOf(c.n)
		if k != c.k || pooled != c.pooled {
			t.Errorf("classOf(%d) = %d, %v; want %d, %v", c.n, k, pooled, c.k, c.pooled)
		}
		if pooled && classSize(k) < c.n {
			t.Errorf("class %d (%d bytes) does not hold %d bytes", k, classSize(k), c.n)
		}
	}
}

// Repeated reads reuse one buffer: given back when the reader is closed,
// or when it reached its end, and taken again by the next read.
func TestPoolReuse(t *testing.T) {
	resetPool(t)
	data := make([]byte, 3<<20)
	rand.Read(data)
	op, body := sealedObject(t, data)
	var addrs []uintptr
	for i := range 4 {
		r, err := op.VerifiedReader(bytes.NewReader(body), 64<<20, int64(len(body)))
		if err != nil {
			t.Fatal(err)
		}
		addrs = append(addrs, bufAddr(r.(*verifiedReader).buf))
		if i%2 == 0 {
			got, err := io.ReadAll(r) // the end gives it back
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("read %d: %v", i, err)
			}
			if r.(*verifiedReader).buf != nil {
				t.Fatal("the buffer is still held after the end")
			}
		}
		r.Close()
		r.Close() // twice: given back once
	}
	for i := 1; i < len(addrs); i++ {
		if addrs[i] != addrs[0] {
			t.Errorf("read %d used another buffer than read 0", i)
		}
	}
	if st := buffers.stats; st.hits != 3 || st.puts != 4 {
		t.Errorf("pool stats %+v, want 3 hits and 4 puts", st)
	}
}

// A buffer held by a live reader is never handed to another: two readers
// open at once have two buffers; and one reader's bytes cannot be seen
// through the other's.
func TestPoolNeverSharesLiveBuffer(t *testing.T) {
	resetPool(t)
	a := bytes.Repeat([]byte{'A'}, 2<<20)
	b := bytes.Repeat([]byte{'B'}, 2<<20-1000)
	opA, bodyA := sealedObject(t, a)
	opB, bodyB := sealedObject(t, b)
	ra, err := opA.VerifiedReader(bytes.NewReader(bodyA), 64<<20, int64(len(bodyA)))
	if err != nil {
		t.Fatal(err)
	}
	rb, err := opB.VerifiedReader(bytes.NewReader(bodyB), 64<<20, int64(len(bodyB)))
	if err != nil {
		t.Fatal(err)
	}
	if bufAddr(ra.(*verifiedReader).buf) == bufAddr(rb.(*verifiedReader).buf) {
		t.Fatal("two live readers share a buffer")
	}
	gotA, _ := io.ReadAll(ra)
	gotB, _ := io.ReadAll(rb)
	if !bytes.Equal(gotA, a) || !bytes.Equal(gotB, b) {
		t.Fatal("a reader returned another object's bytes")
	}
	// B, shorter, now reuses A's buffer: it must return exactly B.
	rb2, err := opB.VerifiedReader(bytes.NewReader(bodyB), 64<<20, int64(len(bodyB)))
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := io.ReadAll(rb2); !bytes.Equal(got, b) {
		t.Fatal("a reused buffer let another object's bytes through")
	}
}

// The pooled buffers hold ciphertext only: after a read, what goes back to
// the pool is the object's ciphertext, with no plaintext in it.
func TestPooledBufferHoldsNoPlaintext(t *testing.T) {
	resetPool(t)
	data := bytes.Repeat([]byte("plaintext that must never sit in a pooled buffer "), 50_000)
	op, body := sealedObject(t, data)
	for _, readAll := range []bool{true, false} {
		r, err := op.VerifiedReader(bytes.NewReader(body), 64<<20, int64(len(body)))
		if err != nil {
			t.Fatal(err)
		}
		buf := r.(*verifiedReader).buf
		if readAll {
			io.ReadAll(r)
		} else {
			io.ReadFull(r, make([]byte, 12345))
		}
		r.Close()
		held := buf[:len(body)-envelope.TagSize]
		if !bytes.Equal(held, body[:len(body)-envelope.TagSize]) {
			t.Error("the pooled buffer does not hold the ciphertext it was filled with")
		}
		if bytes.Contains(buf[:cap(buf)], data[:48]) {
			t.Error("the pooled buffer holds plaintext")
		}
	}
}

// Concurrent reads of objects of one size class, with Close racing Read,
// never see each other's bytes (run with -race).
func TestPoolConcurrentReaders(t *testing.T) {
	resetPool(t)
	const n = 6
	objs := make([][]byte, n)
	ops := make([]*Opener, n)
	bodies := make([][]byte, n)
	for i := range n {
		objs[i] = bytes.Repeat([]byte{byte('a' + i)}, 1<<20+i*1000)
		ops[i], bodies[i] = sealedObject(t, objs[i])
	}
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for round := range 8 {
				r, err := ops[i].VerifiedReader(bytes.NewReader(bodies[i]), 64<<20, int64(len(bodies[i])))
				if err != nil {
					t.Error(err)
					return
				}
				if round%2 == 1 {
					// Close from another goroutine while this one reads.
					done := make(chan struct{})
					go func() { defer close(done); r.Close() }()
					p := make([]byte, 64<<10)
					for {
						k, err := r.Read(p)
						if bytes.ContainsFunc(p[:k], func(c rune) bool { return c != rune('a'+i) }) {
							t.Errorf("object %d: another object's bytes", i)
						}
						if err != nil {
							break
						}
					}
					<-done
					continue
				}
				got, err := io.ReadAll(r)
				if err != nil || !bytes.Equal(got, objs[i]) {
					t.Errorf("object %d: %d bytes, %v", i, len(got), err)
				}
				r.Close()
			}
		}()
	}
	wg.Wait()
}

// The free list holds one buffer per class and at most poolBudget bytes.
func TestPoolBounded(t *testing.T) {
	resetPool(t)
	var held [][]byte
	for range 3 {
		b, _ := buffers.get(64<<20 + envelope.TagSize)
		held = append(held, b)
	}
	b, _ := buffers.get(32<<20 + envelope.TagSize)
	held = append(held, b)
	for _, b := range held {
		buffers.put(b)
	}
	if buffers.idle > poolBudget {
		t.Errorf("%d bytes idle, budget %d", buffers.idle, poolBudget)
	}
	if buffers.free[26] == nil || buffers.free[25] == nil || buffers.stats.dropped != 2 {
		t.Errorf("free list %v/%v, %d dropped; want one buffer of each class and two dropped", buffers.free[26] != nil, buffers.free[25] != nil, buffers.stats.dropped)
	}
	buffers.put(make([]byte, 0, 5<<20)) // not a class size: dropped
	if buffers.free[23] != nil {
		t.Error("a buffer of another capacity was pooled")
	}
}
