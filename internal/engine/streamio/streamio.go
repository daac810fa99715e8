// Package streamio holds the read loops the streaming engines share: ReadFull
// for their sources, Loop for their own Read methods.
package streamio

import (
	"errors"
	"io"
)

// MaxZeroReads is how many (0, nil) results in a row ReadFull accepts from a
// source before it gives up with io.ErrNoProgress.
const MaxZeroReads = 100

// ErrInvalidCount reports a source whose Read returned a count outside
// 0..len(p).
var ErrInvalidCount = errors.New("s3ec: source returned an invalid read count")

// ReadFull reads from src into b until b is full or src returns an error,
// which it returns (io.EOF included, even after a partial read — unlike
// io.ReadFull, which would report io.ErrUnexpectedEOF). An error that comes
// with the bytes that fill b is returned too, with len(b): io.ReadFull
// would drop it, and with it, say, a gzip.Reader's checksum error on the
// last bytes of a stream.
func ReadFull(src io.Reader, b []byte) (int, error) {
	n, zeros := 0, 0
	for n < len(b) {
		k, err := src.Read(b[n:])
		if k < 0 || k > len(b)-n {
			return n, ErrInvalidCount
		}
		n += k
		if err != nil {
			return n, err
		}
		if k == 0 {
			if zeros++; zeros >= MaxZeroReads {
				return n, io.ErrNoProgress
			}
		} else {
			zeros = 0
		}
	}
	return n, nil
}
