//go:build !linux

package encryptionclient_test

import "os"

// linkCount is only asked on Linux.
func linkCount(os.FileInfo) uint64 { return 0 }
