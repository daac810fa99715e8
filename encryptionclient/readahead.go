package encryptionclient

import (
	"errors"
	"io"
	"sync"
)

// Read-ahead of response bodies: a goroutine reads the network into a
// small ring of buffers while the caller's goroutine decrypts, so that the
// two run on two cores.
const (
	readAheadBuffers = 4
	readAheadSize    = 1 << 20
)

var errReadAfterClose = errors.New("encryptionclient: read of a closed body")

// raPool recycles read-ahead buffers between requests.
var raPool = sync.Pool{New: func() any { return &raBuf{b: make([]byte, readAheadSize)} }}

// maybeReadAhead wraps body in a read-ahead when it is large enough for the
// overlap to pay for the goroutine (its length n is -1 when unknown).
func maybeReadAhead(body io.ReadCloser, n int64) io.ReadCloser {
	if n >= 0 && n < 2*readAheadSize {
		return body
	}
	return newReadAhead(body)
}

type raBuf struct {
	b   []byte
	n   int
	err error
}

// readAhead is an io.ReadCloser over src. Close stops the goroutine (it
// closes src, which ends a blocked read) and waits for it. Close may run
// concurrently with Read (to abort it, as with an HTTP body): mu keeps
// the buffer a Read copies from out of the pool until that Read returned.
type readAhead struct {
	src  io.ReadCloser
	full chan *raBuf
	free chan *raBuf
	stop chan struct{}
	done chan struct{}

	mu        sync.Mutex // held by Read, except while it waits; and by Close's recycling
	cur       *raBuf
	off       int
	closed    bool // the buffers went back to the pool
	closeOnce sync.Once
	closeErr  error
}

func newReadAhead(src io.ReadCloser) *readAhead {
	r := &readAhead{
		src:  src,
		full: make(chan *raBuf, readAheadBuffers),
		free: make(chan *raBuf, readAheadBuffers),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	for range readAheadBuffers {
		r.free <- raPool.Get().(*raBuf)
	}
	go r.loop()
	return r
}

func (r *readAhead) loop() {
	defer close(r.done)
	for {
		var buf *raBuf
		select {
		case buf = <-r.free:
		case <-r.stop:
			return
		}
		// Read at least a quarter of a buffer, keeping the source's own
		// error: a connection cut mid-body must stay io.ErrUnexpectedEOF (a
		// retryable failure), not turn into a clean end that the decrypter
		// would report as tampering.
		n, err := 0, error(nil)
		for n < len(buf.b)/4 && err == nil {
			var k int
			k, err = r.src.Read(buf.b[n:])
			n += k
		}
		buf.n, buf.err = n, err
		select {
		case r.full <- buf:
		case <-r.stop:
			return
		}
		if err != nil {
			return
		}
	}
}

func (r *readAhead) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for {
		if r.closed {
			return 0, errReadAfterClose
		}
		if r.cur != nil {
			if r.off < r.cur.n {
				n := copy(p, r.cur.b[r.off:r.cur.n])
				r.off += n
				return n, nil
			}
			if r.cur.err != nil {
				return 0, r.cur.err
			}
			r.free <- r.cur
			r.cur = nil
		}
		// Wait without the lock, so that Close can stop the wait.
		r.mu.Unlock()
		var buf *raBuf
		select {
		case buf = <-r.full:
		case <-r.stop:
		}
		r.mu.Lock()
		if buf == nil || r.closed {
			// Closed while waiting: a buffer taken meanwhile is left
			// to the garbage collector (the pool has the others).
			return 0, errReadAfterClose
		}
		r.cur, r.off = buf, 0
	}
}

func (r *readAhead) Close() error {
	r.closeOnce.Do(func() {
		close(r.stop)
		r.closeErr = r.src.Close()
		<-r.done
		// The goroutine has stopped, and with the lock no Read uses a
		// buffer: every buffer is in a channel or cur.
		r.mu.Lock()
		defer r.mu.Unlock()
		r.closed = true
		if r.cur != nil {
			r.free <- r.cur
			r.cur = nil
		}
		for len(r.full) > 0 {
			r.free <- <-r.full
		}
		for len(r.free) > 0 {
			b := <-r.free
			b.n, b.err = 0, nil
			raPool.Put(b)
		}
	})
	return r.closeErr
}
