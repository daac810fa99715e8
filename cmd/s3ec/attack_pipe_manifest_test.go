package main

// An outside review (fixed): a manifest that can be read only once (a pipe: --manifest
// /dev/stdin, a shell's <(...) process substitution, a FIFO).

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// Attack/defect: with --report the CLI hashes a local manifest for the
// checkpoint (hashFile reads it to its end) and then opens it a second
// time to read its rows (bulk.Open). A manifest given as a pipe
// (/dev/stdin, <(grep ... inventory.csv)) has no bytes left for the
// second read: the job runs zero tasks, writes an empty report and a
// checkpoint that says the job finished, and exits 0, although none of
// the listed objects was verified (rotated, adopted...). Either every
// listed object is processed, or the manifest is refused.
func TestAttackPipeManifestWithReportRefused(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("/dev/stdin of a pipe")
	}
	t.Parallel()
	w := newWorld(t)
	aes, _ := w.aesKey("k")
	w.writeFile("f", []byte("listed"))
	var m strings.Builder
	for i := range 3 {
		k := fmt.Sprintf("p/%d", i)
		w.run(append([]string{"cp", "f", w.url(k)}, aes...)...).want(t, exitOK)
		fmt.Fprintf(&m, "%s,%s\n", w.bucket, k)
	}

	// Control: without --report the pipe is read once and every row runs.
	r := w.runIn(strings.NewReader(m.String()), append([]string{"verify", "--manifest", "/dev/stdin"}, aes...)...)
	if r.code != exitOK || !strings.Contains(r.stderr, "3 done") {
		t.Fatalf("control run without --report: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}

	r = w.runIn(strings.NewReader(m.String()), append([]string{"verify", "--manifest", "/dev/stdin", "--report", "r.csv"}, aes...)...)
	if r.code != exitOK {
		return // refused: withstood
	}
	lines := strings.Count(string(w.readFile("r.csv")), "\n")
	if lines != 3 || !strings.Contains(r.stderr, "3 done") {
		t.Fatalf("a manifest of 3 objects read from a pipe with --report: exit 0, %d report lines\nstdout: %q\nstderr: %q\ncheckpoint: %s",
			lines, r.stdout, r.stderr, w.readFile("r.csv.checkpoint"))
	}
}
