//go:build !unix

package main

import "io/fs"

// checkPrivate has no owner and mode to check here: the token directory's
// access control list is the system's.
func checkPrivate(string, fs.FileInfo) error { return nil }
