package bulk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
)

// RunOptions configure Run.
type RunOptions struct {
	// Concurrency is the number of tasks run at once. Default 16; at most
	// MaxConcurrency.
	Concurrency int

	// Report receives every result, in completion order. Optional. Run
	// flushes it before it returns.
	Report *Report

	// Progress, when set, is called after each result with the summary so
	// far, from one goroutine at a time (never concurrently). It must not
	// modify the summary's Reasons map or keep it past the call (it is
	// Run's own; copy it with maps.Clone).
	Progress func(res Result, s Summary)
}

// DefaultConcurrency is RunOptions.Concurrency's default.
const DefaultConcurrency = 16

// reportFlushEvery is how many results Run writes to a report between
// flushes: the watermark a failed report leaves is at most that far
// behind.
const reportFlushEvery = 1024

// MaxConcurrency is the largest RunOptions.Concurrency: Run refuses more
// (its window of tasks in flight is a multiple of it).
const MaxConcurrency = 10_000

// window returns how far ahead of the oldest unfinished task Run may
// dispatch: what bounds the results waiting for a slow task.
func window(concurrency int) int { return max(1024, 8*concurrency) }

// Summary counts the results of a run.
type Summary struct {
	Total, Done, Skipped, Failed         int64
	TemporaryFailures, PermanentFailures int64

	// Reasons counts the results by Result.Reason (and failures by
	// "failed:"+ErrorCode).
	Reasons map[string]int64

	// Watermark is the resume point: every task of the run with
	// Seq <= Watermark has a result (in the report). -1 until the first
	// task's result. A rerun with Skip(m, Watermark) does the rest. When
	// the report fails, it is the watermark of its last successful flush
	// (at most 1024 results back), so no task whose line may be lost is
	// skipped.
	Watermark int64
}

func (s *Summary) add(r Result) {
	s.Total++
	switch r.Outcome {
	case Done:
		s.Done++
	case Skipped:
		s.Skipped++
	default:
		s.Failed++
		if r.Status == TemporaryFailure {
			s.TemporaryFailures++
		} else {
			s.PermanentFailures++
		}
	}
	if s.Reasons == nil {
		s.Reasons = map[string]int64{}
	}
	reason := r.Reason
	if r.Outcome == Failed {
		reason = "failed:" + r.ErrorCode
	}
	s.Reasons[reason]++
}

// String is one line: the counts, then the count of each reason sorted by
// name, e.g. "12 tasks: 10 done, 1 skipped, 1 failed (1 temporary, 0
// permanent); already-current=1 failed:ThrottlingException=1
// rewrapped=10; watermark 11".
func (s Summary) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d tasks: %d done, %d skipped, %d failed (%d temporary, %d permanent)",
		s.Total, s.Done, s.Skipped, s.Failed, s.TemporaryFailures, s.PermanentFailures)
	for i, k := range slices.Sorted(maps.Keys(s.Reasons)) {
		sep := " "
		if i == 0 {
			sep = "; "
		}
		fmt.Fprintf(&b, "%s%s=%d", sep, k, s.Reasons[k])
	}
	fmt.Fprintf(&b, "; watermark %d", s.Watermark)
	return b.String()
}

type job struct {
	t   Task
	ord int64 // dispatch order in this run
}

type outcome struct {
	r   Result
	ord int64
}

// Run drives a job: it reads m, runs op on up to o.Concurrency tasks at
// once, writes every result to o.Report and calls o.Progress. Memory does
// not grow with the number of tasks: Run dispatches a task only while it
// is within a fixed window (max(1024, 8×Concurrency) tasks) of the oldest
// unfinished one.
//
// Run returns the summary and nil when every task has a result; the
// manifest's error (the summary then covers the tasks read before it; a
// panic of the manifest's Next is such an error, as a panic of op is a
// task's permanent failure: no goroutine of Run lets one end the
// process); the
// report's write error; or ctx's error when ctx ends (no task starts
// after that, and tasks that fail once ctx ended are taken for cancelled:
// they are not counted and not reported, and the watermark stops before
// the first of them, so a resume runs them again). Failed tasks are
// counted, reported and covered by the watermark; they are not an error
// of Run.
func Run(ctx context.Context, m Manifest, op Operation, o RunOptions) (Summary, error) {
	n := o.Concurrency
	if n <= 0 {
		n = DefaultConcurrency
	}
	if n > MaxConcurrency {
		return Summary{}, fmt.Errorf("bulk: Concurrency %d over the limit of %d", n, MaxConcurrency)
	}
	w := window(n)
	sum := Summary{Watermark: -1, Reasons: map[string]int64{}}

	jobs := make(chan job)
	results := make(chan outcome, n)
	tokens := make(chan struct{}, w)
	for range w {
		tokens <- struct{}{}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				if ctx.Err() != nil {
					// Cancelled before it started: not run, not reported.
					results <- outcome{Result{Task: j.t, Outcome: Failed, Err: ctx.Err()}, j.ord}
					continue
				}
				results <- outcome{runOne(ctx, op, j.t), j.ord}
			}
		}()
	}
	var readErr error
	go func() {
		defer close(jobs)
		for ord := int64(0); ; ord++ {
			select {
			case <-tokens:
			case <-ctx.Done():
				return
			}
			t, err := nextTask(ctx, m)
			if err != nil {
				if !errors.Is(err, io.EOF) && ctx.Err() == nil {
					readErr = err
				}
				return
			}
			if ctx.Err() != nil {
				return
			}
			select {
			case jobs <- job{t, ord}:
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() { wg.Wait(); close(results) }()

	// The ring holds the tasks between the oldest unfinished (low) and
	// the newest dispatched; only this goroutine touches it.
	type slot struct {
		seq       int64
		finished  bool
		abandoned bool
	}
	ring := make([]slot, w)
	var low int64
	stuck := false // a cancelled task holds the watermark
	var runErr error
	// flushed is the watermark when the report last flushed: every line up
	// to it reached the report's writer. Once the report fails, the
	// watermark goes back to it (lines the writer never took, and results
	// not written after the failure, would be skipped by a resume).
	flushed, sinceFlush := int64(-1), 0
	for out := range results {
		r := out.r
		// A failure once the run is cancelled is taken for the
		// cancellation's: the task is run again by a resume.
		abandoned := r.Outcome == Failed && ctx.Err() != nil
		ring[out.ord%int64(w)] = slot{seq: r.Seq, finished: true, abandoned: abandoned}
		if !abandoned && runErr == nil {
			sum.add(r)
			if o.Report != nil {
				if err := o.Report.Write(r); err != nil {
					runErr = err
					cancel()
				}
			}
		}
		for ring[low%int64(w)].finished {
			s := &ring[low%int64(w)]
			if s.abandoned {
				stuck = true
			}
			if !stuck {
				sum.Watermark = s.seq
			}
			*s = slot{}
			low++
			tokens <- struct{}{}
		}
		if o.Report != nil && runErr == nil {
			if sinceFlush++; sinceFlush >= reportFlushEvery {
				if err := o.Report.Flush(); err != nil {
					runErr = err
					cancel()
				} else {
					flushed, sinceFlush = sum.Watermark, 0
				}
			}
		}
		if o.Progress != nil && !abandoned && runErr == nil {
			o.Progress(r, sum)
		}
	}
	if o.Report != nil {
		if err := o.Report.Flush(); err != nil && runErr == nil {
			runErr = err
		}
		if runErr != nil {
			sum.Watermark = flushed
		}
	}
	switch {
	case runErr != nil:
		return sum, runErr
	case readErr != nil:
		return sum, readErr
	}
	return sum, context.Cause(ctx)
}

// nextTask is m.Next, with a panic (of a Manifest another package wrote,
// or a bug of this one) turned into an error: it runs on Run's reader
// goroutine, where an unrecovered panic would end the process.
func nextTask(ctx context.Context, m Manifest) (t Task, err error) {
	defer func() {
		if p := recover(); p != nil {
			t, err = Task{}, fmt.Errorf("bulk: reading the manifest panicked: %v", p)
		}
	}()
	return m.Next(ctx)
}

// opName is op.Name(), or "operation" when that panics too.
func opName(op Operation) (name string) {
	defer func() {
		if recover() != nil {
			name = "operation"
		}
	}()
	return op.Name()
}

// runOne runs op on t, keeping the task's identity in the result whatever
// op returns, and turning a panic into a permanent failure.
func runOne(ctx context.Context, op Operation, t Task) (r Result) {
	defer func() {
		if p := recover(); p != nil {
			r = failed(t, fmt.Errorf("bulk: %s panicked", opName(op)))
		}
	}()
	r = op.Do(ctx, t)
	r.Task = t
	if r.Status == "" {
		if r.Outcome == Failed {
			r.Status = PermanentFailure
		} else {
			r.Status = Succeeded
		}
	}
	r.Message = message(r.Message)
	return r
}
