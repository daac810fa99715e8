package bulk

// An outside review (fixed): the resume point when the report cannot be written.

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
)

// limitedWriter accepts the first n bytes, then fails (a disk that fills,
// a report stream that breaks).
type limitedWriter struct {
	buf bytes.Buffer
	n   int
}

var errReportFull = errors.New("report: no space left on device")

func (w *limitedWriter) Write(p []byte) (int, error) {
	if room := w.n - w.buf.Len(); len(p) > room {
		w.buf.Write(p[:max(room, 0)])
		return max(room, 0), errReportFull
	}
	return w.buf.Write(p)
}

// Defect: Summary.Watermark promises that "every task of the run with
// Seq <= Watermark has a result (in the report)", and a resume is
// Skip(m, Watermark). When the report's writer fails, Run returns the
// error, but the watermark has moved over the tasks whose lines were
// still in the report's buffers (never written) and over the task whose
// line failed: a resume from it skips tasks that have no line in the
// report, here temporary failures that nobody will ever retry (the report's
// failed lines are the retry manifest, and the resume skips them).
func TestAttackWatermarkStopsAtReportFailure(t *testing.T) {
	const n = 2000
	var m strings.Builder
	for i := range n {
		m.WriteString("b,object-")
		m.WriteString(strings.Repeat("x", 20))
		m.WriteString(string(rune('a' + i%26)))
		m.WriteString("-")
		m.WriteString(strconv.Itoa(i))
		m.WriteString("\n")
	}
	w := &limitedWriter{n: 20 << 10} // room for a few hundred lines
	op := opFunc(func(_ context.Context, t Task) Result {
		return Result{Task: t, Outcome: Failed, Status: TemporaryFailure, ErrorCode: "SlowDown", HTTPStatus: 503, Message: "slow down"}
	})
	sum, err := Run(context.Background(), ReadCSV(strings.NewReader(m.String())), op, RunOptions{Concurrency: 1, Report: NewReport(w)})
	if !errors.Is(err, errReportFull) {
		t.Fatalf("Run: %v, want the report's error", err)
	}
	reported := map[string]bool{}
	for _, line := range strings.Split(w.buf.String(), "\n") {
		if r, perr := ParseReportLine(line); perr == nil && strings.HasSuffix(line, "slow down") {
			reported[r.Key] = true
		}
	}
	// Every task up to the watermark must have its line in the report.
	tasks, _ := drain(ReadCSV(strings.NewReader(m.String())))
	var missing []string
	for _, tk := range tasks {
		if tk.Seq <= sum.Watermark && !reported[tk.Key] {
			missing = append(missing, tk.Key)
		}
	}
	if len(missing) > 0 {
		t.Fatalf("watermark %d after the report failed, %d complete report lines: %d tasks up to the watermark have no line (first %q); a resume with Skip(m, %d) never runs them again",
			sum.Watermark, len(reported), len(missing), missing[0], sum.Watermark)
	}
}
