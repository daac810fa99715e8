package bulk

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// pagedLister serves pages in the order its tokens name: page i answers
// token tokens[i-1] ("" for the first request) with keys[i] and the next
// token next[i] (truncated when next[i] is not "").
type pagedLister struct {
	keys  [][]string
	token []string // the token that asks for page i
	next  []string
	calls int
}

func (p *pagedLister) ListObjectsV2(_ context.Context, in *s3.ListObjectsV2Input, _ ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	p.calls++
	if p.calls > 1000 {
		return nil, errors.New("listed 1000 pages: the listing loops")
	}
	for i, tok := range p.token {
		if tok != aws.ToString(in.ContinuationToken) {
			continue
		}
		out := &s3.ListObjectsV2Output{IsTruncated: aws.Bool(p.next[i] != ""), NextContinuationToken: aws.String(p.next[i])}
		for _, k := range p.keys[i] {
			out.Contents = append(out.Contents, s3types.Object{Key: aws.String(k)})
		}
		return out, nil
	}
	return nil, fmt.Errorf("unknown token %q", aws.ToString(in.ContinuationToken))
}

func listAll(m Manifest) (keys []string, err error) {
	for {
		t, err := m.Next(context.Background())
		if errors.Is(err, io.EOF) {
			return keys, nil
		}
		if err != nil {
			return keys, err
		}
		keys = append(keys, t.Key)
	}
}

// A listing of several pages is read to its end; tokens that cycle
// through three pages (A, B, C, A, ...) are a *ListingError after a
// bounded number of pages, not an endless job.
func TestListingTokenCycleRefused(t *testing.T) {
	ok := &pagedLister{keys: [][]string{{"p/1"}, {"p/2"}, {"p/3"}}, token: []string{"", "A", "B"}, next: []string{"A", "B", ""}}
	if keys, err := listAll(List(ok, "bkt", "p/")); err != nil || strings.Join(keys, " ") != "p/1 p/2 p/3" {
		t.Fatalf("three pages: %v, %v", keys, err)
	}
	cyc := &pagedLister{keys: [][]string{{"p/0"}, {"p/1"}, {"p/2"}, {"p/3"}}, token: []string{"", "A", "B", "C"}, next: []string{"A", "B", "C", "A"}}
	keys, err := listAll(List(cyc, "bkt", "p/"))
	if !errors.Is(err, ErrListing) || !strings.Contains(err.Error(), "continuation token") {
		t.Fatalf("cycling tokens: %d keys, %d calls, error %v; want a *ListingError", len(keys), cyc.calls, err)
	}
	if cyc.calls > 16 {
		t.Fatalf("the cycle of 3 pages was found after %d pages", cyc.calls)
	}
}

// A key outside the prefix listed is a lying server's: a *ListingError,
// not a task against an object the job was not pointed at.
func TestListingKeyOutsidePrefixRefused(t *testing.T) {
	l := &pagedLister{keys: [][]string{{"p/1", "secret/payroll.csv"}}, token: []string{""}, next: []string{""}}
	keys, err := listAll(List(l, "bkt", "p/"))
	var le *ListingError
	if !errors.As(err, &le) || !strings.Contains(err.Error(), "secret/payroll.csv") {
		t.Fatalf("keys %v, error %v; want a *ListingError naming the key", keys, err)
	}
	for _, k := range keys {
		if !strings.HasPrefix(k, "p/") {
			t.Fatalf("task for key %q outside the prefix", k)
		}
	}
}

// panicManifest panics on its second Next.
type panicManifest struct{ n int }

func (m *panicManifest) Next(context.Context) (Task, error) {
	m.n++
	if m.n == 2 {
		var rows []string
		_ = rows[3] // index out of range, as a broken reader would
	}
	return Task{Bucket: "b", Key: fmt.Sprint("k", m.n), Seq: int64(m.n - 1)}, nil
}
func (m *panicManifest) Close() error { return nil }

// A manifest whose Next panics on Run's reader goroutine makes Run return
// an error (the process lives on); the task read before it has its result.
func TestRunManifestPanicIsError(t *testing.T) {
	sum, err := Run(context.Background(), &panicManifest{}, opFunc(func(ctx context.Context, t Task) Result {
		return Result{Task: t, Outcome: Done, Reason: "ok"}
	}), RunOptions{Concurrency: 2})
	if err == nil || !strings.Contains(err.Error(), "panicked") || !strings.Contains(err.Error(), "index out of range") {
		t.Fatalf("Run: %v", err)
	}
	if sum.Total != 1 || sum.Watermark != 0 {
		t.Fatalf("summary %v", sum)
	}
}

// The duplicate-column refusal names the column; a schema's column count
// is its entries, so a row with fewer fields is a *ManifestError.
func TestInventorySchemaColumns(t *testing.T) {
	doc, src := attackInventory(t, "Bucket, Key, Key", gzipped(t, "src,a,b\n"), -1)
	if _, err := ReadInventory(context.Background(), src, doc); !errors.Is(err, ErrManifest) || !strings.Contains(err.Error(), `"Key" twice`) {
		t.Fatalf("duplicate Key: %v", err)
	}
	doc, src = attackInventory(t, "Bucket, Key, Size", gzipped(t, "src,a\n"), -1)
	m, err := ReadInventory(context.Background(), src, doc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := drain(m); !errors.Is(err, ErrManifest) || !strings.Contains(err.Error(), "2 columns, fileSchema names 3") {
		t.Fatalf("short row: %v", err)
	}
}

// Version ids: what S3, MinIO and gofakes3 hand out is read; anything
// that is not a URL-ready opaque id (a formula, spaces, quotes, over 1024
// bytes) is a *ManifestError naming the line, in a CSV manifest and in an
// inventory.
func TestManifestVersionIds(t *testing.T) {
	for _, v := range []string{"null", "3HL4kqtJlcpXroDTDmjVBH40Nrjfkd", "3/L4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY+MTRCxf3vjVBH40Nrjfkd==",
		"._HvY7w7Wwzc8RqBLFm2y6xzGpX6s8jl", "8a7b2c3d-1e2f-4a5b-9c8d-7e6f5a4b3c2d", "+abc", strings.Repeat("v", 1024)} {
		tk, err := ReadCSV(strings.NewReader("b,k," + v + "\n")).Next(context.Background())
		if err != nil || tk.VersionId != v {
			t.Errorf("version id %q: %+v, %v", v, tk, err)
		}
	}
	for _, v := range []string{"=1+1", "=cmd|' /C calc'!A0", "@SUM(A1)", "a b", "a'b", "a(b)", "a|b", "a!b", "a\tb", "\xff", strings.Repeat("v", 1025)} {
		m := ReadCSV(strings.NewReader("b,k\nb,k," + csvQuote(v) + "\n"))
		m.Next(context.Background())
		_, err := m.Next(context.Background())
		var me *ManifestError
		if !errors.As(err, &me) || me.Line != 2 || !strings.Contains(me.Reason, "version id") {
			t.Errorf("CSV version id %q: %v; want a *ManifestError of line 2", v, err)
		}
		doc, src := attackInventory(t, "Bucket, Key, VersionId", gzipped(t, "src,k,v1\nsrc,k,"+csvQuote(v)+"\n"), -1)
		im, err := ReadInventory(context.Background(), src, doc)
		if err != nil {
			t.Fatal(err)
		}
		tasks, err := drain(im)
		if !errors.As(err, &me) || me.Line != 2 || len(tasks) != 1 {
			t.Errorf("inventory version id %q: tasks %v, %v; want one task then a *ManifestError of line 2", v, tasks, err)
		}
	}
}

func csvQuote(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// No report cell starts a spreadsheet formula: a key is URL-encoded
// ("=cmd|..." as "%3Dcmd%7C...", a leading '-' as %2D) and still reads
// back exactly; bucket, version id (of a caller's Manifest), error code
// and message cells that start with = + - @ get a leading "'".
func TestReportCellsNeutral(t *testing.T) {
	for key, want := range map[string]string{"=cmd|' /C calc'!A0": "%3Dcmd%7C%27%20%2FC%20calc%27%21A0", "-2+3": "%2D2%2B3", "@x": "%40x", "+1": "%2B1", "a-b": "a-b"} {
		if got := EncodeKey(key); got != want {
			t.Errorf("EncodeKey(%q) = %q, want %q", key, got, want)
		}
	}
	var b bytes.Buffer
	r := NewReport(&b)
	r.Write(Result{Task: Task{Bucket: "=b", Key: "-k", VersionId: "=HYPERLINK(\"x\")"}, Status: PermanentFailure, ErrorCode: "+E", Message: "@m"})
	r.Flush()
	line := strings.TrimSuffix(b.String(), "\n")
	for _, cell := range strings.Split(line, ",") {
		if c := strings.TrimPrefix(cell, `"`); c != "" && strings.ContainsRune("=+-@", rune(c[0])) {
			t.Fatalf("report line %q has a formula cell %q", line, cell)
		}
	}
	got, err := ParseReportLine(line)
	if err != nil || got.Key != "-k" {
		t.Fatalf("parsed %+v, %v", got, err)
	}
}
