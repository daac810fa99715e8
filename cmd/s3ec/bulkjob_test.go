package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"testing"

	"github.com/s3ec/s3ec-go/bulk"
)

// sliceManifest is a manifest of tasks in memory.
type sliceManifest struct{ tasks []bulk.Task }

func (s *sliceManifest) Next(context.Context) (bulk.Task, error) {
	if len(s.tasks) == 0 {
		return bulk.Task{}, io.EOF
	}
	t := s.tasks[0]
	s.tasks = s.tasks[1:]
	return t, nil
}

func (s *sliceManifest) Close() error { return nil }

func tasks(n int) []bulk.Task {
	var out []bulk.Task
	for i := range n {
		out = append(out, bulk.Task{Bucket: "b", Key: fmt.Sprintf("k%02d", i), Seq: int64(i)})
	}
	return out
}

// drain reads a manifest through the tracker, returning the Seqs.
func drain(t *testing.T, m bulk.Manifest) []int64 {
	t.Helper()
	var seqs []int64
	for {
		task, err := m.Next(context.Background())
		if err == io.EOF {
			return seqs
		}
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, task.Seq)
	}
}

func aheadSeqs(c *checkpoint) []int64 {
	var s []int64
	for _, a := range c.Ahead {
		s = append(s, a.Seq)
	}
	slices.Sort(s)
	return s
}

// TestTrackerCheckpoint finishes tasks out of order and resumes twice:
// each resume runs exactly the tasks without a result, over a manifest
// (by position) and over a listing (by key, with positions that start
// again at 0).
func TestTrackerCheckpoint(t *testing.T) {
	id := jobID{Operation: "verify", Source: "manifest m.csv", Shard: "0/1"}
	all := tasks(10)
	tr := newTracker(&sliceManifest{tasks: slices.Clone(all)}, nil, false)
	drain(t, tr)
	if c := tr.state(id, false); c.Watermark != -1 || len(c.Ahead) != 0 {
		t.Fatalf("before any result: %+v", c)
	}
	for _, i := range []int{0, 1, 3, 4} {
		tr.finished(bulk.Result{Task: all[i]})
	}
	if c := tr.state(id, false); c.Watermark != 1 || !slices.Equal(aheadSeqs(c), []int64{3, 4}) {
		t.Fatalf("after 0 1 3 4: watermark %d, ahead %v", c.Watermark, aheadSeqs(c))
	}
	for _, i := range []int{2, 6, 8} {
		tr.finished(bulk.Result{Task: all[i]})
	}
	c := tr.state(id, false)
	if c.Watermark != 4 || c.WatermarkKey != "k04" || !slices.Equal(aheadSeqs(c), []int64{6, 8}) {
		t.Fatalf("after 2 6 8: %+v", c)
	}

	// First resume: 5, 7 and 9 are left; 5 and 7 finish.
	tr2 := newTracker(c.skip(&sliceManifest{tasks: slices.Clone(all)}, false), c, false)
	if got := drain(t, tr2); !slices.Equal(got, []int64{5, 7, 9}) {
		t.Fatalf("first resume runs %v, want [5 7 9]", got)
	}
	tr2.finished(bulk.Result{Task: all[5]})
	tr2.finished(bulk.Result{Task: all[7]})
	c2 := tr2.state(id, false)
	if c2.Watermark != 7 || !slices.Equal(aheadSeqs(c2), []int64{8}) {
		t.Fatalf("after the first resume: %+v", c2)
	}
	// Second resume: only 9.
	if got := drain(t, c2.skip(&sliceManifest{tasks: slices.Clone(all)}, false)); !slices.Equal(got, []int64{9}) {
		t.Fatalf("second resume runs %v, want [9]", got)
	}

	// A listing: resumed by key; the relisted positions start at 0, and
	// an object added before the watermark's key is not run again.
	listing := func(keys ...string) bulk.Manifest {
		var ts []bulk.Task
		for i, k := range keys {
			ts = append(ts, bulk.Task{Bucket: "b", Key: k, Seq: int64(i)})
		}
		return &sliceManifest{tasks: ts}
	}
	tr3 := newTracker(listing("a", "b", "c", "d", "e"), nil, true)
	drain(t, tr3)
	for _, k := range []string{"a", "b", "d"} {
		tr3.finished(bulk.Result{Task: bulk.Task{Bucket: "b", Key: k, Seq: int64(k[0] - 'a')}})
	}
	c3 := tr3.state(id, false)
	var keys []string
	for _, task := range slicesOf(t, c3.skip(listing("a", "aa", "b", "c", "d", "e"), true)) {
		keys = append(keys, task.Key)
	}
	if !slices.Equal(keys, []string{"c", "e"}) {
		t.Fatalf("resumed listing runs %v, want [c e]", keys)
	}
}

func slicesOf(t *testing.T, m bulk.Manifest) []bulk.Task {
	t.Helper()
	var out []bulk.Task
	for {
		task, err := m.Next(context.Background())
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, task)
	}
}

func TestParseShard(t *testing.T) {
	for s, want := range map[string][2]int{"0/1": {0, 1}, "3/4": {3, 4}, "0/100": {0, 100}} {
		k, n, err := parseShard(s)
		if err != nil || k != want[0] || n != want[1] {
			t.Errorf("parseShard(%q) = %d, %d, %v", s, k, n, err)
		}
	}
	for _, s := range []string{"", "1", "1/", "/1", "4/4", "5/4", "-1/4", "0/0", "0/-1", "a/4", "1/b", "1/2/3", " 1/2", "0x1/2"} {
		if _, _, err := parseShard(s); exitCode(err) != exitUsage {
			t.Errorf("parseShard(%q): %v, want a usage error", s, err)
		}
	}
}
