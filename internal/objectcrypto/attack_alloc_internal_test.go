package objectcrypto

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/s3ec/s3ec-go/envelope"
)

// stalledBody sends one byte, then blocks until released, then fails: a
// server that announced a large Content-Length and sends nothing more.
type stalledBody struct {
	sent    bool
	release chan struct{}
}

var errStalledCut = errors.New("stalled body cut")

func (s *stalledBody) Read(p []byte) (int, error) {
	if !s.sent {
		s.sent = true
		p[0] = 1
		return 1, nil
	}
	<-s.release
	return 0, errStalledCut
}

// A Content-Length lie is not a memory amplifier: a server that announces
// a body of BufferSize (64 MiB) and sends one byte makes an authenticated
// read take at most untrustedFirst bytes (plus the tag) until more bytes
// arrive, however many such reads are in flight. Before, each took a
// buffer of the announced size at once: eight stalled responses of one
// byte each held 512 MiB of heap, most of it resident (a reused span is
// zeroed, which touches every page).
func TestAttackAnnouncedSizeCommitsNoMemory(t *testing.T) {
	resetPool(t)
	op, _ := sealedObject(t, []byte("x"))
	const readers = 8
	const announced = 64<<20 + envelope.TagSize
	runtime.GC()
	var before, during runtime.MemStats
	runtime.ReadMemStats(&before)
	release := make(chan struct{})
	var started, done sync.WaitGroup
	errs := make([]error, readers)
	for i := range readers {
		started.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			body := &stalledBody{release: release}
			started.Done()
			_, errs[i] = op.VerifiedReader(body, 64<<20, announced)
		}()
	}
	started.Wait()
	time.Sleep(200 * time.Millisecond) // every reader is blocked in its second Read
	runtime.ReadMemStats(&during)
	close(release)
	done.Wait()
	for i, err := range errs {
		if !errors.Is(err, errStalledCut) {
			t.Errorf("reader %d: error %v, want the body's", i, err)
		}
	}
	grown := int64(during.HeapAlloc) - int64(before.HeapAlloc)
	// Each reader may hold one buffer of untrustedFirst bytes; 4 MiB of
	// slack for everything else the test allocates.
	if limit := int64(readers)*(untrustedFirst+envelope.TagSize) + 4<<20; grown > limit {
		t.Errorf("%d stalled reads announcing %d bytes and sending 1 grew the heap by %d MiB, want at most %d MiB", readers, announced, grown>>20, limit>>20)
	}
}

// The bound costs an honest large body one copy: a 64 MiB body read into
// a cold pool moves once from its first buffer (untrustedFirst) to one of
// the announced size; read again, it takes the idle buffer at once.
func TestAttackAnnouncedSizeHonestBodyGrowsOnce(t *testing.T) {
	resetPool(t)
	data := make([]byte, 64<<20)
	op, body := sealedObject(t, data)
	for round, want := range []poolStats{{gets: 2, hits: 0}, {gets: 3, hits: 1}} {
		r, err := op.VerifiedReader(bytes.NewReader(body), 64<<20, int64(len(body)))
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("round %d: %v", round, err)
		}
		r.Close()
		if st := buffers.stats; st.gets != want.gets || st.hits != want.hits {
			t.Errorf("round %d: pool stats %+v, want %d gets and %d hits", round, st, want.gets, want.hits)
		}
	}
}
