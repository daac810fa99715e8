package bulk

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
)

// MaxInventoryManifestSize bounds an inventory's manifest.json (it lists
// the data files, a few hundred bytes each).
const MaxInventoryManifestSize = 16 << 20

// ErrUnsupportedFormat is the class of inventory reports in a format this
// package does not read; the *FormatError names it.
var ErrUnsupportedFormat = errors.New("bulk: unsupported inventory format")

// FormatError reports an inventory whose fileFormat is not CSV (ORC and
// Parquet are not read). It matches ErrUnsupportedFormat.
type FormatError struct{ Format string }

func (e *FormatError) Error() string {
	return fmt.Sprintf("bulk: inventory fileFormat %q is not supported: configure the inventory report as CSV", e.Format)
}

// Is makes errors.Is(err, ErrUnsupportedFormat) true.
func (e *FormatError) Is(target error) bool { return target == ErrUnsupportedFormat }

// ErrChecksum is the class of inventory data files whose MD5 or size is
// not the one manifest.json records; the *ChecksumError names the file.
var ErrChecksum = errors.New("bulk: inventory data file does not match its checksum")

// ChecksumError reports a data file whose content is not the one the
// manifest lists. The tasks read from it before the end were already
// returned: a job that gets this error stops, and the file's objects are
// to be treated as unlisted.
type ChecksumError struct {
	File      string
	Want, Got string // hex MD5, or a size as "N bytes"
}

func (e *ChecksumError) Error() string {
	return fmt.Sprintf("bulk: inventory data file %s: want %s, got %s", e.File, e.Want, e.Got)
}

// Is makes errors.Is(err, ErrChecksum) true.
func (e *ChecksumError) Is(target error) bool { return target == ErrChecksum }

// inventoryManifest is the part of manifest.json that is read.
type inventoryManifest struct {
	SourceBucket      string       `json:"sourceBucket"`
	DestinationBucket string       `json:"destinationBucket"`
	FileFormat        string       `json:"fileFormat"`
	FileSchema        string       `json:"fileSchema"`
	Files             []listedFile `json:"-"` // decodeInventoryManifest
}

// listedFile is one data file manifest.json lists.
type listedFile struct {
	Key         string `json:"key"`
	Size        int64  `json:"size"`
	MD5Checksum string `json:"MD5checksum"`
}

// checkInventoryFile checks one listed data file. Every data file is
// checked before any is read: S3 Inventory always records each file's
// size and MD5, and a file listed without them could hold anything.
func checkInventoryFile(f *listedFile) error {
	switch {
	case f.Key == "":
		return &ManifestError{File: "manifest.json", Reason: "a data file without a key"}
	case f.Size <= 0:
		return &ManifestError{File: "manifest.json", Reason: fmt.Sprintf("data file %s without a size", f.Key)}
	case !isMD5Hex(f.MD5Checksum):
		return &ManifestError{File: "manifest.json", Reason: fmt.Sprintf("data file %s without an MD5checksum of 32 hex digits", f.Key)}
	}
	return nil
}

// decodeInventoryManifest decodes manifest.json, its files list one entry
// at a time, each checked as it is decoded: decoded whole first, a list of
// millions of empty entries cost about 70 times the document's size in
// memory before the first was refused. The members are matched as
// encoding/json matches them (any case; the last of a name given twice).
func decodeInventoryManifest(doc []byte) (*inventoryManifest, error) {
	bad := func(err error) error {
		return &ManifestError{File: "manifest.json", Reason: "not an inventory manifest: " + err.Error()}
	}
	var top struct {
		inventoryManifest
		Files json.RawMessage `json:"files"`
	}
	if err := json.Unmarshal(doc, &top); err != nil {
		return nil, bad(err)
	}
	im := top.inventoryManifest
	if len(top.Files) == 0 || string(top.Files) == "null" {
		return &im, nil
	}
	dec := json.NewDecoder(bytes.NewReader(top.Files))
	if t, err := dec.Token(); err != nil {
		return nil, bad(err)
	} else if d, ok := t.(json.Delim); !ok || d != '[' {
		return nil, bad(errors.New("files is not a list"))
	}
	for dec.More() {
		var f listedFile
		if err := dec.Decode(&f); err != nil {
			return nil, bad(err)
		}
		if err := checkInventoryFile(&f); err != nil {
			return nil, err
		}
		im.Files = append(im.Files, f)
	}
	return &im, nil
}

// ReadInventory reads an S3 Inventory report: manifestJSON is the text of
// its manifest.json, and src opens the data files it lists (in the
// destination bucket the manifest names). Only the CSV format is read
// (ORC and Parquet fail with a *FormatError). The gzip-compressed CSV
// files are read one after another, columns as fileSchema names them
// (Bucket and Key are required; VersionId, IsLatest, IsDeleteMarker are
// used when present; a schema that names a column twice is a
// *ManifestError), keys URL-decoded. A row of another bucket than the
// manifest's sourceBucket, or with a version id that is not an S3
// version id (see ReadCSV), is a *ManifestError. Delete markers are skipped;
// versions that are not the latest come with Task.NotLatest set. Every
// file must be listed with its size and MD5checksum (as S3 Inventory lists
// them), manifest.json must name the sourceBucket, and fileSchema may name
// at most MaxSchemaColumns columns, else ReadInventory fails with a
// *ManifestError before any file is read. Each data file is copied to a
// temporary file (created 0600 in os.TempDir, $TMPDIR on Unix, removed
// once the file's rows are read, and on Unix unlinked at once, while
// open) and its size and MD5 are checked against manifest.json before any
// of its rows is read: a mismatch makes Next fail with a *ChecksumError,
// and no row of that file becomes a task.
// (Open reads an inventory from S3 only when destinationBucket names the
// bucket its manifest.json is in.) The data files are opened by Next,
// with its context; ReadInventory
// itself reads nothing (ctx is for symmetry with Open).
func ReadInventory(ctx context.Context, src Source, manifestJSON string) (Manifest, error) {
	return readInventory(src, []byte(manifestJSON), "")
}

func readInventory(src Source, doc []byte, defaultBucket string) (Manifest, error) {
	if len(doc) > MaxInventoryManifestSize {
		return nil, &ManifestError{File: "manifest.json", Reason: "larger than 16 MiB"}
	}
	im, err := decodeInventoryManifest(doc)
	if err != nil {
		return nil, err
	}
	if im.SourceBucket == "" {
		// S3 Inventory always names the bucket it lists, and every row is
		// held to it: without it, one inventory could send a job to any
		// bucket its credentials reach.
		return nil, &ManifestError{File: "manifest.json", Reason: "no sourceBucket"}
	}
	if reason := checkBucket(im.SourceBucket); reason != "" {
		return nil, &ManifestError{File: "manifest.json", Reason: "sourceBucket: " + reason}
	}
	if !strings.EqualFold(im.FileFormat, "CSV") {
		return nil, &FormatError{Format: im.FileFormat}
	}
	if n := strings.Count(im.FileSchema, ",") + 1; n > MaxSchemaColumns {
		// S3 Inventory has about twenty fields; no row of a data file
		// could hold more than MaxLineLength/1 of them anyway.
		return nil, &ManifestError{File: "manifest.json", Reason: fmt.Sprintf("fileSchema names %d columns, at most %d allowed", n, MaxSchemaColumns)}
	}
	names := strings.Split(im.FileSchema, ",")
	cols := make(map[string]int, len(names))
	for i, c := range names {
		c = strings.TrimSpace(c)
		if _, dup := cols[c]; dup {
			// Two columns of one name: which one holds the value is a
			// guess, and a row could name the object twice.
			return nil, &ManifestError{File: "manifest.json", Reason: fmt.Sprintf("fileSchema names column %q twice", c)}
		}
		cols[c] = i
	}
	// A row has one field per schema entry (the index of every named
	// column is below it).
	m := &inventory{src: src, im: im, ncols: len(names), bucketCol: -1, keyCol: -1, versionCol: -1, latestCol: -1, markerCol: -1}
	for name, p := range map[string]*int{"Bucket": &m.bucketCol, "Key": &m.keyCol, "VersionId": &m.versionCol, "IsLatest": &m.latestCol, "IsDeleteMarker": &m.markerCol} {
		if i, ok := cols[name]; ok {
			*p = i
		}
	}
	if m.bucketCol < 0 || m.keyCol < 0 {
		return nil, &ManifestError{File: "manifest.json", Reason: "fileSchema lacks Bucket or Key"}
	}
	m.bucket = defaultBucket
	if b, ok := strings.CutPrefix(im.DestinationBucket, "arn:aws:s3:::"); ok && b != "" {
		m.bucket = b
	} else if im.DestinationBucket != "" && !strings.HasPrefix(im.DestinationBucket, "arn:") {
		m.bucket = im.DestinationBucket
	}
	if defaultBucket != "" && m.bucket != defaultBucket {
		// S3 Inventory writes manifest.json into the destination bucket,
		// beside its data files. One read from bucket A that names
		// another is not read on: it would point the job's credentials at
		// files (and so at objects) in a bucket its writer may not read.
		return nil, &ManifestError{File: "manifest.json", Reason: fmt.Sprintf("destinationBucket %q is not the bucket %q it was read from", im.DestinationBucket, defaultBucket)}
	}
	return m, nil
}

// MaxSchemaColumns bounds the columns an inventory's fileSchema may name.
const MaxSchemaColumns = 1024

func isMD5Hex(s string) bool {
	if len(s) != 2*md5.Size {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

type inventory struct {
	src                                                 Source
	im                                                  *inventoryManifest
	bucket                                              string // of the data files
	ncols                                               int
	bucketCol, keyCol, versionCol, latestCol, markerCol int

	file int // index of the next file to open
	cur  *inventoryFile
	seq  int64
	err  error
}

type inventoryFile struct {
	name  string
	copy  *verifiedFile
	gz    *gzip.Reader
	lines *lineReader
}

func (m *inventory) Next(ctx context.Context) (Task, error) {
	if m.err != nil {
		return Task{}, m.err
	}
	t, err := m.next(ctx)
	if err != nil {
		m.err = err
		m.closeFile()
	}
	return t, err
}

func (m *inventory) next(ctx context.Context) (Task, error) {
	for {
		if err := ctx.Err(); err != nil {
			return Task{}, err
		}
		if m.cur == nil {
			if m.file >= len(m.im.Files) {
				return Task{}, io.EOF
			}
			if err := m.open(ctx); err != nil {
				return Task{}, err
			}
		}
		line, err := m.cur.lines.next()
		if errors.Is(err, io.EOF) {
			m.closeFile()
			continue
		}
		if err != nil {
			var me *ManifestError
			var ce *ChecksumError
			if errors.As(err, &me) || errors.As(err, &ce) {
				return Task{}, err
			}
			return Task{}, fmt.Errorf("bulk: inventory data file %s: %w", m.cur.name, err)
		}
		if len(line) == 0 {
			continue
		}
		t, keep, err := m.task(line)
		if err != nil {
			return Task{}, err
		}
		if keep {
			return t, nil
		}
	}
}

func (m *inventory) open(ctx context.Context) error {
	f := m.im.Files[m.file]
	m.file++
	if f.Key == "" {
		return &ManifestError{File: "manifest.json", Reason: "a data file without a key"}
	}
	body, err := m.src.Open(ctx, m.bucket, f.Key)
	if err != nil {
		return fmt.Errorf("bulk: inventory data file %s: %w", f.Key, err)
	}
	// The rows are read only from a copy whose size and MD5 are those
	// manifest.json lists: streaming them from the source would run a
	// forged file's rows before its end shows the forgery, and a second
	// read of the source could give other bytes than the ones checked.
	vf, err := copyVerified(body, f.Key, f.Size, f.MD5Checksum)
	body.Close()
	if err != nil {
		return err
	}
	gz, err := gzip.NewReader(vf)
	if err != nil {
		vf.Close()
		return &ManifestError{File: f.Key, Reason: "not gzip: " + err.Error()}
	}
	m.cur = &inventoryFile{name: f.Key, copy: vf, gz: gz, lines: newLineReader(gz, f.Key)}
	return nil
}

func (m *inventory) closeFile() {
	if m.cur != nil {
		m.cur.gz.Close()
		m.cur.copy.Close()
		m.cur = nil
	}
}

// task decodes one data-file row; keep is false for a delete marker.
func (m *inventory) task(line []byte) (Task, bool, error) {
	f := m.cur
	bad := func(reason string) (Task, bool, error) {
		return Task{}, false, &ManifestError{File: f.name, Line: f.lines.n, Reason: reason}
	}
	fields, err := splitCSVLine(line)
	if err != nil {
		return bad(err.Error())
	}
	if len(fields) != m.ncols {
		return bad(fmt.Sprintf("%d columns, fileSchema names %d", len(fields), m.ncols))
	}
	col := func(i int) string {
		if i < 0 {
			return ""
		}
		return fields[i]
	}
	if strings.EqualFold(col(m.markerCol), "true") {
		return Task{}, false, nil
	}
	t := Task{Bucket: col(m.bucketCol), VersionId: col(m.versionCol), Seq: m.seq}
	if reason := checkBucket(t.Bucket); reason != "" {
		return bad(reason)
	}
	if sb := m.im.SourceBucket; sb != "" && t.Bucket != sb {
		// An inventory lists one bucket: a row of another is forged or
		// misplaced, and is not run against a bucket the job was not
		// pointed at.
		return bad(fmt.Sprintf("row names bucket %q, the inventory is of bucket %q", t.Bucket, sb))
	}
	if reason := checkVersionId(t.VersionId); reason != "" {
		return bad(reason)
	}
	if t.Key, err = url.QueryUnescape(col(m.keyCol)); err != nil {
		return bad("key is not URL-encoded")
	}
	if t.Key == "" {
		return bad("empty key")
	}
	t.NotLatest = strings.EqualFold(col(m.latestCol), "false")
	m.seq++
	return t, true, nil
}

func (m *inventory) Close() error {
	m.closeFile()
	if m.err == nil {
		m.err = errors.New("bulk: manifest closed")
	}
	return nil
}
