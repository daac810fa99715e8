//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/s3ec/s3ec-go/bulk"
)

// memResult is one memory measurement, as the child reports it.
type memResult struct {
	Tasks    int64
	Seconds  float64 // bulk.Run only, not the manifest's generation
	PeakHeap uint64  // the largest live heap sampled during the run
	// RSSKiB is the child's peak RSS, VmHWM of /proc/self/status: the
	// high-water mark of its own address space. (The rusage of a child is
	// no good here: Linux carries the parent's peak over to it, as Go
	// starts children with vfork.)
	RSSKiB int64
	lines  int
}

// spawnMemory runs one memory measurement in a child process, so that its
// peak RSS is its own.
func spawnMemory(cfg config, lines int) (memResult, error) {
	cmd := exec.Command(os.Args[0], "-child", "memory "+strconv.Itoa(lines), "-endpoint", cfg.endpoint, "-bucket", cfg.bucket)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return memResult{}, fmt.Errorf("%v: %s", err, strings.TrimSpace(stderr.String()))
	}
	var r memResult
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		return memResult{}, fmt.Errorf("child output %q: %w", stdout.String(), err)
	}
	r.lines = lines
	return r, nil
}

// noop is an operation that does nothing but succeed: with it, a job
// measures the runner, the manifest reader and the report alone.
type noop struct{}

func (noop) Name() string { return "noop" }

func (noop) Do(_ context.Context, t bulk.Task) bulk.Result {
	return bulk.Result{Task: t, Outcome: bulk.Done, Status: bulk.Succeeded, Reason: "noop", HTTPStatus: 200}
}

// runChild runs the KMS test server (-child kms), or writes a manifest of LINES lines to a temporary file, then runs
// a job over it (bulk.Open of the file, the no-op operation, a completion
// report to another temporary file) while sampling the live heap.
func runChild(cfg config) error {
	if cfg.child == "kms" {
		return runKMSChild()
	}
	var lines int
	if _, err := fmt.Sscanf(cfg.child, "memory %d", &lines); err != nil || lines < 1 {
		return fmt.Errorf("bad -child %q", cfg.child)
	}
	dir, err := os.MkdirTemp("", "bulkbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "manifest.csv")
	if err := writeManifest(path, cfg.bucket, lines); err != nil {
		return err
	}
	out, err := os.Create(filepath.Join(dir, "report.csv"))
	if err != nil {
		return err
	}
	defer out.Close()

	ctx := context.Background()
	var peak atomic.Uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go sampleHeap(&peak, stop, done)

	start := time.Now()
	m, err := bulk.Open(ctx, nil, path)
	if err != nil {
		return err
	}
	defer m.Close()
	report := bulk.NewReport(out)
	sum, err := bulk.Run(ctx, m, noop{}, bulk.RunOptions{Concurrency: cfg.concurrency, Report: report})
	if err == nil {
		err = report.Flush()
	}
	elapsed := time.Since(start)
	close(stop)
	<-done
	if err != nil {
		return err
	}
	if sum.Done != int64(lines) {
		return fmt.Errorf("%d of %d tasks done", sum.Done, lines)
	}
	rss, err := peakRSS()
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(memResult{Tasks: sum.Done, Seconds: elapsed.Seconds(), PeakHeap: peak.Load(), RSSKiB: rss})
}

// peakRSS returns this process's peak resident set size in KiB (VmHWM,
// Linux).
func peakRSS() (int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, fmt.Errorf("peak RSS: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			return strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		}
	}
	return 0, errors.New("peak RSS: no VmHWM in /proc/self/status")
}

// writeManifest writes a Batch Operations CSV manifest of n distinct keys.
func writeManifest(path, bucket string, n int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	for i := range n {
		fmt.Fprintf(w, "%s,logs/2026/12/02/part-%09d.json.gz\n", bucket, i)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// sampleHeap records the largest live heap (bytes in heap objects) every
// millisecond until stop closes.
func sampleHeap(peak *atomic.Uint64, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	t := time.NewTicker(time.Millisecond)
	defer t.Stop()
	for {
		metrics.Read(s)
		if v := s[0].Value.Uint64(); v > peak.Load() {
			peak.Store(v)
		}
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}
