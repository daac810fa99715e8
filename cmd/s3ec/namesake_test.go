package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// cp -r and verify -r skip instruction files, never an object of its own
// whose name ends in the suffix (q/report.instruction beside q/report).
func TestRecursiveKeepsObjectsNamedLikeInstructionFiles(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	aes, _ := w.aesKey("k")
	files := map[string][]byte{"report": []byte("the report"), "report.instruction": []byte("an object of its own")}
	for name, b := range files {
		w.writeFile(filepath.Join("tree", name), b)
	}
	// Envelopes in metadata: neither object has an instruction file.
	w.run(append([]string{"cp", "-r", "tree", w.url("q")}, aes...)...).want(t, exitOK)
	// And one object with an instruction file, which must be skipped.
	w.writeFile("split", []byte("split"))
	w.run(append([]string{"cp", "split", w.url("q/split"), "--instruction-file"}, aes...)...).want(t, exitOK)

	w.run(append([]string{"cp", "-r", w.url("q/"), "restored"}, aes...)...).want(t, exitOK)
	for name, want := range files {
		if b := w.readFile(filepath.Join("restored", name)); !bytes.Equal(b, want) {
			t.Errorf("restored %s: %q, want %q", name, b, want)
		}
	}
	if _, err := os.Stat(filepath.Join(w.dir, "restored", "split.instruction")); err == nil {
		t.Error("the instruction file of q/split was copied as a file")
	}
	r := w.run(append([]string{"verify", "-r", w.url("q/")}, aes...)...).want(t, exitOK)
	if n := strings.Count(r.stdout, ": OK"); n != 3 {
		t.Errorf("verify -r: %d OK lines, want 3:\n%s", n, r.stdout)
	}
}
