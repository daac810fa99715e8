//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package main

import (
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// renameIn renames the file from to to, both names in the directory dir,
// relative to the directory itself (renameat): whatever becomes of the
// path that led to it, the rename stays in that directory. dirPath names
// it in messages only.
func renameIn(dir *os.Root, dirPath, from, to string) error {
	d, err := dir.Open(".")
	if err != nil {
		return err
	}
	defer d.Close()
	fd := int(d.Fd())
	if err := unix.Renameat(fd, from, fd, to); err != nil {
		return &os.LinkError{Op: "rename", Old: from, New: dirPath + string(os.PathSeparator) + to, Err: err}
	}
	return nil
}

// chtimesIn sets the access and modification times of the file name in
// the directory dir (utimensat relative to it, not following a symbolic
// link).
func chtimesIn(dir *os.Root, name string, t time.Time) error {
	d, err := dir.Open(".")
	if err != nil {
		return err
	}
	defer d.Close()
	ts := unix.NsecToTimespec(t.UnixNano())
	if err := unix.UtimesNanoAt(int(d.Fd()), name, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &os.PathError{Op: "chtimes", Path: name, Err: err}
	}
	return nil
}
