package main

// Attack tests (issue 13) of rm and mv: an address that names another
// object's instruction file.

import (
	"testing"
)

// ls hides instruction files; rm and mv take an instruction file's name
// like any key. Deleting (or moving away) KEY.instruction while KEY keeps
// its envelope there destroys KEY's only wrapped data key: KEY never
// reads again. rm and mv refuse it, and KEY stays readable.
func TestAttackRmMvOfInstructionFileRefused(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	aes, _ := w.aesKey("k")
	w.writeFile("v", []byte("valuable"))
	for name, args := range map[string][]string{
		"rm":          {"rm", w.url("s/v.instruction")},
		"mv to S3":    append([]string{"mv", w.url("s/v.instruction"), w.url("t/x")}, aes...),
		"mv to file":  append([]string{"mv", w.url("s/v.instruction"), "x"}, aes...),
		"mv -r to S3": append([]string{"mv", "-r", w.url("s/"), w.url("t/"), "--exclude", "v"}, aes...),
	} {
		t.Run(name, func(t *testing.T) {
			w.run(append([]string{"cp", "v", w.url("s/v"), "--instruction-file"}, aes...)...).want(t, exitOK)
			r := w.run(args...)
			got := w.run(append([]string{"cat", w.url("s/v")}, aes...)...)
			if got.code != exitOK || got.stdout != "valuable" {
				t.Fatalf("after %s of v's instruction file (exit %d: %s%s), s/v no longer reads: exit %d: %s", name, r.code, r.stdout, r.stderr, got.code, got.stderr)
			}
			if r.code == exitOK && name != "mv -r to S3" { // (-r: the listing hides it, nothing to do)
				t.Errorf("%s of v's instruction file exited 0: %s", name, r.stdout)
			}
			if testing.Verbose() {
				t.Logf("%s: exit %d: %s", name, r.code, r.stderr)
			}
		})
	}
}
