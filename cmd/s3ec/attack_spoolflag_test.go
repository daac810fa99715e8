package main

import (
	"context"
	"strings"
	"testing"
)

// --spool-dir with --stream would do nothing (a streamed object is not
// spooled): the command refuses it as a usage error before it reads
// anything, as the library refuses SpoolDir without SpoolLargeObjects,
// instead of ignoring the directory the user named.
func TestAttackSpoolDirWithStream(t *testing.T) {
	keys := isolate(t)
	args := append([]string{"cat", "--stream", "--spool-dir", t.TempDir()}, keys...)
	code, stderr := runNoPanic(t, context.Background(), append(args, "s3://b/k"))
	if code != exitUsage || !strings.Contains(stderr, "--spool-dir has no effect with --stream") {
		t.Errorf("exit %d, stderr %q; want exit %d and a line saying --spool-dir does nothing with --stream", code, stderr, exitUsage)
	}
}
