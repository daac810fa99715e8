package main

// Attack tests (issue 13): a local file whose key would be another
// object's instruction file.

import (
	"strings"
	"testing"
)

// A directory holding a file named like an instruction file (KEY +
// .instruction: a tree mirrored with 'aws s3 sync', which downloads
// instruction files as files, or any file of that name) is uploaded by
// sync, cp -r or cp,
// or an object is copied there. Its object must not replace the instruction file of
// the object KEY: that file holds KEY's only wrapped data key, and KEY
// would never read again. The file is refused, KEY stays readable, and a
// dry run reports the refusal.
func TestAttackUploadOverInstructionFile(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	aes, _ := w.aesKey("k")
	w.writeFile("v", []byte("valuable"))
	for name, args := range map[string][]string{
		"sync":       {"sync", "tree", w.url("s/")},
		"cp -r":      {"cp", "-r", "tree", w.url("s/")},
		"mv -r":      {"mv", "-r", "tree", w.url("s/")},
		"cp":         {"cp", "tree/v.instruction", w.url("s/v.instruction")},
		"stdin":      {"cp", "-", w.url("s/v.instruction")},
		"S3 copy":    {"cp", w.url("other"), w.url("s/v.instruction")},
		"S3 copy -r": {"cp", "-r", w.url("o/"), w.url("s/")},
	} {
		t.Run(name, func(t *testing.T) {
			w.run(append([]string{"cp", "v", w.url("s/v"), "--instruction-file"}, aes...)...).want(t, exitOK)
			w.writeFile("tree/v.instruction", []byte(`{"x-amz-key-v2":"mirrored"}`))
			w.putRaw("other", []byte("x"), nil)
			w.putRaw("o/v.instruction", []byte("x"), nil)
			r := w.runIn(strings.NewReader("from stdin"), append(args, aes...)...)
			got := w.run(append([]string{"cat", w.url("s/v")}, aes...)...)
			if got.code != exitOK || got.stdout != "valuable" {
				t.Fatalf("after %s of a file named v.instruction (exit %d: %s%s), s/v no longer reads: exit %d: %s", name, r.code, r.stdout, r.stderr, got.code, got.stderr)
			}
			if r.code == exitOK || !strings.Contains(r.stderr, "instruction file") {
				t.Errorf("%s: exit %d, stderr %q: want a failure naming the instruction file", name, r.code, r.stderr)
			}
			if strings.HasPrefix(args[1], "tree") && !w.localExists("tree/v.instruction") {
				t.Errorf("%s removed the refused file", name)
			}
			// A dry run reports the same refusal, not an upload the
			// run would refuse.
			d := w.runIn(strings.NewReader("from stdin"), append(append(args, "--dryrun"), aes...)...)
			if d.code == exitOK || !strings.Contains(d.stderr, "instruction file") || strings.Contains(d.stdout, "v.instruction") {
				t.Errorf("%s --dryrun: exit %d, stdout %q, stderr %q: want the refusal", name, d.code, d.stdout, d.stderr)
			}
		})
	}
}
