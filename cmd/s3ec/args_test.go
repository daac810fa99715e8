package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

// adversarialArgs are arguments no command may panic on.
var adversarialArgs = []string{
	"", "s3://", "s3:///", "s3:///k", "s3://b", "s3://b/", "s3:", "S3://", "s3://b/k",
	"-", "--", "---", "-=", "--=x", "=", ".", "..", "/", "./", "s3://b/.", "s3://b/..",
	"s3://b/p/", "s3://b//", "s3://b/k/", "s3://./k", "s3://../k",
	"a\x00b", "s3://b/k\x00", "s3://b\x00/k", "\xff\xfe", "s3://\xff/k", "s3://b/\xff",
	strings.Repeat("a", 1<<16), "s3://b/" + strings.Repeat("k", 1<<16), "s3://" + strings.Repeat("b", 1<<16) + "/k",
	"-r", "--recursive", "--help=x", "--concurrency", "--concurrency=-1", "--concurrency=0",
	"--concurrency=99999999999999999999", "--stream", "--context", "--context==", "--bits=1",
}

// runNoPanic runs the command line in process with a context that is
// already cancelled, so that whatever reaches the network stops at once,
// and fails the test if it panicked. It returns the exit code and stderr.
func runNoPanic(t *testing.T, ctx context.Context, args []string) (code int, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	e := &env{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut}
	func() {
		defer func() {
			if p := recover(); p != nil {
				stack := string(debug.Stack())
				t.Errorf("s3ec %q panicked: %v\n%.2000s", trunc(args), p, stack)
				code = -1
			}
		}()
		code = run(ctx, e, args)
	}()
	return code, errOut.String()
}

// isolate points the AWS configuration at empty files and the working
// directory at a new one, and returns an AES key file's flags.
func isolate(t testing.TB) []string {
	t.Helper()
	dir := isolateEnv(t)
	t.Chdir(dir)
	if err := keygenAES("aes.key"); err != nil {
		t.Fatal(err)
	}
	os.WriteFile("f", []byte("x"), 0o600)
	return []string{"--aes-key-file", "aes.key"}
}

// isolateEnv sets the AWS environment of isolate and returns a new
// directory.
func isolateEnv(t testing.TB) string {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"AWS_CONFIG_FILE": empty, "AWS_SHARED_CREDENTIALS_FILE": empty, "AWS_PROFILE": "",
		"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1",
		"AWS_EC2_METADATA_DISABLED": "true", "AWS_ENDPOINT_URL": "http://127.0.0.1:1", "AWS_ENDPOINT_URL_S3": "",
		"AWS_MAX_ATTEMPTS": "1",
	} {
		t.Setenv(k, v)
	}
	return dir
}

// TestArgumentsNoPanic runs every command with adversarial positional
// arguments, alone and in pairs, with and without a keyring: none may
// panic (issue 10 #10: cp s3://b/k "" indexed an empty string).
func TestArgumentsNoPanic(t *testing.T) {
	aes := isolate(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	to := []string{"--to-aes-key-file", "aes.key", "--to-material-description", "k=2"}
	for _, c := range commands {
		var prefixes [][]string
		switch c.name {
		case "keygen":
			prefixes = [][]string{{"keygen"}, {"keygen", "aes"}}
		case "rotate":
			prefixes = [][]string{{"rotate"}, append(append([]string{"rotate"}, aes...), to...)}
		case "inspect":
			prefixes = [][]string{{"inspect"}}
		default:
			prefixes = [][]string{{c.name}, append([]string{c.name}, aes...), append([]string{c.name, "-r"}, aes...)}
		}
		for _, pre := range prefixes {
			for _, a := range adversarialArgs {
				runNoPanic(t, ctx, append(append([]string{}, pre...), a))
				for _, b := range adversarialArgs {
					runNoPanic(t, ctx, append(append([]string{}, pre...), a, b))
				}
			}
		}
	}
}

// TestArgumentsUsage checks that the malformed addresses and paths are
// usage errors (exit 1) with one line on stderr, not panics, network calls
// or other failures.
func TestArgumentsUsage(t *testing.T) {
	aes := isolate(t)
	to := []string{"--to-aes-key-file", "aes.key", "--to-material-description", "k=2"}
	long := strings.Repeat("k", 2000)
	for _, args := range [][]string{
		{"cp", "s3://b/k", ""},
		{"cp", "", "s3://b/k"},
		{"cp", "--", "s3://b/k", ""},
		{"cp", "-r", "s3://b/p/", ""},
		{"cp", "-r", "", "s3://b/p/"},
		{"cp", "s3://", "x"},
		{"cp", "s3:///k", "x"},
		{"cp", "s3://b", "x"},
		{"cp", "s3://b/", "x"},
		{"cp", "x", "s3://"},
		{"cp", "x", "s3:///k"},
		{"cp", "s3://b/k\x00", "x"},
		{"cp", "s3://b\x00/k", "x"},
		{"cp", "s3://b/\xff", "x"},
		{"cp", "f", "s3://b/\xff"},
		{"cp", "s3://b/" + long, "x"},
		{"cp", "-", "-"},
		{"cp", "--", "--"},
		{"cp", "s3://b/k", "s3://b/k"},
		{"cp", "--concurrency=0", "f", "s3://b/k"},
		{"cat", ""},
		{"cat", "s3://"},
		{"cat", "s3://b"},
		{"cat", "s3://b/k/"},
		{"cat", "-"},
		{"cat", "s3://b/\x00"},
		{"verify", ""},
		{"verify", "s3://"},
		{"verify", "s3:///k"},
		{"verify", "-r", ""},
		{"verify", "-r", "s3://"},
		{"rotate", ""},
		{"rotate", "s3://"},
		{"rotate", "s3:///k"},
		{"rotate", "-"},
		{"rotate", "s3://b/\xff"},
	} {
		name := args[0]
		if name != "inspect" {
			args = append(args, aes...)
		}
		if name == "rotate" {
			args = append(args, to...)
		}
		ctx := context.Background()
		code, stderr := runNoPanic(t, ctx, args)
		if code != exitUsage || !strings.HasPrefix(stderr, "s3ec: ") || strings.Count(stderr, "\n") != 1 {
			t.Errorf("s3ec %q: exit %d, stderr %q; want a usage error (exit 1) in one line", trunc(args), code, stderr)
		}
	}
	for _, args := range [][]string{
		{"inspect", ""}, {"inspect", "s3://"}, {"inspect", "s3://b"}, {"inspect", "-"}, {"inspect", "s3://b/\xff"},
		{"keygen", "aes", ""}, {"keygen", "aes", "-"}, {"keygen", ""}, {"keygen", "rsa", ""},
		{}, {""}, {"--"}, {"-"}, {"help", ""}, {"\xff"},
	} {
		code, stderr := runNoPanic(t, context.Background(), args)
		if code != exitUsage || !strings.HasPrefix(stderr, "s3ec: ") || strings.Count(stderr, "\n") != 1 {
			t.Errorf("s3ec %q: exit %d, stderr %q; want a usage error (exit 1) in one line", trunc(args), code, stderr)
		}
	}
}

// trunc shortens long arguments for failure messages.
func trunc(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if len(a) > 40 {
			a = fmt.Sprintf("%s...(%d bytes)", a[:40], len(a))
		}
		out[i] = a
	}
	return out
}

// FuzzParseS3URL checks the address parser: it never panics, and an
// address it accepts names a bucket without "/" and prints back to itself.
func FuzzParseS3URL(f *testing.F) {
	for _, a := range adversarialArgs {
		f.Add(a)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := parseS3URL(s)
		if err != nil {
			if exitCode(err) != exitUsage {
				t.Fatalf("parseS3URL(%q): %v is not a usage error", s, err)
			}
			return
		}
		if u.bucket == "" || strings.Contains(u.bucket, "/") {
			t.Fatalf("parseS3URL(%q): bucket %q", s, u.bucket)
		}
		again, err := parseS3URL(u.String())
		if err != nil || again != u {
			t.Fatalf("parseS3URL(%q) = %+v; its String %q parses to %+v, %v", s, u, u.String(), again, err)
		}
		_, _ = parseObjectURL(s)
		_ = u.prefix()
	})
}

// FuzzArguments runs every command's flag parsing and argument checks on
// fuzzed command lines (one argument a line), with a cancelled context so
// that nothing reaches the network. It must never panic.
func FuzzArguments(f *testing.F) {
	for _, a := range adversarialArgs {
		f.Add("cp\n" + a + "\ns3://b/k")
		f.Add("cp\ns3://b/k\n" + a)
		f.Add("cat\n" + a)
		f.Add("verify\n-r\n" + a)
		f.Add("rotate\n" + a)
		f.Add("inspect\n" + a)
		f.Add("keygen\n" + a)
	}
	// No Chdir of f: the fuzzing engine finds its corpus by relative
	// paths. Each input runs in a directory of its own (cp may create
	// its destination before it sees the context cancelled); keygen,
	// which writes keys, is left out.
	key := filepath.Join(isolateEnv(f), "aes.key")
	if err := keygenAES(key); err != nil {
		f.Fatal(err)
	}
	aes := []string{"--aes-key-file", key}
	f.Fuzz(func(t *testing.T, line string) {
		args := strings.Split(line, "\n")
		if len(args) > 0 && args[0] == "keygen" {
			return // writes files
		}
		t.Chdir(t.TempDir())
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		runNoPanic(t, ctx, append(args, aes...))
	})
}
