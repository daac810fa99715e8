package streamio

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

type zeroReader struct{}

func (zeroReader) Read([]byte) (int, error) { return 0, nil }

type badCount struct{}

func (badCount) Read(p []byte) (int, error) { return len(p) + 1, nil }

// lastBytesErr returns all its data and err in one Read.
type lastBytesErr struct {
	data []byte
	err  error
}

func (r *lastBytesErr) Read(p []byte) (int, error) {
	n := copy(p, r.data)
	r.data = r.data[n:]
	if len(r.data) == 0 {
		return n, r.err
	}
	return n, nil
}

func TestReadFull(t *testing.T) {
	data := []byte("0123456789")
	b := make([]byte, 4)
	if n, err := ReadFull(iotest.OneByteReader(bytes.NewReader(data)), b); n != 4 || err != nil || string(b) != "0123" {
		t.Fatalf("%d %v %q", n, err, b)
	}
	// A short source reports io.EOF (not io.ErrUnexpectedEOF) with the count.
	if n, err := ReadFull(bytes.NewReader(data[:3]), b); n != 3 || err != io.EOF {
		t.Fatalf("short: %d %v", n, err)
	}
	boom := errors.New("boom")
	if n, err := ReadFull(io.MultiReader(bytes.NewReader(data[:2]), iotest.ErrReader(boom)), b); n != 2 || err != boom {
		t.Fatalf("error: %d %v", n, err)
	}
	// An error that comes with the bytes that fill b is kept.
	if n, err := ReadFull(&lastBytesErr{data: data[:4], err: boom}, b); n != 4 || err != boom {
		t.Fatalf("error with the last bytes: %d %v", n, err)
	}
	if _, err := ReadFull(zeroReader{}, b); err != io.ErrNoProgress {
		t.Fatalf("no progress: %v", err)
	}
	if _, err := ReadFull(badCount{}, b); err != ErrInvalidCount {
		t.Fatalf("bad count: %v", err)
	}
}
