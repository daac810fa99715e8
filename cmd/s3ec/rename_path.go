//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package main

import (
	"os"
	"path/filepath"
)

// renameIn renames the file from to to, both in the directory dirPath,
// which dir is open on. Without renameat (Windows, Plan 9...) it goes by
// the path, which was just checked to lead to dir.
func renameIn(dir *os.Root, dirPath, from, to string) error {
	return os.Rename(filepath.Join(dirPath, from), filepath.Join(dirPath, to))
}
