package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/internal/testkit/kmstest"
	"github.com/s3ec/s3ec-go/internal/testkit/s3test"
)

// The end-to-end tests run the built binary against the in-process S3
// server, or the server named by S3EC_TEST_S3_ENDPOINT (scripts/integration.sh
// sets it for versitygw and MinIO), and the KMS test server.

// s3ecBin is the binary under test, built by TestMain.
var s3ecBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "s3ec-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	s3ecBin = filepath.Join(dir, "s3ec")
	// Without -race even under go test -race: the instrumented binary
	// starts twenty times slower, and the command is sequential.
	if out, err := exec.Command("go", "build", "-o", s3ecBin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building s3ec: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// world is one test's S3 server, bucket, KMS server and working directory.
type world struct {
	t      *testing.T
	srv    *s3test.Server
	plain  *s3.Client
	bucket string
	kms    *kmstest.Server
	kmsKey string // ARN
	dir    string
	env    []string
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{t: t, srv: s3test.Start(t), kms: kmstest.New(t), dir: t.TempDir()}
	w.plain = w.srv.Client()
	w.bucket = w.srv.CreateBucket(t, w.plain)
	w.kmsKey = w.kms.CreateKey()
	// Empty AWS config files, so that the machine's own are not read.
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	w.env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + t.TempDir(),
		"AWS_ACCESS_KEY_ID=" + w.srv.AccessKey,
		"AWS_SECRET_ACCESS_KEY=" + w.srv.SecretKey,
		"AWS_REGION=" + w.srv.Region,
		"AWS_CONFIG_FILE=" + empty,
		"AWS_SHARED_CREDENTIALS_FILE=" + empty,
		"AWS_EC2_METADATA_DISABLED=true",
	}
	if !w.srv.Real {
		// gofakes3 does not understand aws-chunked trailing checksums.
		w.env = append(w.env, "AWS_REQUEST_CHECKSUM_CALCULATION=when_required", "AWS_RESPONSE_CHECKSUM_VALIDATION=when_required")
	}
	return w
}

type result struct {
	code           int
	stdout, stderr string
}

// exec runs the binary with args in the world's directory.
func (w *world) exec(stdin io.Reader, args ...string) result {
	w.t.Helper()
	cmd := exec.Command(s3ecBin, args...)
	cmd.Dir = w.dir
	cmd.Env = w.env
	cmd.Stdin = stdin
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		w.t.Fatalf("running s3ec: %v", err)
	}
	return r
}

// run runs an S3 command: args plus the server's endpoint flags.
func (w *world) run(args ...string) result {
	w.t.Helper()
	return w.exec(nil, append(args, "--endpoint-url", w.srv.URL, "--path-style")...)
}

// runIn is run with stdin.
func (w *world) runIn(stdin io.Reader, args ...string) result {
	w.t.Helper()
	return w.exec(stdin, append(args, "--endpoint-url", w.srv.URL, "--path-style")...)
}

// want fails the test unless r exited with code; a failure must be one
// line on stderr, "s3ec: ...".
func (r result) want(t *testing.T, code int) result {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit code %d, want %d\nstdout: %s\nstderr: %s", r.code, code, r.stdout, r.stderr)
	}
	if code != exitOK {
		if !strings.HasPrefix(r.stderr, "s3ec: ") || strings.Count(r.stderr, "\n") != 1 {
			t.Fatalf("stderr is not one line starting with \"s3ec: \": %q", r.stderr)
		}
	}
	return r
}

func (w *world) url(key string) string { return "s3://" + w.bucket + "/" + key }

// kmsFlags selects the KMS keyring.
func (w *world) kmsFlags() []string {
	return []string{"--kms-key", w.kmsKey, "--kms-endpoint-url", w.kms.URL}
}

// aesKey writes an AES key file with keygen and returns its flags and the
// key.
func (w *world) aesKey(name string) ([]string, []byte) {
	w.t.Helper()
	w.exec(nil, "keygen", "aes", name).want(w.t, exitOK)
	key, err := os.ReadFile(filepath.Join(w.dir, name))
	if err != nil {
		w.t.Fatal(err)
	}
	return []string{"--aes-key-file", name}, key
}

func (w *world) writeFile(name string, data []byte) string {
	w.t.Helper()
	p := filepath.Join(w.dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		w.t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		w.t.Fatal(err)
	}
	return p
}

func (w *world) readFile(name string) []byte {
	w.t.Helper()
	b, err := os.ReadFile(filepath.Join(w.dir, name))
	if err != nil {
		w.t.Fatal(err)
	}
	return b
}

// raw returns what S3 stores for key.
func (w *world) raw(key string) ([]byte, map[string]string) {
	w.t.Helper()
	out, err := w.plain.GetObject(context.Background(), &s3.GetObjectInput{Bucket: &w.bucket, Key: aws.String(key)})
	if err != nil {
		w.t.Fatal(err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		w.t.Fatal(err)
	}
	return b, out.Metadata
}

func (w *world) putRaw(key string, body []byte, meta map[string]string) {
	w.t.Helper()
	_, err := w.plain.PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: &w.bucket, Key: aws.String(key), Body: bytes.NewReader(body), Metadata: meta,
	})
	if err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) exists(key string) bool {
	_, err := w.plain.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &w.bucket, Key: aws.String(key)})
	return err == nil
}

// tamper flips one byte of the stored body of key, keeping its metadata.
func (w *world) tamper(key string, at int) {
	w.t.Helper()
	body, meta := w.raw(key)
	body[at] ^= 1
	w.putRaw(key, body, meta)
}

func data(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

func TestHelp(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}} {
		r := w.exec(nil, args...).want(t, exitOK)
		for _, s := range []string{"Usage: s3ec COMMAND", "Exit codes:", "130", "--kms-key"} {
			if !strings.Contains(r.stdout, s) {
				t.Errorf("%v: help lacks %q", args, s)
			}
		}
		for _, c := range commands {
			if !strings.Contains(r.stdout, "  "+c.name+" ") {
				t.Errorf("%v: help does not list %s", args, c.name)
			}
		}
	}
	for _, c := range commands {
		for _, args := range [][]string{{c.name, "--help"}, {c.name, "-h"}, {"help", c.name}} {
			r := w.exec(nil, args...).want(t, exitOK)
			if !strings.HasPrefix(r.stdout, "Usage: s3ec "+c.name) || !strings.Contains(r.stdout, "--help") {
				t.Errorf("%v: help is\n%s", args, r.stdout)
			}
			for _, line := range strings.Split(r.stdout, "\n") {
				if len(line) > helpWidth {
					t.Errorf("%v: help line longer than %d: %q", args, helpWidth, line)
				}
			}
		}
	}
	// The documented KMS endpoint flag is in the help of the commands
	// that take a keyring.
	if r := w.exec(nil, "cp", "--help"); !strings.Contains(r.stdout, "--kms-endpoint-url") {
		t.Error("cp --help does not document --kms-endpoint-url")
	}
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.writeFile("f", []byte("x"))
	aes, _ := w.aesKey("k")
	for name, args := range map[string][]string{
		"no command":         {},
		"unknown command":    {"frobnicate"},
		"help of nothing":    {"help", "frobnicate"},
		"unknown flag":       {"cp", "--frobnicate", "f", w.url("f")},
		"one argument":       append([]string{"cp", "f"}, aes...),
		"two local paths":    append([]string{"cp", "f", "g"}, aes...),
		"copy onto itself":   {"cp", w.url("a"), w.url("a")},
		"mv two local paths": append([]string{"mv", "f", "g"}, aes...),
		"mv stdin":           append([]string{"mv", "-", w.url("f")}, aes...),
		"sync two prefixes":  append([]string{"sync", w.url("a/"), w.url("b/")}, aes...),
		"sync a file":        append([]string{"sync", "f", w.url("b/")}, aes...),
		"sync size and time": append([]string{"sync", w.url("a/"), "d", "--size-only", "--exact-timestamps"}, aes...),
		"rm a prefix no -r":  {"rm", w.url("p/")},
		"rm filter no -r":    {"rm", w.url("k"), "--exclude", "*"},
		"cp filter no -r":    append([]string{"cp", "f", w.url("f"), "--exclude", "*"}, aes...),
		"ls two addresses":   {"ls", w.url("a"), w.url("b")},
		"download settings":  append([]string{"cp", w.url("f"), "g", "--content-type", "text/plain"}, aes...),
		"bad sse":            append([]string{"cp", "f", w.url("f"), "--sse", "DES"}, aes...),
		"kms id without sse": append([]string{"cp", "f", w.url("f"), "--sse-kms-key-id", "k"}, aes...),
		"sse-c without key":  append([]string{"cp", "f", w.url("f"), "--sse-c", "AES256"}, aes...),
		"sse-c bad key":      append([]string{"cp", "f", w.url("f"), "--sse-c", "AES256", "--sse-c-key", "c2hvcnQ="}, aes...),
		"sse-c over http":    append([]string{"cp", "f", w.url("f"), "--sse-c", "AES256", "--sse-c-key", base64.StdEncoding.EncodeToString(make([]byte, 32))}, aes...),
		"bad metadata":       append([]string{"cp", "f", w.url("f"), "--metadata", "novalue"}, aes...),
		"bad storage class":  append([]string{"cp", "f", w.url("f"), "--storage-class", "cheap"}, aes...),
		"expected-size file": append([]string{"cp", "f", w.url("f"), "--expected-size", "10"}, aes...),
		"expected too large": append([]string{"cp", "-", w.url("f"), "--expected-size", "68719476736"}, aes...),
		"to-key no s3 copy":  append([]string{"cp", "f", w.url("f"), "--to-aes-key-file", "k"}, aes...),
		"no keyring":         {"cp", "f", w.url("f")},
		"two keyrings":       append(append([]string{"cp", "f", w.url("f")}, aes...), w.kmsFlags()...),
		"discovery upload":   {"cp", "f", w.url("f"), "--kms-discovery", "--kms-endpoint-url", w.kms.URL},
		"allow without disc": append([]string{"cat", w.url("f"), "--kms-allow", w.kmsKey}, w.kmsFlags()...),
		"public key decrypt": {"cat", w.url("f"), "--rsa-public-key", "f"},
		"bad policy":         append([]string{"cp", "f", w.url("f"), "--policy", "maybe"}, aes...),
		"legacy no policy":   append([]string{"cat", w.url("f"), "--legacy-unauthenticated"}, aes...),
		"bad context":        append([]string{"cp", "f", w.url("f"), "--context", "novalue"}, w.kmsFlags()...),
		"context with aes":   append([]string{"cp", "f", w.url("f"), "--context", "a=b"}, aes...),
		"no object":          append([]string{"cat", "s3://" + w.bucket + "/"}, aes...),
		"not s3":             append([]string{"inspect", "f"}, aes...),
		"recursive stdout":   append([]string{"cp", "-r", w.url("p/"), "-"}, aes...),
		"directory no -r":    append([]string{"cp", ".", w.url("d/")}, aes...),
		"keygen what":        {"keygen", "des", "x"},
		"keygen bits":        {"keygen", "rsa", "--bits", "1024", "x"},
		"verify flag":        append([]string{"verify", w.url("f"), "--instruction-file"}, aes...),
	} {
		t.Run(name, func(t *testing.T) {
			var r result
			if len(args) > 0 && (args[0] == "keygen" || args[0] == "help" || args[0] == "frobnicate") || len(args) == 0 {
				r = w.exec(nil, args...)
			} else {
				r = w.run(args...)
			}
			r.want(t, exitUsage)
		})
	}
}

func TestCopyRoundTrip(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	aes, _ := w.aesKey("aes.key")
	w.exec(nil, "keygen", "rsa", "--bits", "2048", "rsa").want(t, exitOK)
	for name, kr := range map[string]struct{ up, down []string }{
		"kms":           {w.kmsFlags(), w.kmsFlags()},
		"kms-discovery": {w.kmsFlags(), []string{"--kms-discovery", "--kms-allow", w.kmsKey, "--kms-endpoint-url", w.kms.URL}},
		"aes":           {aes, aes},
		"rsa":           {[]string{"--rsa-public-key", "rsa.pub.pem"}, []string{"--rsa-private-key", "rsa.pem"}},
	} {
		t.Run(name, func(t *testing.T) {
			for _, size := range []int{0, 1, 100_000} {
				want := data(size)
				src := w.writeFile(fmt.Sprintf("%s-%d.bin", name, size), want)
				key := fmt.Sprintf("%s/%d.bin", name, size)
				r := w.run(append([]string{"cp", src, w.url(key)}, kr.up...)...).want(t, exitOK)
				if want := "upload: " + src + " to " + w.url(key) + "\n"; r.stdout != want || r.stderr != "" {
					t.Errorf("upload printed %q %q, want %q on stdout alone (no terminal: no progress bar)", r.stdout, r.stderr, want)
				}
				stored, _ := w.raw(key)
				if len(stored) != size+envelope.TagSize || (size >= 64 && bytes.Contains(stored, want[:64])) {
					t.Fatalf("stored %d bytes, want %d of ciphertext", len(stored), size+envelope.TagSize)
				}
				out := fmt.Sprintf("out-%s-%d", name, size)
				r = w.run(append([]string{"cp", w.url(key), out}, kr.down...)...).want(t, exitOK)
				if line := "download: " + w.url(key) + " to ./" + out + "\n"; r.stdout != line {
					t.Errorf("download printed %q, want %q", r.stdout, line)
				}
				if got := w.readFile(out); !bytes.Equal(got, want) {
					t.Fatalf("downloaded %d bytes, want %d", len(got), size)
				}
				st, _ := os.Stat(filepath.Join(w.dir, out))
				if st.Mode().Perm() != 0o600 {
					t.Errorf("downloaded file mode %v, want 0600", st.Mode().Perm())
				}
			}
		})
	}

	t.Run("into a directory", func(t *testing.T) {
		w.writeFile("up/name.txt", []byte("hello"))
		w.run(append([]string{"cp", "up/name.txt", w.url("dir/")}, aes...)...).want(t, exitOK)
		if !w.exists("dir/name.txt") {
			t.Fatal("cp FILE s3://bucket/dir/ did not write dir/name.txt")
		}
		if err := os.Mkdir(filepath.Join(w.dir, "down"), 0o755); err != nil {
			t.Fatal(err)
		}
		w.run(append([]string{"cp", w.url("dir/name.txt"), "down"}, aes...)...).want(t, exitOK)
		if got := w.readFile("down/name.txt"); string(got) != "hello" {
			t.Fatalf("got %q", got)
		}
		// An existing file is replaced and keeps its permissions.
		w.writeFile("existing", []byte("old"))
		os.Chmod(filepath.Join(w.dir, "existing"), 0o640)
		w.run(append([]string{"cp", w.url("dir/name.txt"), "existing"}, aes...)...).want(t, exitOK)
		st, _ := os.Stat(filepath.Join(w.dir, "existing"))
		if got := w.readFile("existing"); string(got) != "hello" || st.Mode().Perm() != 0o640 {
			t.Fatalf("existing file: %q, mode %v", got, st.Mode().Perm())
		}
	})

	t.Run("instruction file", func(t *testing.T) {
		w.writeFile("instr.txt", []byte("in an instruction file"))
		w.run(append([]string{"cp", "instr.txt", w.url("instr.txt"), "--instruction-file"}, aes...)...).want(t, exitOK)
		if !w.exists("instr.txt.instruction") {
			t.Fatal("no instruction file")
		}
		r := w.run(append([]string{"cat", w.url("instr.txt")}, aes...)...).want(t, exitOK)
		if r.stdout != "in an instruction file" {
			t.Fatalf("cat: %q", r.stdout)
		}
	})

	t.Run("encryption context", func(t *testing.T) {
		w.writeFile("ctx.txt", []byte("bound"))
		up := append([]string{"cp", "ctx.txt", w.url("ctx.txt"), "--context", "team=blue", "--context", "env=test"}, w.kmsFlags()...)
		w.run(up...).want(t, exitOK)
		r := w.run(append([]string{"cat", w.url("ctx.txt"), "--context", "env=test", "--context", "team=blue"}, w.kmsFlags()...)...).want(t, exitOK)
		if r.stdout != "bound" {
			t.Fatalf("cat: %q", r.stdout)
		}
		w.run(append([]string{"cat", w.url("ctx.txt"), "--context", "team=red", "--context", "env=test"}, w.kmsFlags()...)...).want(t, exitKey)
		w.run(append([]string{"cat", w.url("ctx.txt")}, w.kmsFlags()...)...).want(t, exitKey)
	})

	t.Run("policy", func(t *testing.T) {
		w.writeFile("v2.txt", []byte("version 2"))
		w.run(append([]string{"cp", "v2.txt", w.url("v2.txt"), "--policy", "forbid"}, aes...)...).want(t, exitOK)
		r := w.run(append([]string{"cat", w.url("v2.txt")}, aes...)...).want(t, exitOther)
		if !strings.Contains(r.stderr, "--policy allow") {
			t.Errorf("refusal does not name the flag: %s", r.stderr)
		}
		r = w.run(append([]string{"cat", w.url("v2.txt"), "--policy", "allow"}, aes...)...).want(t, exitOK)
		if r.stdout != "version 2" {
			t.Fatalf("cat: %q", r.stdout)
		}
		r = w.run("inspect", w.url("v2.txt")).want(t, exitOK)
		if !strings.Contains(r.stdout, "V2") || !strings.Contains(r.stdout, envelope.SuiteAESGCM.String()) {
			t.Errorf("inspect of a V2 object:\n%s", r.stdout)
		}
	})
}

func TestCopyStdinStdout(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	aes, _ := w.aesKey("k")
	want := data(70_000)
	p := w.writeFile("in.bin", want)

	// stdin that is a file is uploaded in one request.
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w.runIn(f, append([]string{"cp", "-", w.url("stdin.bin")}, aes...)...).want(t, exitOK)

	for _, extra := range [][]string{nil, {"--stream"}} {
		r := w.run(append(append([]string{"cp", w.url("stdin.bin"), "-"}, aes...), extra...)...).want(t, exitOK)
		if r.stdout != string(want) {
			t.Fatalf("cp %v to stdout: %d bytes, want %d", extra, len(r.stdout), len(want))
		}
	}

	// A pipe has no length: it goes through a multipart upload when it is
	// larger than a part.
	for _, size := range []int{5, 9 << 20} {
		want := data(size)
		w.runIn(bytes.NewReader(want), append([]string{"cp", "-", w.url("pipe.bin")}, aes...)...).want(t, exitOK)
		r := w.run(append([]string{"cat", "--stream", w.url("pipe.bin")}, aes...)...).want(t, exitOK)
		if r.stdout != string(want) {
			t.Fatalf("pipe of %d bytes: read back %d bytes", size, len(r.stdout))
		}
	}
	if r := w.runIn(f, append([]string{"cp", "-", w.url("dir/")}, aes...)...); r.code != exitUsage {
		t.Errorf("stdin to a prefix: exit %d", r.code)
	}
}

func TestCopyRecursive(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	aes, _ := w.aesKey("k")
	files := map[string][]byte{
		"a.txt":          []byte("a"),
		"empty":          nil,
		"sub/b.bin":      data(5000),
		"sub/deep/c.txt": []byte("c"),
	}
	for name, b := range files {
		w.writeFile(filepath.Join("tree", name), b)
	}
	w.run(append([]string{"cp", "--recursive", "tree", w.url("backup"), "--instruction-file"}, aes...)...).want(t, exitOK)
	for name := range files {
		if !w.exists("backup/"+name) || !w.exists("backup/"+name+".instruction") {
			t.Fatalf("backup/%s or its instruction file is missing", name)
		}
	}
	w.run(append([]string{"cp", "-r", w.url("backup/"), "restored"}, aes...)...).want(t, exitOK)
	var got []string
	filepath.WalkDir(filepath.Join(w.dir, "restored"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(filepath.Join(w.dir, "restored"), p)
			got = append(got, filepath.ToSlash(rel))
		}
		return err
	})
	if len(got) != len(files) {
		t.Fatalf("restored %v, want the %d files of %v (no instruction files)", got, len(files), files)
	}
	for name, want := range files {
		if b := w.readFile(filepath.Join("restored", name)); !bytes.Equal(b, want) {
			t.Errorf("%s: %q, want %q", name, b, want)
		}
	}

	// verify -r checks the whole prefix; one damaged object fails it.
	r := w.run(append([]string{"verify", "-r", w.url("backup")}, aes...)...).want(t, exitOK)
	if n := strings.Count(r.stdout, ": OK"); n != len(files) {
		t.Errorf("verify -r: %d OK lines, want %d:\n%s", n, len(files), r.stdout)
	}
	w.tamper("backup/sub/b.bin", 10)
	r = w.run(append([]string{"verify", "-r", "--quiet", w.url("backup/")}, aes...)...)
	if r.code != exitAuth || strings.Count(r.stderr, "\n") != 2 || !strings.Contains(r.stderr, "1 of 4 objects failed") {
		t.Fatalf("verify -r of a damaged prefix: exit %d\n%s", r.code, r.stderr)
	}

	// A recursive download goes on past the damaged object and does not
	// write it.
	r = w.run(append([]string{"cp", "-r", w.url("backup/"), "again"}, aes...)...)
	if r.code != exitAuth {
		t.Fatalf("cp -r with a damaged object: exit %d\n%s", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(w.dir, "again", "sub", "b.bin")); !os.IsNotExist(err) {
		t.Errorf("the damaged object was written: %v", err)
	}
	if b := w.readFile("again/sub/deep/c.txt"); string(b) != "c" {
		t.Errorf("the objects after the damaged one were not copied")
	}
	assertNoTempFiles(t, filepath.Join(w.dir, "again"))

	w.run(append([]string{"cp", "-r", w.url("nothing/"), "none"}, aes...)...).want(t, exitNotFound)
}

// assertNoTempFiles fails if a download left a temporary file in dir.
func assertNoTempFiles(t *testing.T, dir string) {
	t.Helper()
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.Contains(d.Name(), ".s3ec-") {
			t.Errorf("temporary file left behind: %s", p)
		}
		return nil
	})
}

func TestCat(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.writeFile("one", []byte("one,"))
	w.writeFile("two", []byte("two"))
	w.run(append([]string{"cp", "one", w.url("one")}, w.kmsFlags()...)...).want(t, exitOK)
	w.run(append([]string{"cp", "two", w.url("two")}, w.kmsFlags()...)...).want(t, exitOK)
	r := w.run(append([]string{"cat", w.url("one"), w.url("two")}, w.kmsFlags()...)...).want(t, exitOK)
	if r.stdout != "one,two" || r.stderr != "" {
		t.Fatalf("cat: %q %q", r.stdout, r.stderr)
	}
	w.run(append([]string{"cat", w.url("missing")}, w.kmsFlags()...)...).want(t, exitNotFound)
}

func TestInspect(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	aes, key := w.aesKey("k")
	w.writeFile("f", data(1000))
	w.run(append([]string{"cp", "f", w.url("aes")}, aes...)...).want(t, exitOK)
	w.run(append([]string{"cp", "f", w.url("kms"), "--context", "team=blue"}, w.kmsFlags()...)...).want(t, exitOK)
	w.run(append([]string{"cp", "f", w.url("instr"), "--instruction-file"}, w.kmsFlags()...)...).want(t, exitOK)

	// Nothing secret may appear: the key, in any encoding, nor the wrapped
	// key or the other envelope values.
	secrets := func(obj string) []string {
		s := []string{string(key), hex.EncodeToString(key), base64.StdEncoding.EncodeToString(key)}
		_, meta := w.raw(obj)
		for _, k := range []string{envelope.KeyV3WrappedKey, envelope.KeyV3MessageID, envelope.KeyV3Commitment} {
			if v := meta[k]; v != "" {
				s = append(s, v)
			}
		}
		if b, err := w.plain.GetObject(context.Background(), &s3.GetObjectInput{Bucket: &w.bucket, Key: aws.String(obj + ".instruction")}); err == nil {
			body, _ := io.ReadAll(b.Body)
			b.Body.Close()
			var m map[string]string
			json.Unmarshal(body, &m)
			s = append(s, m[envelope.KeyV3WrappedKey])
		}
		return s
	}

	for _, tc := range []struct {
		obj, wrap, location string
		context             map[string]string
	}{
		{"aes", "AES/GCM", "metadata", nil},
		{"kms", "kms+context", "metadata", map[string]string{"team": "blue", "aws:x-amz-cek-alg": "115"}},
		{"instr", "kms+context", "metadata+instruction-file", map[string]string{"aws:x-amz-cek-alg": "115"}},
	} {
		t.Run(tc.obj, func(t *testing.T) {
			text := w.run("inspect", w.url(tc.obj)).want(t, exitOK).stdout
			for _, s := range []string{"V3", envelope.SuiteAESGCMCommitting.String(), tc.wrap, "1016 bytes", "1000 bytes", "Key commitment:       yes"} {
				if !strings.Contains(text, s) {
					t.Errorf("inspect lacks %q:\n%s", s, text)
				}
			}
			js := w.run("inspect", "--json", w.url(tc.obj)).want(t, exitOK).stdout
			var info inspection
			if err := json.Unmarshal([]byte(js), &info); err != nil {
				t.Fatalf("inspect --json: %v\n%s", err, js)
			}
			if info.Format != "V3" || info.WrapAlgorithm != tc.wrap || !info.KeyCommitting || !info.Authenticated ||
				info.EnvelopeLocation != tc.location || *info.StoredSize != 1016 || *info.PlaintextSize != 1000 || info.WrappedKeySize == 0 {
				t.Errorf("inspect --json: %+v", info)
			}
			if tc.context != nil && fmt.Sprint(info.EncryptionContext) != fmt.Sprint(tc.context) {
				t.Errorf("encryption context %v, want %v", info.EncryptionContext, tc.context)
			}
			if tc.context == nil && (info.MaterialDescription == nil || info.EncryptionContext != nil) {
				t.Errorf("material description %v, context %v", info.MaterialDescription, info.EncryptionContext)
			}
			for _, s := range secrets(tc.obj) {
				if s != "" && (strings.Contains(text, s) || strings.Contains(js, s)) {
					t.Errorf("inspect shows envelope secret %q", s)
				}
			}
		})
	}

	w.putRaw("plain", []byte("not encrypted"), nil)
	w.run("inspect", w.url("plain")).want(t, exitNotFound)
	w.run("inspect", w.url("missing")).want(t, exitNotFound)
	r := w.run("inspect", w.url("instr.instruction")).want(t, exitNotFound)
	if !strings.Contains(r.stderr, "instruction file of "+w.url("instr")) {
		t.Errorf("inspect of an instruction file: %s", r.stderr)
	}
}

func TestVerify(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	aes, _ := w.aesKey("k")
	other, _ := w.aesKey("other")
	w.writeFile("f", data(200_000))
	for _, k := range []string{"good", "bad", "badkey", "badtag"} {
		w.run(append([]string{"cp", "f", w.url(k)}, aes...)...).want(t, exitOK)
	}

	r := w.run(append([]string{"verify", w.url("good")}, aes...)...).want(t, exitOK)
	if !strings.HasPrefix(r.stdout, w.url("good")+": OK (V3") {
		t.Errorf("verify printed %q", r.stdout)
	}
	if r := w.run(append([]string{"verify", "-q", w.url("good")}, aes...)...).want(t, exitOK); r.stdout != "" {
		t.Errorf("verify --quiet printed %q", r.stdout)
	}

	w.tamper("bad", 100)
	w.run(append([]string{"verify", w.url("bad")}, aes...)...).want(t, exitAuth)
	w.tamper("badtag", 200_000+envelope.TagSize-1)
	w.run(append([]string{"verify", w.url("badtag")}, aes...)...).want(t, exitAuth)
	// The envelope: a changed commitment.
	body, meta := w.raw("badkey")
	c, _ := base64.StdEncoding.DecodeString(meta[envelope.KeyV3Commitment])
	c[0] ^= 1
	meta[envelope.KeyV3Commitment] = base64.StdEncoding.EncodeToString(c)
	w.putRaw("badkey", body, meta)
	w.run(append([]string{"verify", w.url("badkey")}, aes...)...).want(t, exitAuth)

	// A damaged object never reaches its file; the file keeps its content.
	w.writeFile("keep", []byte("keep me"))
	w.run(append([]string{"cp", w.url("bad"), "keep"}, aes...)...).want(t, exitAuth)
	if got := w.readFile("keep"); string(got) != "keep me" {
		t.Errorf("the file was replaced: %q", got)
	}
	assertNoTempFiles(t, w.dir)
	// To stdout: nothing is written in the default mode; --stream says to
	// discard what was.
	r = w.run(append([]string{"cat", w.url("bad")}, aes...)...).want(t, exitAuth)
	if r.stdout != "" {
		t.Errorf("cat of a damaged object wrote %d bytes", len(r.stdout))
	}
	r = w.run(append([]string{"cat", "--stream", w.url("bad")}, aes...)...).want(t, exitAuth)
	if !strings.Contains(r.stderr, "discard") {
		t.Errorf("cat --stream of a damaged object: %s", r.stderr)
	}

	// Wrong key: exit 4, for each command that decrypts.
	w.run(append([]string{"verify", w.url("good")}, other...)...).want(t, exitKey)
	w.run(append([]string{"cat", w.url("good")}, other...)...).want(t, exitKey)
	w.run(append([]string{"cp", w.url("good"), "wrong"}, other...)...).want(t, exitKey)
	w.run(append([]string{"verify", w.url("good")}, w.kmsFlags()...)...).want(t, exitKey)
	w.exec(nil, "keygen", "rsa", "--bits", "2048", "rsa").want(t, exitOK)
	w.run("verify", w.url("good"), "--rsa-private-key", "rsa.pem").want(t, exitKey)
	w.writeFile("short.key", []byte("too short"))
	w.run("verify", w.url("good"), "--aes-key-file", "short.key").want(t, exitKey)
	w.run("verify", w.url("good"), "--aes-key-file", "no-such.key").want(t, exitKey)

	// Not encrypted, or not there: exit 2.
	w.putRaw("plain", []byte("plain text"), nil)
	w.run(append([]string{"verify", w.url("plain")}, aes...)...).want(t, exitNotFound)
	w.run(append([]string{"cat", w.url("plain")}, aes...)...).want(t, exitNotFound)
	w.run(append([]string{"cp", w.url("plain"), "plain"}, aes...)...).want(t, exitNotFound)
	w.run(append([]string{"verify", w.url("missing")}, aes...)...).want(t, exitNotFound)
	w.run(append([]string{"cp", "no-such-file", w.url("x")}, aes...)...).want(t, exitNotFound)
	w.run(append([]string{"verify", "s3://no-such-bucket-s3ec/x"}, aes...)...).want(t, exitNotFound)
}

func TestKeygen(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.exec(nil, "keygen", "aes", "a.key").want(t, exitOK)
	st, err := os.Stat(filepath.Join(w.dir, "a.key"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 || st.Size() != 32 {
		t.Fatalf("a.key: mode %v, %d bytes", st.Mode().Perm(), st.Size())
	}
	before := w.readFile("a.key")
	w.exec(nil, "keygen", "aes", "a.key").want(t, exitOther)
	if !bytes.Equal(w.readFile("a.key"), before) {
		t.Fatal("keygen overwrote a key")
	}
	w.exec(nil, "keygen", "aes", "b.key").want(t, exitOK)
	if bytes.Equal(w.readFile("b.key"), before) {
		t.Fatal("two keys are equal")
	}

	w.exec(nil, "keygen", "rsa", "--bits", "2048", "id").want(t, exitOK)
	for name, mode := range map[string]os.FileMode{"id.pem": 0o600, "id.pub.pem": 0o644} {
		st, err := os.Stat(filepath.Join(w.dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != mode {
			t.Errorf("%s: mode %v, want %v", name, st.Mode().Perm(), mode)
		}
	}
	if !strings.HasPrefix(string(w.readFile("id.pem")), "-----BEGIN PRIVATE KEY-----") ||
		!strings.HasPrefix(string(w.readFile("id.pub.pem")), "-----BEGIN PUBLIC KEY-----") {
		t.Error("keys are not PKCS #8 and PKIX PEM")
	}
	priv := w.readFile("id.pem")
	w.exec(nil, "keygen", "rsa", "id").want(t, exitOther)
	if !bytes.Equal(w.readFile("id.pem"), priv) {
		t.Fatal("keygen overwrote a key")
	}
	// A public key in the way: nothing is written.
	w.writeFile("other.pub.pem", []byte("x"))
	w.exec(nil, "keygen", "rsa", "other").want(t, exitOther)
	if _, err := os.Stat(filepath.Join(w.dir, "other.pem")); !os.IsNotExist(err) {
		t.Error("keygen wrote a private key without its public key")
	}

	// The generated keys work: encrypt with the public key only, decrypt
	// with the private key.
	w.writeFile("msg", []byte("for the key holder"))
	w.run("cp", "msg", w.url("msg"), "--rsa-public-key", "id.pub.pem").want(t, exitOK)
	r := w.run("cat", w.url("msg"), "--rsa-private-key", "id.pem").want(t, exitOK)
	if r.stdout != "for the key holder" {
		t.Fatalf("cat: %q", r.stdout)
	}
	r = w.run("cat", w.url("msg"), "--aes-key-file", "a.key").want(t, exitKey)
}

func TestLargeObject(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	aes, _ := w.aesKey("k")
	// Larger than a part: a parallel multipart upload and ranged download.
	want := data(17<<20 + 5)
	w.writeFile("big", want)
	w.run(append([]string{"cp", "--concurrency", "3", "big", w.url("big")}, aes...)...).want(t, exitOK)
	if stored, _ := w.raw("big"); len(stored) != len(want)+envelope.TagSize {
		t.Fatalf("stored %d bytes, want %d", len(stored), len(want)+envelope.TagSize)
	}
	w.run(append([]string{"cp", w.url("big"), "big.out"}, aes...)...).want(t, exitOK)
	if !bytes.Equal(w.readFile("big.out"), want) {
		t.Fatal("downloaded content differs")
	}
	w.run(append([]string{"verify", w.url("big")}, aes...)...).want(t, exitOK)
	// Over the 64 MiB limit of authenticated output to stdout? Not at this
	// size: cat buffers and authenticates it.
	if r := w.run(append([]string{"cat", w.url("big")}, aes...)...).want(t, exitOK); r.stdout != string(want) {
		t.Fatal("cat of a multipart object differs")
	}

	w.tamper("big", 12<<20)
	w.run(append([]string{"verify", w.url("big")}, aes...)...).want(t, exitAuth)
	w.run(append([]string{"cp", w.url("big"), "big.out"}, aes...)...).want(t, exitAuth)
	if !bytes.Equal(w.readFile("big.out"), want) {
		t.Fatal("a damaged download replaced the file")
	}
	assertNoTempFiles(t, w.dir)
}

func TestRotate(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	oldAES, _ := w.aesKey("old.key")
	newAES, _ := w.aesKey("new.key")
	w.writeFile("f", []byte("rotate me"))
	for _, k := range []string{"logs/a", "logs/b", "logs/c", "other"} {
		w.run(append([]string{"cp", "f", w.url(k)}, oldAES...)...).want(t, exitOK)
	}
	w.run(append([]string{"cp", "f", w.url("logs/instr"), "--instruction-file"}, oldAES...)...).want(t, exitOK)
	w.putRaw("logs/plain", []byte("not encrypted"), nil)
	cat := func(key string, kr []string) result {
		return w.run(append([]string{"cat", w.url(key)}, kr...)...)
	}

	// One object, AES to KMS.
	r := w.run(append(append([]string{"rotate", w.url("other"), "--to-kms-key", w.kmsKey}, oldAES...), "--kms-endpoint-url", w.kms.URL)...).want(t, exitOK)
	if !strings.Contains(r.stdout, "rotated (V3, AES/GCM -> kms+context)") {
		t.Errorf("rotate printed %q", r.stdout)
	}
	cat("other", w.kmsFlags()).want(t, exitOK)
	cat("other", oldAES).want(t, exitKey)
	// Again: nothing to do.
	r = w.run(append([]string{"rotate", w.url("other"), "--to-kms-key", w.kmsKey, "--kms-discovery"}, "--kms-endpoint-url", w.kms.URL)...).want(t, exitOK)
	if !strings.Contains(r.stdout, "already under the new key") {
		t.Errorf("second rotate printed %q", r.stdout)
	}

	// A prefix, old AES key to new AES key; a dry run first.
	to := []string{"--to-aes-key-file", "new.key", "--to-material-description", "key=2"}
	w.run(append(append([]string{"rotate", w.url("logs/")}, oldAES...), "--to-aes-key-file", "new.key")...).want(t, exitUsage)
	r = w.run(append(append([]string{"rotate", "--dry-run", w.url("logs/")}, oldAES...), to...)...).want(t, exitOK)
	if !strings.Contains(r.stdout, "would rotate 4, skipped 2") {
		t.Errorf("dry run printed %q", r.stdout)
	}
	cat("logs/a", oldAES).want(t, exitOK)
	r = w.run(append(append([]string{"rotate", w.url("logs/")}, oldAES...), to...)...).want(t, exitOK)
	if !strings.Contains(r.stdout, "rotated 4, skipped 2 (already under the new key 0, not encrypted 1, instruction files 1), failed 0") {
		t.Errorf("rotate printed %q", r.stdout)
	}
	for _, k := range []string{"logs/a", "logs/b", "logs/c", "logs/instr"} {
		if r := cat(k, newAES).want(t, exitOK); r.stdout != "rotate me" {
			t.Errorf("%s: %q", k, r.stdout)
		}
		cat(k, oldAES).want(t, exitKey)
	}
	// A failure does not stop the rest: the exit code is the failure's.
	w.run(append([]string{"cp", "f", w.url("logs/d")}, oldAES...)...).want(t, exitOK)
	other, _ := w.aesKey("other.key")
	w.run(append([]string{"cp", "f", w.url("logs/e")}, other...)...).want(t, exitOK)
	r = w.run(append(append([]string{"rotate", w.url("logs/")}, oldAES...), to...)...)
	if r.code != exitKey || !strings.Contains(r.stdout, "rotated 1,") || !strings.Contains(r.stderr, "logs/e") {
		t.Errorf("rotate with a foreign object: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}

	w.run(append([]string{"rotate", w.url("logs/a")}, oldAES...)...).want(t, exitUsage)
	w.run(append(append([]string{"rotate", w.url("logs/a"), "--start-after", "x"}, oldAES...), to...)...).want(t, exitUsage)
	w.run(append(append([]string{"rotate", w.url("logs/a"), "--to-context", "a=b"}, oldAES...), to...)...).want(t, exitUsage)
	w.run(append(append([]string{"rotate", w.url("missing")}, oldAES...), to...)...).want(t, exitNotFound)
}

// TestProgressOnTerminal runs transfers with stderr on a pseudo-terminal
// (util-linux script): the bar is drawn there, and not with --quiet.
func TestProgressOnTerminal(t *testing.T) {
	t.Parallel()
	script, err := exec.LookPath("script")
	if err != nil {
		t.Skip("no script(1) to give the command a terminal")
	}
	w := newWorld(t)
	aes, _ := w.aesKey("k")
	w.writeFile("big", data(3<<20))
	onTTY := func(args ...string) string {
		t.Helper()
		args = append(append(args, aes...), "--endpoint-url", w.srv.URL, "--path-style")
		cmd := exec.Command(script, "-qec", s3ecBin+" "+strings.Join(args, " ")+" </dev/null >/dev/null", "/dev/null")
		cmd.Dir, cmd.Env = w.dir, w.env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	for _, args := range [][]string{
		{"cp", "big", w.url("big")},
		{"cp", w.url("big"), "big.out"},
		{"verify", w.url("big")},
	} {
		if out := onTTY(args...); !strings.Contains(out, "100%") || !strings.Contains(out, "3.0 MiB") {
			t.Errorf("%v: no progress bar on the terminal: %q", args, out)
		}
		if out := onTTY(append(args, "--quiet")...); strings.Contains(out, "%") {
			t.Errorf("%v --quiet: %q", args, out)
		}
	}
	// A bulk run counts objects, and prints its summary.
	onTTY("cp", "big", w.url("p/a"))
	onTTY("cp", "big", w.url("p/b"))
	if out := onTTY("verify", w.url("p/"), "--report", "r.csv"); !strings.Contains(out, "2 objects") || !strings.Contains(out, "verify: 2 done, 0 skipped, 0 failed; report: r.csv") {
		t.Errorf("bulk verify: no object count on the terminal: %q", out)
	}
	if out := onTTY("verify", w.url("p/"), "--report", "r.csv", "--quiet"); strings.Contains(out, "2 objects") || !strings.Contains(out, "verify: 2 done") {
		t.Errorf("bulk verify --quiet: %q", out)
	}
}
