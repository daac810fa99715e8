package bulk

import (
	"bufio"
	"crypto/md5"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
)

// verifiedFile is a local copy of a file whose size and MD5 were checked
// against what a manifest lists, read back through a buffer. Close closes
// and removes the copy.
type verifiedFile struct {
	f       *os.File
	r       *bufio.Reader
	removed bool // unlinked already (Unix: at once, while open)
}

// copyVerified copies src to a temporary file (0600, in os.TempDir) and
// checks that it holds exactly size bytes whose MD5 is md5Hex; only then is
// the copy returned, positioned at its start. A source longer than size is
// read no further than size+1 bytes. A mismatch is a *ChecksumError, a
// failing source or disk an error naming the file; the copy is removed
// either way.
func copyVerified(src io.Reader, name string, size int64, md5Hex string) (*verifiedFile, error) {
	f, err := os.CreateTemp("", "s3ec-inventory-*.csv.gz")
	if err != nil {
		return nil, fmt.Errorf("bulk: inventory data file %s: a temporary copy: %w", name, err)
	}
	// Unlinked while open, the copy goes with the process, whatever ends
	// it; where that fails (Windows), Close removes it.
	v := &verifiedFile{f: f, removed: os.Remove(f.Name()) == nil}
	fail := func(err error) (*verifiedFile, error) {
		v.Close()
		return nil, err
	}
	h := md5.New()
	limit := size
	if size < math.MaxInt64 {
		limit++ // one byte more shows a longer source
	}
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(src, limit))
	if err != nil {
		var ce *ChecksumError
		if errors.As(err, &ce) {
			return fail(err)
		}
		return fail(fmt.Errorf("bulk: inventory data file %s: %w", name, err))
	}
	if n != size {
		got := fmt.Sprintf("%d bytes", n)
		if n > size {
			got = "more"
		}
		return fail(&ChecksumError{File: name, Want: fmt.Sprintf("%d bytes", size), Got: got})
	}
	sum := h.Sum(nil)
	want, err := hex.DecodeString(strings.ToLower(md5Hex))
	if err != nil || subtle.ConstantTimeCompare(sum, want) != 1 {
		return fail(&ChecksumError{File: name, Want: strings.ToLower(md5Hex), Got: hex.EncodeToString(sum)})
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fail(fmt.Errorf("bulk: inventory data file %s: its temporary copy: %w", name, err))
	}
	v.r = bufio.NewReaderSize(f, 64<<10)
	return v, nil
}

func (v *verifiedFile) Read(p []byte) (int, error) { return v.r.Read(p) }

// Close closes the copy and removes it.
func (v *verifiedFile) Close() error {
	if v.f == nil {
		return nil
	}
	err := v.f.Close()
	if !v.removed {
		if rerr := os.Remove(v.f.Name()); rerr != nil && !errors.Is(rerr, os.ErrNotExist) && err == nil {
			err = rerr
		}
	}
	v.f = nil
	return err
}
