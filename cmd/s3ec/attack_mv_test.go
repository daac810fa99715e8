package main

// Attack tests (issue 13) of mv: a move whose destination is its source
// must not delete the only copy.

import (
	"testing"
)

// An S3 move onto the source itself (the destination named as its own
// prefix, or with settings that make the copy in place legal, or a
// recursive move of a prefix onto itself with settings) copies the
// object onto itself and must then not delete it: the object is the
// destination too.
func TestAttackMvOntoItselfKeepsObject(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	aes, _ := w.aesKey("k")
	w.writeFile("f", []byte("the only copy"))
	for name, args := range map[string][]string{
		"as its own prefix": {"mv", w.url("d/k"), w.url("d/")},
		"with settings":     {"mv", w.url("d/k"), w.url("d/k"), "--content-type", "text/plain"},
		"prefix, settings":  {"mv", "-r", w.url("d/"), w.url("d/"), "--content-type", "text/plain"},
		"instruction file":  {"mv", w.url("d/k"), w.url("d/k"), "--metadata", "a=b"},
	} {
		t.Run(name, func(t *testing.T) {
			put := append([]string{"cp", "f", w.url("d/k")}, aes...)
			if name == "instruction file" {
				put = append(put, "--instruction-file")
			}
			w.run(put...).want(t, exitOK)
			r := w.run(append(args, aes...)...)
			if r.code != exitUsage {
				t.Errorf("mv onto itself: exit %d, want the usage error %d", r.code, exitUsage)
			}
			if !w.exists("d/k") {
				t.Fatalf("mv deleted the object it moved onto itself (exit %d)\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
			}
			if got := w.cat("d/k", aes); got != "the only copy" {
				t.Fatalf("after mv onto itself the object reads %q", got)
			}
			if testing.Verbose() {
				t.Logf("exit %d: %s%s", r.code, r.stdout, r.stderr)
			}
		})
	}
}
