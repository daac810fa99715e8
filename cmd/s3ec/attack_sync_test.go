package main

// Attack tests (issue 13) of sync: what --delete may conclude from a
// directory it could not read, and from a listing.

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// sync --delete (upload) deletes the objects whose files the directory no
// longer holds. A file it could not read (a symbolic link whose target is
// gone for now: an unmounted disk; a directory it may not list) is not
// known to be gone: its object must stay, and the sync must fail.
func TestAttackSyncDeleteKeepsUnreadableFiles(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	aes, _ := w.aesKey("k")
	w.writeFile("tree/a.txt", []byte("a"))
	w.writeFile("tree/sub/b.txt", []byte("b"))
	target := w.writeFile("elsewhere/c.txt", []byte("c"))
	if err := os.Symlink(target, filepath.Join(w.dir, "tree/c.txt")); err != nil {
		t.Fatal(err)
	}
	sync := append([]string{"sync", "tree", w.url("s/")}, aes...)
	w.run(sync...).want(t, exitOK)
	want := []string{"s/a.txt", "s/c.txt", "s/sub/b.txt"}
	if got := w.keys("s/"); !slices.Equal(got, want) {
		t.Fatalf("first sync stored %q", got)
	}

	os.Remove(target) // the link dangles: c.txt cannot be read
	sub := filepath.Join(w.dir, "tree/sub")
	if os.Geteuid() != 0 {
		os.Chmod(sub, 0) // sub cannot be listed
		defer os.Chmod(sub, 0o755)
	}
	r := w.run(append(sync, "--delete")...)
	if got := w.keys("s/"); !slices.Equal(got, want) {
		t.Errorf("sync --delete deleted objects of files it could not read: %q left (exit %d)\nstdout: %s\nstderr: %s", got, r.code, r.stdout, r.stderr)
	}
	if r.code == exitOK {
		t.Errorf("sync over an unreadable file exited 0\nstderr: %s", r.stderr)
	}
}

// below keeps every object at or under a path the walk could not read
// (the directory itself: all of them), and no other.
func TestAttackSyncDeleteBelowUnread(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		r     string
		paths []string
		want  bool
	}{
		{"sub/b.txt", []string{"sub"}, true},
		{"sub", []string{"sub"}, true},
		{"subway/b.txt", []string{"sub"}, false},
		{"a.txt", []string{"sub"}, false},
		{"a.txt", []string{"."}, true},
		{"a.txt", nil, false},
	} {
		if got := below(c.r, c.paths); got != c.want {
			t.Errorf("below(%q, %q) = %v, want %v", c.r, c.paths, got, c.want)
		}
	}
}
