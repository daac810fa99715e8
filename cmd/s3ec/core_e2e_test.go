package main

import (
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
)

// The end-to-end tests of the command line as such (issue 13): flag
// parsing, the wording of errors, help texts and --version, on the built
// binary (TestMain in e2e_test.go).

// TestFlagSyntax runs GNU-style command lines: combined short flags, "--"
// before an argument that starts with "-", flags after the arguments, and
// the messages of bad ones.
func TestFlagSyntax(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	aes, _ := w.aesKey("k")
	w.writeFile("dir/a.txt", []byte("alpha"))
	w.writeFile("dir/b.txt", []byte("beta"))

	// -rq is -r -q: a quiet recursive upload.
	r := w.run(append([]string{"cp", "-rq", "dir", w.url("tree/")}, aes...)...).want(t, exitOK)
	if r.stdout != "" || r.stderr != "" || !w.exists("tree/a.txt") || !w.exists("tree/b.txt") {
		t.Fatalf("cp -rq: stdout %q, stderr %q, objects a %v b %v", r.stdout, r.stderr, w.exists("tree/a.txt"), w.exists("tree/b.txt"))
	}

	// "--" ends the flags: -weird is a file, uploaded and read back.
	w.writeFile("-weird", []byte("a file named -weird"))
	w.exec(nil, append(append([]string{"cp"}, aes...), "--endpoint-url", w.srv.URL, "--path-style", "--", "-weird", w.url("weird"))...).want(t, exitOK)
	if r := w.run("cat", w.url("weird"), "--aes-key-file=k").want(t, exitOK); r.stdout != "a file named -weird" {
		t.Fatalf("cat of the -weird upload: %q", r.stdout)
	}
	// Without "--", it is an unknown flag, and the message says so.
	r = w.run(append([]string{"cp", "-weird", w.url("weird2")}, aes...)...).want(t, exitUsage)
	if want := `s3ec: cp: unknown flag: -w in -weird (an argument that starts with "-" goes after "--")`; !strings.HasPrefix(r.stderr, want) {
		t.Errorf("cp -weird: %q, want %q...", r.stderr, want)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"cp", "--bogus", "dir/a.txt", w.url("x")}, "s3ec: cp: unknown flag: --bogus (see 's3ec cp --help')"},
		{[]string{"cp", "--concurrency", "abc", "dir/a.txt", w.url("x")}, `s3ec: cp: invalid value "abc" for --concurrency: not an integer (see 's3ec cp --help')`},
		{[]string{"verify", "--concurrency=99999999999999999999", w.url("x")}, `s3ec: verify: invalid value "99999999999999999999" for --concurrency: out of range (see 's3ec verify --help')`},
		{[]string{"cp", "dir/a.txt", w.url("x"), "--context", "novalue"}, `s3ec: cp: invalid value "novalue" for --context: want KEY=VALUE (see 's3ec cp --help')`},
		{[]string{"cp", "dir/a.txt", w.url("x"), "--recursive=maybe"}, `s3ec: cp: invalid value "maybe" for --recursive: want true or false`},
		{[]string{"cp", "-kms-key", "x", "dir/a.txt", w.url("x")}, "s3ec: cp: unknown flag: -kms-key (long flags take two dashes: --kms-key)"},
		{[]string{"cp", "-rx", "dir", w.url("x/")}, "s3ec: cp: unknown flag: -x (see 's3ec cp --help')"},
		{[]string{"cp", "dir/a.txt", w.url("x"), "extra"}, "s3ec: cp takes 2 arguments (SRC DST), got 3 (see 's3ec cp --help')"},
		{[]string{"cp", "dir/a.txt"}, "s3ec: cp takes 2 arguments (SRC DST), got 1"},
	} {
		args := append(append([]string{tc.args[0]}, aes...), tc.args[1:]...)
		r := w.run(args...).want(t, exitUsage)
		if !strings.HasPrefix(r.stderr, tc.want) {
			t.Errorf("s3ec %q: %q, want %q...", tc.args, r.stderr, tc.want)
		}
	}
	// Command lines with nothing appended.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"keygen", "aes", "f", "g"}, "s3ec: keygen takes 2 arguments (aes FILE, or rsa PREFIX), got 3"},
		{[]string{"keygen", "--bits", "big", "rsa", "x"}, `s3ec: keygen: invalid value "big" for --bits: not an integer`},
		{[]string{"version", "extra"}, "s3ec: version takes no arguments, got 1"},
		// (A flag given last, with nothing after it.)
		{[]string{"cat", w.url("x"), "--kms-key"}, "s3ec: cat: flag needs a value: --kms-key ID"},
	} {
		r := w.exec(nil, tc.args...).want(t, exitUsage)
		if !strings.HasPrefix(r.stderr, tc.want) {
			t.Errorf("s3ec %q: %q, want %q...", tc.args, r.stderr, tc.want)
		}
	}

	// Flags before, between and after the arguments.
	for i, args := range [][]string{
		append(append([]string{"cp"}, aes...), "dir/a.txt", w.url("order/0")),
		append([]string{"cp", "dir/a.txt"}, append(aes, w.url("order/1"))...),
		append([]string{"cp", "dir/a.txt", w.url("order/2")}, aes...),
	} {
		w.run(args...).want(t, exitOK)
		if r := w.run(append([]string{"cat", w.url(fmt.Sprintf("order/%d", i))}, aes...)...).want(t, exitOK); r.stdout != "alpha" {
			t.Errorf("%q: read back %q", args, r.stdout)
		}
	}
}

// TestMissingCredentials: with no credentials anywhere, a command says so
// in one line (exit 5), and the SDK's own log lines ("WARN falling back
// to IMDSv1", which the instance metadata service's refusal of a token
// provokes) are not printed.
func TestMissingCredentials(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	aes, _ := w.aesKey("k")
	// A stand-in for the instance metadata service that refuses the
	// IMDSv2 token (404: the SDK falls back to IMDSv1 and logs it) and
	// knows no role.
	var tokenAsked atomic.Int32
	imds := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/latest/api/token" {
			tokenAsked.Add(1)
		}
		http.NotFound(rw, r)
	}))
	t.Cleanup(imds.Close)
	var env []string
	for _, kv := range w.env {
		if !strings.HasPrefix(kv, "AWS_ACCESS_KEY_ID=") && !strings.HasPrefix(kv, "AWS_SECRET_ACCESS_KEY=") && !strings.HasPrefix(kv, "AWS_EC2_METADATA_DISABLED=") {
			env = append(env, kv)
		}
	}
	const want = "s3ec: unable to locate AWS credentials (set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run 'aws configure'; on EC2, attach an instance role)\n"
	for name, extra := range map[string][]string{
		"imds refuses": {"AWS_EC2_METADATA_SERVICE_ENDPOINT=" + imds.URL},
		"imds off":     {"AWS_EC2_METADATA_DISABLED=true"},
	} {
		w.env = append(append([]string{}, env...), extra...)
		for _, args := range [][]string{
			append([]string{"cat", w.url("k")}, aes...),
			{"inspect", w.url("k")},
		} {
			r := w.run(args...).want(t, exitOther)
			if r.stderr != want {
				t.Errorf("%s: s3ec %q: stderr %q, want %q", name, args, r.stderr, want)
			}
		}
	}
	if tokenAsked.Load() == 0 {
		t.Error("the instance metadata stand-in was never asked for a token: the fallback path was not exercised")
	}
}

// TestContextMismatchSaysWhatDiffers: a wrong --context names the key
// whose value differs, and the keys missing on either side.
func TestContextMismatchSaysWhatDiffers(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.writeFile("f", []byte("bound"))
	w.run(append([]string{"cp", "f", w.url("ctx"), "--context", "tenant=acme", "--context", "env=prod"}, w.kmsFlags()...)...).want(t, exitOK)
	for _, tc := range []struct {
		context []string
		want    string
	}{
		{[]string{"tenant=other", "env=prod"}, `stored value of "tenant" is "acme", expected "other" (kms keyring)`},
		{[]string{"tenant=acme"}, `stored but not expected: "env"="prod" (kms keyring)`},
		{[]string{"tenant=acme", "env=prod", "region=eu"}, `expected but not stored: "region"="eu" (kms keyring)`},
	} {
		args := append([]string{"cat", w.url("ctx")}, w.kmsFlags()...)
		for _, c := range tc.context {
			args = append(args, "--context", c)
		}
		r := w.run(args...).want(t, exitKey)
		if !strings.Contains(r.stderr, "encryption context mismatch: "+tc.want) || !strings.HasPrefix(r.stderr, "s3ec: "+w.url("ctx")+": materials: encryption context mismatch: ") {
			t.Errorf("--context %q: %q, want it to say %q", tc.context, r.stderr, tc.want)
		}
	}
}

// TestCatLargeObjectAuthenticated: cat (and cp to stdout) of an object over the 64 MiB it
// authenticates in memory goes through the ciphertext spool in
// --spool-dir: written whole when it authenticates, nothing written when it
// does not, and the spool directory is left empty either way; --stream
// writes it as it arrives.
func TestCatLargeObjectAuthenticated(t *testing.T) {
	if testing.Short() {
		t.Skip("uploads 64 MiB")
	}
	w := newWorld(t)
	aes, _ := w.aesKey("k")
	big := data(64<<20 + 1)
	w.writeFile("big", big)
	w.run(append([]string{"cp", "big", w.url("big")}, aes...)...).want(t, exitOK)
	w.run(append([]string{"cp", "big", w.url("bad")}, aes...)...).want(t, exitOK)
	if err := os.Remove(filepath.Join(w.dir, "big")); err != nil {
		t.Fatal(err)
	}
	spool := t.TempDir()
	empty := func(when string) {
		t.Helper()
		if ents, err := os.ReadDir(spool); err != nil || len(ents) != 0 {
			t.Errorf("%s: spool directory holds %v (%v)", when, ents, err)
		}
	}
	r := w.run(append([]string{"cat", "--spool-dir", spool, w.url("big")}, aes...)...).want(t, exitOK)
	if sha256.Sum256([]byte(r.stdout)) != sha256.Sum256(big) {
		t.Errorf("cat of 64 MiB + 1 wrote %d bytes, not the object", len(r.stdout))
	}
	empty("after cat")
	r = w.run(append([]string{"cp", "--spool-dir", spool, w.url("big"), "-"}, aes...)...).want(t, exitOK)
	if sha256.Sum256([]byte(r.stdout)) != sha256.Sum256(big) {
		t.Errorf("cp of 64 MiB + 1 to stdout wrote %d bytes, not the object", len(r.stdout))
	}
	empty("after cp to stdout")
	w.tamper("bad", 40<<20)
	r = w.run(append([]string{"cat", "--spool-dir", spool, w.url("bad")}, aes...)...).want(t, exitAuth)
	if r.stdout != "" || strings.Contains(r.stderr, "Options.") {
		t.Errorf("cat of a damaged 64 MiB + 1 object: stdout %d bytes, stderr %q", len(r.stdout), r.stderr)
	}
	empty("after a damaged object")
	// A spool directory that does not exist: a missing local file (exit 2)
	// named in the message, nothing written.
	missing := filepath.Join(spool, "missing")
	r = w.run(append([]string{"cat", "--spool-dir", missing, w.url("big")}, aes...)...).want(t, exitNotFound)
	if r.stdout != "" || !strings.HasPrefix(r.stderr, "s3ec: "+w.url("big")) || !strings.Contains(r.stderr, missing) || strings.Contains(r.stderr, "Options.") {
		t.Errorf("cat with a missing spool directory: stdout %d bytes, stderr %q", len(r.stdout), r.stderr)
	}
	r = w.run(append([]string{"cat", "--stream", w.url("big")}, aes...)...).want(t, exitOK)
	if sha256.Sum256([]byte(r.stdout)) != sha256.Sum256(big) {
		t.Errorf("cat --stream wrote %d bytes, not the object", len(r.stdout))
	}
}

// TestNotFoundWording: every command words a missing bucket and a missing
// object the same way, with exit code 2; an address that names a prefix
// without its "/" gets a hint.
func TestNotFoundWording(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	aes, _ := w.aesKey("k")
	w.aesKey("k2")
	w.writeFile("f", []byte("x"))
	w.run(append([]string{"cp", "f", w.url("tree2/a")}, aes...)...).want(t, exitOK)
	to := []string{"--to-aes-key-file", "k2", "--to-material-description", "k=2"}
	const nb = "s3://no-such-bucket-s3ec"
	missingBucket := "s3ec: " + nb + ": no such bucket\n"
	missingObject := func(key string) string { return "s3ec: " + w.url(key) + ": no such object\n" }
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"cp", "f", nb + "/k"}, missingBucket},
		{[]string{"cp", nb + "/k", "out"}, missingBucket},
		{[]string{"cp", w.url("missing"), "out"}, missingObject("missing")},
		{[]string{"cp", "-r", nb + "/p/", "outdir/"}, missingBucket},
		{[]string{"cat", nb + "/k"}, missingBucket},
		{[]string{"cat", w.url("missing")}, missingObject("missing")},
		{[]string{"verify", nb + "/k"}, missingBucket},
		{[]string{"verify", w.url("missing")}, missingObject("missing")},
		{[]string{"inspect", nb + "/k"}, missingBucket},
		{[]string{"inspect", w.url("missing")}, missingObject("missing")},
		{append([]string{"rotate", nb + "/k"}, to...), missingBucket},
		{append([]string{"rotate", w.url("missing")}, to...), missingObject("missing")},
		{append([]string{"reencrypt", nb + "/k"}, to...), missingBucket},
		{append([]string{"reencrypt", w.url("missing")}, to...), missingObject("missing")},
		{[]string{"adopt", nb + "/k"}, missingBucket},
		{[]string{"adopt", w.url("missing")}, missingObject("missing")},
		// Point 10: a prefix named without its "/".
		{append([]string{"rotate", w.url("tree2")}, to...), "s3ec: " + w.url("tree2") + ": no such object; to rotate a prefix, use " + w.url("tree2") + "/ or --recursive\n"},
		{[]string{"inspect", w.url("tree2")}, "s3ec: " + w.url("tree2") + ": no such object; to inspect a prefix, use " + w.url("tree2") + "/ or --recursive\n"},
		{append([]string{"reencrypt", w.url("tree2")}, to...), "s3ec: " + w.url("tree2") + ": no such object; to re-encrypt a prefix, use " + w.url("tree2") + "/ or --recursive\n"},
		{[]string{"adopt", w.url("tree2")}, "s3ec: " + w.url("tree2") + ": no such object; to encrypt a prefix, use " + w.url("tree2") + "/ or --recursive\n"},
		{[]string{"verify", w.url("tree2")}, "s3ec: " + w.url("tree2") + ": no such object; to verify a prefix, use --recursive\n"},
		{[]string{"cp", w.url("tree2"), "out"}, "s3ec: " + w.url("tree2") + ": no such object; to copy a prefix, use --recursive\n"},
		// cat takes no prefix: no hint.
		{[]string{"cat", w.url("tree2")}, missingObject("tree2")},
		// A key that is no prefix either: no hint.
		{append([]string{"rotate", w.url("tree")}, to...), missingObject("tree")},
	} {
		args := tc.args
		if args[0] != "inspect" {
			args = append(args, aes...)
		}
		r := w.run(args...)
		if r.code != exitNotFound || !strings.HasSuffix(r.stderr, tc.want) {
			t.Errorf("s3ec %q: exit %d, stderr %q; want exit 2 and %q", tc.args, r.code, r.stderr, tc.want)
		}
	}
	// The rotation the hint offers works.
	r := w.run(append(append([]string{"rotate", w.url("tree2/")}, to...), aes...)...).want(t, exitOK)
	if !strings.Contains(r.stdout, "rotated 1,") {
		t.Errorf("rotate %s/: %q", w.url("tree2"), r.stdout)
	}
}

// TestHelpWording checks the help texts of issue 13 point 8: reading
// commands describe their keyring and context in reading terms, rotate's
// current keyring offers no key that cannot decrypt, --bits shows a
// placeholder, and --endpoint-url names both variables. (Every flag's
// placeholder: TestFlagPlaceholders.)
func TestHelpWording(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	help := func(cmd string) string { return w.exec(nil, cmd, "--help").want(t, exitOK).stdout }
	// flagText is the text of one flag in a help (its line and the
	// indented lines that follow), joined.
	flagText := func(h, flag string) string {
		lines := strings.Split(h, "\n")
		for i, l := range lines {
			f := strings.Fields(l)
			if !strings.HasPrefix(l, "  ") || len(f) == 0 || strings.TrimSuffix(f[0], ",") != flag && (len(f) < 2 || f[1] != flag) {
				continue
			}
			text := l
			for _, next := range lines[i+1:] {
				if !strings.HasPrefix(next, "        ") {
					break
				}
				text += " " + strings.TrimSpace(next)
			}
			return strings.Join(strings.Fields(text), " ")
		}
		return ""
	}
	writing := regexp.MustCompile(`(?i)\b(store|stores|new objects|on upload|wrap|wraps)\b`)
	for _, cmd := range []string{"cat", "verify", "rotate"} {
		h := help(cmd)
		current := h
		if cmd == "rotate" {
			// Without the new keyring's group, which writes.
			i := strings.Index(h, "\nNew keyring")
			j := i + 1 + strings.Index(h[i+1:], "\n\n")
			if i < 0 || j <= i {
				t.Fatalf("rotate --help has no New keyring group:\n%s", h)
			}
			current = h[:i] + h[j:]
			if !strings.Contains(current, "Current keyring") {
				t.Fatalf("rotate --help has no Current keyring group:\n%s", h)
			}
		}
		for _, flag := range []string{"--material-description", "--kms-key", "--context"} {
			text := flagText(current, flag)
			if text == "" {
				t.Errorf("%s --help: no %s", cmd, flag)
				continue
			}
			if writing.MatchString(text) {
				t.Errorf("%s --help describes %s in writing terms: %q", cmd, flag, text)
			}
		}
		if strings.Contains(current, "--rsa-public-key") {
			t.Errorf("%s --help offers --rsa-public-key, which cannot decrypt", cmd)
		}
	}
	if text := flagText(help("adopt"), "--context"); !strings.Contains(text, "bind the new data keys") {
		t.Errorf("adopt --help: --context is %q, want it in writing terms", text)
	}
	if text := flagText(help("keygen"), "--bits"); !strings.HasPrefix(text, "--bits BITS ") || !strings.Contains(text, "(default 3072)") {
		t.Errorf("keygen --help: %q", text)
	}
	if text := flagText(help("cp"), "--endpoint-url"); !strings.Contains(text, "$AWS_ENDPOINT_URL_S3") || !regexp.MustCompile(`\$AWS_ENDPOINT_URL\b`).MatchString(text) {
		t.Errorf("cp --help: %q, want both $AWS_ENDPOINT_URL_S3 and $AWS_ENDPOINT_URL", text)
	}
}

// TestVersionE2E: --version and the version command print the version
// and the Go release: the module version Go recorded in the binary, or for
// a build from the source tree (devel) the version of the tree.
func TestVersionE2E(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	// go version -m reads the module information the binary carries.
	out, err := exec.Command("go", "version", "-m", s3ecBin).Output()
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\tmod\tgithub.com/s3ec/s3ec-go/cmd/s3ec\t(\S+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("go version -m names no main module:\n%s", out)
	}
	v := string(m[1])
	if v == "(devel)" {
		v = version + " (devel)"
	}
	want := fmt.Sprintf("s3ec %s %s %s/%s\n", v, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	for _, args := range [][]string{{"--version"}, {"version"}} {
		r := w.exec(nil, args...).want(t, exitOK)
		if r.stdout != want || r.stderr != "" {
			t.Errorf("s3ec %q: %q %q, want %q", args, r.stdout, r.stderr, want)
		}
	}
	if r := w.exec(nil, "--help").want(t, exitOK); !strings.Contains(r.stdout, "  version ") {
		t.Error("s3ec --help does not list the version command")
	}
}
