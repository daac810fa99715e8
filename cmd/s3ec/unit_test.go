package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/spf13/pflag"

	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/internal/testkit/s3test"
	"github.com/s3ec/s3ec-go/materials"
)

func TestParseInterleaved(t *testing.T) {
	for _, tc := range []struct {
		args []string
		pos  []string
		r    bool
		ctx  string
	}{
		{[]string{"a", "b"}, []string{"a", "b"}, false, ""},
		{[]string{"-r", "a", "b"}, []string{"a", "b"}, true, ""},
		{[]string{"a", "--recursive", "b"}, []string{"a", "b"}, true, ""},
		{[]string{"a", "b", "--context", "k=v"}, []string{"a", "b"}, false, "k=v"},
		{[]string{"-", "s3://b/k", "-r"}, []string{"-", "s3://b/k"}, true, ""},
		{[]string{"a", "--", "-r", "--context"}, []string{"a", "-r", "--context"}, false, ""},
		{[]string{"--context", "--", "a"}, []string{"a"}, false, "--"},
		{[]string{"--context=x=y", "--", "-a"}, []string{"-a"}, false, "x=y"},
		{[]string{"-rq", "a"}, []string{"a"}, true, ""},
		{[]string{"-qr", "a", "--context", "k=v", "b"}, []string{"a", "b"}, true, "k=v"},
		{[]string{"--", "-weird", "s3://b/k"}, []string{"-weird", "s3://b/k"}, false, ""},
		{[]string{"-", "--recursive=false", "--context", "a=1", "--context=b=2"}, []string{"-"}, false, "a=1,b=2"},
	} {
		c := &command{name: "t"}
		fs := newFlagSet(c)
		var r bool
		var ctx []string
		var q bool
		fs.boolVar(&r, "recursive", "")
		fs.alias("r", "recursive")
		fs.boolVar(&q, "quiet", "")
		fs.alias("q", "quiet")
		fs.funcVar("context", "", func(s string) error { ctx = append(ctx, s); return nil })
		pos, err := fs.parse(tc.args)
		if err != nil {
			t.Errorf("%q: %v", tc.args, err)
			continue
		}
		if !slices.Equal(pos, tc.pos) || r != tc.r || strings.Join(ctx, ",") != tc.ctx {
			t.Errorf("%q: positional %q, -r %v, context %q; want %q, %v, %q", tc.args, pos, r, ctx, tc.pos, tc.r, tc.ctx)
		}
	}
}

func TestParseErrors(t *testing.T) {
	newFS := func() *flagSet {
		fs := newFlagSet(&command{name: "t"})
		var (
			r bool
			n int
			m int64
			x float64
			d time.Duration
			s string
		)
		fs.boolVar(&r, "recursive", "")
		fs.alias("r", "recursive")
		fs.intVar(&n, "concurrency", "`N` at once")
		fs.int64Var(&m, "size", "`BYTES`")
		fs.float64Var(&x, "rate", "`N` per second")
		fs.durationVar(&d, "timeout", "`DURATION`")
		fs.stringVar(&s, "kms-key", "the key `ID`")
		fs.funcVar("context", "`KEY=VALUE`", pairFlag(new(map[string]string)))
		return fs
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"a", "--nope"}, "t: unknown flag: --nope (see 's3ec t --help')"},
		{[]string{"--nope=1"}, "t: unknown flag: --nope "},
		{[]string{"-x"}, "t: unknown flag: -x "},
		{[]string{"-rx"}, "t: unknown flag: -x "},
		{[]string{"-xr"}, `t: unknown flag: -x in -xr (an argument that starts with "-" goes after "--") `},
		{[]string{"-kms-key", "k"}, "t: unknown flag: -kms-key (long flags take two dashes: --kms-key) "},
		{[]string{"-kms-key=k"}, "t: unknown flag: -kms-key=k (long flags take two dashes: --kms-key) "},
		{[]string{"--concurrency", "abc"}, `t: invalid value "abc" for --concurrency: not an integer `},
		{[]string{"--concurrency=0x10"}, `t: invalid value "0x10" for --concurrency: not an integer `},
		{[]string{"--concurrency", "99999999999999999999"}, `t: invalid value "99999999999999999999" for --concurrency: out of range `},
		{[]string{"--size", "1.5"}, `t: invalid value "1.5" for --size: not an integer `},
		{[]string{"--rate", "fast"}, `t: invalid value "fast" for --rate: not a number `},
		{[]string{"--timeout", "soon"}, `t: invalid value "soon" for --timeout: not a duration (such as 90s, 15m or 1h30m) `},
		{[]string{"--recursive=maybe"}, `t: invalid value "maybe" for --recursive: want true or false `},
		{[]string{"--context", "novalue"}, `t: invalid value "novalue" for --context: want KEY=VALUE `},
		{[]string{"a", "--kms-key"}, "t: flag needs a value: --kms-key ID "},
		{[]string{"---x"}, "t: bad flag syntax: ---x "},
	} {
		_, err := newFS().parse(tc.args)
		if exitCode(err) != exitUsage || !strings.HasPrefix(err.Error()+" ", tc.want) {
			t.Errorf("%q: %v (exit %d), want a usage error %q...", tc.args, err, exitCode(err), tc.want)
		}
	}
	for _, args := range [][]string{{"a", "--help"}, {"-h"}, {"--help=x"}, {"-rh"}} {
		if _, err := newFS().parse(args); err != errHelp {
			t.Errorf("%q: %v, want help", args, err)
		}
	}
	// Numbers are decimal: 010 is ten.
	fs := newFlagSet(&command{name: "t"})
	var n int
	fs.intVar(&n, "n", "`N`")
	if _, err := fs.parse([]string{"--n", "010"}); err != nil || n != 10 {
		t.Errorf("--n 010: %d, %v", n, err)
	}
}

// TestRepeatableFlags: stringArrayVar keeps every value in order, commas
// included; isSet sees a flag given by its short or its second long name.
func TestRepeatableFlags(t *testing.T) {
	fs := newFlagSet(&command{name: "t"})
	excludes := []string{"kept"}
	var r, old bool
	fs.stringArrayVar(&excludes, "exclude", "`PATTERN` (repeatable)")
	fs.boolVar(&r, "recursive", "")
	fs.alias("r", "recursive")
	fs.boolVar(&old, "new-name", "")
	fs.longAlias("old-name", "new-name")
	pos, err := fs.parse([]string{"--exclude", "*.tmp", "a", "--exclude=a,b", "-r", "--old-name"})
	if err != nil || !slices.Equal(pos, []string{"a"}) {
		t.Fatalf("%q, %v", pos, err)
	}
	if want := []string{"kept", "*.tmp", "a,b"}; !slices.Equal(excludes, want) {
		t.Errorf("--exclude: %q, want %q", excludes, want)
	}
	if !r || !old || !fs.isSet("recursive") || !fs.isSet("new-name") || !fs.isSet("exclude") || fs.isSet("nothing") {
		t.Errorf("recursive %v (set %v), new-name %v (set %v)", r, fs.isSet("recursive"), old, fs.isSet("new-name"))
	}
	var help strings.Builder
	fs.printHelp(&help)
	for _, want := range []string{"--exclude PATTERN", "-r, --recursive", "--new-name, --old-name"} {
		if !strings.Contains(help.String(), want) {
			t.Errorf("help lacks %q:\n%s", want, help.String())
		}
	}
}

// TestFlagPlaceholders: every flag of every command that takes a value
// shows a placeholder in capitals in the help (FILE, N, KEY=VALUE), not a
// Go type name ("int", "string", "value").
func TestFlagPlaceholders(t *testing.T) {
	for _, c := range commands {
		fs := newFlagSet(c)
		c.define(fs)
		fs.fs.VisitAll(func(fl *pflag.Flag) {
			if fl.Value.Type() == "bool" {
				return
			}
			name, _ := pflag.UnquoteUsage(fl)
			if name == "" || strings.ToUpper(name) != name || name == strings.ToUpper(fl.Value.Type()) {
				t.Errorf("s3ec %s --%s: placeholder %q", c.name, fl.Name, name)
			}
		})
	}
}

// TestExitCodesInHelp: s3ec --help lists every exit code constant of
// errors.go, each once.
func TestExitCodesInHelp(t *testing.T) {
	file, err := parser.ParseFile(token.NewFileSet(), "errors.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	printMainHelp(&b)
	help := b.String()
	table := help[strings.Index(help, "Exit codes:"):]
	n := 0
	for _, d := range file.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, spec := range g.Specs {
			for i, name := range spec.(*ast.ValueSpec).Names {
				lit, ok := spec.(*ast.ValueSpec).Values[i].(*ast.BasicLit)
				if !strings.HasPrefix(name.Name, "exit") || !ok {
					continue
				}
				n++
				row := regexp.MustCompile(`(?m)^  ` + lit.Value + ` +\S`)
				if got := len(row.FindAllString(table, -1)); got != 1 {
					t.Errorf("%s = %s: %d rows in the exit code table of s3ec --help, want 1", name.Name, lit.Value, got)
				}
			}
		}
	}
	if n < 7 {
		t.Fatalf("found %d exit code constants in errors.go", n)
	}
}

// TestVersionLine: the module version Go recorded, or for a (devel)
// build the version constant marked (devel).
func TestVersionLine(t *testing.T) {
	suffix := " go1.99.1 " + runtime.GOOS + "/" + runtime.GOARCH
	for _, tc := range []struct {
		main string
		ok   bool
		want string
	}{
		{"v0.2.0", true, "s3ec v0.2.0" + suffix},
		{"(devel)", true, "s3ec " + version + " (devel)" + suffix},
		{"", true, "s3ec " + version + " (devel)" + suffix},
		{"", false, "s3ec " + version + " (devel) " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH},
	} {
		got := versionLine(func() (*debug.BuildInfo, bool) {
			if !tc.ok {
				return nil, false
			}
			return &debug.BuildInfo{GoVersion: "go1.99.1", Main: debug.Module{Path: "github.com/s3ec/s3ec-go/cmd/s3ec", Version: tc.main}}, true
		})
		if got != tc.want {
			t.Errorf("main module version %q: %q, want %q", tc.main, got, tc.want)
		}
	}
}

func TestParseS3URL(t *testing.T) {
	for in, want := range map[string]s3URL{
		"s3://b":         {bucket: "b"},
		"s3://b/":        {bucket: "b"},
		"s3://b/k":       {bucket: "b", key: "k"},
		"S3://b/dir/k/":  {bucket: "b", key: "dir/k/"},
		"s3://b/a//b?c#": {bucket: "b", key: "a//b?c#"},
	} {
		got, err := parseS3URL(in)
		if err != nil || got != want {
			t.Errorf("parseS3URL(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, in := range []string{"s3://", "s3:///k", "b/k", "/tmp/x"} {
		if _, err := parseS3URL(in); exitCode(err) != exitUsage {
			t.Errorf("parseS3URL(%q): %v, want a usage error", in, err)
		}
	}
	for _, in := range []string{"s3://b", "s3://b/dir/"} {
		if _, err := parseObjectURL(in); exitCode(err) != exitUsage {
			t.Errorf("parseObjectURL(%q): %v, want a usage error", in, err)
		}
	}
	if p := (s3URL{bucket: "b", key: "x"}).prefix(); p != "x/" {
		t.Errorf("prefix %q", p)
	}
}

func TestExitCode(t *testing.T) {
	obj := func(err error) error {
		return &encryptionclient.ObjectError{Op: "GetObject", Bucket: "b", Key: "k", Err: err}
	}
	op := func(service string, err error) error {
		return &smithy.OperationError{ServiceID: service, OperationName: "Op", Err: err}
	}
	for _, tc := range []struct {
		err  error
		code int
	}{
		{nil, exitOK},
		{usagef("x"), exitUsage},
		{obj(fmt.Errorf("%w: x", materials.ErrContextNotSupported)), exitUsage},
		{obj(encryptionclient.ErrNotEncrypted), exitNotFound},
		{obj(op("S3", &types.NoSuchKey{})), exitNotFound},
		{obj(op("S3", &smithy.GenericAPIError{Code: "NotFound"})), exitNotFound},
		{&objectErr{err: op("S3", &types.NoSuchBucket{})}, exitNotFound},
		{fmt.Errorf("open x: %w", os.ErrNotExist), exitNotFound},
		{obj(encryptionclient.ErrAuthentication), exitAuth},
		{obj(encryptionclient.ErrCommitmentMismatch), exitAuth},
		{obj(encryptionclient.ErrInvalidCiphertext), exitAuth},
		{obj(&envelope.MalformedError{Field: "x-amz-iv"}), exitAuth},
		{obj(fmt.Errorf("%w: bad", materials.ErrUnwrap)), exitKey},
		{obj(materials.ErrContextMismatch), exitKey},
		{obj(&materials.NoMatchError{Errors: []error{materials.ErrNotMine}}), exitKey},
		{obj(op("KMS", &smithy.GenericAPIError{Code: "AccessDeniedException"})), exitKey},
		{obj(op("KMS", errors.New("connection refused"))), exitOther},
		{obj(&envelope.PolicyError{What: "x"}), exitOther},
		{obj(encryptionclient.ErrTooLarge), exitOther},
		{keyError(os.ErrNotExist), exitKey},
		{&codedError{code: exitAuth, err: errors.New("x")}, exitAuth},
		{errors.New("other"), exitOther},
	} {
		if got := exitCode(tc.err); got != tc.code {
			t.Errorf("exitCode(%v) = %d, want %d", tc.err, got, tc.code)
		}
	}
}

func TestErrorLine(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&encryptionclient.ObjectError{Op: "GetObject", Bucket: "b", Key: "k", Err: &smithy.OperationError{ServiceID: "S3", Err: &types.NoSuchKey{}}}, "s3ec: s3://b/k: no such object"},
		{&objectErr{url: s3URL{bucket: "b", key: "k"}, err: &smithy.OperationError{ServiceID: "S3", Err: &smithy.GenericAPIError{Code: "NoSuchBucket"}}}, "s3ec: s3://b: no such bucket"},
		{&objectErr{url: s3URL{bucket: "b", key: "k"}, err: &smithy.OperationError{ServiceID: "S3", Err: &types.NotFound{}}}, "s3ec: s3://b/k: no such object"},
		{&objectErr{url: s3URL{bucket: "b", key: "k"}, err: &notFoundErr{bucket: true, err: &smithy.OperationError{ServiceID: "S3", Err: &types.NotFound{}}}}, "s3ec: s3://b: no such bucket"},
		{&objectErr{url: s3URL{bucket: "b", key: "k"}, err: &notFoundErr{hint: "to rotate a prefix, use s3://b/k/ or --recursive", err: &smithy.OperationError{ServiceID: "S3", Err: &types.NotFound{}}}}, "s3ec: s3://b/k: no such object; to rotate a prefix, use s3://b/k/ or --recursive"},
		{&objectErr{url: s3URL{bucket: "b", key: "k"}, err: encryptionclient.ErrAuthentication}, "s3ec: s3://b/k: message authentication failed"},
		{errors.New("two\nlines"), "s3ec: two lines"},
		{&encryptionclient.ObjectError{Op: "GetObject", Bucket: "b", Key: "a  key", Err: encryptionclient.ErrAuthentication}, "s3ec: s3://b/a  key: message authentication failed"},
		{&objectErr{url: s3URL{bucket: "b", key: "k"}, err: &encryptionclient.ObjectError{Op: "HeadObject", Bucket: "b", Key: "k", Err: errors.New("x")}}, "s3ec: s3://b/k: x"},
		{&envelope.PolicyError{What: "x", Option: "encryptionclient.Options.CommitmentPolicy to REQUIRE_ENCRYPT_ALLOW_DECRYPT", Setting: envelope.SettingCommitment}, "--policy allow]"},
		{&envelope.PolicyError{What: "x", Option: "encryptionclient.Options.EnableLegacyUnauthenticatedModes", Setting: envelope.SettingLegacyUnauthenticated}, "--legacy-unauthenticated]"},
		{fmt.Errorf("%w to authenticate in memory: 9 bytes", encryptionclient.ErrTooLarge), "pass --stream to write it"},
		{fmt.Errorf("%w: 9 bytes exceed the GCM limit", encryptionclient.ErrTooLarge), "s3ec: object too large: 9 bytes exceed the GCM limit"},
	} {
		got := errorLine(tc.err)
		if strings.HasPrefix(tc.want, "s3ec: ") && !strings.HasPrefix(got, tc.want) || !strings.HasPrefix(got, "s3ec: ") || strings.Contains(got, "\n") || !strings.Contains(got, strings.TrimPrefix(tc.want, "s3ec: ")) {
			t.Errorf("errorLine(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

func TestReadAESKey(t *testing.T) {
	dir := t.TempDir()
	raw := []byte("0123456789abcdef0123456789abcdef")
	for name, content := range map[string][]byte{
		"raw":    raw,
		"base64": []byte("  MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n"),
	} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, content, 0o600)
		key, err := readAESKey(p)
		if err != nil || string(key) != string(raw) {
			t.Errorf("%s: %q, %v", name, key, err)
		}
	}
	for name, content := range map[string][]byte{
		"short":      []byte("0123456789abcdef"),
		"not base64": []byte("this is not a key, not at all!!!!"),
		"base64 7":   []byte("MDEyMzQ1Ng=="),
	} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, content, 0o600)
		if key, err := readAESKey(p); err == nil {
			t.Errorf("%s: read key %q", name, key)
		} else if strings.Contains(err.Error(), string(content)) {
			t.Errorf("%s: the error shows the file's content: %v", name, err)
		}
	}
}

func TestWrap(t *testing.T) {
	lines := wrap("one two three four five six", 9)
	if want := []string{"one two", "three", "four five", "six"}; !slices.Equal(lines, want) {
		t.Errorf("wrap: %q, want %q", lines, want)
	}
}

// TestErrorLineSpeaksCLI provokes the library's messages that name its
// options (Options.BufferSize, ...) and checks that the command line shows
// its flags instead, and no library option name is left.
func TestErrorLineSpeaksCLI(t *testing.T) {
	srv := s3test.Start(t)
	plain := srv.Client()
	bucket := srv.CreateBucket(t, plain)
	key := make([]byte, 32)
	kr, err := materials.NewAESKeyring(key)
	if err != nil {
		t.Fatal(err)
	}
	client := func(opt func(*encryptionclient.Options)) *encryptionclient.Client {
		c, err := encryptionclient.New(plain, kr, opt)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	ctx := context.Background()
	put := func(c *encryptionclient.Client, k string, n int) {
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String(k), Body: bytes.NewReader(make([]byte, n))}); err != nil {
			t.Fatal(err)
		}
	}
	get := func(c *encryptionclient.Client, k string) error {
		out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: aws.String(k)})
		if err == nil {
			out.Body.Close()
			t.Fatalf("GetObject %s succeeded", k)
		}
		return err
	}
	small := client(func(o *encryptionclient.Options) { o.BufferSize = 1024 })
	put(small, "big", 2000)
	put(client(func(o *encryptionclient.Options) { o.CommitmentPolicy = envelope.ForbidEncryptAllowDecrypt }), "v2", 10)
	_, matDescErr := materials.NewAESKeyring(key, func(o *materials.AESKeyringOptions) { o.MaterialDescription = map[string]string{"k": "\xff"} })
	if matDescErr == nil {
		t.Fatal("a material description that is not UTF-8 was accepted")
	}

	library := libraryOption // also a bare Options.X (attack_errorline_test.go)
	for _, tc := range []struct {
		name string
		err  error
		want []string
	}{
		{"over the buffer", get(small, "big"), []string{"to authenticate in memory", "pass --stream"}},
		{"V2 under require", get(client(func(*encryptionclient.Options) {}), "v2"), []string{"[to read it: --policy allow]"}},
		{"material description", keyError(fmt.Errorf("--aes-key-file k: %w", matDescErr)), []string{"--aes-key-file k: envelope: the material description cannot be stored exactly"}},
		// As the keyrings and Rewrap word them (materials/legacy.go,
		// encryptionclient/rewrap.go, reencrypt.go).
		{"legacy wrapping", &envelope.PolicyError{What: "legacy wrapping algorithm kms", Option: "materials.KMSKeyringOptions.EnableLegacyWrapping"}, []string{"legacy wrapping algorithm kms [to read it: --legacy-wrapping]"}},
		{"ranges", &envelope.PolicyError{What: "ranged GetObject (a range cannot be authenticated)", Option: "encryptionclient.Options.EnableUnauthenticatedRanges"}, []string{"ranged GetObject (a range cannot be authenticated)"}},
		{"instruction file in the way", fmt.Errorf("%w: the instruction file %s exists (set RewrapInput.OverwriteDestination to replace it): %w", encryptionclient.ErrObjectChanged, "k.instruction", errors.New("precondition failed")), []string{"the instruction file k.instruction exists: precondition failed"}},
		{"unauthenticated source", fmt.Errorf("%w: V1 AES/CBC content carries no authentication tag; set ReEncryptInput.AllowUnauthenticatedSource for objects you trust", encryptionclient.ErrUnauthenticatedSource), []string{"carries no authentication tag [to re-encrypt it anyway: --allow-unauthenticated-source;"}},
	} {
		line := errorLine(tc.err)
		if library.MatchString(line) {
			t.Errorf("%s: %q names a library option", tc.name, line)
		}
		for _, w := range tc.want {
			if !strings.Contains(line, w) {
				t.Errorf("%s: %q, want %q in it", tc.name, line, w)
			}
		}
	}
}
