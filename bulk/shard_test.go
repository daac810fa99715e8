package bulk

import (
	"fmt"
	"strings"
	"testing"
)

func manifestOf(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "bucket-%d,key%%2F%d,v%d\n", i%3, i, i%2)
	}
	return b.String()
}

func TestShardCoversExactlyOnce(t *testing.T) {
	const tasks = 5000
	in := manifestOf(tasks)
	for _, n := range []int{1, 2, 3, 7, 16} {
		seen := map[Task]int{}
		sizes := make([]int, n)
		for k := range n {
			for _, task := range all(t, Shard(ReadCSV(strings.NewReader(in)), k, n)) {
				if ShardOf(task, n) != k {
					t.Fatalf("task %+v in shard %d of %d, ShardOf says %d", task, k, n, ShardOf(task, n))
				}
				seen[task]++
				sizes[k]++
			}
		}
		if len(seen) != tasks {
			t.Fatalf("n=%d: union holds %d tasks, want %d", n, len(seen), tasks)
		}
		for task, c := range seen {
			if c != 1 {
				t.Fatalf("n=%d: %+v in %d shards", n, task, c)
			}
		}
		for k, s := range sizes {
			if s < tasks/n/2 {
				t.Errorf("n=%d: shard %d holds %d of %d tasks", n, k, s, tasks)
			}
		}
	}
}

func TestShardIndependentOfOrder(t *testing.T) {
	a := ReadCSV(strings.NewReader("b,x\nb,y\nb,z\n"))
	b := ReadCSV(strings.NewReader("b,z\nb,x\nb,y\n"))
	owner := map[string]int{}
	for _, task := range all(t, a) {
		owner[task.Key] = ShardOf(task, 4)
	}
	for _, task := range all(t, b) {
		if ShardOf(task, 4) != owner[task.Key] {
			t.Errorf("%s changed shard with its position", task.Key)
		}
	}
	// The name fields are length-prefixed: a "/" moved between bucket and
	// key names another object.
	x, y := Task{Bucket: "a/b", Key: "c"}, Task{Bucket: "a", Key: "b/c"}
	same := 0
	for n := 2; n < 40; n++ {
		if ShardOf(x, n) == ShardOf(y, n) {
			same++
		}
	}
	if same > 30 {
		t.Errorf("(a/b, c) and (a, b/c) share a shard for %d of 38 n", same)
	}
}

func TestShardBadArguments(t *testing.T) {
	for _, kn := range [][2]int{{0, 0}, {2, 2}, {-1, 3}} {
		if _, err := Shard(ReadCSV(strings.NewReader("b,k\n")), kn[0], kn[1]).Next(ctx); err == nil || !strings.Contains(err.Error(), "shard") {
			t.Errorf("Shard(%d, %d): err = %v", kn[0], kn[1], err)
		}
	}
}

func TestSkip(t *testing.T) {
	got := all(t, Skip(ReadCSV(strings.NewReader(manifestOf(10))), 6))
	if len(got) != 3 || got[0].Seq != 7 || got[2].Seq != 9 {
		t.Fatalf("got %+v", got)
	}
	if got := all(t, Skip(ReadCSV(strings.NewReader(manifestOf(10))), -1)); len(got) != 10 {
		t.Fatalf("Skip(-1) kept %d", len(got))
	}
	// Sharded then skipped: Seq is the position in the whole manifest.
	for _, task := range all(t, Skip(Shard(ReadCSV(strings.NewReader(manifestOf(100))), 1, 3), 50)) {
		if task.Seq <= 50 || ShardOf(task, 3) != 1 {
			t.Fatalf("kept %+v", task)
		}
	}
}
