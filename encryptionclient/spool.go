package encryptionclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"
	"sync"

	"github.com/s3ec/s3ec-go/internal/objectcrypto"
)

// The ciphertext spool of Options.SpoolLargeObjects: a temporary file that
// holds the ciphertext of one large object between its authentication and
// its release. objectcrypto does the crypto (hash while spooling, verify,
// decrypt from the spool); this file owns the file: created 0600, unlinked
// at once where the system allows, closed and removed on every path.

// spoolPrefix starts the names of spool files (os.CreateTemp adds a random
// suffix).
const spoolPrefix = "s3ec-spool-"

// spoolFile is one spool file. Its errors are ErrSpool.
type spoolFile struct {
	f        *os.File
	name     string
	unlinked bool // the name is gone already (Unix)
	once     sync.Once
	closeErr error
}

// newSpool creates a spool file in dir (os.TempDir() when empty).
func newSpool(dir string) (*spoolFile, error) {
	if dir == "" {
		dir = os.TempDir()
	}
	f, err := os.CreateTemp(dir, spoolPrefix+"*")
	if err != nil {
		// The name os.CreateTemp tried is random: say the directory.
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("%w: create a file in %s: %w", ErrSpool, dir, err)
	}
	s := &spoolFile{f: f, name: f.Name()}
	// Where an open file can lose its name (Unix), it does so now: no other
	// process can open it, and the data goes with the last descriptor,
	// whatever becomes of this one.
	s.unlinked = os.Remove(s.name) == nil
	if err := checkSpoolMode(f); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// checkSpoolMode makes sure the file is a regular file only its owner may
// open (os.CreateTemp asks for 0600; a umask can only take bits away).
// Windows has no such bits: its temporary files inherit the directory's
// access control list.
func checkSpoolMode(f *os.File) error {
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("%w: stat %s: %w", ErrSpool, f.Name(), err)
	}
	if !st.Mode().IsRegular() || (runtime.GOOS != "windows" && st.Mode().Perm()&0o077 != 0) {
		return fmt.Errorf("%w: %s has mode %v, want a regular file of mode 0600", ErrSpool, f.Name(), st.Mode())
	}
	return nil
}

func (s *spoolFile) Write(p []byte) (int, error) {
	n, err := s.f.Write(p)
	if err != nil {
		err = fmt.Errorf("%w: write %s: %w", ErrSpool, s.name, err)
	}
	return n, err
}

func (s *spoolFile) ReadAt(p []byte, off int64) (int, error) {
	n, err := s.f.ReadAt(p, off)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("%w: read %s: %w", ErrSpool, s.name, err)
	}
	return n, err
}

// Close closes the file and removes it if its name is still there. It is
// safe to call more than once and from a cleanup.
func (s *spoolFile) Close() error {
	s.once.Do(func() {
		err := s.f.Close()
		if !s.unlinked {
			if rerr := os.Remove(s.name); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
				err = errors.Join(err, rerr)
			}
		}
		if err != nil {
			s.closeErr = fmt.Errorf("%w: close %s: %w", ErrSpool, s.name, err)
		}
	})
	return s.closeErr
}

// spoolVerified authenticates a GCM body of exactly size bytes through a
// spool file in dir and returns the body that decrypts from it. On any
// error the file is gone and nothing is returned.
func spoolVerified(op *objectcrypto.Opener, body io.Reader, size int64, dir string) (io.ReadCloser, error) {
	s, err := newSpool(dir)
	if err != nil {
		return nil, err
	}
	r, err := op.SpooledReader(body, size, s)
	if err != nil {
		s.Close()
		return nil, err
	}
	b := &spooledBody{r: r, spool: s}
	// A body dropped without Close (say, after a panic in the caller's
	// reads) still closes and removes its file once it is collected.
	runtime.AddCleanup(b, func(s *spoolFile) { s.Close() }, s)
	return b, nil
}

// ctxReader fails every Read once ctx is done. The spool reads the whole
// body before GetObject returns: a cancellation must stop it, even when the
// transport still serves bytes it had buffered (the test that cancels
// midway saw the GET succeed now and then).
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, context.Cause(c.ctx)
	}
	return c.r.Read(p)
}

// spooledBody is GetObject's body for a spooled object. The spool is closed
// as soon as the plaintext ends, fails, or the body is closed. Close may run
// concurrently with Read (to abort a reader, as with an HTTP body).
type spooledBody struct {
	mu     sync.Mutex
	r      io.ReadCloser
	spool  *spoolFile
	err    error // sticky: the end of the plaintext, or its failure
	closed bool
}

func (b *spooledBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.closed:
		return 0, errReadAfterClose
	case b.err != nil:
		return 0, b.err
	}
	n, err := b.r.Read(p)
	if err != nil {
		b.err = err
		b.finish()
	}
	return n, err
}

// finish lets the plaintext reader and the spool go. b.mu is held.
func (b *spooledBody) finish() error {
	b.r.Close()
	return b.spool.Close()
}

func (b *spooledBody) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	if b.err == nil {
		b.err = errReadAfterClose
	}
	return b.finish()
}
