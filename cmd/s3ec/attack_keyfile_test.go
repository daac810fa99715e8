package main

import (
	"context"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// A key flag that names something other than a key file (a huge file, a
// device that never ends, a FIFO fed by someone else) is read only up to
// maxKeyFile bytes: the command fails at once with exit 4 and a line
// that says the file is too large, instead of reading it all into memory
// (os.ReadFile of /dev/zero never returns; of a 64 MiB file it takes
// 64 MiB, copied as it grows, with the key bytes left in the copies).
func TestAttackKeyFileBounded(t *testing.T) {
	isolate(t)
	big, err := os.Create("big.key")
	if err != nil {
		t.Fatal(err)
	}
	if err := big.Truncate(64 << 20); err != nil { // sparse: no disk used
		t.Fatal(err)
	}
	big.Close()
	paths := []string{"big.key"}
	if runtime.GOOS == "linux" {
		paths = append(paths, "/dev/zero")
	}
	for _, path := range paths {
		for _, args := range [][]string{
			{"cat", "--aes-key-file", path, "s3://b/k"},
			{"cat", "--rsa-private-key", path, "s3://b/k"},
			{"cp", "--rsa-public-key", path, "f", "s3://b/k"},
		} {
			type result struct {
				code   int
				stderr string
			}
			done := make(chan result, 1)
			go func() {
				code, stderr := runNoPanic(t, context.Background(), args)
				done <- result{code, stderr}
			}()
			select {
			case r := <-done:
				if r.code != exitKey || !strings.Contains(r.stderr, path+" is larger than") || strings.Count(r.stderr, "\n") != 1 {
					t.Errorf("s3ec %s: exit %d, stderr %q; want exit %d and one line saying %s is too large", strings.Join(args, " "), r.code, r.stderr, exitKey, path)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("s3ec %s: still reading the key file after 10 s", strings.Join(args, " "))
			}
		}
	}
}
