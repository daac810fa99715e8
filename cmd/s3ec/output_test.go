package main

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

func TestSummary(t *testing.T) {
	up := &op{verb: "upload"}
	del := &op{verb: "delete"}
	var all tally
	all.total = 3
	for range 3 {
		all.add(up, 1<<20)
	}
	if got, want := all.summary(0, 0), "3 files uploaded (3.0 MiB)"; got != want {
		t.Errorf("summary %q, want %q", got, want)
	}
	var part tally
	part.total = 30
	for range 20 {
		part.add(up, 1<<20)
	}
	part.add(del, 0)
	part.fails.n = 1
	if got, want := part.summary(1, 7), "21 of 30 files: 20 uploaded (20.0 MiB), 1 deleted, 1 failed, 1 interrupted, 7 not started"; got != want {
		t.Errorf("summary %q, want %q", got, want)
	}
	var none tally
	none.total = 1
	if got, want := none.summary(1, 0), "0 of 1 file: none done, 1 interrupted"; got != want {
		t.Errorf("summary %q, want %q", got, want)
	}
}

func TestDisplayLocal(t *testing.T) {
	sep := string(filepath.Separator)
	for in, want := range map[string]string{
		"a":               "." + sep + "a",
		"dir" + sep + "a": "dir" + sep + "a",
		"." + sep + "a":   "." + sep + "a",
		sep + "abs":       sep + "abs",
		"-":               "-",
	} {
		if got := displayLocal(in); got != want {
			t.Errorf("displayLocal(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestRunner runs ops: one line each, failures on stderr, a summary, the
// first failure's exit code, and nothing at all in a dry run.
func TestRunner(t *testing.T) {
	var stdout, stderr bytes.Buffer
	e := &env{stdout: &stdout, stderr: &stderr}
	ran := 0
	ok := func(ctx context.Context) (int64, error) { ran++; return 10, nil }
	bad := func(ctx context.Context) (int64, error) {
		ran++
		return 0, &codedError{code: exitAuth, err: errors.New("damaged")}
	}
	ops := []op{
		{verb: "upload", from: "./a", to: "s3://b/a", run: ok},
		{verb: "upload", from: "./b", to: "s3://b/b", run: bad},
		{err: usagef("refused key")},
		{verb: "delete", from: "s3://b/c", run: ok},
	}
	r := &runner{e: e, out: &outputFlags{}, many: true}
	err := r.run(context.Background(), ops)
	if exitCode(err) != exitAuth || err.Error() != "2 of 4 files: 1 uploaded (10 B), 1 deleted, 2 failed" {
		t.Errorf("error %v (exit %d)", err, exitCode(err))
	}
	if want := "upload: ./a to s3://b/a\ndelete: s3://b/c\n"; stdout.String() != want {
		t.Errorf("stdout %q, want %q", stdout.String(), want)
	}
	if !strings.Contains(stderr.String(), "s3ec: damaged\n") || !strings.Contains(stderr.String(), "s3ec: refused key\n") {
		t.Errorf("stderr %q", stderr.String())
	}

	stdout.Reset()
	stderr.Reset()
	ran = 0
	r = &runner{e: e, out: &outputFlags{dryRun: true}, many: true}
	if err := r.run(context.Background(), ops[:1]); err != nil || ran != 0 || stdout.String() != "(dryrun) upload: ./a to s3://b/a\n" {
		t.Errorf("dry run: %v, ran %d, %q", err, ran, stdout.String())
	}

	stdout.Reset()
	r = &runner{e: e, out: &outputFlags{quiet: true}, many: true}
	if err := r.run(context.Background(), ops[:1]); err != nil || stdout.Len() != 0 {
		t.Errorf("quiet: %v, %q", err, stdout.String())
	}

	// An interrupt during the second op: it says how far the run got.
	ctx, cancel := context.WithCancel(context.Background())
	cut := func(ctx context.Context) (int64, error) { cancel(); return 0, ctx.Err() }
	r = &runner{e: e, out: &outputFlags{}, many: true}
	err = r.run(ctx, []op{{verb: "upload", run: ok}, {verb: "upload", run: cut}, {verb: "upload", run: ok}})
	var ie *interruptedErr
	if !errors.As(err, &ie) || !errors.Is(err, context.Canceled) || ie.note != "1 of 3 files: 1 uploaded (10 B), 1 interrupted, 1 not started" {
		t.Errorf("interrupted: %v", err)
	}
}
