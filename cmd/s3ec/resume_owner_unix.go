//go:build unix

package main

import (
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
