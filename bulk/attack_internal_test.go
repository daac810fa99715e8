package bulk

// Attack tests (issue 12): the manifest writer, the inventory bucket and
// the report reader as adversaries. A test here fails while the job layer
// is vulnerable.

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
	"runtime"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// memSource is a Source over in-memory files that records what was opened.
type memSource struct {
	files  map[string][]byte // "bucket/key"
	opened []string
}

func (s *memSource) Open(_ context.Context, bucket, key string) (io.ReadCloser, error) {
	s.opened = append(s.opened, bucket+"/"+key)
	b, ok := s.files[bucket+"/"+key]
	if !ok {
		return nil, fmt.Errorf("no such file %s/%s", bucket, key)
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

func gzipped(t *testing.T, text string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := io.WriteString(zw, text); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// attackInventory is a manifest.json of one data file in bucket "inv",
// with the given schema and size (size < 0: the real size).
func attackInventory(t *testing.T, schema string, data []byte, size int64) (string, *memSource) {
	t.Helper()
	if size < 0 {
		size = int64(len(data))
	}
	sum := md5.Sum(data)
	doc, err := json.Marshal(map[string]any{
		"sourceBucket": "src", "destinationBucket": "arn:aws:s3:::inv", "fileFormat": "CSV", "fileSchema": schema,
		"files": []map[string]any{{"key": "data/1.csv.gz", "size": size, "MD5checksum": hex.EncodeToString(sum[:])}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return string(doc), &memSource{files: map[string][]byte{"inv/data/1.csv.gz": data}}
}

// drain reads m to its end; it reports a panic as an error so that the
// test can say what happened.
func drain(m Manifest) (tasks []Task, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("PANIC: %v", p)
		}
	}()
	for {
		t, err := m.Next(context.Background())
		if errors.Is(err, io.EOF) {
			return tasks, nil
		}
		if err != nil {
			return tasks, err
		}
		tasks = append(tasks, t)
	}
}

// An inventory's fileSchema that names a column twice must not make the
// reader index past a row: a typed *ManifestError, never a panic (the
// manifest is read on Run's reader goroutine, outside runOne's recover, so
// a panic there kills the CLI).
func TestAttackInventoryDuplicateSchemaColumnNoPanic(t *testing.T) {
	for _, schema := range []string{"Bucket, Key, Key", "Bucket, Key, Size, Bucket", "Key, Bucket, Key, Bucket"} {
		n := len(strings.Split(schema, ","))
		// Rows with as many columns as the reader believes the schema has.
		cols := n - 1
		if schema == "Key, Bucket, Key, Bucket" {
			cols = 2
		}
		row := strings.TrimSuffix(strings.Repeat("src,", cols), ",")
		doc, src := attackInventory(t, schema, gzipped(t, row+"\n"), -1)
		m, err := ReadInventory(context.Background(), src, doc)
		if err != nil {
			if !errors.Is(err, ErrManifest) {
				t.Fatalf("%q: %v, want a *ManifestError", schema, err)
			}
			continue
		}
		tasks, err := drain(m)
		if err == nil || !errors.Is(err, ErrManifest) {
			t.Fatalf("fileSchema %q, row %q: tasks %v, error %v; want a *ManifestError", schema, row, tasks, err)
		}
	}
}

// An inventory lists the objects of its sourceBucket: a data-file row that
// names another bucket is a forged or foreign row and must be refused, not
// run against that bucket.
func TestAttackInventoryRowForAnotherBucketRefused(t *testing.T) {
	doc, src := attackInventory(t, "Bucket, Key", gzipped(t, "src,mine\nvictim,secret%2Fpayroll.csv\n"), -1)
	m, err := ReadInventory(context.Background(), src, doc)
	if err != nil {
		t.Fatal(err)
	}
	tasks, err := drain(m)
	for _, tk := range tasks {
		if tk.Bucket != "src" {
			t.Fatalf("the inventory of bucket src yielded a task for bucket %q (key %q): rows of another bucket than sourceBucket are not refused", tk.Bucket, tk.Key)
		}
	}
	if !errors.Is(err, ErrManifest) {
		t.Fatalf("error %v, want a *ManifestError for the foreign row", err)
	}
}

// A gzip bomb (a small data file that inflates to 64 MiB without a line
// break) is refused at the 64 KiB line bound without inflating it into
// memory.
func TestAttackInventoryGzipBombBounded(t *testing.T) {
	var b bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
	chunk := bytes.Repeat([]byte("a"), 1<<20)
	for range 64 {
		zw.Write(chunk)
	}
	zw.Close()
	doc, src := attackInventory(t, "Bucket, Key", b.Bytes(), -1)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	m, err := ReadInventory(context.Background(), src, doc)
	if err != nil {
		t.Fatal(err)
	}
	_, err = drain(m)
	runtime.ReadMemStats(&after)
	var me *ManifestError
	if !errors.As(err, &me) || !strings.Contains(me.Reason, "64 KiB") {
		t.Fatalf("error %v, want the line bound", err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 4<<20 {
		t.Fatalf("reading the bomb allocated %d bytes", grew)
	}
}

// A size field of 2^62 (or negative) is only compared, never allocated
// from; 2^62 is a *ChecksumError before any row of the file is read.
func TestAttackInventoryHugeSizeField(t *testing.T) {
	data := gzipped(t, "src,a\nsrc,b\n")
	doc, src := attackInventory(t, "Bucket, Key", data, 1<<62)
	m, err := ReadInventory(context.Background(), src, doc)
	if err != nil {
		t.Fatal(err)
	}
	tasks, err := drain(m)
	if !errors.Is(err, ErrChecksum) || len(tasks) != 0 {
		t.Fatalf("tasks %v, error %v; want a *ChecksumError and no task", tasks, err)
	}
	// The data file must come from the inventory's own bucket.
	if len(src.opened) != 1 || src.opened[0] != "inv/data/1.csv.gz" {
		t.Fatalf("opened %v", src.opened)
	}
}

// Hostile CSV manifest rows: each is read exactly (one meaning) or is a
// *ManifestError that stops the job there (sticky: no later row runs).
func TestAttackCSVManifestRows(t *testing.T) {
	for _, c := range []struct {
		in   string
		want *Task // nil: ManifestError
	}{
		{"\ufeffb,k\r\n", &Task{Bucket: "b", Key: "k"}},
		{"b,a+b\n", &Task{Bucket: "b", Key: "a b"}},
		{"b,a%2Bb\n", &Task{Bucket: "b", Key: "a+b"}},
		{"b,%2525\n", &Task{Bucket: "b", Key: "%25"}},
		{`"b","a%2C""b",v1` + "\n", &Task{Bucket: "b", Key: `a,"b`, VersionId: "v1"}},
		{"b,a.instruction\n", &Task{Bucket: "b", Key: "a.instruction"}},
		{"b,%zz\n", nil},
		{"b,%\n", nil},
		{"b,\n", nil},
		{",k\n", nil},
		{"b\n", nil},
		{"b,k,v,x\n", nil},
		{"b,k\"x\n", nil},
		{"\"b,k\n", nil},
		{"b,\"k\"x\n", nil},
		{"b," + strings.Repeat("k", MaxLineLength) + "\n", nil},
	} {
		m := ReadCSV(strings.NewReader(c.in + "b,after\n"))
		tk, err := m.Next(context.Background())
		if c.want == nil {
			if !errors.Is(err, ErrManifest) {
				t.Errorf("%q: task %+v, error %v; want a *ManifestError", c.in, tk, err)
				continue
			}
			if _, err2 := m.Next(context.Background()); !errors.Is(err2, ErrManifest) {
				t.Errorf("%q: after the error the next row is read (%v)", c.in, err2)
			}
			continue
		}
		if err != nil || tk != *c.want {
			t.Errorf("%q: task %+v, error %v; want %+v", c.in, tk, err, *c.want)
		}
	}
}

// Report lines name the object they are about exactly, whatever its key:
// commas, quotes, line breaks, '+', '%', NUL, invalid UTF-8, formula
// prefixes; and a key cell never starts with a spreadsheet formula
// character.
func TestAttackReportRoundTripHostileKeys(t *testing.T) {
	for _, key := range []string{
		"=cmd|' /C calc'!A0", "+1", "-1", "@SUM(A1)", "a,b", `a"b`, "a\nb\r\n", "a+b c", "%41", "\x00", "\xff\xfe",
		"dir/file.instruction", strings.Repeat("ü", 600),
	} {
		var b bytes.Buffer
		r := NewReport(&b)
		res := Result{Task: Task{Bucket: "b", Key: key, VersionId: "v"}, Status: PermanentFailure, ErrorCode: "E", HTTPStatus: 403,
			Message: "line1\nline2,\"=x\""}
		if err := r.Write(res); err != nil {
			t.Fatal(err)
		}
		if err := r.Flush(); err != nil {
			t.Fatal(err)
		}
		line := strings.TrimSuffix(b.String(), "\n")
		if strings.Count(line, "\n") != 0 {
			t.Fatalf("key %q: report line spans lines: %q", key, line)
		}
		got, err := ParseReportLine(line)
		if err != nil {
			t.Fatalf("key %q: %v", key, err)
		}
		if got.Key != key || got.Bucket != "b" || got.VersionId != "v" || got.HTTPStatus != 403 || got.Status != PermanentFailure {
			t.Fatalf("key %q: parsed back as %+v", key, got.Task)
		}
		if strings.ContainsAny(EncodeKey(key)[:1], "=+@") {
			t.Fatalf("key %q: key cell %q starts with a formula character", key, EncodeKey(key))
		}
	}
}

// A version id from a manifest is copied into the report verbatim: it must
// look like an S3 version id, or a manifest writer can put a spreadsheet
// formula (CSV injection) into the report that an operator opens.
func TestAttackManifestVersionIdFormulaInjection(t *testing.T) {
	m := ReadCSV(strings.NewReader("b,k,=cmd|' /C calc'!A0\n"))
	tk, err := m.Next(context.Background())
	if errors.Is(err, ErrManifest) {
		return // refused: withstood
	}
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	r := NewReport(&b)
	r.Write(Result{Task: tk, Status: PermanentFailure, ErrorCode: "InvalidArgument", HTTPStatus: 400, Message: "x"})
	r.Flush()
	for _, cell := range strings.Split(b.String(), ",") {
		if strings.HasPrefix(strings.TrimPrefix(cell, `"`), "=") {
			t.Fatalf("report line %q holds a formula cell from the manifest's version id", b.String())
		}
	}
}

// Shard arithmetic at the edges: N=1 is the identity, K=N-1 and K=0 are
// real shards, and K or N out of range is an error before any task.
func TestAttackShardEdges(t *testing.T) {
	rows := ""
	for i := range 200 {
		rows += fmt.Sprintf("b,k%d\n", i)
	}
	count := func(k, n int) (int, error) {
		ts, err := drain(Shard(ReadCSV(strings.NewReader(rows)), k, n))
		return len(ts), err
	}
	if n, err := count(0, 1); n != 200 || err != nil {
		t.Fatalf("0/1: %d tasks, %v", n, err)
	}
	total := 0
	for k := range 7 {
		n, err := count(k, 7)
		if err != nil {
			t.Fatal(err)
		}
		total += n
	}
	if total != 200 {
		t.Fatalf("shards of 7 cover %d of 200 tasks", total)
	}
	for _, kn := range [][2]int{{-1, 3}, {3, 3}, {0, 0}, {0, -2}, {-1, 1}, {1, 1}} {
		n, err := count(kn[0], kn[1])
		if err == nil || n != 0 || strings.Contains(err.Error(), "PANIC") {
			t.Fatalf("shard %d/%d: %d tasks, error %v; want an error before any task", kn[0], kn[1], n, err)
		}
	}
	// Skip with a tampered (negative) resume point runs everything.
	if ts, err := drain(Skip(ReadCSV(strings.NewReader(rows)), -5)); len(ts) != 200 || err != nil {
		t.Fatalf("Skip(-5): %d tasks, %v", len(ts), err)
	}
}

// loopLister is a lying ListObjectsV2: every page says "truncated" and
// hands back the same continuation token, and its keys look like other
// buckets' or encoded keys.
type loopLister struct{ calls int }

func (l *loopLister) ListObjectsV2(_ context.Context, in *s3.ListObjectsV2Input, _ ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	l.calls++
	return &s3.ListObjectsV2Output{
		Contents:              []s3types.Object{{Key: aws.String("../other-bucket/k")}, {Key: aws.String("a%2Fb")}},
		IsTruncated:           aws.Bool(true),
		NextContinuationToken: aws.String("same-token"),
	}, nil
}

// A listing's keys are taken verbatim (never decoded, never another
// bucket), and a server that repeats its continuation token must not make
// the job relist the same page forever.
func TestAttackListingLoopsAndForeignKeys(t *testing.T) {
	l := &loopLister{}
	m := List(l, "bkt", "")
	seen := 0
	for seen < 10000 {
		tk, err := m.Next(context.Background())
		if err != nil {
			break
		}
		if tk.Bucket != "bkt" || (tk.Key != "../other-bucket/k" && tk.Key != "a%2Fb") {
			t.Fatalf("task %+v", tk)
		}
		seen++
	}
	if seen >= 10000 {
		t.Fatalf("a repeated continuation token relisted the same page %d times (%d tasks): the job never ends", l.calls, seen)
	}
}
