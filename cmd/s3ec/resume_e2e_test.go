package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// resumeRig is a world whose S3 requests go through a proxy that can
// interrupt the command at an upload part, and counts the parts sent.
type resumeRig struct {
	w  *world
	ep string

	mu          sync.Mutex
	cur         *started
	interruptAt int  // interrupt at this UploadPart of the run (0: never)
	kill        bool // kill -9 there instead
	parts       int  // UploadParts of the run
	staleLie    bool // answer ListParts with NoSuchUpload, whatever the server holds
}

func newResumeRig(t *testing.T) *resumeRig {
	w := newWorld(t)
	t.Cleanup(w.abortAll)
	g := &resumeRig{w: w}
	g.ep = w.proxy(func(rw http.ResponseWriter, r *http.Request, next http.Handler) {
		g.mu.Lock()
		lie := g.staleLie
		g.mu.Unlock()
		if lie && r.Method == http.MethodGet && r.URL.Query().Has("uploadId") {
			rw.Header().Set("Content-Type", "application/xml")
			rw.WriteHeader(http.StatusNotFound)
			io.WriteString(rw, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchUpload</Code><Message>The specified upload does not exist.</Message></Error>`)
			return
		}
		if isUploadPart(r) {
			g.mu.Lock()
			g.parts++
			cut := g.parts == g.interruptAt
			s, kill := g.cur, g.kill
			g.mu.Unlock()
			if cut {
				// The part is in flight when the interrupt lands: it
				// never reaches the server.
				if kill {
					s.cmd.Process.Kill()
				} else {
					s.interrupt()
				}
				hold(r, 20*time.Second)
				return
			}
		}
		next.ServeHTTP(rw, r)
	})
	return g
}

// run runs args through the proxy, interrupting it at the at-th part
// (0: never); it returns the result and the parts the run sent.
func (g *resumeRig) run(at int, args ...string) (result, int) {
	g.w.t.Helper()
	g.mu.Lock()
	g.parts, g.interruptAt = 0, at
	g.cur = g.w.start(g.ep, nil, args...)
	s := g.cur
	g.mu.Unlock()
	r := s.wait(g.w.t, 90*time.Second)
	g.mu.Lock()
	defer g.mu.Unlock()
	return r, g.parts
}

// tokenDir is the default token directory of the world's HOME.
func (w *world) tokenDir() string {
	for _, kv := range w.env {
		if home, ok := strings.CutPrefix(kv, "HOME="); ok {
			return filepath.Join(home, ".local", "state", "s3ec", "uploads")
		}
	}
	w.t.Fatal("no HOME")
	return ""
}

// tokens lists the token files in dir.
func tokens(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.token"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// interrupted runs cp of file to key, interrupted at its third part, and
// checks what it leaves: the line that says how to resume or abort it,
// one multipart upload, one token file (0600, in a 0700 directory). It
// returns the token file and the upload id.
func (g *resumeRig) interrupted(t *testing.T, file, key string, keyFlags []string) (string, string) {
	t.Helper()
	w := g.w
	r, _ := g.run(3, append([]string{"cp", "--concurrency", "1", file, w.url(key)}, keyFlags...)...)
	r.want(t, exitInterrupted)
	ups := w.uploads()
	if len(ups) != 1 {
		t.Fatalf("uploads %q, want the interrupted one left open\nstderr: %s", ups, r.stderr)
	}
	id := strings.TrimPrefix(ups[0], key+" ")
	want := fmt.Sprintf("s3ec: upload of %s to %s interrupted; run the same command again to resume it (upload id %s), or abort it with: aws s3api abort-multipart-upload --bucket %s --key %s --upload-id %s\n",
		displayLocal(file), w.url(key), id, w.bucket, key, id)
	if r.stderr != want {
		t.Errorf("stderr %q\nwant %q", r.stderr, want)
	}
	dir := w.tokenDir()
	toks := tokens(t, dir)
	if len(toks) != 1 {
		t.Fatalf("token files %q, want one", toks)
	}
	for p, mode := range map[string]os.FileMode{dir: 0o700 | os.ModeDir, toks[0]: 0o600} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode() != mode {
			t.Errorf("%s: mode %v, want %v", p, st.Mode(), mode)
		}
	}
	return toks[0], id
}

// finished checks that key holds want, that no upload and no token file
// is left.
func (g *resumeRig) finished(t *testing.T, key string, want []byte, keyFlags []string) {
	t.Helper()
	w := g.w
	if got := w.run(append([]string{"cat", w.url(key)}, keyFlags...)...).want(t, exitOK); got.stdout != string(want) {
		t.Errorf("s3://%s/%s does not decrypt to the file's bytes", w.bucket, key)
	}
	if ups := w.uploads(); len(ups) != 0 {
		t.Errorf("multipart uploads left: %q", ups)
	}
	if toks := tokens(t, w.tokenDir()); len(toks) != 0 {
		t.Errorf("token files left: %q", toks)
	}
}

// TestResumeInterruptedUpload interrupts cp of a 40 MiB file (five parts,
// one at a time) at its third part: the same command run again resumes
// the upload, sending only the parts the server lacks, and the object
// decrypts to the file; no token file and no upload is left.
func TestResumeInterruptedUpload(t *testing.T) {
	t.Parallel()
	g := newResumeRig(t)
	aes, _ := g.w.aesKey("k")
	big := data(40 << 20)
	g.w.writeFile("big", big)
	g.interrupted(t, "big", "big", aes)
	r, parts := g.run(0, append([]string{"cp", "--concurrency", "1", "big", g.w.url("big")}, aes...)...)
	r.want(t, exitOK)
	if parts != 3 {
		t.Errorf("the resumed upload sent %d parts, want the 3 the server lacked", parts)
	}
	if r.stderr != "" {
		t.Errorf("stderr %q", r.stderr)
	}
	g.finished(t, "big", big, aes)
}

// TestResumeChangedSource changes the file (same size) between an
// interrupted cp and the next: the library refuses the token (its parts'
// sums differ), and the command aborts the old upload and starts anew.
func TestResumeChangedSource(t *testing.T) {
	t.Parallel()
	g := newResumeRig(t)
	aes, _ := g.w.aesKey("k")
	big := data(40 << 20)
	g.w.writeFile("big", big)
	_, id := g.interrupted(t, "big", "big", aes)
	changed := bytes.Clone(big)
	changed[100] ^= 1
	g.w.writeFile("big", changed)
	r, parts := g.run(0, append([]string{"cp", "--concurrency", "1", "big", g.w.url("big")}, aes...)...)
	r.want(t, exitOK)
	want := "s3ec: upload of ./big to " + g.w.url("big") + " starts anew: the file, or the command's object settings, changed since the interrupted upload; its upload " + id + " was aborted\n"
	if r.stderr != want || parts != 5 {
		t.Errorf("%d parts, stderr %q\nwant 5 and %q", parts, r.stderr, want)
	}
	g.finished(t, "big", changed, aes)
}

// TestResumeStaleOrCorruptToken restarts cleanly from a token whose
// upload was aborted meanwhile, and from a damaged token file.
func TestResumeStaleOrCorruptToken(t *testing.T) {
	t.Parallel()
	g := newResumeRig(t)
	aes, _ := g.w.aesKey("k")
	big := data(40 << 20)
	g.w.writeFile("big", big)
	args := append([]string{"cp", "--concurrency", "1", "big", g.w.url("big")}, aes...)

	_, id := g.interrupted(t, "big", "big", aes)
	if _, err := g.w.plain.AbortMultipartUpload(context.Background(), &s3.AbortMultipartUploadInput{Bucket: &g.w.bucket, Key: aws.String("big"), UploadId: &id}); err != nil {
		t.Fatal(err)
	}
	r, _ := g.run(0, args...)
	r.want(t, exitOK)
	if want := "starts anew: its upload is no longer open"; !strings.Contains(r.stderr, want) {
		t.Errorf("stderr %q lacks %q", r.stderr, want)
	}
	g.finished(t, "big", big, aes)

	tok, id := g.interrupted(t, "big", "big", aes)
	b, err := os.ReadFile(tok)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x40
	if err := os.WriteFile(tok, b, 0o600); err != nil {
		t.Fatal(err)
	}
	r, _ = g.run(0, args...)
	r.want(t, exitOK)
	if want := "starts anew: its resume token is damaged; the upload it recorded may be left: list it with: aws s3api list-multipart-uploads"; !strings.Contains(r.stderr, want) {
		t.Errorf("stderr %q lacks %q", r.stderr, want)
	}
	// The damaged token's upload is the one the command could not name.
	if ups := g.w.uploads(); len(ups) != 1 || ups[0] != "big "+id {
		t.Errorf("uploads %q, want only the damaged token's %s", ups, id)
	}
	g.w.abortAll()
	g.finished(t, "big", big, aes)
}

// TestResumeStaleLieLeavesNoUpload: a server or proxy that answers
// ListParts with NoSuchUpload while the upload is still open makes the
// token stale; the command starts anew and aborts the recorded upload
// anyway, so that a wrong answer leaves no upload (and its parts) behind.
func TestResumeStaleLieLeavesNoUpload(t *testing.T) {
	t.Parallel()
	g := newResumeRig(t)
	aes, _ := g.w.aesKey("k")
	big := data(40 << 20)
	g.w.writeFile("big", big)
	g.interrupted(t, "big", "big", aes)
	g.mu.Lock()
	g.staleLie = true
	g.mu.Unlock()
	r, parts := g.run(0, append([]string{"cp", "--concurrency", "1", "big", g.w.url("big")}, aes...)...)
	r.want(t, exitOK)
	if want := "starts anew: its upload is no longer open"; !strings.Contains(r.stderr, want) || parts != 5 {
		t.Errorf("%d parts, stderr %q; want 5 and %q", parts, r.stderr, want)
	}
	g.finished(t, "big", big, aes)
}

// TestResumeNoResume: with --no-resume an interrupted upload is aborted,
// and no token file is written.
func TestResumeNoResume(t *testing.T) {
	t.Parallel()
	g := newResumeRig(t)
	aes, _ := g.w.aesKey("k")
	g.w.writeFile("big", data(40<<20))
	r, _ := g.run(3, append([]string{"cp", "--no-resume", "--concurrency", "1", "big", g.w.url("big")}, aes...)...)
	r.want(t, exitInterrupted)
	if ups := g.w.uploads(); len(ups) != 0 {
		t.Errorf("uploads left: %q", ups)
	}
	if _, err := os.Stat(g.w.tokenDir()); !os.IsNotExist(err) {
		t.Errorf("token directory: %v, want none", err)
	}
	if g.w.exists("big") {
		t.Error("an interrupted upload stored the object")
	}
}

// TestResumeTokenOtherKeyring: a token file the command's keyring cannot
// open (one planted by someone without the key, or a run with another
// key) is refused, exit 4, and neither it nor its upload is touched; the
// keyring that started the upload then resumes it.
func TestResumeTokenOtherKeyring(t *testing.T) {
	t.Parallel()
	g := newResumeRig(t)
	aes, _ := g.w.aesKey("k")
	other, _ := g.w.aesKey("other")
	big := data(40 << 20)
	g.w.writeFile("big", big)
	tok, id := g.interrupted(t, "big", "big", aes)
	r, parts := g.run(0, append([]string{"cp", "--concurrency", "1", "big", g.w.url("big")}, other...)...)
	r.want(t, exitKey)
	if want := "cannot be opened with this keyring"; !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, tok) ||
		!strings.Contains(r.stderr, "--upload-id "+id) || parts != 0 {
		t.Errorf("%d parts sent; stderr %q lacks %q and the token file", parts, r.stderr, want)
	}
	if ups := g.w.uploads(); len(ups) != 1 || ups[0] != "big "+id {
		t.Errorf("uploads %q, want %s untouched", ups, id)
	}
	if _, err := os.Stat(tok); err != nil {
		t.Errorf("token file: %v", err)
	}
	r, _ = g.run(0, append([]string{"cp", "--concurrency", "1", "big", g.w.url("big")}, aes...)...)
	r.want(t, exitOK)
	g.finished(t, "big", big, aes)
}

// TestResumeTokenOtherDestination puts the token of an upload to
// s3://b/big under the name of the upload of the same file to
// s3://b/other: the library refuses it for that destination, the command
// starts anew and leaves the other upload alone.
func TestResumeTokenOtherDestination(t *testing.T) {
	t.Parallel()
	g := newResumeRig(t)
	aes, _ := g.w.aesKey("k")
	big := data(40 << 20)
	g.w.writeFile("big", big)
	tok, id := g.interrupted(t, "big", "big", aes)
	store, err := newResumeStore(g.w.tokenDir(), g.ep)
	if err != nil {
		t.Fatal(err)
	}
	job, err := store.job(filepath.Join(g.w.dir, "big"), s3URL{bucket: g.w.bucket, key: "other"})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tok, job.path); err != nil {
		t.Fatal(err)
	}
	r, _ := g.run(0, append([]string{"cp", "--concurrency", "1", "big", g.w.url("other")}, aes...)...)
	r.want(t, exitOK)
	if want := "starts anew: its resume token is for another upload (" + g.w.url("big") + "), which was left alone"; !strings.Contains(r.stderr, want) {
		t.Errorf("stderr %q lacks %q", r.stderr, want)
	}
	if ups := g.w.uploads(); len(ups) != 1 || ups[0] != "big "+id {
		t.Errorf("uploads %q, want %s untouched", ups, id)
	}
	g.w.abortAll()
	g.finished(t, "other", big, aes)
}

// TestResumeAfterKill kills cp (SIGKILL: no cleanup at all) while its
// third part is in flight: the token written before that part was sent
// lets the same command, with --resume-dir, finish the upload.
func TestResumeAfterKill(t *testing.T) {
	t.Parallel()
	g := newResumeRig(t)
	aes, _ := g.w.aesKey("k")
	big := data(40 << 20)
	g.w.writeFile("big", big)
	dir := filepath.Join(t.TempDir(), "tokens")
	args := append([]string{"cp", "--concurrency", "1", "--resume-dir", dir, "big", g.w.url("big")}, aes...)
	g.mu.Lock()
	g.kill = true
	g.mu.Unlock()
	if r, _ := g.run(3, args...); r.code != -1 {
		t.Fatalf("exit %d, want killed\nstderr: %s", r.code, r.stderr)
	}
	g.mu.Lock()
	g.kill = false
	g.mu.Unlock()
	if toks := tokens(t, dir); len(toks) != 1 {
		t.Fatalf("token files in --resume-dir: %q, want one", toks)
	}
	if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("--resume-dir: %v %v, want mode 0700", st, err)
	}
	r, parts := g.run(0, args...)
	r.want(t, exitOK)
	if parts != 3 {
		t.Errorf("the resumed upload sent %d parts, want 3", parts)
	}
	if toks := tokens(t, dir); len(toks) != 0 {
		t.Errorf("token files left: %q", toks)
	}
	g.finished(t, "big", big, aes)
}

// TestResumeTokenWritableByOthersRefused: a token file, or a token
// directory, that another user could have written is not resumed (anyone
// who can wrap a data key for the keyring can seal a token of their own):
// the command fails before any part is sent, and the file is left for the
// user to look at.
func TestResumeTokenWritableByOthersRefused(t *testing.T) {
	t.Parallel()
	g := newResumeRig(t)
	aes, _ := g.w.aesKey("k")
	big := data(40 << 20)
	g.w.writeFile("big", big)
	args := append([]string{"cp", "--concurrency", "1", "big", g.w.url("big")}, aes...)
	tok, _ := g.interrupted(t, "big", "big", aes)
	dir := filepath.Dir(tok)
	for _, tc := range []struct {
		path string
		mode os.FileMode
		want string
	}{
		{tok, 0o622, "is writable by other users"},
		{dir, 0o777, "is writable by other users"},
	} {
		orig, err := os.Stat(tc.path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(tc.path, tc.mode); err != nil {
			t.Fatal(err)
		}
		r, parts := g.run(0, args...)
		r.want(t, exitOther)
		if !strings.Contains(r.stderr, tc.want) || !strings.Contains(r.stderr, "could have been planted") || parts != 0 {
			t.Errorf("%s mode %#o: %d parts sent, stderr %q", tc.path, tc.mode, parts, r.stderr)
		}
		if _, err := os.Stat(tok); err != nil {
			t.Errorf("the refused token file was removed: %v", err)
		}
		if err := os.Chmod(tc.path, orig.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
	r, _ := g.run(0, args...)
	r.want(t, exitOK)
	g.finished(t, "big", big, aes)
}
