package objectcrypto

import (
	"os"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Hiding the first touch of a fresh buffer: the first write to each page
// of a newly allocated 64 MiB buffer is a page fault in which the kernel
// zeroes the page, about 16 000 of them, which nearly doubled the time of
// an authenticated GET in a fresh process. A goroutine asks the kernel to
// populate the pages (madvise MADV_POPULATE_WRITE, Linux 5.14) a few MiB
// ahead of the bytes received, on another core while the network fills
// the buffer. It never writes the buffer (the kernel only maps zeroed
// pages where none are mapped yet, and leaves mapped ones alone), so it
// needs no synchronization with the reads; and it stays within
// prefaultWindow of them, so a server that announces more than it sends
// still commits memory only for what it sent (plus the window).
// Measured with s3ecbench (a GET in a fresh process, loopback versitygw):
// 3.1× plain without it, 2.5× with it; MADV_HUGEPAGE on the buffer was
// tried as well and did not help beyond the noise, so it is not used.
const (
	prefaultMin    = 4 << 20 // buffers smaller than this are not worth a goroutine
	prefaultChunk  = 2 << 20 // one madvise call
	prefaultWindow = 8 << 20 // how far ahead of the bytes received
)

// prefaultUnsupported is set once the kernel refused MADV_POPULATE_WRITE
// (before Linux 5.14): no more goroutines are started for it.
var prefaultUnsupported atomic.Bool

// prefaulter populates a fresh buffer's pages ahead of its reads. Its
// methods are those of one reading goroutine; a nil prefaulter does
// nothing.
type prefaulter struct {
	want chan int // the end (in region) up to which to populate
	done chan struct{}
	sent int
	skip int // region starts skip bytes into the buffer (page alignment)
	end  int // len(region)
}

// startPrefault starts populating buf's pages unless it came from the
// pool (warm: already resident) or is small.
func startPrefault(buf []byte, warm bool) *prefaulter {
	if warm || cap(buf) < prefaultMin || prefaultUnsupported.Load() {
		return nil
	}
	full := buf[:cap(buf)]
	page := uintptr(os.Getpagesize())
	base := uintptr(unsafe.Pointer(unsafe.SliceData(full)))
	skip := int((page - base%page) % page)
	region := full[skip:]
	region = region[:len(region)&^int(page-1)]
	if len(region) == 0 {
		return nil
	}
	p := &prefaulter{want: make(chan int, 1), done: make(chan struct{}), skip: skip, end: len(region)}
	go p.run(region)
	p.ahead(len(buf))
	return p
}

func (p *prefaulter) run(region []byte) {
	defer close(p.done)
	pos := 0
	for t := range p.want {
		for pos < t {
			n := min(prefaultChunk, t-pos)
			if err := unix.Madvise(region[pos:pos+n], unix.MADV_POPULATE_WRITE); err != nil {
				prefaultUnsupported.Store(true)
				for range p.want { // until stop
				}
				return
			}
			pos += n
		}
	}
}

// ahead tells the goroutine that filled bytes of the buffer arrived.
func (p *prefaulter) ahead(filled int) {
	if p == nil {
		return
	}
	t := min(max(filled-p.skip, 0)+prefaultWindow, p.end)
	if t <= p.sent || (t < p.sent+prefaultChunk && t != p.end) {
		return // nothing new, or less than a chunk
	}
	select {
	case p.want <- t:
		p.sent = t
	default: // it is still busy; the next call asks again
	}
}

// stop ends the goroutine and waits for it: the buffer may then be given
// back to the pool.
func (p *prefaulter) stop() {
	if p == nil || p.want == nil {
		return
	}
	close(p.want)
	<-p.done
	p.want = nil
}
