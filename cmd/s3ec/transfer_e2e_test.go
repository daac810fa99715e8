package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// End-to-end tests of the aws s3 parity commands and flags (issue 13):
// ls, rm, mv, sync, filters, --dryrun, the per-file output, the object
// settings and S3 to S3 copies, run as the built binary against the
// in-process S3 server or S3EC_TEST_S3_ENDPOINT's.

// keys lists the keys under prefix, as S3 holds them.
func (w *world) keys(prefix string) []string {
	w.t.Helper()
	var keys []string
	pages := s3.NewListObjectsV2Paginator(w.plain, &s3.ListObjectsV2Input{Bucket: &w.bucket, Prefix: aws.String(prefix)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(context.Background())
		if err != nil {
			w.t.Fatal(err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	return keys
}

func (w *world) head(key string) *s3.HeadObjectOutput {
	w.t.Helper()
	out, err := w.plain.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &w.bucket, Key: aws.String(key)})
	if err != nil {
		w.t.Fatalf("HEAD %s: %v", key, err)
	}
	return out
}

func (w *world) cat(key string, kr []string) string {
	w.t.Helper()
	return w.run(append([]string{"cat", w.url(key)}, kr...)...).want(w.t, exitOK).stdout
}

func (w *world) localExists(name string) bool {
	_, err := os.Lstat(filepath.Join(w.dir, name))
	return err == nil
}

func lines(s string) []string {
	s = strings.TrimSuffix(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// TestLs lists buckets and objects as 'aws s3 ls' does, with plaintext
// sizes read from the envelopes, instruction files hidden.
func TestLs(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	aes, _ := w.aesKey("k")
	w.writeFile("a.txt", []byte("hello"))
	w.writeFile("big", data(100_000))
	w.writeFile("i.txt", []byte("instruction!"))
	w.run(append([]string{"cp", "a.txt", w.url("a.txt")}, aes...)...).want(t, exitOK)
	w.run(append([]string{"cp", "big", w.url("dir/b.bin")}, aes...)...).want(t, exitOK)
	w.run(append([]string{"cp", "i.txt", w.url("i.txt"), "--instruction-file"}, aes...)...).want(t, exitOK)
	// An encrypted object of its own whose name ends like an instruction
	// file is listed.
	w.run(append([]string{"cp", "a.txt", w.url("a.txt.instruction")}, aes...)...).want(t, exitOK)
	w.putRaw("plain", []byte("plain text"), nil) // not encrypted: 10 bytes
	if !w.exists("i.txt.instruction") {
		t.Fatal("no instruction file")
	}

	row := func(size, name string) *regexp.Regexp {
		return regexp.MustCompile(`(?m)^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d +` + regexp.QuoteMeta(size) + ` ` + regexp.QuoteMeta(name) + `$`)
	}
	r := w.run("ls", "s3://"+w.bucket+"/").want(t, exitOK)
	for _, re := range []*regexp.Regexp{row("5", "a.txt"), row("12", "i.txt"), row("10", "plain"), row("5", "a.txt.instruction"), regexp.MustCompile(`(?m)^ {27}PRE dir/$`)} {
		if !re.MatchString(r.stdout) {
			t.Errorf("ls lacks %v:\n%s", re, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "i.txt.instruction") || len(lines(r.stdout)) != 5 {
		t.Errorf("ls shows the instruction file, or other lines:\n%s", r.stdout)
	}

	r = w.run("ls", "--recursive", "--summarize", "s3://"+w.bucket).want(t, exitOK)
	if !row("100000", "dir/b.bin").MatchString(r.stdout) || !strings.Contains(r.stdout, "\nTotal Objects: 5\n   Total Size: 100032\n") {
		t.Errorf("ls --recursive --summarize:\n%s", r.stdout)
	}
	r = w.run("ls", "-r", "--human-readable", "--summarize", w.url("dir/")).want(t, exitOK)
	if !row("97.7 KiB", "dir/b.bin").MatchString(r.stdout) || !strings.Contains(r.stdout, "Total Size: 97.7 KiB") {
		t.Errorf("ls --human-readable:\n%s", r.stdout)
	}
	r = w.run("ls", "--human-readable", w.url("a")).want(t, exitOK) // what starts with "a"
	if !row("5 Bytes", "a.txt").MatchString(r.stdout) || len(lines(r.stdout)) != 2 {
		t.Errorf("ls of a partial name:\n%s", r.stdout)
	}
	w.run("ls", w.url("nothing/")).want(t, exitNotFound)
	w.run("ls", "s3://no-such-bucket-s3ec/").want(t, exitNotFound)

	r = w.run("ls").want(t, exitOK)
	if !regexp.MustCompile(`(?m)^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d ` + regexp.QuoteMeta(w.bucket) + `$`).MatchString(r.stdout) {
		t.Errorf("ls of the buckets lacks %s:\n%s", w.bucket, r.stdout)
	}

	// An envelope that cannot be read: "?" and a failure, the others listed.
	_, meta := w.raw("a.txt")
	meta["x-amz-key-v2"] = "!!not base64"
	w.putRaw("broken", []byte("0123456789abcdefXXXX"), meta)
	r = w.run("ls", "s3://"+w.bucket+"/")
	if r.code == exitOK || !row("?", "broken").MatchString(r.stdout) || !row("5", "a.txt").MatchString(r.stdout) || !strings.Contains(r.stderr, w.url("broken")) {
		t.Errorf("ls with a broken envelope: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestRm deletes objects with their instruction files, recursively with
// filters, and not in a dry run.
func TestRm(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	aes, _ := w.aesKey("k")
	w.writeFile("f", []byte("x"))
	for _, k := range []string{"r/a", "r/b", "r/sub/keep.log", "rx", "r.txt"} {
		w.run(append([]string{"cp", "f", w.url(k), "--instruction-file"}, aes...)...).want(t, exitOK)
	}
	// An ordinary object named like a's instruction file of another
	// object: a's own is deleted with it, this one is not.
	w.run(append([]string{"cp", "f", w.url("n")}, aes...)...).want(t, exitOK)
	w.run(append([]string{"cp", "f", w.url("n.instruction")}, aes...)...).want(t, exitOK)

	r := w.run("rm", w.url("r/a")).want(t, exitOK)
	if r.stdout != "delete: "+w.url("r/a")+"\n" || w.exists("r/a") || w.exists("r/a.instruction") {
		t.Errorf("rm: %q; r/a %v, its instruction file %v", r.stdout, w.exists("r/a"), w.exists("r/a.instruction"))
	}
	w.run("rm", w.url("n")).want(t, exitOK)
	if w.exists("n") || !w.exists("n.instruction") {
		t.Error("rm of n: n.instruction, an object of its own, was deleted (or n was not)")
	}

	before := w.keys("")
	r = w.run("rm", "-r", "--dryrun", w.url("r")).want(t, exitOK)
	// Deletes run 16 at a time and print as they finish: compare the lines
	// in any order.
	got := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	slices.Sort(got)
	if want := []string{"(dryrun) delete: " + w.url("r/b"), "(dryrun) delete: " + w.url("r/sub/keep.log")}; !slices.Equal(got, want) {
		t.Errorf("rm --dryrun printed %q, want the lines %q", r.stdout, want)
	}
	if !slices.Equal(w.keys(""), before) {
		t.Error("rm --dryrun deleted something")
	}
	r = w.run("rm", "-r", w.url("r"), "--exclude", "*.log").want(t, exitOK)
	if want := "delete: " + w.url("r/b") + "\n1 file deleted\n"; r.stdout != want {
		t.Errorf("rm -r printed %q, want %q", r.stdout, want)
	}
	if got, want := w.keys(""), []string{"n.instruction", "r.txt", "r.txt.instruction", "r/sub/keep.log", "r/sub/keep.log.instruction", "rx", "rx.instruction"}; !slices.Equal(got, want) {
		t.Errorf("after rm -r --exclude: %q, want %q (r/ only, the excluded kept)", got, want)
	}
	r = w.run("rm", "-r", "--quiet", w.url("r/")).want(t, exitOK)
	if r.stdout != "" || len(w.keys("r/")) != 0 || !w.exists("rx") || !w.exists("r.txt") {
		t.Errorf("rm -r --quiet: %q; %q left under r/; rx %v", r.stdout, w.keys("r/"), w.exists("rx"))
	}
}

// TestRmRecursiveStaysInPrefix answers rm -r's listing with a key outside
// the prefix (a lying or broken server): nothing at all is deleted.
func TestRmRecursiveStaysInPrefix(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	aes, _ := w.aesKey("k")
	w.writeFile("f", []byte("x"))
	for _, k := range []string{"p/a", "p/b", "victim"} {
		w.run(append([]string{"cp", "f", w.url(k)}, aes...)...).want(t, exitOK)
	}
	ep := w.proxy(func(rw http.ResponseWriter, r *http.Request, next http.Handler) {
		if r.Method != http.MethodGet || r.URL.Query().Get("list-type") == "" {
			next.ServeHTTP(rw, r)
			return
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		body := strings.Replace(rec.Body.String(), "<Key>p/b</Key>", "<Key>victim</Key>", 1)
		for k, v := range rec.Header() {
			if k != "Content-Length" {
				rw.Header()[k] = v
			}
		}
		rw.WriteHeader(rec.Code)
		io.WriteString(rw, body)
	})
	for _, args := range [][]string{{"rm", "-r", w.url("p/")}, append([]string{"cp", "-r", w.url("p/"), "out"}, aes...), append([]string{"sync", w.url("p/"), "out", "--delete"}, aes...)} {
		r := w.runVia(ep, args...).want(t, exitOther)
		if !strings.Contains(r.stderr, `"victim", which is not under the prefix`) {
			t.Errorf("%v: %s", args, r.stderr)
		}
	}
	if got := w.keys(""); !slices.Equal(got, []string{"p/a", "p/b", "victim"}) {
		t.Errorf("objects left: %q", got)
	}
	if w.localExists("out") {
		t.Error("a refused listing wrote files")
	}
}

// TestMv moves files and objects in every direction: the source goes
// once the destination is complete and checked, with its instruction file.
func TestMv(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	aes, _ := w.aesKey("k")
	w.writeFile("m.txt", []byte("moving"))
	r := w.run(append([]string{"mv", "m.txt", w.url("m/"), "--dryrun"}, aes...)...).want(t, exitOK)
	if r.stdout != "(dryrun) move: ./m.txt to "+w.url("m/m.txt")+"\n" || !w.localExists("m.txt") || len(w.keys("")) != 0 {
		t.Fatalf("mv --dryrun: %q", r.stdout)
	}
	r = w.run(append([]string{"mv", "m.txt", w.url("m/"), "--instruction-file"}, aes...)...).want(t, exitOK)
	if r.stdout != "move: ./m.txt to "+w.url("m/m.txt")+"\n" || w.localExists("m.txt") || w.cat("m/m.txt", aes) != "moving" {
		t.Fatalf("mv up: %q; file left %v", r.stdout, w.localExists("m.txt"))
	}
	r = w.run(append([]string{"mv", w.url("m/m.txt"), w.url("n/m.txt")}, aes...)...).want(t, exitOK)
	if r.stdout != "move: "+w.url("m/m.txt")+" to "+w.url("n/m.txt")+"\n" || w.exists("m/m.txt") || w.exists("m/m.txt.instruction") || !w.exists("n/m.txt.instruction") || w.cat("n/m.txt", aes) != "moving" {
		t.Fatalf("mv within S3: %q; %q", r.stdout, w.keys(""))
	}
	w.run(append([]string{"mv", w.url("n/m.txt"), "back/m.txt"}, aes...)...).want(t, exitOK)
	if string(w.readFile("back/m.txt")) != "moving" || len(w.keys("")) != 0 {
		t.Fatalf("mv down: objects left %q", w.keys(""))
	}

	// Recursive, with filters.
	for _, n := range []string{"a.txt", "b.log", "sub/c.txt"} {
		w.writeFile(filepath.Join("tree", n), []byte(n))
	}
	r = w.run(append([]string{"mv", "-r", "tree", w.url("t/"), "--exclude", "*.log"}, aes...)...).want(t, exitOK)
	if !strings.HasSuffix(r.stdout, "2 files moved (14 B)\n") || !w.localExists("tree/b.log") || w.localExists("tree/a.txt") || w.localExists("tree/sub/c.txt") {
		t.Fatalf("mv -r: %q", r.stdout)
	}
	if got := w.keys("t/"); !slices.Equal(got, []string{"t/a.txt", "t/sub/c.txt"}) {
		t.Fatalf("mv -r stored %q", got)
	}
	w.run(append([]string{"mv", "-r", w.url("t/"), w.url("u/")}, aes...)...).want(t, exitOK)
	if got := w.keys(""); !slices.Equal(got, []string{"u/a.txt", "u/sub/c.txt"}) {
		t.Fatalf("mv -r within S3: %q", got)
	}
	w.run(append([]string{"mv", "-r", w.url("u"), "down"}, aes...)...).want(t, exitOK)
	if len(w.keys("")) != 0 || string(w.readFile("down/sub/c.txt")) != "sub/c.txt" {
		t.Fatalf("mv -r down: %q left", w.keys(""))
	}
	w.run(append([]string{"mv", w.url("x"), w.url("x")}, aes...)...).want(t, exitUsage)
}

// TestMvKeepsSourceUnlessVerified breaks each move after its copy: the
// source must stay whenever the destination is not complete and checked.
func TestMvKeepsSourceUnlessVerified(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	aes, _ := w.aesKey("k")
	var mu sync.Mutex
	fail := func(*http.Request) bool { return false }
	ep := w.proxy(func(rw http.ResponseWriter, r *http.Request, next http.Handler) {
		mu.Lock()
		f := fail
		mu.Unlock()
		if f(r) {
			io.Copy(io.Discard, r.Body)
			rw.WriteHeader(http.StatusNotFound)
			return
		}
		next.ServeHTTP(rw, r)
	})
	set := func(f func(*http.Request) bool) { mu.Lock(); fail = f; mu.Unlock() }
	isDst := func(r *http.Request) bool { return strings.Contains(r.URL.Path, "/dst") }

	// The upload fails.
	w.writeFile("f", []byte("keep me"))
	set(func(r *http.Request) bool { return r.Method == http.MethodPut && isDst(r) })
	if r := w.runVia(ep, append([]string{"mv", "f", w.url("dst")}, aes...)...); r.code == exitOK || !w.localExists("f") {
		t.Fatalf("a failed upload: exit %d, file kept %v", r.code, w.localExists("f"))
	}
	// The upload works, but its check does not.
	set(func(r *http.Request) bool { return r.Method == http.MethodHead && isDst(r) })
	if r := w.runVia(ep, append([]string{"mv", "f", w.url("dst")}, aes...)...); r.code == exitOK || !w.localExists("f") || !strings.Contains(r.stderr, "was kept") {
		t.Fatalf("an unchecked upload: exit %d, file kept %v: %s", r.code, w.localExists("f"), r.stderr)
	}
	// An S3 copy whose instruction file cannot be copied: the copy is
	// removed by the library, the source stays.
	set(func(*http.Request) bool { return false })
	w.run(append([]string{"cp", "f", w.url("src"), "--instruction-file"}, aes...)...).want(t, exitOK)
	set(func(r *http.Request) bool {
		return r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/dst2.instruction")
	})
	if r := w.runVia(ep, append([]string{"mv", w.url("src"), w.url("dst2")}, aes...)...); r.code == exitOK || !w.exists("src") || !w.exists("src.instruction") {
		t.Fatalf("a failed S3 copy: exit %d, %q", r.code, w.keys(""))
	}
	// A damaged object is not downloaded, and stays.
	set(func(*http.Request) bool { return false })
	w.tamper("src", 3)
	w.run(append([]string{"mv", w.url("src"), "got"}, aes...)...).want(t, exitAuth)
	if !w.exists("src") || w.localExists("got") {
		t.Fatal("mv of a damaged object deleted it, or wrote it")
	}
	assertNoTempFiles(t, w.dir)
}

// TestSyncUpload syncs a directory to a prefix: new and changed files
// (by plaintext size and time) go, unchanged ones do not; --size-only,
// --delete, filters and --dryrun.
func TestSyncUpload(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	aes, _ := w.aesKey("k")
	w.writeFile("tree/a.txt", []byte("aaa"))
	w.writeFile("tree/sub/b.txt", data(20_000))
	w.writeFile("tree/skip.log", []byte("log"))
	sync := func(extra ...string) result {
		t.Helper()
		return w.run(append(append([]string{"sync", "tree", w.url("s/"), "--instruction-file", "--exclude", "*.log"}, aes...), extra...)...).want(t, exitOK)
	}
	r := sync()
	if want := "upload: tree/a.txt to " + w.url("s/a.txt") + "\nupload: tree/sub/b.txt to " + w.url("s/sub/b.txt") + "\n2 files uploaded (19.5 KiB)\n"; r.stdout != want {
		t.Fatalf("first sync printed %q, want %q", r.stdout, want)
	}
	if r := sync(); r.stdout != "" {
		t.Fatalf("a sync with nothing to do printed %q", r.stdout)
	}
	// A changed size goes.
	w.writeFile("tree/a.txt", []byte("aaaa"))
	if r := sync(); r.stdout != "upload: tree/a.txt to "+w.url("s/a.txt")+"\n1 file uploaded (4 B)\n" {
		t.Fatalf("after a size change: %q", r.stdout)
	}
	// A newer file of the same size goes, unless --size-only.
	future := time.Now().Add(time.Hour)
	os.Chtimes(filepath.Join(w.dir, "tree/sub/b.txt"), future, future)
	if r := sync("--size-only"); r.stdout != "" {
		t.Fatalf("--size-only copied a same-sized file: %q", r.stdout)
	}
	if r := sync("--dryrun"); r.stdout != "(dryrun) upload: tree/sub/b.txt to "+w.url("s/sub/b.txt")+"\n" {
		t.Fatalf("--dryrun: %q", r.stdout)
	}
	if r := sync(); !strings.HasPrefix(r.stdout, "upload: tree/sub/b.txt to ") {
		t.Fatalf("a newer file was not copied: %q", r.stdout)
	}
	past := time.Now().Add(-time.Hour)
	os.Chtimes(filepath.Join(w.dir, "tree/sub/b.txt"), past, past)
	if r := sync(); r.stdout != "" {
		t.Fatalf("an older file was copied: %q", r.stdout)
	}
	// --delete: what the directory lost goes, with its instruction file;
	// what the filters exclude stays.
	w.run(append([]string{"cp", "tree/skip.log", w.url("s/old.log")}, aes...)...).want(t, exitOK)
	os.Remove(filepath.Join(w.dir, "tree/sub/b.txt"))
	if r := sync("--delete"); r.stdout != "delete: "+w.url("s/sub/b.txt")+"\n1 file deleted\n" {
		t.Fatalf("--delete: %q", r.stdout)
	}
	if got := w.keys("s/"); !slices.Equal(got, []string{"s/a.txt", "s/a.txt.instruction", "s/old.log"}) {
		t.Fatalf("after --delete: %q", got)
	}
	if got := w.cat("s/a.txt", aes); got != "aaaa" {
		t.Fatalf("s/a.txt: %q", got)
	}
}

// TestSyncDownload syncs a prefix to a directory: files take the objects'
// times, an unchanged object is not read again, a newer one is, and
// --exact-timestamps, --delete and filters.
func TestSyncDownload(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	aes, _ := w.aesKey("k")
	w.writeFile("f1", []byte("one"))
	w.writeFile("f2", data(30_000))
	w.run(append([]string{"cp", "f1", w.url("s/a.txt"), "--instruction-file"}, aes...)...).want(t, exitOK)
	w.run(append([]string{"cp", "f2", w.url("s/sub/b.bin")}, aes...)...).want(t, exitOK)
	w.run(append([]string{"cp", "f1", w.url("s/x.log")}, aes...)...).want(t, exitOK)
	sync := func(extra ...string) result {
		t.Helper()
		return w.run(append(append([]string{"sync", w.url("s/"), "down", "--exclude", "*.log"}, aes...), extra...)...).want(t, exitOK)
	}
	r := sync()
	want := "download: " + w.url("s/a.txt") + " to " + filepath.Join("down", "a.txt") + "\ndownload: " + w.url("s/sub/b.bin") + " to " + filepath.Join("down", "sub", "b.bin") + "\n2 files downloaded (29.3 KiB)\n"
	if r.stdout != want {
		t.Fatalf("first sync printed %q, want %q", r.stdout, want)
	}
	if w.localExists("down/x.log") || w.localExists("down/a.txt.instruction") || !bytes.Equal(w.readFile("down/sub/b.bin"), data(30_000)) {
		t.Fatal("sync wrote an excluded object, an instruction file, or the wrong bytes")
	}
	st, _ := os.Stat(filepath.Join(w.dir, "down/a.txt"))
	if lm := aws.ToTime(w.head("s/a.txt").LastModified); !st.ModTime().Equal(lm.Truncate(time.Second)) {
		t.Errorf("the file's time %v is not the object's %v", st.ModTime(), lm)
	}
	if r := sync(); r.stdout != "" {
		t.Fatalf("a sync with nothing to do printed %q", r.stdout)
	}
	// A file older than its object (the object changed since): copied.
	past, future := time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	os.Chtimes(filepath.Join(w.dir, "down/a.txt"), past, past)
	if r := sync(); !strings.HasPrefix(r.stdout, "download: "+w.url("s/a.txt")) {
		t.Fatalf("an object newer than its file was not copied: %q", r.stdout)
	}
	// A file newer than its object: kept, unless --exact-timestamps.
	w.writeFile("down/a.txt", []byte("ONE"))
	os.Chtimes(filepath.Join(w.dir, "down/a.txt"), future, future)
	if r := sync(); r.stdout != "" || string(w.readFile("down/a.txt")) != "ONE" {
		t.Fatalf("a newer file was replaced: %q", r.stdout)
	}
	if r := sync("--exact-timestamps"); !strings.HasPrefix(r.stdout, "download: "+w.url("s/a.txt")) || string(w.readFile("down/a.txt")) != "one" {
		t.Fatalf("--exact-timestamps: %q", r.stdout)
	}
	// A changed size is copied whatever the times.
	w.writeFile("down/sub/b.bin", []byte("short"))
	os.Chtimes(filepath.Join(w.dir, "down/sub/b.bin"), future, future)
	if r := sync(); !strings.HasPrefix(r.stdout, "download: "+w.url("s/sub/b.bin")) {
		t.Fatalf("a file of another size was not replaced: %q", r.stdout)
	}
	// --delete removes the files the prefix lacks, not the excluded ones.
	w.writeFile("down/extra.txt", []byte("x"))
	w.writeFile("down/keep.log", []byte("x"))
	if r := sync("--delete", "--dryrun"); r.stdout != "(dryrun) delete: "+filepath.Join("down", "extra.txt")+"\n" || !w.localExists("down/extra.txt") {
		t.Fatalf("--delete --dryrun: %q", r.stdout)
	}
	if r := sync("--delete"); r.stdout != "delete: "+filepath.Join("down", "extra.txt")+"\n1 file deleted\n" || w.localExists("down/extra.txt") || !w.localExists("down/keep.log") {
		t.Fatalf("--delete: %q", r.stdout)
	}
	assertNoTempFiles(t, filepath.Join(w.dir, "down"))
}

// TestSyncDownloadKeysOutsideDestination syncs a prefix whose keys would
// lead out of the destination (".." elements, an empty element, a path
// through a symbolic link that leads out): sync writes through the same
// checks as cp -r, refuses each, and writes nothing outside.
func TestSyncDownloadKeysOutsideDestination(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	aes, _ := w.aesKey("k")
	w.writeFile("f", []byte("secret plaintext"))
	w.run(append([]string{"cp", "f", w.url("template")}, aes...)...).want(t, exitOK)
	body, meta := w.raw("template")
	bad := w.putRawStored([]string{"s/../escape", "s/a/../../escape2", "s//abs", "s/link/z"}, body, meta)
	w.putRaw("s/ok", body, meta)
	outside := filepath.Join(w.dir, "outside")
	os.MkdirAll(outside, 0o755)
	os.MkdirAll(filepath.Join(w.dir, "dest"), 0o755)
	if err := os.Symlink(outside, filepath.Join(w.dir, "dest", "link")); err != nil {
		t.Fatal(err)
	}
	r := w.run(append([]string{"sync", w.url("s/"), "dest"}, aes...)...)
	// What the server stored (some normalize or refuse names): each key
	// that names no file of its own, or runs through the link, fails.
	var refused []string
	for _, k := range w.keys("s/") {
		rel := strings.TrimPrefix(k, "s/")
		if _, err := localPath(rel); err != nil || strings.HasPrefix(rel, "link/") {
			refused = append(refused, k)
			if !strings.Contains(r.stderr, w.url(k)+":") {
				t.Errorf("%q is not reported", k)
			}
		}
	}
	t.Logf("stored %q of %q; refused %q", w.keys("s/"), bad, refused)
	if len(refused) == 0 || r.code != exitOther || !strings.Contains(r.stderr, fmt.Sprintf("%d failed", len(refused))) || strings.Contains(r.stderr, "not a regular file") {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	if string(w.readFile("dest/ok")) != "secret plaintext" {
		t.Error("the good key was not synced")
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Errorf("written through the link: %v", ents)
	}
	for _, n := range []string{"escape", "escape2", "abs", "s"} {
		if w.localExists(n) {
			t.Errorf("%s written outside the destination", n)
		}
	}
	assertNoTempFiles(t, w.dir)
}

// TestCopyS3ToS3 copies within S3 without a key (the envelope and the
// instruction file travel), recursively, with new metadata, and re-wrapped
// for another key.
func TestCopyS3ToS3(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	aes, _ := w.aesKey("k")
	other, _ := w.aesKey("k2")
	w.writeFile("a", []byte("in an instruction file"))
	w.writeFile("b", []byte("in the metadata"))
	w.run(append([]string{"cp", "a", w.url("c/a"), "--instruction-file"}, aes...)...).want(t, exitOK)
	w.run(append([]string{"cp", "b", w.url("c/b.csv")}, aes...)...).want(t, exitOK)

	r := w.run("cp", w.url("c/a"), w.url("d/")).want(t, exitOK) // no keyring
	if r.stdout != "copy: "+w.url("c/a")+" to "+w.url("d/a")+"\n" || !w.exists("d/a.instruction") || w.cat("d/a", aes) != "in an instruction file" {
		t.Fatalf("cp within S3: %q; %q", r.stdout, w.keys("d/"))
	}
	r = w.run("cp", "-r", w.url("c"), w.url("e")).want(t, exitOK)
	if got := w.keys("e/"); !slices.Equal(got, []string{"e/a", "e/a.instruction", "e/b.csv"}) || !strings.HasSuffix(r.stdout, "2 files copied\n") {
		t.Fatalf("cp -r within S3: %q\n%s", got, r.stdout)
	}
	w.run("cp", "-r", w.url("c/"), w.url("c/sub/")).want(t, exitUsage) // overlapping

	// New settings: REPLACE keeps the envelope.
	var copyHeaders http.Header
	ep := w.proxy(func(rw http.ResponseWriter, r *http.Request, next http.Handler) {
		if r.Header.Get("X-Amz-Copy-Source") != "" && strings.HasSuffix(r.URL.Path, "/m/b.csv") {
			copyHeaders = r.Header.Clone()
		}
		next.ServeHTTP(rw, r)
	})
	w.runVia(ep, "cp", w.url("c/b.csv"), w.url("m/b.csv"), "--metadata", "team=blue", "--cache-control", "no-store").want(t, exitOK)
	h := w.head("m/b.csv")
	if h.Metadata["team"] != "blue" || aws.ToString(h.ContentType) != "text/csv; charset=utf-8" || w.cat("m/b.csv", aes) != "in the metadata" {
		t.Errorf("cp with new settings: %v %q", h.Metadata, aws.ToString(h.ContentType))
	}
	if copyHeaders.Get("X-Amz-Metadata-Directive") != "REPLACE" || copyHeaders.Get("Cache-Control") != "no-store" {
		t.Errorf("the copy was sent without REPLACE or Cache-Control: %v", copyHeaders)
	}
	if w.srv.Real && aws.ToString(h.CacheControl) != "no-store" { // gofakes3 keeps no Cache-Control
		t.Errorf("Cache-Control %q", aws.ToString(h.CacheControl))
	}

	// Re-wrapped for another key: it reads with the new key only, the
	// source with the old one.
	for _, k := range []string{"c/a", "c/b.csv"} {
		r := w.run(append(append([]string{"cp", w.url(k), w.url("r/" + k)}, aes...), "--to-aes-key-file", "k2", "--to-material-description", "name=k2")...).want(t, exitOK)
		if !strings.HasPrefix(r.stdout, "copy: ") {
			t.Errorf("%s: %q", k, r.stdout)
		}
		w.run(append([]string{"cat", w.url("r/" + k)}, other...)...).want(t, exitOK)
		w.run(append([]string{"cat", w.url("r/" + k)}, aes...)...).want(t, exitKey)
		w.cat(k, aes)
	}
	// A re-wrap the current key cannot do: the copy is removed again.
	third, _ := w.aesKey("k3")
	w.run(append(append([]string{"cp", w.url("c/a"), w.url("fail/a")}, third...), "--to-aes-key-file", "k2", "--to-material-description", "name=k2")...).want(t, exitKey)
	if got := w.keys("fail/"); len(got) != 0 {
		t.Errorf("a failed re-wrap left %q", got)
	}
	// An unencrypted source is refused.
	w.putRaw("plain", []byte("x"), nil)
	w.run("cp", w.url("plain"), w.url("plain2")).want(t, exitNotFound)
}

// TestObjectSettings checks what the object-setting flags store, and that
// a single PutObject and a multipart upload store the same Content-Type
// (issue 13 #9: application/octet-stream against binary/octet-stream).
func TestObjectSettings(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	aes, _ := w.aesKey("k")
	var mu sync.Mutex
	seen := map[string]http.Header{} // the headers of each object write
	ep := w.proxy(func(rw http.ResponseWriter, r *http.Request, next http.Handler) {
		q := r.URL.Query()
		if r.Method == http.MethodPut && q.Get("partNumber") == "" || r.Method == http.MethodPost && q.Has("uploads") {
			mu.Lock()
			seen[strings.TrimPrefix(r.URL.Path, "/"+w.bucket+"/")] = r.Header.Clone()
			mu.Unlock()
		}
		next.ServeHTTP(rw, r)
	})
	w.writeFile("small.png", data(100))
	w.writeFile("big.png", data(9<<20))
	w.writeFile("noext", data(10))
	for _, f := range []string{"small.png", "big.png", "noext"} {
		w.runVia(ep, append([]string{"cp", f, w.url(f)}, aes...)...).want(t, exitOK)
	}
	w.runIn(bytes.NewReader([]byte("from stdin")), append([]string{"cp", "-", w.url("stdin"), "--expected-size", "10"}, aes...)...).want(t, exitOK)
	for key, want := range map[string]string{"small.png": "image/png", "big.png": "image/png", "noext": defaultContentType, "stdin": defaultContentType} {
		if got := aws.ToString(w.head(key).ContentType); got != want {
			t.Errorf("%s: Content-Type %q, want %q", key, got, want)
		}
	}
	// MinIO refuses SSE-S3 without a KMS of its own (501 NotImplemented):
	// there, the SSE header is left out of the test.
	sse := []string{"--sse", "AES256"}
	wantSSE := "AES256"
	if w.srv.Name == "minio" {
		sse, wantSSE = nil, ""
	}
	args := append([]string{"cp", "small.png", w.url("set.png"), "--content-type", "text/x-test", "--metadata", `{"team":"blue","env":"prod"}`,
		"--cache-control", "max-age=60", "--storage-class", "STANDARD"}, append(sse, aes...)...)
	w.runVia(ep, args...).want(t, exitOK)
	w.runVia(ep, append([]string{"cp", "big.png", w.url("setbig.png"), "--storage-class", "STANDARD", "--metadata", "team=red"}, append(sse, aes...)...)...).want(t, exitOK)
	h := w.head("set.png")
	if aws.ToString(h.ContentType) != "text/x-test" || h.Metadata["team"] != "blue" || h.Metadata["env"] != "prod" {
		t.Errorf("set.png: %q %v", aws.ToString(h.ContentType), h.Metadata)
	}
	if w.srv.Real && aws.ToString(h.CacheControl) != "max-age=60" { // gofakes3 keeps no Cache-Control
		t.Errorf("set.png: Cache-Control %q", aws.ToString(h.CacheControl))
	}
	if w.head("setbig.png").Metadata["team"] != "red" {
		t.Error("the multipart upload lost --metadata")
	}
	mu.Lock()
	defer mu.Unlock()
	for _, k := range []string{"set.png", "setbig.png"} {
		hd := seen[k]
		if hd.Get("X-Amz-Storage-Class") != "STANDARD" || hd.Get("X-Amz-Server-Side-Encryption") != wantSSE || k == "set.png" && hd.Get("Cache-Control") != "max-age=60" {
			t.Errorf("%s was written without the storage class or SSE: %v", k, hd)
		}
	}
	if got := w.cat("setbig.png", aes); got != string(data(9<<20)) {
		t.Error("setbig.png does not read back")
	}
}

// TestDownloadCreatesParents downloads into directories that do not exist
// (issue 13 #3), and names the destination, never the temporary file, in
// errors.
func TestDownloadCreatesParents(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	aes, _ := w.aesKey("k")
	w.writeFile("hello.txt", []byte("hello"))
	w.run(append([]string{"cp", "hello.txt", w.url("docs/hello.txt")}, aes...)...).want(t, exitOK)
	r := w.run(append([]string{"cp", w.url("docs/hello.txt"), "nodir/sub/hello.txt"}, aes...)...).want(t, exitOK)
	if string(w.readFile("nodir/sub/hello.txt")) != "hello" || r.stdout != "download: "+w.url("docs/hello.txt")+" to nodir/sub/hello.txt\n" {
		t.Fatalf("%q", r.stdout)
	}
	w.run(append([]string{"cp", w.url("docs/hello.txt"), "nodir2/sub/"}, aes...)...).want(t, exitOK)
	if string(w.readFile("nodir2/sub/hello.txt")) != "hello" {
		t.Fatal("trailing slash")
	}
	// A destination that is a directory inside: the error names it.
	os.MkdirAll(filepath.Join(w.dir, "d", "hello.txt"), 0o755)
	r = w.run(append([]string{"cp", w.url("docs/hello.txt"), "d/"}, aes...)...)
	if r.code == exitOK || strings.Contains(r.stderr, "s3ec-tmp") || !strings.Contains(r.stderr, filepath.Join("d", "hello.txt")) {
		t.Errorf("exit %d: %s", r.code, r.stderr)
	}
	// A damaged object: no temporary file named, none left.
	w.tamper("docs/hello.txt", 1)
	r = w.run(append([]string{"cp", w.url("docs/hello.txt"), "nodir3/x/hello.txt"}, aes...)...).want(t, exitAuth)
	if strings.Contains(r.stderr, "s3ec-tmp") {
		t.Errorf("the error names the temporary file: %s", r.stderr)
	}
	assertNoTempFiles(t, w.dir)
}

// TestTransferOutput checks the per-file lines, the summary, --quiet,
// --only-show-errors and --dryrun of cp.
func TestTransferOutput(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	aes, _ := w.aesKey("k")
	for _, n := range []string{"a.txt", "b.jpg", "sub/c.txt"} {
		w.writeFile(filepath.Join("tree", n), []byte("12345"))
	}
	r := w.run(append([]string{"cp", "-r", "tree", w.url("t/"), "--dryrun"}, aes...)...).want(t, exitOK)
	if want := "(dryrun) upload: " + filepath.Join("tree", "a.txt") + " to " + w.url("t/a.txt") + "\n(dryrun) upload: " + filepath.Join("tree", "b.jpg") + " to " + w.url("t/b.jpg") + "\n(dryrun) upload: " + filepath.Join("tree", "sub", "c.txt") + " to " + w.url("t/sub/c.txt") + "\n"; r.stdout != want {
		t.Errorf("--dryrun printed %q, want %q", r.stdout, want)
	}
	if len(w.keys("")) != 0 {
		t.Fatal("--dryrun uploaded")
	}
	r = w.run(append([]string{"cp", "-r", "tree", w.url("t/"), "--exclude", "*", "--include", "*.txt"}, aes...)...).want(t, exitOK)
	if !strings.HasSuffix(r.stdout, "\n2 files uploaded (10 B)\n") || len(lines(r.stdout)) != 3 {
		t.Errorf("cp -r with filters printed %q", r.stdout)
	}
	if got := w.keys(""); !slices.Equal(got, []string{"t/a.txt", "t/sub/c.txt"}) {
		t.Errorf("filters: %q", got)
	}
	for _, flag := range []string{"--quiet", "--only-show-errors"} {
		r = w.run(append([]string{"cp", "-r", w.url("t/"), "out", flag}, aes...)...).want(t, exitOK)
		if r.stdout != "" || r.stderr != "" {
			t.Errorf("%s printed %q %q", flag, r.stdout, r.stderr)
		}
	}
	w.tamper("t/a.txt", 0)
	r = w.run(append([]string{"cp", "-r", w.url("t/"), "out2", "--only-show-errors"}, aes...)...)
	if r.code != exitAuth || r.stdout != "" || !strings.Contains(r.stderr, w.url("t/a.txt")) || !strings.Contains(r.stderr, "1 of 2 files: 1 downloaded (5 B), 1 failed") {
		t.Errorf("--only-show-errors with a failure: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
}
