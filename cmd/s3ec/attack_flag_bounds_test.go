package main

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// runBounded runs the binary as w.run does, but kills it when its resident
// memory passes limitMiB or when it runs longer than d: a flag value that
// makes the command grow without bound must fail the test, not the
// machine.
func (w *world) runBounded(t *testing.T, limitMiB int64, d time.Duration, args ...string) (r result, killed string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	cmd := exec.CommandContext(ctx, s3ecBin, append(args, "--endpoint-url", w.srv.URL, "--path-style")...)
	cmd.Dir = w.dir
	cmd.Env = w.env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	var err error
loop:
	for {
		select {
		case err = <-done:
			break loop
		case <-tick.C:
			if rss := rssMiB(cmd.Process.Pid); rss > limitMiB {
				killed = "resident memory " + strconv.FormatInt(rss, 10) + " MiB"
				cmd.Process.Kill()
				err = <-done
				break loop
			}
		}
	}
	if ctx.Err() != nil && killed == "" {
		killed = "still running after " + d.String()
	}
	r = result{stdout: stdout.String(), stderr: stderr.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	}
	return r, killed
}

func rssMiB(pid int) int64 {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb >> 10
		}
	}
	return 0
}

// TestAttackRmHugeConcurrency: a defect an outside review found, fixed; the
// comment says what the code did before the fix.
//
// TestAttackRmHugeConcurrency: rm -r takes --concurrency with no
// upper bound, and runner.phase starts that many goroutines before it
// looks at how many objects there are (for range max(1, concurrency)), so
// "--concurrency 9223372036854775807" (even over an empty prefix) grows
// until the machine runs out of memory instead of being refused as every
// library Concurrency over 10,000 is (ErrInvalidInput) and as bulk.Run
// refuses more than bulk.MaxConcurrency.
func TestAttackRmHugeConcurrency(t *testing.T) {
	w := newWorld(t)
	for _, n := range []string{"9223372036854775807", "100000000"} {
		t.Run(n, func(t *testing.T) {
			r, killed := w.runBounded(t, 150, 60*time.Second, "rm", "-r", "--concurrency", n, w.url("nothing-here/"))
			if killed != "" {
				t.Fatalf("rm -r --concurrency %s: not refused; killed at %s (stderr %q)", n, killed, r.stderr)
			}
			if r.code != exitUsage {
				t.Fatalf("rm -r --concurrency %s: exit %d, want %d (usage); stderr %q", n, r.code, exitUsage, r.stderr)
			}
		})
	}
}

// TestAttackKMSRateNaN: a defect an outside review found, fixed; the
// comment says what the code did before the fix.
//
// TestAttackKMSRateNaN: --kms-requests-per-second parses with
// strconv.ParseFloat, which takes "NaN"; bulkFlags.check only refuses
// b.kmsRPS < 0 (false for NaN) and kmsOptions only limits when
// b.kmsRPS > 0 (false too), so "NaN" is accepted and silently means no
// limit at all. The Lambda refuses the same value (batchops parseRate:
// NaN and Inf are not a rate). Its siblings: Inf, and a rate so small
// (1e-300) that the first request waited forever.
func TestAttackKMSRateNaN(t *testing.T) {
	w := newWorld(t)
	for _, v := range []string{"NaN", "nan", "-NaN", "Inf", "1e-300", "0.001"} {
		t.Run(v, func(t *testing.T) {
			args := append([]string{"verify", "-r", w.url("p/"), "--kms-requests-per-second", v}, w.kmsFlags()...)
			r := w.run(args...)
			if r.code != exitUsage {
				t.Fatalf("verify --kms-requests-per-second %s: exit %d, want %d (usage); stdout %q stderr %q", v, r.code, exitUsage, r.stdout, r.stderr)
			}
		})
	}
}
