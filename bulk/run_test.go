package bulk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// opFunc is an Operation made of a function.
type opFunc func(ctx context.Context, t Task) Result

func (opFunc) Name() string                            { return "test" }
func (f opFunc) Do(ctx context.Context, t Task) Result { return f(ctx, t) }
func doneOp(ctx context.Context, t Task) Result        { return done(t, "tested", false, "") }

var _ Operation = opFunc(nil)

// genCSV is an io.Reader of n manifest lines, generated as it is read.
type genCSV struct {
	n, i int
	buf  []byte
}

func (g *genCSV) Read(p []byte) (int, error) {
	for len(g.buf) < len(p) && g.i < g.n {
		g.buf = append(g.buf, "bucket,prefix%2Fobject-"...)
		g.buf = strconv.AppendInt(g.buf, int64(g.i), 10)
		g.buf = append(g.buf, '\n')
		g.i++
	}
	if len(g.buf) == 0 {
		return 0, io.EOF
	}
	n := copy(p, g.buf)
	g.buf = g.buf[:copy(g.buf, g.buf[n:])]
	return n, nil
}

func TestRunMillionTasksConstantMemory(t *testing.T) {
	tasks := 1_000_000
	if raceEnabled || testing.Short() {
		tasks = 200_000 // the race detector makes each task 5x slower
	}
	const bound = 64 << 20
	runtime.GC()
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				if ms.HeapInuse > peak.Load() {
					peak.Store(ms.HeapInuse)
				}
			}
		}
	}()
	start := time.Now()
	var progress int64
	sum, err := Run(ctx, ReadCSV(&genCSV{n: tasks}), opFunc(doneOp), RunOptions{
		Concurrency: 32,
		Report:      NewReport(io.Discard),
		Progress:    func(Result, Summary) { progress++ },
	})
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if sum.Total != int64(tasks) || sum.Done != int64(tasks) || sum.Reasons["tested"] != int64(tasks) || sum.Watermark != int64(tasks-1) || progress != int64(tasks) {
		t.Fatalf("summary %v, %d progress calls", sum, progress)
	}
	t.Logf("%d tasks in %v, peak heap in use %.1f MiB", tasks, time.Since(start).Round(time.Millisecond), float64(peak.Load())/(1<<20))
	if peak.Load() > bound {
		t.Fatalf("peak heap in use %d bytes > %d", peak.Load(), bound)
	}
}

func TestRunWindowAndWatermark(t *testing.T) {
	const tasks = 5000
	release := make(chan struct{})
	var maxStarted atomic.Int64
	op := opFunc(func(ctx context.Context, t Task) Result {
		for {
			m := maxStarted.Load()
			if t.Seq <= m || maxStarted.CompareAndSwap(m, t.Seq) {
				break
			}
		}
		if t.Seq == 5 {
			<-release
		}
		return done(t, "tested", false, "")
	})
	const conc = 4
	var marks []int64
	var once sync.Once
	sum, err := Run(ctx, ReadCSV(strings.NewReader(manifestOf(tasks))), op, RunOptions{
		Concurrency: conc,
		Progress: func(r Result, s Summary) {
			marks = append(marks, s.Watermark)
			if s.Total == int64(window(conc)) {
				// Everything the window allows past the stuck task is
				// done; no task beyond it was started.
				if s.Watermark != 4 {
					t.Errorf("watermark %d while task 5 runs", s.Watermark)
				}
				time.Sleep(50 * time.Millisecond)
				if m := maxStarted.Load(); m >= 5+int64(window(conc)) {
					t.Errorf("task %d started, beyond the window of %d past task 5", m, window(conc))
				}
				once.Do(func() { close(release) })
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Total != tasks || sum.Watermark != tasks-1 {
		t.Fatalf("summary %v", sum)
	}
	for i := 1; i < len(marks); i++ {
		if marks[i] < marks[i-1] {
			t.Fatalf("watermark went back: %d then %d", marks[i-1], marks[i])
		}
	}
}

func TestRunConcurrencyAndSerialProgress(t *testing.T) {
	var inFlight, maxInFlight atomic.Int32
	op := opFunc(func(ctx context.Context, t Task) Result {
		n := inFlight.Add(1)
		for {
			m := maxInFlight.Load()
			if n <= m || maxInFlight.CompareAndSwap(m, n) {
				break
			}
		}
		time.Sleep(time.Millisecond)
		inFlight.Add(-1)
		if t.Seq%10 == 0 {
			return failed(t, errors.New("boom"))
		}
		return done(t, "tested", false, "")
	})
	var inProgress atomic.Int32
	calls := 0
	sum, err := Run(ctx, ReadCSV(strings.NewReader(manifestOf(300))), op, RunOptions{
		Concurrency: 5,
		Progress: func(Result, Summary) {
			if inProgress.Add(1) != 1 {
				t.Error("Progress called concurrently")
			}
			calls++ // the race detector checks this too
			inProgress.Add(-1)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if m := maxInFlight.Load(); m > 5 || m < 2 {
		t.Errorf("%d tasks in flight at most, want 2..5", m)
	}
	if calls != 300 || sum.Failed != 30 || sum.PermanentFailures != 30 || sum.Reasons["failed:Error"] != 30 || sum.Done != 270 {
		t.Errorf("calls %d, summary %v", calls, sum)
	}
	if !strings.Contains(sum.String(), "300 tasks: 270 done, 0 skipped, 30 failed (0 temporary, 30 permanent); failed:Error=30 tested=270; watermark 299") {
		t.Errorf("String() = %q", sum.String())
	}
}

func TestRunCancelAndResume(t *testing.T) {
	const tasks = 2000
	cctx, cancel := context.WithCancel(ctx)
	seen := map[int64]int{}
	var mu sync.Mutex
	op := opFunc(func(ctx context.Context, t Task) Result {
		if t.Seq == 700 {
			cancel()
		}
		if t.Seq >= 650 {
			select {
			case <-ctx.Done():
				return failed(t, ctx.Err())
			case <-time.After(time.Millisecond):
			}
		}
		return done(t, "tested", false, "")
	})
	var reported []Task
	progress := func(r Result, s Summary) {
		mu.Lock()
		defer mu.Unlock()
		seen[r.Seq]++
		reported = append(reported, r.Task)
	}
	sum, err := Run(cctx, ReadCSV(strings.NewReader(manifestOf(tasks))), op, RunOptions{Concurrency: 8, Progress: progress})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if sum.Watermark < 0 || sum.Watermark >= tasks-1 {
		t.Fatalf("watermark %d", sum.Watermark)
	}
	for seq := int64(0); seq <= sum.Watermark; seq++ {
		if seen[seq] != 1 {
			t.Fatalf("task %d <= watermark %d has %d results", seq, sum.Watermark, seen[seq])
		}
	}
	for _, r := range reported {
		if r.Seq > sum.Watermark+int64(window(8)) {
			t.Fatalf("result for task %d, beyond the window", r.Seq)
		}
	}
	// The resume does the rest; together every task has a result.
	sum2, err := Run(ctx, Skip(ReadCSV(strings.NewReader(manifestOf(tasks))), sum.Watermark), opFunc(doneOp), RunOptions{Progress: progress})
	if err != nil {
		t.Fatal(err)
	}
	if sum2.Watermark != tasks-1 {
		t.Fatalf("resume watermark %d", sum2.Watermark)
	}
	for seq := range int64(tasks) {
		if seen[seq] == 0 {
			t.Fatalf("task %d never ran", seq)
		}
	}
}

func TestRunErrors(t *testing.T) {
	// A malformed line ends the run with its error; the lines before it
	// have results.
	sum, err := Run(ctx, ReadCSV(strings.NewReader("b,k1\nb,k2\nb,%zz\nb,k4\n")), opFunc(doneOp), RunOptions{})
	var me *ManifestError
	if !errors.As(err, &me) || me.Line != 3 || sum.Total != 2 || sum.Watermark != 1 {
		t.Fatalf("err %v, summary %v", err, sum)
	}
	// A panic is a permanent failure of its task.
	sum, err = Run(ctx, ReadCSV(strings.NewReader("b,k1\nb,k2\n")), opFunc(func(ctx context.Context, t Task) Result {
		if t.Key == "k2" {
			panic("secret")
		}
		return Result{Outcome: Done, Reason: "tested"} // no Task, no Status: Run fills them in
	}), RunOptions{Progress: func(r Result, s Summary) {
		if r.Key == "k1" && (r.Status != Succeeded || r.Bucket != "b") {
			t.Errorf("result %+v", r)
		}
		if r.Key == "k2" && (r.Status != PermanentFailure || strings.Contains(r.Message, "secret")) {
			t.Errorf("panic result %+v", r)
		}
	}})
	if err != nil || sum.PermanentFailures != 1 {
		t.Fatalf("err %v, summary %v", err, sum)
	}
	// A report that cannot be written stops the run.
	_, err = Run(ctx, ReadCSV(strings.NewReader(manifestOf(10000))), opFunc(doneOp), RunOptions{Report: NewReport(failWriter{})})
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("err = %v", err)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, fmt.Errorf("disk full") }

// A Concurrency over MaxConcurrency is refused before any task runs: its
// window of tasks in flight (8 × Concurrency) overflowed, and so many
// workers were goroutines the process could not hold.
func TestRunRefusesHugeConcurrency(t *testing.T) {
	ran := 0
	op := opFunc(func(context.Context, Task) Result { ran++; return Result{} })
	for _, n := range []int{MaxConcurrency + 1, math.MaxInt} {
		if _, err := Run(context.Background(), ReadCSV(strings.NewReader(manifestOf(3))), op, RunOptions{Concurrency: n}); err == nil {
			t.Errorf("Run with Concurrency %d: no error", n)
		}
	}
	if ran != 0 {
		t.Errorf("%d tasks ran", ran)
	}
}
