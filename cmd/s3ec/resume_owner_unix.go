//go:build unix

package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// checkPrivate refuses a token file, or its directory, that another user
// could have written: owned by someone else, or writable by group or
// others. A token is authenticated only under its own data key, and anyone
// who can wrap a data key for the keyring (an RSA public key, a KMS key
// others may encrypt with) can seal one of their own; resuming it would
// encrypt the file under a key they know.
func checkPrivate(path string, st fs.FileInfo) error {
	sys, ok := st.Sys().(*syscall.Stat_t)
	switch {
	case !ok:
		return nil
	case int(sys.Uid) != os.Geteuid():
		return fmt.Errorf("%s belongs to another user (uid %d)", path, sys.Uid)
	case st.Mode().Perm()&0o022 != 0:
		return fmt.Errorf("%s is writable by other users (mode %#o)", path, st.Mode().Perm())
	}
	return nil
}

// openPrivate opens a state file (a resume token, a bulk job's checkpoint)
// for reading and checks the file it opened, not the path: without
// following a symbolic link, without blocking on a FIFO, and then by its
// descriptor, so that nobody can swap the file between the check and the
// read. It must be a regular file that checkPrivate accepts.
func openPrivate(path string) (*os.File, fs.FileInfo, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if errors.Is(err, syscall.ELOOP) {
		return nil, nil, fmt.Errorf("%s is a symbolic link, not a regular file", path)
	}
	if err != nil {
		return nil, nil, err
	}
	st, err := f.Stat()
	if err == nil && !st.Mode().IsRegular() {
		err = fmt.Errorf("%s is not a regular file", path)
	}
	if err == nil {
		err = checkPrivate(path, st)
	}
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, st, nil
}
