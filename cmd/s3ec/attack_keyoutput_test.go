package main

// Attack tests (issue 13): object keys a bucket writer chose, printed by
// ls and the transfer commands.

import (
	"strings"
	"testing"
	"unicode"
)

// A key may hold line breaks, a carriage return and C1 controls (U+009B
// is CSI on terminals that take 8-bit controls), all legal in S3 listings.
// Printed raw they forge lines of ls's listing or of a download's report
// ("download: ... to ..." that no download wrote), or rewrite the
// terminal. Every line printed for such keys must show them escaped: one
// line per object, no control character on stdout or stderr.
func TestAttackKeysWithControlCharactersPrintedEscaped(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	aes, _ := w.aesKey("k")
	w.writeFile("f", []byte("x"))
	keys := []string{
		"p/a\n2026-01-01 00:00:00        999 forged.txt",
		"p/b\rdownload: s3://other/x to ./x",
		"p/c\u009b2Jd",
		"p/e\u202egnp.exe",
	}
	var stored []string
	for _, k := range keys {
		r := w.run(append([]string{"cp", "f", w.url(k)}, aes...)...)
		switch {
		case r.code == exitOK:
			stored = append(stored, k)
		case !w.srv.Real:
			t.Fatalf("upload of %q: exit %d\n%s", k, r.code, r.stderr)
		}
		// A real server may refuse a key S3 takes (MinIO refuses some
		// control characters): the others are played.
	}
	if len(stored) == 0 {
		t.Skipf("%s refuses every key of the test", w.srv.Name)
	}
	all := len(stored) == len(keys)
	keys = stored
	clean := func(what, s string) {
		t.Helper()
		for _, line := range lines(s) {
			for _, r := range line {
				if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) {
					t.Errorf("%s printed a control character %U: %q", what, r, line)
					break
				}
			}
		}
	}
	r := w.run("ls", "--recursive", w.url("p/")).want(t, exitOK)
	clean("ls", r.stdout)
	if got := len(lines(r.stdout)); got != len(keys) {
		t.Errorf("ls printed %d lines for %d objects:\n%s", got, len(keys), r.stdout)
	}
	r = w.run(append([]string{"cp", "-r", w.url("p/"), "down"}, aes...)...)
	clean("cp -r", r.stdout)
	clean("cp -r (stderr)", r.stderr)
	// One line per object, and the summary (on stderr: one key fails).
	if got := len(lines(r.stdout)) + len(lines(r.stderr)); all && got != len(keys)+1 {
		t.Errorf("cp -r printed %d lines for %d objects (and the summary):\nstdout: %s\nstderr: %s", got, len(keys), r.stdout, r.stderr)
	}
	r = w.run(append([]string{"rm", "-r", w.url("p/"), "--dryrun"}, aes[:0]...)...).want(t, exitOK)
	clean("rm -r", r.stdout)
	if strings.Count(r.stdout, "\n") != len(keys) {
		t.Errorf("rm -r --dryrun printed %q", r.stdout)
	}
}

func TestAttackVisibleEscapes(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"plain/ключ 名前.txt": "plain/ключ 名前.txt",
		"a\nb":              `a\x0ab`,
		"a\tb\x7f":          `a\x09b\x7f`,
		"\x1b[2J":           `\x1b[2J`,
		"c\u009bd":          `c\u009bd`,
		"e\u202ef\u2066":    `e\u202ef\u2066`,
		"bad\xffutf8":       `bad\xffutf8`,
		"\ufffd":            "\ufffd", // a real U+FFFD is text
	} {
		if got := visible(in); got != want {
			t.Errorf("visible(%q) = %q, want %q", in, got, want)
		}
	}
}
