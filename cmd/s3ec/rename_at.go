//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package main

import (
	"os"

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
