//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package main

import (
	"os"
	"path/filepath"
	"time"
)

// renameIn renames the file from to to, both in the directory dirPath,
// which dir is open on. Without renameat (Windows, Plan 9...) it goes by
// the path, which was just checked to lead to dir.
func renameIn(dir *os.Root, dirPath, from, to string) error {
	return os.Rename(filepath.Join(dirPath, from), filepath.Join(dirPath, to))
}

// chtimesIn sets the access and modification times of the file name in
// the directory dir. Without utimensat it goes by the path, which was just
// checked to lead to dir.
func chtimesIn(dir *os.Root, name string, t time.Time) error {
	return os.Chtimes(filepath.Join(dir.Name(), name), t, t)
}
