//go:build unix

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// A bulk job's local checkpoint is read, as a resume token is, only from a
// regular file that the user alone could have written, checked as opened:
// one that other users may write (a shared report directory), a symbolic
// link (which could be pointed elsewhere between a check and the open) or
// a FIFO (which would block the open) is refused, and --resume cannot be
// made to skip tasks by a checkpoint someone else planted.
func TestAttackPlantedCheckpointRefused(t *testing.T) {
	dir := t.TempDir()
	good, err := json.Marshal(checkpoint{Version: checkpointVersion, Job: jobID{Operation: "rotate"}, Watermark: 5})
	if err != nil {
		t.Fatal(err)
	}
	own := filepath.Join(dir, "own.checkpoint")
	if err := writeFileAtomic(own, good); err != nil {
		t.Fatal(err)
	}
	if c, err := readLocalCheckpoint(own); err != nil || c == nil || c.Watermark != 5 {
		t.Fatalf("the user's own checkpoint: %+v, %v", c, err)
	}
	if c, err := readLocalCheckpoint(filepath.Join(dir, "none")); c != nil || err != nil {
		t.Fatalf("no checkpoint: %+v, %v", c, err)
	}

	shared := filepath.Join(dir, "shared.checkpoint")
	if err := os.WriteFile(shared, good, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(shared, 0o666); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.checkpoint")
	if err := os.Symlink(own, link); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo.checkpoint")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		shared: "is writable by other users",
		link:   "is a symbolic link",
		fifo:   "is not a regular file",
	} {
		c, err := readLocalCheckpoint(path)
		if c != nil || err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "could have been planted") {
			t.Errorf("%s: %+v, %v; want a refusal saying %q", filepath.Base(path), c, err, want)
		}
	}
}

// openPrivate, which reads resume tokens and checkpoints, checks the file
// it opened, by its descriptor: a file that replaced an accepted one at the
// same name is judged on its own.
func TestAttackOpenPrivateChecksTheOpenedFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "tok")
	if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, st, err := openPrivate(p)
	if err != nil || !st.Mode().IsRegular() {
		t.Fatalf("own file: %v", err)
	}
	f.Close()
	// Another file now stands at the name, writable by others.
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("y"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, 0o622); err != nil {
		t.Fatal(err)
	}
	if f, _, err := openPrivate(p); err == nil {
		f.Close()
		t.Fatal("a file writable by others was opened")
	}
}
