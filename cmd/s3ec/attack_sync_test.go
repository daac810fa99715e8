package main

// Attack tests (issue 13) of sync: what --delete may conclude from a
// directory it could not read, and from a listing.

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
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

// A destination holding symbolic links planted by whoever could write it:
// one at a key's name that leads to a file outside, one that no key names
// (sync --delete removes it). Neither write nor delete may go through the
// link: the files outside stay as they were. A key whose last element is
// longer than a file name may be fails alone and leaves no temporary file.
func TestAttackSyncDownloadThroughPlantedLinks(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	aes, _ := w.aesKey("k")
	w.writeFile("f", []byte("from the bucket"))
	w.run(append([]string{"cp", "f", w.url("s/a.txt")}, aes...)...).want(t, exitOK)
	// S3 takes a key element longer than a file name; servers that keep
	// objects as files (versitygw, MinIO) refuse it, and then the case
	// cannot be played.
	long := w.run(append([]string{"cp", "f", w.url("s/" + strings.Repeat("n", 300))}, aes...)...)
	if long.code != exitOK && !w.srv.Real {
		t.Fatalf("upload of a 300-byte key element: exit %d\n%s", long.code, long.stderr)
	}
	longStored := long.code == exitOK
	victim := w.writeFile("outside/victim", []byte("victim"))
	other := w.writeFile("outside/other", []byte("other"))
	os.MkdirAll(filepath.Join(w.dir, "dest"), 0o755)
	for name, to := range map[string]string{"a.txt": victim, "gone": other} {
		if err := os.Symlink(to, filepath.Join(w.dir, "dest", name)); err != nil {
			t.Fatal(err)
		}
	}
	r := w.run(append([]string{"sync", w.url("s/"), "dest", "--delete"}, aes...)...)
	if longStored && (r.code != exitOther || !strings.Contains(r.stderr, "1 failed")) {
		t.Errorf("exit %d, want %d for the long key alone\nstdout: %s\nstderr: %s", r.code, exitOther, r.stdout, r.stderr)
	}
	if !longStored && r.code != exitOK {
		t.Errorf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	if string(w.readFile("outside/victim")) != "victim" || string(w.readFile("outside/other")) != "other" {
		t.Fatal("sync wrote or deleted through a planted link")
	}
	if st, err := os.Lstat(filepath.Join(w.dir, "dest/a.txt")); err != nil || !st.Mode().IsRegular() || string(w.readFile("dest/a.txt")) != "from the bucket" {
		t.Errorf("dest/a.txt is not the downloaded file: %v %v", st, err)
	}
	if w.localExists("dest/gone") {
		t.Error("the link no key names is still there")
	}
	assertNoTempFiles(t, w.dir)
}
