package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestAttackBulkConcurrencyOverLimitRefusedFirst: a defect an outside review found, fixed; the
// comment says what the code did before the fix.
//
// TestAttackBulkConcurrencyOverLimitRefusedFirst: a bulk run's
// --concurrency is checked for < 1 only (bulkFlags.check); the upper
// bound is bulk.Run's (bulk.MaxConcurrency, 10,000). So
// "--concurrency 20000" is not a usage error (exit 1) but fails late
// (exit 5, "bulk: Concurrency 20000 over the limit of 10000") after the
// job has opened and then finished its report: an empty report and a
// checkpoint are left for a run that never ran, and a report at
// s3://bucket/key is uploaded, replacing the object there (the report of
// an earlier run) with an empty one.
func TestAttackBulkConcurrencyOverLimitRefusedFirst(t *testing.T) {
	w := newWorld(t)
	w.putRaw("p/a", []byte("x"), nil)

	t.Run("local report", func(t *testing.T) {
		r := w.run(append([]string{"verify", "-r", w.url("p/"), "--report", "r.csv", "--concurrency", "20000"}, w.kmsFlags()...)...)
		if r.code != exitUsage {
			t.Errorf("exit %d, want %d (usage); stderr %q", r.code, exitUsage, r.stderr)
		}
		for _, f := range []string{"r.csv", "r.csv.checkpoint"} {
			if _, err := os.Stat(filepath.Join(w.dir, f)); err == nil {
				t.Errorf("%s was written for a run refused for its flags", f)
			}
		}
	})

	t.Run("s3 report", func(t *testing.T) {
		old := []byte("Bucket,Key,VersionId,TaskStatus,ErrorCode,HTTPStatusCode,ResultMessage\nb,k,,succeeded,,200,earlier run\n")
		w.putRaw("reports/r.csv", old, nil)
		r := w.run(append([]string{"verify", "-r", w.url("p/"), "--report", w.url("reports/r.csv"), "--concurrency", "20000"}, w.kmsFlags()...)...)
		if r.code != exitUsage {
			t.Errorf("exit %d, want %d (usage); stderr %q", r.code, exitUsage, r.stderr)
		}
		if got, _ := w.raw("reports/r.csv"); !bytes.Equal(got, old) {
			t.Errorf("the earlier report at %s was replaced by %q", w.url("reports/r.csv"), got)
		}
	})
}
