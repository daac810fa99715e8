//go:build !unix

package main

import (
	"fmt"
	"io/fs"
	"os"
)

// checkPrivate has no owner and mode to check here: the token directory's
// access control list is the system's.
func checkPrivate(string, fs.FileInfo) error { return nil }

// openPrivate opens a state file (a resume token, a bulk job's checkpoint)
// for reading; it must be a regular file.
func openPrivate(path string) (*os.File, fs.FileInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	st, err := f.Stat()
	if err == nil && !st.Mode().IsRegular() {
		err = fmt.Errorf("%s is not a regular file", path)
	}
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, st, nil
}
