package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/envelope"
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
	} {
		c := &command{name: "t"}
		fs := newFlagSet(c)
		var r bool
		var ctx []string
		fs.boolVar(&r, "recursive", "")
		fs.alias("r", "recursive")
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
	fs := newFlagSet(&command{name: "t"})
	if _, err := fs.parse([]string{"a", "--nope"}); exitCode(err) != exitUsage {
		t.Errorf("unknown flag: %v", err)
	}
	if _, err := fs.parse([]string{"a", "--help"}); err != errHelp {
		t.Errorf("--help: %v", err)
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
		{&objectErr{url: s3URL{bucket: "b", key: "k"}, err: &smithy.OperationError{ServiceID: "S3", Err: &smithy.GenericAPIError{Code: "NoSuchBucket"}}}, "s3ec: s3://b/k: no such bucket"},
		{&objectErr{url: s3URL{bucket: "b", key: "k"}, err: encryptionclient.ErrAuthentication}, "s3ec: s3://b/k: message authentication failed"},
		{errors.New("two\nlines"), "s3ec: two lines"},
		{&envelope.PolicyError{What: "x", Option: "encryptionclient.Options.CommitmentPolicy to REQUIRE_ENCRYPT_ALLOW_DECRYPT", Setting: envelope.SettingCommitment}, "--policy allow]"},
		{&envelope.PolicyError{What: "x", Option: "encryptionclient.Options.EnableLegacyUnauthenticatedModes", Setting: envelope.SettingLegacyUnauthenticated}, "--legacy-unauthenticated]"},
		{encryptionclient.ErrTooLarge, "--stream]"},
	} {
		got := errorLine(tc.err)
		if !strings.HasPrefix(got, "s3ec: ") || strings.Contains(got, "\n") || !strings.Contains(got, strings.TrimPrefix(tc.want, "s3ec: ")) {
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
