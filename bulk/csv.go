package bulk

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
)

// MaxLineLength is the longest manifest line read (a CSV row of a Batch
// manifest or of an inventory data file). S3 keys are at most 1024 bytes,
// 3 KiB URL-encoded; a longer line is refused before it is buffered whole.
const MaxLineLength = 64 << 10

// ReadCSV reads a manifest in the S3 Batch Operations CSV format: one
// object per line, "bucket,key" or "bucket,key,versionId", with the key
// URL-encoded (decoded as url.QueryUnescape does, '+' being a space, as S3
// Batch Operations decodes it). A version id must look like one S3 and
// S3-compatible servers hand out (at most MaxVersionIdLength bytes of
// letters, digits and ". _ - + / =", not starting with '=', or "null"):
// it is copied into the report verbatim, so anything else (a spreadsheet
// formula, say) is refused. Fields may be quoted; blank lines are
// ignored. A malformed line makes Next fail with a *ManifestError naming
// it. Close closes r when it is an io.Closer.
func ReadCSV(r io.Reader) Manifest {
	return &csvManifest{lines: newLineReader(r, ""), closer: r}
}

type csvManifest struct {
	lines  *lineReader
	closer io.Reader
	seq    int64
	err    error
}

func (m *csvManifest) Next(ctx context.Context) (Task, error) {
	if m.err != nil {
		return Task{}, m.err
	}
	for {
		if err := ctx.Err(); err != nil {
			return Task{}, err
		}
		line, err := m.lines.next()
		if err != nil {
			m.err = err
			return Task{}, err
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		fields, err := splitCSVLine(line)
		if err != nil {
			return Task{}, m.fail(err.Error())
		}
		if len(fields) != 2 && len(fields) != 3 {
			return Task{}, m.fail("want bucket,key[,versionId]")
		}
		t := Task{Bucket: fields[0], Seq: m.seq}
		if reason := checkBucket(t.Bucket); reason != "" {
			return Task{}, m.fail(reason)
		}
		if t.Key, err = url.QueryUnescape(fields[1]); err != nil {
			return Task{}, m.fail("key is not URL-encoded")
		}
		if t.Key == "" {
			return Task{}, m.fail("empty key")
		}
		if len(fields) == 3 {
			t.VersionId = fields[2]
			if reason := checkVersionId(t.VersionId); reason != "" {
				return Task{}, m.fail(reason)
			}
		}
		m.seq++
		return t, nil
	}
}

// checkBucket returns why b is not a bucket name a manifest may hold, or
// "". S3's rules, widened to the legacy names of us-east-1 (upper case and
// '_', up to 255 bytes): letters, digits, '.', '_' and '-', starting with
// a letter or a digit. So no report cell of a bucket can start a
// spreadsheet formula.
func checkBucket(b string) string {
	switch {
	case b == "":
		return "empty bucket"
	case len(b) > 255:
		return "bucket name longer than 255 bytes"
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '.' && c != '_' && c != '-') {
			return fmt.Sprintf("%q is not a bucket name", b)
		}
	}
	return ""
}

// MaxVersionIdLength is the longest version id a manifest may hold (S3
// documents version ids as URL-ready opaque strings of at most 1024
// bytes).
const MaxVersionIdLength = 1024

// checkVersionId returns why v is not a version id a manifest may hold,
// or "" (an empty v, the current version, is fine). S3 version ids are
// URL-ready opaque strings (base64-like: letters, digits, '.', '_', '-',
// '+', '/', '=' as padding; MinIO's are UUIDs; "null" names the null
// version). Without '(', '|', '!', quotes, spaces or a leading '=' or
// '@', such a cell cannot call a spreadsheet function or a DDE link when
// the report is opened in a spreadsheet.
func checkVersionId(v string) string {
	if v == "" {
		return ""
	}
	if len(v) > MaxVersionIdLength {
		return "version id longer than 1024 bytes"
	}
	if v[0] == '=' {
		return "version id starts with '='"
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '.' || c == '_' || c == '-' || c == '+' || c == '/' || c == '=':
		default:
			return fmt.Sprintf("version id holds %q, not a character of S3 version ids", rune(c))
		}
	}
	return ""
}

// fail makes every later Next fail too: a manifest that cannot be read is
// not resumed past a bad line.
func (m *csvManifest) fail(reason string) error {
	m.err = &ManifestError{File: m.lines.file, Line: m.lines.n, Reason: reason}
	return m.err
}

func (m *csvManifest) Close() error {
	if c, ok := m.closer.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

// lineReader reads lines of at most MaxLineLength bytes.
type lineReader struct {
	r    *bufio.Reader
	file string
	n    int64 // lines read
}

func newLineReader(r io.Reader, file string) *lineReader {
	return &lineReader{r: bufio.NewReaderSize(r, MaxLineLength), file: file}
}

// next returns the next line without its line ending; the slice is valid
// until the next call. io.EOF after the last line.
func (l *lineReader) next() ([]byte, error) {
	line, err := l.r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		l.n++
		return nil, &ManifestError{File: l.file, Line: l.n, Reason: "line longer than 64 KiB"}
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	if len(line) == 0 && errors.Is(err, io.EOF) {
		return nil, io.EOF
	}
	l.n++
	line = bytes.TrimSuffix(line, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))
	if l.n == 1 {
		line = bytes.TrimPrefix(line, []byte("\ufeff")) // a UTF-8 byte-order mark
	}
	return line, nil
}

// splitCSVLine splits one CSV record (RFC 4180 quoting, no newlines inside
// fields).
func splitCSVLine(line []byte) ([]string, error) {
	var fields []string
	s := string(line)
	for {
		if strings.HasPrefix(s, `"`) {
			var b strings.Builder
			s = s[1:]
			for {
				i := strings.IndexByte(s, '"')
				if i < 0 {
					return nil, errors.New("unterminated quoted field")
				}
				b.WriteString(s[:i])
				s = s[i+1:]
				if strings.HasPrefix(s, `"`) {
					b.WriteByte('"')
					s = s[1:]
					continue
				}
				break
			}
			fields = append(fields, b.String())
			if s == "" {
				return fields, nil
			}
			if s[0] != ',' {
				return nil, errors.New("text after a quoted field")
			}
			s = s[1:]
			continue
		}
		i := strings.IndexByte(s, ',')
		if i < 0 {
			if strings.IndexByte(s, '"') >= 0 {
				return nil, errors.New("quote inside an unquoted field")
			}
			return append(fields, s), nil
		}
		if strings.IndexByte(s[:i], '"') >= 0 {
			return nil, errors.New("quote inside an unquoted field")
		}
		fields = append(fields, s[:i])
		s = s[i+1:]
	}
}
