package encryptionclient

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"testing"
	"testing/iotest"
	"time"
)

func TestReadAheadCopiesExactly(t *testing.T) {
	for _, size := range []int{0, 1, readAheadSize - 1, readAheadSize, 3*readAheadSize + 17} {
		data := make([]byte, size)
		rand.Read(data)
		small := data[:min(size, 5000)]
		cases := []struct {
			src  io.Reader
			want []byte
		}{
			{bytes.NewReader(data), data},
			{iotest.HalfReader(bytes.NewReader(data)), data},
			{iotest.OneByteReader(bytes.NewReader(small)), small},
		}
		for i, c := range cases {
			r := newReadAhead(io.NopCloser(c.src))
			got, err := io.ReadAll(iotest.HalfReader(r))
			if err != nil || !bytes.Equal(got, c.want) {
				t.Fatalf("size %d case %d: got %d bytes, %v", size, i, len(got), err)
			}
			if err := r.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestReadAheadPassesErrorsAndStops(t *testing.T) {
	boom := errors.New("boom")
	r := newReadAhead(io.NopCloser(io.MultiReader(bytes.NewReader(make([]byte, 100)), iotest.ErrReader(boom))))
	got, err := io.ReadAll(r)
	if !errors.Is(err, boom) || len(got) != 100 {
		t.Fatalf("got %d bytes, %v", len(got), err)
	}
	if _, err := r.Read(make([]byte, 1)); !errors.Is(err, boom) {
		t.Fatalf("error not sticky: %v", err)
	}
	r.Close()

	// Close while the goroutine is blocked in a read ends it.
	pr, pw := io.Pipe()
	r = newReadAhead(pr)
	done := make(chan struct{})
	go func() { r.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not stop a blocked read")
	}
	pw.Close()
	if _, err := r.Read(make([]byte, 1)); err == nil {
		t.Fatal("read after close succeeded")
	}
}
