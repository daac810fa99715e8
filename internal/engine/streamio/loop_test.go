package streamio

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// script is a fill function that plays back a list of results and records
// the buffers it was called with.
type script struct {
	steps    []step
	calls    int
	released int
}

type step struct {
	inPlace []byte // written into b
	more    []byte
	err     error
}

func (s *script) fill(b []byte) (int, []byte, error) {
	if s.calls >= len(s.steps) {
		panic("fill called after the stream ended")
	}
	st := s.steps[s.calls]
	s.calls++
	n := copy(b, st.inPlace)
	if n < len(st.inPlace) {
		panic("in-place output larger than b")
	}
	return n, st.more, st.err
}

func (s *script) release() { s.released++ }

func TestLoopOrderAndEnd(t *testing.T) {
	errSource := errors.New("source failed")
	for name, tc := range map[string]struct {
		steps []step
		want  string
		err   error
	}{
		"buffered":          {[]step{{more: []byte("abc")}, {more: []byte("defgh"), err: io.EOF}}, "abcdefgh", io.EOF},
		"in place then tag": {[]step{{inPlace: []byte("abcd"), more: []byte("TAG"), err: io.EOF}}, "abcdTAG", io.EOF},
		"nothing yet":       {[]step{{}, {more: []byte("x")}, {err: io.EOF}}, "x", io.EOF},
		"error after bytes": {[]step{{inPlace: []byte("ab")}, {more: []byte("cd"), err: errSource}}, "abcd", errSource},
		"empty stream":      {[]step{{err: io.EOF}}, "", io.EOF},
	} {
		t.Run(name, func(t *testing.T) {
			s := &script{steps: tc.steps}
			var l Loop
			var got []byte
			buf := make([]byte, 4)
			var err error
			for range 100 {
				var n int
				n, err = l.Read(buf, s.fill, s.release)
				got = append(got, buf[:n]...)
				if err != nil {
					break
				}
				if n == 0 {
					t.Fatal("Read returned 0, nil for a non-empty buffer")
				}
			}
			if string(got) != tc.want || err != tc.err {
				t.Fatalf("read %q, %v; want %q, %v", got, err, tc.want, tc.err)
			}
			if s.calls != len(tc.steps) {
				t.Errorf("fill called %d times, want %d", s.calls, len(tc.steps))
			}
			// The end is sticky, and release runs at every Read after it.
			if n, err2 := l.Read(buf, s.fill, s.release); n != 0 || err2 != tc.err {
				t.Errorf("Read after the end = %d, %v; want 0, %v", n, err2, tc.err)
			}
			if s.released != 2 {
				t.Errorf("release called %d times, want 2", s.released)
			}
		})
	}
}

func TestLoopEmptyRead(t *testing.T) {
	s := &script{steps: []step{{more: []byte("abc"), err: io.EOF}}}
	var l Loop
	if n, err := l.Read(nil, s.fill, s.release); n != 0 || err != nil || s.calls != 0 {
		t.Fatalf("empty Read = %d, %v after %d fills; want 0, nil without filling", n, err, s.calls)
	}
	b := make([]byte, 8)
	n, _ := l.Read(b, s.fill, s.release)
	// Once the stream ended, even an empty Read reports the end.
	if n, err := l.Read(nil, s.fill, s.release); n != 0 || err != io.EOF {
		t.Fatalf("empty Read at the end = %d, %v; want 0, EOF", n, err)
	}
	if !bytes.Equal(b[:n], []byte("abc")) {
		t.Fatalf("read %q", b[:n])
	}
}

func TestLoopStop(t *testing.T) {
	errStopped := errors.New("stopped")
	s := &script{steps: []step{{more: []byte("abcdef")}}}
	var l Loop
	b := make([]byte, 2)
	if n, err := l.Read(b, s.fill, s.release); n != 2 || err != nil {
		t.Fatalf("Read = %d, %v", n, err)
	}
	l.Stop(errStopped)
	if n, err := l.Read(b, s.fill, s.release); n != 0 || err != errStopped || s.calls != 1 || s.released != 1 {
		t.Fatalf("Read after Stop = %d, %v (fills %d, releases %d); want 0, %v, no fill, one release", n, err, s.calls, s.released, errStopped)
	}
}
