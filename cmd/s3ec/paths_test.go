package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// proxy puts an HTTP proxy in front of the world's S3 server and returns
// its URL: hook sees every request first, and forwards it (or not) with
// next.
func (w *world) proxy(hook func(rw http.ResponseWriter, r *http.Request, next http.Handler)) string {
	w.t.Helper()
	target, err := url.Parse(w.srv.URL)
	if err != nil {
		w.t.Fatal(err)
	}
	next := httputil.NewSingleHostReverseProxy(target)
	next.ErrorLog = nil
	next.ErrorHandler = func(rw http.ResponseWriter, r *http.Request, err error) { rw.WriteHeader(http.StatusBadGateway) }
	ps := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) { hook(rw, r, next) }))
	w.t.Cleanup(ps.Close)
	return ps.URL
}

// runVia runs an S3 command against endpoint (a proxy) instead of the
// server itself.
func (w *world) runVia(endpoint string, args ...string) result {
	w.t.Helper()
	return w.exec(nil, append(args, "--endpoint-url", endpoint, "--path-style")...)
}

func TestLocalPath(t *testing.T) {
	for rel, want := range map[string]string{
		"a":         "a",
		"a/b":       filepath.Join("a", "b"),
		"a/b/c.txt": filepath.Join("a", "b", "c.txt"),
		"..a":       "..a",
		"a..":       "a..",
		".hidden":   ".hidden",
		"a b/ c":    filepath.Join("a b", " c"),
	} {
		if got, err := localPath(rel); err != nil || got != want {
			t.Errorf("localPath(%q) = %q, %v; want %q", rel, got, err, want)
		}
	}
	bad := []string{
		"", ".", "..", "./a", "a/.", "a/..", "../x", "a/../../x", "a/../b", "/etc/passwd", "/",
		"a//b", "a/", "//", "a\x00b", "\x00",
	}
	if runtime.GOOS == "windows" {
		bad = append(bad, `a\b`, `..\x`, `C:x`, `C:\x`, `NUL`, `a/COM1`, `\\host\share`)
	}
	for _, rel := range bad {
		if got, err := localPath(rel); err == nil {
			t.Errorf("localPath(%q) = %q, want a refusal", rel, got)
		}
	}
	// Two keys never map to one path.
	seen := map[string]string{}
	for _, rel := range []string{"a/b", "a//b", "a/./b", "a/c/../b", "a/b/", "./a/b"} {
		if got, err := localPath(rel); err == nil {
			if other, ok := seen[got]; ok {
				t.Errorf("%q and %q both map to %q", rel, other, got)
			}
			seen[got] = rel
		}
	}
}

// TestCopyRecursiveKeysOutsideDestination downloads a prefix whose keys
// resolve to the destination itself or outside it ("p/.", "p/..",
// "p/../x"...), or run through a symbolic link in the destination that
// points out of it (issue 10 #9). Each such key is refused and counted as
// a failure, the others are copied, and nothing, not even a temporary
// file, is written outside the destination, at any moment.
func TestCopyRecursiveKeysOutsideDestination(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	aes, _ := w.aesKey("k")
	w.writeFile("f", []byte("secret plaintext"))
	w.run(append([]string{"cp", "f", w.url("template")}, aes...)...).want(t, exitOK)
	body, meta := w.raw("template")
	// "p/." and "p/.." come last: a server that keeps objects as files
	// (versitygw) would store "p/." as a file p, and refuse every later
	// key below p/.
	bad := []string{"p/../x", "p/a/../../y", "p//b", "p/./c", "p/sub/../w", "p/link/z", "p/link/deeper/z", "p/.", "p/.."}
	good := []string{"p/ok", "p/sub/ok2", "p/.hidden", "p/sub/..x"}
	// Real servers refuse some of these names: only the keys a server
	// stores can be attacked with.
	good = w.putRawStored(good, body, meta)
	bad = w.putRawStored(bad, body, meta)
	if len(bad) == 0 {
		t.Skipf("%s stores none of the hostile keys", w.srv.Name)
	}
	w.putRaw("p/marker/", nil, nil) // a folder marker: not a file, not copied
	// Check that the server kept the keys as they were written.
	listed, err := listObjects(t.Context(), &clients{plain: w.plain}, w.bucket, "p/", ".instruction")
	if err != nil {
		t.Fatal(err)
	}
	// The attack needs a server that keeps the hostile keys as written;
	// one that normalizes them (versitygw stores "p//b" as "p/b") makes
	// them ordinary keys. The in-process server keeps them verbatim.
	for _, k := range append(slices.Clone(bad), good...) {
		if !slices.Contains(listed, k) {
			t.Skipf("%s does not keep the key %q as written (it lists %q): nothing to attack with", w.srv.Name, k, listed)
		}
	}

	// The layout: w.dir/work/dest is the destination, w.dir/outside a
	// directory beside it, to which dest/link points.
	work := filepath.Join(w.dir, "work")
	dest := filepath.Join(work, "dest")
	outside := filepath.Join(w.dir, "outside")
	for _, d := range []string{dest, outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(outside, filepath.Join(dest, "link")); err != nil {
		t.Skipf("no symbolic links here: %v", err)
	}
	// While each object is read, nothing may have appeared outside dest.
	var mu sync.Mutex
	var escaped []string
	look := func() {
		mu.Lock()
		defer mu.Unlock()
		for _, d := range []string{work, outside, w.dir} {
			ents, _ := os.ReadDir(d)
			for _, e := range ents {
				n := filepath.Join(d, e.Name())
				if n != dest && n != filepath.Join(work, "dest2") && n != work && n != outside && !strings.HasPrefix(n, filepath.Join(w.dir, "k")) && n != filepath.Join(w.dir, "f") {
					escaped = append(escaped, n)
				}
			}
		}
	}
	ep := w.proxy(func(rw http.ResponseWriter, r *http.Request, next http.Handler) {
		if r.Method == http.MethodGet && r.URL.Query().Get("list-type") == "" {
			look()
		}
		next.ServeHTTP(rw, r)
	})
	r := w.runVia(ep, append([]string{"cp", "-r", w.url("p/"), "work/dest"}, aes...)...)
	look()
	if r.code != exitOther {
		t.Errorf("exit %d, want %d\n%s", r.code, exitOther, r.stderr)
	}
	if want := fmt.Sprintf("%d of %d files: %d downloaded (%d B), %d failed", len(good), len(bad)+len(good), len(good), len(good)*len("secret plaintext"), len(bad)); !strings.Contains(r.stderr, want) {
		t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
	}
	for _, k := range bad {
		if !strings.Contains(r.stderr, w.url(k)+":") {
			t.Errorf("the refusal of %q is not reported:\n%s", k, r.stderr)
		}
	}
	if len(escaped) > 0 {
		t.Errorf("written outside the destination: %q", escaped)
	}
	// Only the good keys are there, with their plaintext.
	var got []string
	filepath.WalkDir(dest, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && d.Type()&os.ModeSymlink == 0 {
			rel, _ := filepath.Rel(dest, p)
			got = append(got, filepath.ToSlash(rel))
			if b, _ := os.ReadFile(p); !bytes.Equal(b, []byte("secret plaintext")) {
				t.Errorf("%s: %q", rel, b)
			}
		}
		return nil
	})
	var want []string
	for _, k := range good {
		want = append(want, strings.TrimPrefix(k, "p/"))
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("destination holds %q, want %q", got, want)
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Errorf("the link's target was written to: %v", ents)
	}

	// From the bucket's root, ".." and "/abs" lead out too.
	w2 := newWorld(t)
	w2.dir = w.dir
	rootBad := w2.putRawStored([]string{"..", "../x", "/abs", "."}, body, meta)
	w2.putRaw("ok", body, meta)
	if len(rootBad) < 4 {
		t.Logf("%s refuses some keys at the bucket root; the root case needs all of them", w2.srv.Name)
		return
	}
	r = w2.run(append([]string{"cp", "-r", w2.url(""), "work/dest2"}, aes...)...)
	if want := fmt.Sprintf("1 of %d files: 1 downloaded (16 B), %d failed", len(rootBad)+1, len(rootBad)); r.code != exitOther || !strings.Contains(r.stderr, want) {
		t.Errorf("from the root: exit %d\n%s", r.code, r.stderr)
	}
	if b, err := os.ReadFile(filepath.Join(dest, "..", "dest2", "ok")); err != nil || string(b) != "secret plaintext" {
		t.Errorf("from the root: ok: %q, %v", b, err)
	}
	look()
	if len(escaped) > 0 {
		t.Errorf("written outside the destination: %q", escaped)
	}
	assertNoTempFiles(t, w.dir)
}

// TestCopyOneKeyName downloads single objects into a directory: the file
// is named after the key's last element, which must be a plain name.
func TestCopyOneKeyName(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	aes, _ := w.aesKey("k")
	w.writeFile("f", []byte("x"))
	w.run(append([]string{"cp", "f", w.url("template")}, aes...)...).want(t, exitOK)
	body, meta := w.raw("template")
	keys := w.putRawStored([]string{"a/.", "a/..", ".", ".."}, body, meta)
	if len(keys) == 0 {
		t.Skipf("%s stores none of the hostile keys", w.srv.Name)
	}
	if err := os.Mkdir(filepath.Join(w.dir, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		r := w.run(append([]string{"cp", w.url(k), "d"}, aes...)...).want(t, exitUsage)
		if !strings.Contains(r.stderr, "cannot name a file after the key") {
			t.Errorf("%q: %s", k, r.stderr)
		}
		// A file name given explicitly is fine.
		w.run(append([]string{"cp", w.url(k), "d/named"}, aes...)...).want(t, exitOK)
	}
	if ents, _ := os.ReadDir(filepath.Join(w.dir, "d")); len(ents) != 1 {
		t.Errorf("d holds %v, want named alone", ents)
	}
	w.run(append([]string{"cp", w.url("template"), "nowhere/.."}, aes...)...).want(t, exitUsage)
	assertNoTempFiles(t, w.dir)
}

// putRawStored writes each key as putRaw does and returns the keys the
// server stored; a key it refuses with a 4xx (some servers keep objects as
// files and refuse names such as "." or "a/..", or a name below one that
// became a file) is logged and left out.
func (w *world) putRawStored(keys []string, body []byte, meta map[string]string) []string {
	w.t.Helper()
	var stored []string
	for _, k := range keys {
		_, err := w.plain.PutObject(context.Background(), &s3.PutObjectInput{
			Bucket: &w.bucket, Key: aws.String(k), Body: bytes.NewReader(body), Metadata: meta,
		})
		var re *awshttp.ResponseError
		switch {
		case err == nil:
			stored = append(stored, k)
		case errors.As(err, &re) && re.HTTPStatusCode() >= 400 && re.HTTPStatusCode() < 500:
			w.t.Logf("%s refuses the key %q: %v", w.srv.Name, k, err)
		default:
			w.t.Fatal(err)
		}
	}
	return stored
}
