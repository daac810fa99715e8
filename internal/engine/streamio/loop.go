package streamio

// Loop is the Read method that the engines' streaming readers share. It
// returns output produced earlier first; when there is none, it asks the
// reader's fill function for more, until fill hands back some bytes, ends
// the stream, or fails. Once the stream ended or failed, every Read calls
// release (which must allow repeated calls) and returns the error that
// ended it, io.EOF at a normal end. The zero Loop is ready for use.
type Loop struct {
	pending []byte // produced, not yet returned
	err     error  // what ends the stream once pending is returned
}

// Fill produces the next output of a stream, for a Read into b (never
// empty). It may write the output into b itself, returning its length n,
// or keep it in a buffer of its own and return it as more, which the
// following Reads return; when it does both, more comes after b[:n]. A
// non-nil err ends the stream (io.EOF: at its normal end) after that
// output; fill is not called again.
type Fill func(b []byte) (n int, more []byte, err error)

// Read implements io.Reader for a reader that produces its output with fill.
func (l *Loop) Read(b []byte, fill Fill, release func()) (int, error) {
	for {
		if len(l.pending) > 0 {
			n := copy(b, l.pending)
			l.pending = l.pending[n:]
			return n, nil
		}
		if l.err != nil {
			release()
			return 0, l.err
		}
		if len(b) == 0 {
			return 0, nil
		}
		n, more, err := fill(b)
		l.pending, l.err = more, err
		if n > 0 {
			return n, nil
		}
	}
}

// Stop ends the stream with err at once: output not yet returned is
// dropped, and every later Read returns err.
func (l *Loop) Stop(err error) {
	l.pending = nil
	l.err = err
}
