package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3ec/s3ec-go/bulk"
	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/internal/testkit/testvectors"
)

// End-to-end tests of the bulk forms (reencrypt, adopt, rotate, verify and
// inspect over prefixes and manifests, with reports, shards and resumes),
// run with the built binary against the in-process S3 server and the KMS
// test server.

// reportLines parses a completion report.
func reportLines(t *testing.T, b []byte) []bulk.Result {
	t.Helper()
	var out []bulk.Result
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		r, err := bulk.ParseReportLine(sc.Text())
		if err != nil {
			t.Fatalf("report line %q: %v", sc.Text(), err)
		}
		out = append(out, r)
	}
	return out
}

// byKey indexes report lines by key; a key twice fails the test.
func byKey(t *testing.T, lines []bulk.Result) map[string]bulk.Result {
	t.Helper()
	m := map[string]bulk.Result{}
	for _, l := range lines {
		if _, dup := m[l.Key]; dup {
			t.Errorf("the report has %s twice", l.Key)
		}
		m[l.Key] = l
	}
	return m
}

// writes counts the requests that write to the bucket.
type writes struct{ n atomic.Int64 }

func (w *world) countWrites(c *writes) string {
	return w.proxy(func(rw http.ResponseWriter, r *http.Request, next http.Handler) {
		switch r.Method {
		case http.MethodPut, http.MethodPost, http.MethodDelete:
			c.n.Add(1)
		}
		next.ServeHTTP(rw, r)
	})
}

// stderrLines splits stderr into lines.
func stderrLines(s string) []string { return strings.Split(strings.TrimSuffix(s, "\n"), "\n") }

func TestReencryptV2ToV3(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.writeFile("f", data(50_000))
	for _, k := range []string{"v2/a", "v2/b", "v2/c"} {
		w.run(append([]string{"cp", "f", w.url(k), "--policy", "forbid", "--context", "team=blue"}, w.kmsFlags()...)...).want(t, exitOK)
	}
	w.putRaw("v2/plain", []byte("not encrypted"), nil)
	for _, k := range []string{"v2/a", "v2/b", "v2/c"} {
		if r := w.run("inspect", w.url(k)).want(t, exitOK); !strings.Contains(r.stdout, "V2") {
			t.Fatalf("%s is not V2:\n%s", k, r.stdout)
		}
	}
	// The default policy does not read V2: every object fails, exit 5 (a
	// policy refusal), and nothing is written.
	var c writes
	ep := w.countWrites(&c)
	r := w.runVia(ep, append([]string{"reencrypt", w.url("v2/"), "--context", "team=blue"}, w.kmsFlags()...)...)
	if r.code != exitOther || !strings.Contains(r.stderr, "reencrypt: 0 done, 1 skipped (not-encrypted 1), 3 failed") {
		t.Fatalf("reencrypt without --policy allow: exit %d\n%s", r.code, r.stderr)
	}
	if c.n.Load() != 0 {
		t.Fatalf("a failed run wrote %d times", c.n.Load())
	}

	// The reading keyring's context is the one the objects must carry.
	r = w.runVia(ep, append([]string{"reencrypt", "--policy", "allow", w.url("v2/"), "--report", "r.csv"}, w.kmsFlags()...)...)
	if r.code != exitKey || !strings.Contains(r.stderr, "3 failed") {
		t.Fatalf("reencrypt without the context: exit %d\n%s", r.code, r.stderr)
	}
	r = w.runVia(ep, append([]string{"reencrypt", "--policy", "allow", w.url("v2/"), "--report", "r.csv", "--context", "team=blue"}, w.kmsFlags()...)...).want(t, exitOK)
	if !strings.Contains(r.stderr, "reencrypt: 3 done, 1 skipped (not-encrypted 1), 0 failed; report: r.csv") {
		t.Errorf("summary: %q", r.stderr)
	}
	if !strings.Contains(r.stdout, w.url("v2/a")+": reencrypted") {
		t.Errorf("stdout: %q", r.stdout)
	}
	if c.n.Load() == 0 {
		t.Fatal("nothing was written")
	}
	for _, k := range []string{"v2/a", "v2/b", "v2/c"} {
		info := w.run("inspect", "--json", w.url(k)).want(t, exitOK).stdout
		if !strings.Contains(info, `"format": "V3"`) || !strings.Contains(info, `"team": "blue"`) {
			t.Errorf("%s after reencrypt:\n%s", k, info)
		}
		// The default policy (V3 only) reads it, with its context.
		if got := w.run(append([]string{"cat", w.url(k), "--context", "team=blue"}, w.kmsFlags()...)...).want(t, exitOK); got.stdout != string(data(50_000)) {
			t.Errorf("%s reads back %d bytes", k, len(got.stdout))
		}
	}
	lines := byKey(t, reportLines(t, w.readFile("r.csv")))
	if len(lines) != 4 || lines["v2/a"].Status != bulk.Succeeded || !strings.HasPrefix(lines["v2/a"].Message, "reencrypted") ||
		lines["v2/plain"].Message != "skipped: not-encrypted" {
		t.Errorf("report: %+v", lines)
	}

	// A rerun writes nothing: the objects are current.
	before := c.n.Load()
	r = w.runVia(ep, append([]string{"reencrypt", "--policy", "allow", w.url("v2/"), "--context", "team=blue"}, w.kmsFlags()...)...).want(t, exitOK)
	if !strings.Contains(r.stderr, "reencrypt: 0 done, 4 skipped (already-current 3, not-encrypted 1), 0 failed") {
		t.Errorf("rerun summary: %q", r.stderr)
	}
	if n := c.n.Load() - before; n != 0 {
		t.Errorf("the rerun wrote %d times", n)
	}
	// One object, by its address: already current.
	r = w.run(append([]string{"reencrypt", w.url("v2/a"), "--context", "team=blue"}, w.kmsFlags()...)...).want(t, exitOK)
	if !strings.Contains(r.stdout, "skipped: already-current") {
		t.Errorf("one object: %q", r.stdout)
	}
	// --force rewrites it; a plaintext object is no object to re-encrypt.
	r = w.run(append([]string{"reencrypt", "--force", w.url("v2/a"), "--context", "team=blue"}, w.kmsFlags()...)...).want(t, exitOK)
	if !strings.Contains(r.stdout, "reencrypted") {
		t.Errorf("--force: %q", r.stdout)
	}
	w.run(append([]string{"reencrypt", w.url("v2/plain")}, w.kmsFlags()...)...).want(t, exitNotFound)
	// One object's failure is one line, the command's error.
	w.run(append([]string{"cp", "f", w.url("v2/d"), "--policy", "forbid"}, w.kmsFlags()...)...).want(t, exitOK)
	r = w.run(append([]string{"reencrypt", w.url("v2/d")}, w.kmsFlags()...)...).want(t, exitOther)
	if !strings.Contains(r.stderr, w.url("v2/d")) || !strings.Contains(r.stderr, "--policy allow") {
		t.Errorf("one object refused: %q", r.stderr)
	}
}

func TestReencryptToAnotherKey(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	aes, _ := w.aesKey("old.key")
	w.writeFile("f", []byte("move me"))
	w.run(append([]string{"cp", "f", w.url("x"), "--policy", "forbid"}, aes...)...).want(t, exitOK)
	// From a local AES key (V2) to KMS (V3); the dry run writes nothing.
	args := append([]string{"reencrypt", w.url("x"), "--policy", "allow", "--to-kms-key", w.kmsKey, "--kms-endpoint-url", w.kms.URL}, aes...)
	r := w.run(append(args, "--dryrun")...).want(t, exitOK)
	if !strings.Contains(r.stdout, "dry run") {
		t.Errorf("dry run: %q", r.stdout)
	}
	w.run(append([]string{"cat", w.url("x"), "--policy", "allow"}, aes...)...).want(t, exitOK)
	w.run(args...).want(t, exitOK)
	if r := w.run(append([]string{"cat", w.url("x")}, w.kmsFlags()...)...).want(t, exitOK); r.stdout != "move me" {
		t.Errorf("cat: %q", r.stdout)
	}
	w.run(append([]string{"cat", w.url("x"), "--policy", "allow"}, aes...)...).want(t, exitKey)
	// Discovery cannot write: it needs a writing keyring.
	w.run("reencrypt", w.url("x"), "--kms-discovery", "--kms-endpoint-url", w.kms.URL).want(t, exitUsage)
}

func TestAdoptPlaintext(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	body := []byte("plain text, to be encrypted in place")
	_, err := w.plain.PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: &w.bucket, Key: aws.String("up/plain.txt"), Body: bytes.NewReader(body),
		ContentType: aws.String("text/plain"), Metadata: map[string]string{"owner": "ops"},
	})
	if err != nil {
		t.Fatal(err)
	}
	w.writeFile("f", []byte("already encrypted"))
	w.run(append([]string{"cp", "f", w.url("up/enc")}, w.kmsFlags()...)...).want(t, exitOK)
	encBefore, _ := w.raw("up/enc")

	r := w.run(append([]string{"adopt", w.url("up/"), "--context", "team=blue"}, w.kmsFlags()...)...).want(t, exitOK)
	if !strings.Contains(r.stderr, "adopt: 1 done, 1 skipped (already-encrypted 1), 0 failed") {
		t.Errorf("summary: %q", r.stderr)
	}
	stored, meta := w.raw("up/plain.txt")
	if bytes.Contains(stored, body[:20]) || len(stored) != len(body)+16 {
		t.Fatalf("the object is not encrypted: %d bytes", len(stored))
	}
	if meta["owner"] != "ops" {
		t.Errorf("user metadata lost: %v", meta)
	}
	got := w.run(append([]string{"cat", w.url("up/plain.txt"), "--context", "team=blue"}, w.kmsFlags()...)...).want(t, exitOK)
	if got.stdout != string(body) {
		t.Errorf("cat: %q", got.stdout)
	}
	if after, _ := w.raw("up/enc"); !bytes.Equal(after, encBefore) {
		t.Error("adopt rewrote an encrypted object")
	}
	// Again: every object carries an envelope, nothing to do.
	r = w.run(append([]string{"adopt", w.url("up/plain.txt")}, w.kmsFlags()...)...).want(t, exitOK)
	if !strings.Contains(r.stdout, "skipped: already-encrypted") {
		t.Errorf("second adopt: %q", r.stdout)
	}
	// adopt only writes: a reading-only keyring is refused.
	w.run("adopt", w.url("up/"), "--kms-discovery", "--kms-endpoint-url", w.kms.URL).want(t, exitUsage)
}

func TestVerifyManifestTampered(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	aes, _ := w.aesKey("k")
	w.writeFile("f", data(5000))
	keys := []string{"m/good 1", "m/bad", "m/good+2"}
	var manifest strings.Builder
	for _, k := range keys {
		w.run(append([]string{"cp", "f", w.url(k)}, aes...)...).want(t, exitOK)
		fmt.Fprintf(&manifest, "%s,%s\n", w.bucket, bulk.EncodeKey(k))
	}
	w.tamper("m/bad", 100)
	w.writeFile("m.csv", []byte(manifest.String()))

	r := w.run(append([]string{"verify", "--manifest", "m.csv", "--report", "r.csv"}, aes...)...)
	if r.code != exitAuth {
		t.Fatalf("exit %d, want %d\n%s\n%s", r.code, exitAuth, r.stdout, r.stderr)
	}
	errs := stderrLines(r.stderr)
	if len(errs) != 3 || !strings.Contains(errs[0], w.url("m/bad")) ||
		!strings.Contains(errs[1], "verify: 2 done, 0 skipped, 1 failed; report: r.csv") ||
		!strings.HasPrefix(errs[2], "s3ec: 1 of 3 objects failed") {
		t.Errorf("stderr: %q", r.stderr)
	}
	lines := byKey(t, reportLines(t, w.readFile("r.csv")))
	if bad := lines["m/bad"]; bad.Status != bulk.PermanentFailure || bad.ErrorCode == "" {
		t.Errorf("the tampered object's line: %+v", bad)
	}
	for _, k := range []string{"m/good 1", "m/good+2"} {
		if l := lines[k]; l.Status != bulk.Succeeded || l.HTTPStatus != 200 || !strings.HasPrefix(l.Message, "verified") {
			t.Errorf("%s: %+v", k, l)
		}
	}
	if !strings.Contains(string(w.readFile("r.csv")), "m%2Fgood%201,") {
		t.Errorf("keys are not URL-encoded in the report:\n%s", w.readFile("r.csv"))
	}
	st, err := os.Stat(filepath.Join(w.dir, "r.csv.checkpoint"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("checkpoint: %v %v", st, err)
	}
}

func TestInspectJSONPrefix(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	aes, key := w.aesKey("k")
	w.writeFile("f", data(1000))
	w.run(append([]string{"cp", "f", w.url("i/aes")}, aes...)...).want(t, exitOK)
	w.run(append([]string{"cp", "f", w.url("i/kms"), "--context", "team=secret-value"}, w.kmsFlags()...)...).want(t, exitOK)
	w.run(append([]string{"cp", "f", w.url("i/v2"), "--policy", "forbid"}, aes...)...).want(t, exitOK)
	w.run(append([]string{"cp", "f", w.url("i/instr"), "--instruction-file"}, w.kmsFlags()...)...).want(t, exitOK)
	w.putRaw("i/plain", []byte("not encrypted"), nil)

	r := w.run("inspect", "--output", "json", w.url("i/")).want(t, exitOK)
	got := map[string]inspectLine{}
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var l inspectLine
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("not a JSON line: %q: %v", line, err)
		}
		got[l.Key] = l
	}
	if len(got) != 6 {
		t.Fatalf("%d objects: %s", len(got), r.stdout)
	}
	if l := got["i/instr"]; l.EnvelopeLocation != "instruction-file" || !l.Encrypted {
		t.Errorf("i/instr: %+v", l)
	}
	if l := got["i/instr.instruction"]; l.Status != "skipped" || l.Reason != "instruction-file" || l.Encrypted {
		t.Errorf("the instruction file: %+v", l)
	}
	if l := got["i/aes"]; !l.Encrypted || l.Format != "V3" || l.WrapAlgorithm != "AES/GCM" || l.PlaintextSize == nil || *l.PlaintextSize != 1000 || l.EnvelopeLocation != "metadata" || l.Status != "done" {
		t.Errorf("i/aes: %+v", l)
	}
	if l := got["i/kms"]; l.WrapAlgorithm != "kms+context" || !slices.Contains(l.ContextKeys, "team") {
		t.Errorf("i/kms: %+v", l)
	}
	if l := got["i/v2"]; l.Format != "V2" {
		t.Errorf("i/v2: %+v", l)
	}
	if l := got["i/plain"]; l.Encrypted || l.Format != "" {
		t.Errorf("i/plain: %+v", l)
	}
	for _, s := range []string{"secret-value", string(key)} {
		if strings.Contains(r.stdout, s) {
			t.Errorf("inspect shows %q", s)
		}
	}
	if !strings.Contains(r.stderr, "inspect: 5 done, 1 skipped (instruction-file 1), 0 failed") {
		t.Errorf("summary: %q", r.stderr)
	}

	// CSV: a header and a row per object.
	r = w.run("inspect", "--output", "csv", "-q", w.url("i/")).want(t, exitOK)
	rows := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(rows) != 7 || rows[0] != strings.Join(inspectColumns, ",") {
		t.Errorf("csv:\n%s", r.stdout)
	}
	w.run("inspect", "--output", "yaml", w.url("i/")).want(t, exitUsage)
}

func TestShardsCoverEveryObjectOnce(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	aes, _ := w.aesKey("k")
	w.writeFile("f", []byte("x"))
	var all []string
	for i := range 24 {
		k := fmt.Sprintf("s/%02d", i)
		all = append(all, k)
		w.run(append([]string{"cp", "f", w.url(k)}, aes...)...).want(t, exitOK)
	}
	seen := map[string]int{}
	for k := range 2 {
		report := fmt.Sprintf("r%d.csv", k)
		r := w.run(append([]string{"verify", w.url("s/"), "--shard", fmt.Sprintf("%d/2", k), "--report", report, "-q"}, aes...)...).want(t, exitOK)
		lines := reportLines(t, w.readFile(report))
		if len(lines) == 0 || len(lines) == len(all) {
			t.Errorf("shard %d/2 has %d of %d objects", k, len(lines), len(all))
		}
		if !strings.Contains(r.stderr, fmt.Sprintf("verify: %d done", len(lines))) {
			t.Errorf("shard %d: %q", k, r.stderr)
		}
		for _, l := range lines {
			seen[l.Key]++
			if l.Status != bulk.Succeeded {
				t.Errorf("%+v", l)
			}
		}
	}
	for _, k := range all {
		if seen[k] != 1 {
			t.Errorf("%s is in %d shards", k, seen[k])
		}
	}
}

// TestResume interrupts a run while it verifies its fourth object (one at
// a time): the checkpoint says the first three are done, a resumed run
// does the rest and appends to the report, which then lists every object
// once; a resume of another job is refused. Over a manifest with a local
// report, and over a prefix (listed again, resumed by key) with an s3://
// report (uploaded with its checkpoint on the interrupt).
func TestResume(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		manifest bool
		s3Report bool
	}{
		{"manifest, local report", true, false},
		{"prefix, s3 report", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			testResume(t, tc.manifest, tc.s3Report)
		})
	}
}

func testResume(t *testing.T, useManifest, s3Report bool) {
	w := newWorld(t)
	aes, _ := w.aesKey("k")
	w.writeFile("f", []byte("resume me"))
	var manifest strings.Builder
	for i := range 6 {
		k := fmt.Sprintf("r/%d", i)
		w.run(append([]string{"cp", "f", w.url(k)}, aes...)...).want(t, exitOK)
		fmt.Fprintf(&manifest, "%s,%s\n", w.bucket, k)
	}
	w.writeFile("m.csv", []byte(manifest.String()))
	w.writeFile("other.csv", []byte(manifest.String()))
	report := "r.csv"
	if s3Report {
		report = w.url("reports/r.csv")
	}
	readReport := func() []byte {
		if s3Report {
			b, _ := w.raw("reports/r.csv")
			return b
		}
		return w.readFile("r.csv")
	}
	readCheckpoint := func() checkpoint {
		var b []byte
		if s3Report {
			b, _ = w.raw("reports/r.csv.checkpoint")
		} else {
			b = w.readFile("r.csv.checkpoint")
			if st, _ := os.Stat(filepath.Join(w.dir, "r.csv.checkpoint")); st.Mode().Perm() != 0o600 {
				t.Errorf("checkpoint mode %v", st.Mode().Perm())
			}
		}
		var c checkpoint
		if err := json.Unmarshal(b, &c); err != nil {
			t.Fatalf("checkpoint %q: %v", b, err)
		}
		return c
	}
	args := []string{"verify", "--report", report, "--concurrency", "1"}
	if useManifest {
		args = append(args, "--manifest", "m.csv")
	} else {
		args = append(args, w.url("r/"))
	}
	args = append(args, aes...)

	var s *started
	var mu sync.Mutex
	var once sync.Once
	ep := w.proxy(func(rw http.ResponseWriter, r *http.Request, next http.Handler) {
		if strings.HasSuffix(r.URL.Path, "/r/3") {
			mu.Lock()
			cur := s
			mu.Unlock()
			once.Do(cur.interrupt)
			hold(r, 20*time.Second)
			return
		}
		next.ServeHTTP(rw, r)
	})
	mu.Lock()
	s = w.start(ep, nil, args...)
	mu.Unlock()
	r := s.wait(t, 60*time.Second)
	if r.code != exitInterrupted || !strings.Contains(r.stderr, "verify interrupted: 3 done, 0 skipped, 0 failed; report: "+report) ||
		!strings.Contains(r.stderr, "--resume") {
		t.Fatalf("interrupted run: exit %d\n%s", r.code, r.stderr)
	}
	c := readCheckpoint()
	wantSource := "prefix " + w.url("r/")
	if useManifest {
		wantSource = "manifest " + filepath.Join(w.dir, "m.csv")
	}
	if c.Watermark != 2 || c.Finished || c.Job.Operation != "verify" || c.Job.Source != wantSource || c.Job.Shard != "0/1" {
		t.Errorf("checkpoint: %+v", c)
	}
	if n := len(reportLines(t, readReport())); n != 3 {
		t.Errorf("the interrupted run reported %d objects, want 3", n)
	}
	if useManifest {
		// The checkpoint holds the manifest's identity: a manifest
		// regenerated in place (here: the same rows in another order) is
		// refused, with --resume and without.
		sum := sha256.Sum256([]byte(manifest.String()))
		if want := (manifestID{SHA256: hex.EncodeToString(sum[:]), Size: int64(manifest.Len())}); c.Job.Manifest != want {
			t.Errorf("checkpoint's manifest identity %+v, want %+v", c.Job.Manifest, want)
		}
		rows := strings.SplitAfter(manifest.String(), "\n")
		slices.Reverse(rows)
		w.writeFile("m.csv", []byte(strings.Join(rows, "")))
		for _, a := range [][]string{append(slices.Clone(args), "--resume"), args} {
			r = w.run(a...).want(t, exitUsage)
			if !strings.Contains(r.stderr, "the manifest m.csv is not the one "+report+".checkpoint was written for") ||
				!strings.Contains(r.stderr, "SHA-256 "+c.Job.Manifest.SHA256) || !strings.Contains(r.stderr, "delete "+report+".checkpoint") {
				t.Errorf("resume over a regenerated manifest: %q", r.stderr)
			}
		}
		if n := len(reportLines(t, readReport())); n != 3 {
			t.Errorf("a refused resume changed the report: %d objects", n)
		}
		w.writeFile("m.csv", []byte(manifest.String())) // as it was
	}

	// Without --resume, the unfinished run is not overwritten.
	r = w.run(args...).want(t, exitUsage)
	if !strings.Contains(r.stderr, "--resume") {
		t.Errorf("rerun without --resume: %q", r.stderr)
	}
	// Another job (another manifest; another shard) is refused.
	for _, other := range [][]string{
		append([]string{"verify", "--manifest", "other.csv", "--report", report, "--resume"}, aes...),
		append(slices.Clone(args), "--resume", "--shard", "1/2"),
	} {
		r = w.run(other...).want(t, exitUsage)
		if !strings.Contains(r.stderr, "another job") {
			t.Errorf("resume of another job: %q", r.stderr)
		}
	}

	r = w.run(append(args, "--resume")...).want(t, exitOK)
	if !strings.Contains(r.stderr, "verify: 3 done, 0 skipped, 0 failed") || strings.Contains(r.stdout, "r/0:") || !strings.Contains(r.stdout, "r/3:") {
		t.Errorf("resumed run:\n%s\n%s", r.stdout, r.stderr)
	}
	lines := byKey(t, reportLines(t, readReport()))
	if len(lines) != 6 {
		t.Errorf("the report lists %d objects, want 6", len(lines))
	}
	if c := readCheckpoint(); !c.Finished || c.WatermarkKey != "r/5" {
		t.Errorf("final checkpoint: %+v", c)
	}
	// A finished job resumed has nothing to do.
	r = w.run(append(args, "--resume")...).want(t, exitOK)
	if !strings.Contains(r.stderr, "verify: 0 done") {
		t.Errorf("resume of a finished job: %q", r.stderr)
	}
	if n := len(reportLines(t, readReport())); n != 6 {
		t.Errorf("the report lists %d objects after a resume with nothing to do", n)
	}
}

func TestReportToS3(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	oldAES, _ := w.aesKey("old.key")
	w.aesKey("new.key")
	w.writeFile("f", []byte("x"))
	for _, k := range []string{"d/a", "d/b"} {
		w.run(append([]string{"cp", "f", w.url(k)}, oldAES...)...).want(t, exitOK)
	}
	to := []string{"--to-aes-key-file", "new.key", "--to-material-description", "key=2"}
	r := w.run(append(append([]string{"rotate", w.url("d/"), "--report", w.url("reports/rotate.csv")}, oldAES...), to...)...).want(t, exitOK)
	if !strings.Contains(r.stderr, "rotate: 2 done, 0 skipped, 0 failed; report: "+w.url("reports/rotate.csv")) {
		t.Errorf("summary: %q", r.stderr)
	}
	body, _ := w.raw("reports/rotate.csv")
	lines := byKey(t, reportLines(t, body))
	if len(lines) != 2 || lines["d/a"].Status != bulk.Succeeded || !strings.HasPrefix(lines["d/a"].Message, "rewrapped") {
		t.Errorf("report: %q", body)
	}
	ck, _ := w.raw("reports/rotate.csv.checkpoint")
	var c checkpoint
	if err := json.Unmarshal(ck, &c); err != nil || !c.Finished || c.ReportBytes != int64(len(body)) {
		t.Errorf("checkpoint: %s %v", ck, err)
	}
	// Resumed: nothing left to do; the report keeps its lines.
	w.run(append(append([]string{"rotate", w.url("d/"), "--report", w.url("reports/rotate.csv"), "--resume"}, oldAES...), to...)...).want(t, exitOK)
	if again, _ := w.raw("reports/rotate.csv"); !bytes.Equal(again, body) {
		t.Errorf("the resumed report: %q", again)
	}
	// No temporary report is left behind.
	matches, _ := filepath.Glob(filepath.Join(os.TempDir(), "s3ec-report-*.csv"))
	for _, m := range matches {
		if b, err := os.ReadFile(m); err == nil && bytes.Contains(b, []byte("d/a")) && bytes.Contains(b, []byte(w.bucket)) {
			t.Errorf("temporary report left: %s", m)
		}
	}
}

func TestBulkFlagErrors(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	aes, _ := w.aesKey("k")
	w.writeFile("m.csv", []byte(w.bucket+",a\n"))
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"verify", w.url("p/"), "--shard", "2/2"}, "--shard 2/2: K must be from 0 to 1"},
		{[]string{"verify", w.url("p/"), "--shard", "x"}, `--shard "x": want K/N`},
		{[]string{"verify", w.url("p/"), "--shard", "a/b"}, `--shard "a/b": want K/N with whole numbers`},
		{[]string{"verify", w.url("p/"), "--shard", "0/0"}, "--shard 0/0: N must be at least 1"},
		{[]string{"verify", w.url("p/"), "--shard", "-1/3"}, "--shard -1/3: K must be from 0 to 2"},
		{[]string{"reencrypt", w.url("p/"), "--shard", "3/3"}, "--shard 3/3: K must be from 0 to 2"},
		{[]string{"verify", w.url("p/a"), "--shard", "0/2"}, "--shard splits a prefix or a manifest"},
		{[]string{"verify", w.url("p/"), "--resume"}, "--resume needs --report"},
		{[]string{"verify", w.url("p/"), "--manifest", "m.csv"}, "give no address beside it"},
		{[]string{"adopt", w.url("p/"), "--concurrency", "0"}, "--concurrency 0: want at least 1"},
		{[]string{"reencrypt", w.url("p/"), "--kms-requests-per-second", "-1"}, "--kms-requests-per-second -1"},
		{[]string{"verify", w.url("p/"), "--report", "s3://" + w.bucket + "/"}, "want s3://bucket/key"},
		{[]string{"adopt", w.url("p/"), "--report", w.url("p/r.csv")}, "is under the prefix"},
		{[]string{"verify", "--manifest", "m.csv", "--report", "./m.csv"}, "is the manifest"},
	} {
		r := w.run(append(tc.args, aes...)...).want(t, exitUsage)
		if !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%v: %q, want %q", tc.args, r.stderr, tc.want)
		}
	}
	// A missing manifest: not found.
	w.run(append([]string{"verify", "--manifest", "no-such.csv"}, aes...)...).want(t, exitNotFound)
}

// TestKMSRateLimit re-encrypts objects with KMS requests limited to 4 per
// second: each object costs a Decrypt and a GenerateDataKey.
func TestKMSRateLimit(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.writeFile("f", []byte("x"))
	for i := range 6 {
		w.run(append([]string{"cp", "f", w.url(fmt.Sprint("k/", i)), "--policy", "forbid"}, w.kmsFlags()...)...).want(t, exitOK)
	}
	start := time.Now()
	w.run(append([]string{"reencrypt", w.url("k/"), "--policy", "allow", "--kms-requests-per-second", "4", "-q"}, w.kmsFlags()...)...).want(t, exitOK)
	// 12 requests at 4 per second, 4 at once: at least 2 seconds.
	if d := time.Since(start); d < 1900*time.Millisecond {
		t.Errorf("12 KMS requests at 4 per second took %v", d)
	}
}

// TestReencryptLegacyCBC moves an AWS-written V1 object (AES-CBC, the
// legacy "AES" key wrap: testdata/vectors) to V3: it needs the legacy
// opt-ins to be read, and afterwards reads with the default policy.
func TestReencryptLegacyCBC(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	vs, err := testvectors.Load(filepath.Join(testvectors.Dir(), "jce-raw-keyrings"))
	if err != nil {
		t.Fatal(err)
	}
	var v *testvectors.Vector
	for _, c := range vs {
		if c.Name == "jce-legacy-eo-cbc-aes-4096" {
			v = c
		}
	}
	if v == nil {
		t.Fatal("no vector jce-legacy-eo-cbc-aes-4096")
	}
	ct, err := v.Ciphertext()
	if err != nil {
		t.Fatal(err)
	}
	pt, err := v.Plaintext()
	if err != nil {
		t.Fatal(err)
	}
	w.putRaw("legacy/cbc", ct, v.Metadata)
	w.writeFile("k", []byte(v.Keyring.KeyB64))
	aes := []string{"--aes-key-file", "k"}

	// Without the opt-ins the object is refused, and left as it is.
	r := w.run(append([]string{"reencrypt", w.url("legacy/")}, aes...)...)
	if r.code == exitOK || !strings.Contains(r.stderr, "1 failed") {
		t.Fatalf("reencrypt of CBC without opt-ins: exit %d\n%s", r.code, r.stderr)
	}
	if got, _ := w.raw("legacy/cbc"); !bytes.Equal(got, ct) {
		t.Fatal("a refused object was changed")
	}
	// With the reading opt-ins but not --allow-unauthenticated-source,
	// the CBC object is refused too, by a message that names the flag,
	// also as a single object and in a dry run; nothing is written.
	readOptIns := append([]string{"--policy", "allow", "--legacy-unauthenticated", "--legacy-wrapping"}, aes...)
	r = w.run(append([]string{"reencrypt", w.url("legacy/")}, readOptIns...)...)
	if r.code == exitOK || !strings.Contains(r.stderr, "reencrypt: 0 done, 0 skipped, 1 failed") ||
		!strings.Contains(r.stderr, w.url("legacy/cbc")+": ") || !strings.Contains(r.stderr, "carries no authentication tag") ||
		strings.Contains(r.stderr, "ReEncryptInput") ||
		!strings.Contains(r.stderr, "[to re-encrypt it anyway: --allow-unauthenticated-source;") {
		t.Errorf("reencrypt of CBC without --allow-unauthenticated-source: exit %d\n%s", r.code, r.stderr)
	}
	for _, extra := range [][]string{{w.url("legacy/cbc")}, {w.url("legacy/cbc"), "--dryrun"}} {
		r = w.run(append(append([]string{"reencrypt"}, extra...), readOptIns...)...).want(t, exitOther)
		if !strings.Contains(r.stderr, "--allow-unauthenticated-source") {
			t.Errorf("reencrypt %v of CBC: %q", extra, r.stderr)
		}
	}
	if got, _ := w.raw("legacy/cbc"); !bytes.Equal(got, ct) {
		t.Fatal("a refused object was changed")
	}

	r = w.run(append([]string{"reencrypt", w.url("legacy/"), "--allow-unauthenticated-source", "--report", "r.csv"}, readOptIns...)...).want(t, exitOK)
	if !strings.Contains(r.stderr, "reencrypt: 1 done (reencrypted-unauthenticated 1), 0 skipped, 0 failed") {
		t.Errorf("summary: %q", r.stderr)
	}
	if l := byKey(t, reportLines(t, w.readFile("r.csv")))["legacy/cbc"]; l.Status != bulk.Succeeded || !strings.Contains(l.Message, "source not authenticated") {
		t.Errorf("report line: %+v", l)
	}
	if info := w.run("inspect", "--json", w.url("legacy/cbc")).want(t, exitOK).stdout; !strings.Contains(info, `"format": "V3"`) || !strings.Contains(info, `"key_committing": true`) {
		t.Errorf("after reencrypt:\n%s", info)
	}
	if got := w.run(append([]string{"cat", w.url("legacy/cbc")}, aes...)...).want(t, exitOK); got.stdout != string(pt) {
		t.Errorf("cat after reencrypt: %d bytes, want the vector's %d", len(got.stdout), len(pt))
	}
	w.run(append([]string{"verify", w.url("legacy/cbc")}, aes...)...).want(t, exitOK)
}

// TestManifestsFromS3 reads the objects from an S3 Inventory report
// (manifest.json and a gzipped CSV data file, keys URL-encoded) and from a
// Batch Operations CSV manifest, both stored in S3.
func TestManifestsFromS3(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	aes, _ := w.aesKey("k")
	w.writeFile("f", []byte("listed"))
	keys := []string{"data/a b", "data/c+d", "data/ü"}
	for _, k := range keys {
		w.run(append([]string{"cp", "f", w.url(k)}, aes...)...).want(t, exitOK)
	}
	w.putRaw("data/unlisted", []byte("x"), nil)

	var csvData bytes.Buffer
	gz := gzip.NewWriter(&csvData)
	for _, k := range keys {
		fmt.Fprintf(gz, "%q,%q,%d\n", w.bucket, bulk.EncodeKey(k), 6+16)
	}
	gz.Close()
	sum := md5.Sum(csvData.Bytes())
	w.putRaw("inv/data/1.csv.gz", csvData.Bytes(), nil)
	manifest, _ := json.Marshal(map[string]any{
		"sourceBucket": w.bucket, "destinationBucket": "arn:aws:s3:::" + w.bucket,
		"fileFormat": "CSV", "fileSchema": "Bucket, Key, Size",
		"files": []map[string]any{{"key": "inv/data/1.csv.gz", "size": csvData.Len(), "MD5checksum": hex.EncodeToString(sum[:])}},
	})
	w.putRaw("inv/manifest.json", manifest, nil)

	r := w.run("inspect", "--manifest", w.url("inv/manifest.json"), "--output", "csv", "--report", "i.csv").want(t, exitOK)
	rows := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(rows) != 1+len(keys) || strings.Contains(r.stdout, "unlisted") {
		t.Fatalf("inspect of the inventory:\n%s", r.stdout)
	}
	lines := byKey(t, reportLines(t, w.readFile("i.csv")))
	for _, k := range keys {
		if l := lines[k]; l.Status != bulk.Succeeded || !strings.HasPrefix(l.Message, "inspected: V3") {
			t.Errorf("%s: %+v", k, l)
		}
	}

	var m strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&m, "%s,%s\n", w.bucket, bulk.EncodeKey(k))
	}
	w.putRaw("manifests/m.csv", []byte(m.String()), nil)
	r = w.run(append([]string{"verify", "--manifest", w.url("manifests/m.csv")}, aes...)...).want(t, exitOK)
	if !strings.Contains(r.stderr, "verify: 3 done, 0 skipped, 0 failed") {
		t.Errorf("verify over an S3 manifest: %q", r.stderr)
	}
	w.run(append([]string{"verify", "--manifest", w.url("manifests/missing.csv")}, aes...)...).want(t, exitNotFound)
}

// kmsProxy counts the KMS requests by operation (X-Amz-Target) and
// returns the endpoint to give --kms-endpoint-url.
func (w *world) kmsProxy(counts *sync.Map) string {
	w.t.Helper()
	target, err := url.Parse(w.kms.URL)
	if err != nil {
		w.t.Fatal(err)
	}
	next := httputil.NewSingleHostReverseProxy(target)
	ps := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "TrentService.")
		n, _ := counts.LoadOrStore(op, new(atomic.Int64))
		n.(*atomic.Int64).Add(1)
		next.ServeHTTP(rw, r)
	}))
	w.t.Cleanup(ps.Close)
	return ps.URL
}

func kmsCount(counts *sync.Map, op string) int64 {
	if n, ok := counts.Load(op); ok {
		return n.(*atomic.Int64).Load()
	}
	return 0
}

// TestCacheDataKeys adopts and re-encrypts objects with
// --cache-data-keys: one GenerateDataKey for all of them (without it, one
// each), and a rerun still finds them current.
func TestCacheDataKeys(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	var counts sync.Map
	ep := w.kmsProxy(&counts)
	kr := []string{"--kms-key", w.kmsKey, "--kms-endpoint-url", ep}
	for i := range 5 {
		w.putRaw(fmt.Sprintf("c/%d", i), []byte("plain"), nil)
		w.putRaw(fmt.Sprintf("n/%d", i), []byte("plain"), nil)
	}
	w.run(append([]string{"adopt", w.url("n/"), "-q"}, kr...)...).want(t, exitOK)
	if n := kmsCount(&counts, "GenerateDataKey"); n != 5 {
		t.Fatalf("adopt of 5 objects without a cache: %d GenerateDataKey requests, want 5", n)
	}
	w.run(append([]string{"adopt", w.url("c/"), "-q", "--cache-data-keys"}, kr...)...).want(t, exitOK)
	if n := kmsCount(&counts, "GenerateDataKey"); n != 6 {
		t.Fatalf("adopt of 5 objects with --cache-data-keys: %d GenerateDataKey requests, want 1", n-5)
	}
	for i := range 5 {
		if r := w.run(append([]string{"cat", w.url(fmt.Sprintf("c/%d", i))}, kr...)...).want(t, exitOK); r.stdout != "plain" {
			t.Fatalf("cat: %q", r.stdout)
		}
	}
	// Re-encrypted with the cache: one more data key; then current.
	w.run(append([]string{"reencrypt", w.url("c/"), "-q", "--force", "--cache-data-keys"}, kr...)...).want(t, exitOK)
	if n := kmsCount(&counts, "GenerateDataKey"); n != 7 {
		t.Fatalf("reencrypt --force of 5 objects with --cache-data-keys: %d GenerateDataKey requests, want 1", n-6)
	}
	r := w.run(append([]string{"reencrypt", w.url("c/"), "--cache-data-keys"}, kr...)...).want(t, exitOK)
	if !strings.Contains(r.stderr, "reencrypt: 0 done, 5 skipped (already-current 5)") {
		t.Errorf("rerun: %q", r.stderr)
	}
}

// A bucket writer who plants files that carry the instruction-file mark
// (beside a plaintext object, or with no object at all) must not hide
// anything from the inventory: inspect recognises an instruction file only
// when the object named without the suffix keeps its envelope in it. The
// plaintext object beside an undecodable namesake is ambiguous (its
// envelope may be in that file): it is reported as failed, never as
// skipped or encrypted.
func TestInspectPlantedInstructionFilesStayVisible(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	mark := map[string]string{envelope.KeyInstrFileMark: ""}
	w.putRaw("p/doc", []byte("plaintext beside a planted file"), nil)
	w.putRaw("p/doc.instruction", []byte("also plaintext"), mark)
	w.putRaw("p/lonely.instruction", []byte("an orphan with the mark"), mark)

	r := w.run("inspect", "--output", "json", w.url("p/"))
	if r.code != exitAuth {
		t.Fatalf("exit %d, want %d\n%s\n%s", r.code, exitAuth, r.stdout, r.stderr)
	}
	got := map[string]inspectLine{}
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var l inspectLine
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("not a JSON line: %q: %v", line, err)
		}
		got[l.Key] = l
	}
	for _, k := range []string{"p/doc.instruction", "p/lonely.instruction"} {
		if l, ok := got[k]; !ok || l.Status != "done" || l.Encrypted || l.Reason != "not-encrypted" {
			t.Errorf("%s: %+v, want done and not encrypted", k, l)
		}
	}
	if l := got["p/doc"]; l.Status != "failed" || l.Encrypted || l.ErrorCode != "MalformedEnvelope" {
		t.Errorf("p/doc: %+v, want failed with MalformedEnvelope", l)
	}
	if !strings.Contains(r.stderr, "inspect: 2 done, 0 skipped, 1 failed") {
		t.Errorf("summary: %q", r.stderr)
	}
}
