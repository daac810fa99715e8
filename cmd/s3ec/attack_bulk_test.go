package main

// Attack tests (issue 12) of the CLI's bulk commands: resume state that
// no longer matches the manifest, and hostile manifest rows.

import (
	"fmt"
	"strings"
	"testing"
)

// A manifest file regenerated in place (same path, other rows) after a
// finished run: --resume must not skip rows of the new manifest that no
// run ever processed because their positions lie below the old watermark.
// Either every new row is processed or the resume is refused.
func TestAttackResumeAfterManifestReplaced(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	aes, _ := w.aesKey("k")
	w.writeFile("f", []byte("resume me"))
	var first, second strings.Builder
	for i := range 6 {
		k := fmt.Sprintf("r/%d", i)
		w.run(append([]string{"cp", "f", w.url(k)}, aes...)...).want(t, exitOK)
		if i < 3 {
			fmt.Fprintf(&first, "%s,%s\n", w.bucket, k)
		} else {
			fmt.Fprintf(&second, "%s,%s\n", w.bucket, k)
		}
	}
	args := append([]string{"verify", "--manifest", "m.csv", "--report", "r.csv", "--concurrency", "1"}, aes...)
	w.writeFile("m.csv", []byte(first.String()))
	w.run(args...).want(t, exitOK)

	w.writeFile("m.csv", []byte(second.String())) // regenerated: other objects
	r := w.run(append(args, "--resume")...)
	if r.code == exitUsage && strings.Contains(r.stderr, "manifest") {
		return // refused: withstood
	}
	for _, k := range []string{"r/3", "r/4", "r/5"} {
		if !strings.Contains(r.stdout, k+":") {
			t.Errorf("resume over the regenerated manifest never processed %s (exit %d)\nstdout: %s\nstderr: %s", k, r.code, r.stdout, r.stderr)
		}
	}
}

// Manifest rows that name objects by hostile keys (quotes, commas, '+',
// %-escapes of '/', a key ending in the instruction-file suffix) each
// reach exactly the object they encode; an invalid %-escape stops the job
// with a usage-class error naming the line, after no write.
func TestAttackManifestHostileRows(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	aes, _ := w.aesKey("k")
	w.writeFile("f", []byte("x"))
	keys := []string{`q/a"b`, "q/a,b", "q/a+b", "q/a b", "q/sub/x", "q/y.instruction"}
	var m strings.Builder
	m.WriteString("\ufeff")
	for _, k := range keys {
		w.run(append([]string{"cp", "f", w.url(k)}, aes...)...).want(t, exitOK)
		enc := strings.NewReplacer("%", "%25", `"`, "%22", ",", "%2C", "+", "%2B", " ", "+", "/", "%2F").Replace(k)
		fmt.Fprintf(&m, "%s,%s\r\n", w.bucket, enc)
	}
	w.writeFile("m.csv", []byte(m.String()))
	r := w.run(append([]string{"verify", "--manifest", "m.csv", "--report", "r.csv"}, aes...)...)
	if r.code != exitOK {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	lines := byKey(t, reportLines(t, w.readFile("r.csv")))
	for _, k := range keys {
		if l, ok := lines[k]; !ok || !strings.HasPrefix(l.Message, "verified") {
			t.Errorf("%q: %+v (ok %v)", k, l, ok)
		}
	}
	if len(lines) != len(keys) {
		t.Errorf("%d report lines, want %d", len(lines), len(keys))
	}

	w.writeFile("bad.csv", []byte(w.bucket+",q%2Fa+b\n"+w.bucket+",q/%zz\n"))
	r = w.run(append([]string{"verify", "--manifest", "bad.csv", "--report", "bad-r.csv"}, aes...)...)
	if r.code == exitOK || !strings.Contains(r.stderr, "line 2") {
		t.Errorf("invalid escape: exit %d, stderr %q", r.code, r.stderr)
	}
}
