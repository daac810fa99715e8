package main

// Outside review 5: sync --delete (upload) and a directory reached
// through a symbolic link.

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// A directory of the tree replaced by a symbolic link to a directory (the
// photos moved to another disk, linked back in place) is skipped by the
// walk ("not a regular file"): its files are neither uploaded nor read.
// They are not known to be gone, as for a dangling link or a directory
// that cannot be listed (TestAttackSyncDeleteKeepsUnreadableFiles): sync
// --delete must keep their objects, and must not exit 0 as if the prefix
// now held the directory.
func TestAttackSyncDeleteKeepsObjectsBelowDirectoryLink(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	aes, _ := w.aesKey("k")
	w.writeFile("tree/a.txt", []byte("a"))
	w.writeFile("tree/photos/p1.jpg", []byte("p1"))
	w.writeFile("tree/photos/p2.jpg", []byte("p2"))
	sync := append([]string{"sync", "tree", w.url("s/")}, aes...)
	w.run(sync...).want(t, exitOK)
	want := []string{"s/a.txt", "s/photos/p1.jpg", "s/photos/p2.jpg"}
	if got := w.keys("s/"); !slices.Equal(got, want) {
		t.Fatalf("first sync stored %q", got)
	}

	// The directory moves to another disk and is linked back: the same
	// files, at the same paths below tree.
	moved := filepath.Join(w.dir, "otherdisk/photos")
	os.MkdirAll(filepath.Dir(moved), 0o755)
	if err := os.Rename(filepath.Join(w.dir, "tree/photos"), moved); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(moved, filepath.Join(w.dir, "tree/photos")); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(w.dir, "tree/photos/p1.jpg")); err != nil || string(b) != "p1" {
		t.Fatalf("tree/photos/p1.jpg through the link: %q, %v", b, err)
	}
	r := w.run(append(sync, "--delete")...)
	if got := w.keys("s/"); !slices.Equal(got, want) {
		t.Errorf("sync --delete deleted the objects of files that still exist (below a link to a directory): %q left (exit %d)\nstdout: %s\nstderr: %s", got, r.code, r.stdout, r.stderr)
	}
}
