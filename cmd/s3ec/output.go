package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"

	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/internal/printable"
)

// outputFlags say what a transfer command prints, as the aws CLI's flags
// of the same names.
type outputFlags struct {
	quiet      bool // no per-file lines, no summary, no progress
	onlyErrors bool // the same: errors are always printed
	noProgress bool
	dryRun     bool
}

func (o *outputFlags) register(fs *flagSet) {
	fs.boolVar(&o.dryRun, "dryrun", "print what would be done (\"(dryrun) upload: ...\") and write nothing; the checks a write makes first are made, and their refusals reported")
	fs.boolVar(&o.quiet, "quiet", "print nothing but errors: no line per file, no summary, no progress bar")
	fs.alias("q", "quiet")
	fs.boolVar(&o.onlyErrors, "only-show-errors", "print nothing but errors (as --quiet)")
	fs.boolVar(&o.noProgress, "no-progress", "show no progress bar (they are shown only when stderr is a terminal)")
}

// silent reports that only errors are printed.
func (o *outputFlags) silent() bool { return o.quiet || o.onlyErrors }

// progress returns the progress reporter the flags ask for.
func (o *outputFlags) progress(e *env) *progress {
	return newProgress(e, o.silent() || o.noProgress || o.dryRun)
}

// An op is one step of a transfer command: one file or object uploaded,
// downloaded, copied, moved or deleted.
type op struct {
	verb     string // upload, download, copy, move, delete
	from, to string // as printed; to is empty for a delete
	// quiet ops print no line (a transfer from stdin).
	quiet bool
	// run does the op and returns the plaintext bytes it moved (0 when
	// not known).
	run func(ctx context.Context) (int64, error)
	// dryCheck, if set, is what a dry run does in place of run: the
	// read-only checks run would make before it writes (that the
	// destination is not another object's instruction file), so that a
	// dry run reports the refusals the run would meet. run makes them
	// itself.
	dryCheck func(ctx context.Context) error
	// err, if set, is a failure found while planning: the op fails with
	// it without running, also in a dry run.
	err error
}

// line is the op as the aws CLI prints it: "upload: ./a to s3://b/a",
// "delete: s3://b/k".
func (o *op) line() string {
	if o.to == "" {
		return o.verb + ": " + visible(o.from)
	}
	return o.verb + ": " + visible(o.from) + " to " + visible(o.to)
}

// pastTense of the verbs, for summaries.
var pastTense = map[string]string{
	"upload": "uploaded", "download": "downloaded", "copy": "copied", "move": "moved", "delete": "deleted",
}

// runner runs the ops of one command, one line per op on stdout (errors
// on stderr, as they happen), and a summary at the end of a command over
// many files; an interrupt stops it with a summary of what was done. The
// ops of a command may run in phases (sync: its transfers, then its
// deletes), one tally for all.
type runner struct {
	e    *env
	out  *outputFlags
	many bool // print a summary; the final error counts the failures
	mu   sync.Mutex
	t    tally
}

// tally counts what a run did.
type tally struct {
	verbs []string // in the order first seen
	done  map[string]int
	bytes map[string]int64
	fails failures
	total int
}

func (t *tally) add(o *op, n int64) {
	if t.done == nil {
		t.done, t.bytes = map[string]int{}, map[string]int64{}
	}
	if _, ok := t.done[o.verb]; !ok {
		t.verbs = append(t.verbs, o.verb)
	}
	t.done[o.verb]++
	if n > 0 && o.verb != "delete" {
		t.bytes[o.verb] += n
	}
}

func (t *tally) count() int {
	n := 0
	for _, v := range t.done {
		n += v
	}
	return n
}

// doneText lists what was done: "20 uploaded (12.3 MiB), 2 deleted".
func (t *tally) doneText() string {
	var parts []string
	for _, v := range t.verbs {
		s := fmt.Sprintf("%d %s", t.done[v], pastTense[v])
		if b := t.bytes[v]; b > 0 {
			s += " (" + formatBytes(b) + ")"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}

// summary renders the counts: "30 files uploaded (12.3 MiB)", or, when
// not everything was done, "20 of 30 files: 20 uploaded (12.3 MiB), 1
// failed, 1 interrupted, 8 not started".
func (t *tally) summary(interrupted, notStarted int) string {
	n := t.count()
	noun := "files"
	if t.total == 1 {
		noun = "file"
	}
	if n == t.total && len(t.verbs) == 1 {
		s := fmt.Sprintf("%d %s %s", n, noun, pastTense[t.verbs[0]])
		if b := t.bytes[t.verbs[0]]; b > 0 {
			s += " (" + formatBytes(b) + ")"
		}
		return s
	}
	parts := []string{}
	if d := t.doneText(); d != "" {
		parts = append(parts, d)
	} else {
		parts = append(parts, "none done")
	}
	if t.fails.n > 0 {
		parts = append(parts, fmt.Sprintf("%d failed", t.fails.n))
	}
	if interrupted > 0 {
		parts = append(parts, fmt.Sprintf("%d interrupted", interrupted))
	}
	if notStarted > 0 {
		parts = append(parts, fmt.Sprintf("%d not started", notStarted))
	}
	return fmt.Sprintf("%d of %d %s: %s", n, t.total, noun, strings.Join(parts, ", "))
}

// run runs ops one after the other and ends the run (see phase and
// finish).
func (r *runner) run(ctx context.Context, ops []op) error {
	r.t.total = len(ops)
	if err := r.phase(ctx, ops, 1); err != nil {
		return err
	}
	return r.finish()
}

// phase runs ops, concurrency at once (in order when 1). A failed op is
// reported and the others run; finish returns the failures. An interrupt
// ends the phase: the ops under way are cut short (an upload is aborted)
// and the error says how far the run got; r.t.total must count every op of
// the run, for it to say how many were not started.
func (r *runner) phase(ctx context.Context, ops []op, concurrency int) error {
	var (
		wg          sync.WaitGroup
		work        = make(chan *op)
		interrupted int
		skipped     int // taken after the interrupt: not started
		cutErr      error
		single      error // the error of a command over one file
	)
	do := func(o *op) {
		if ctx.Err() != nil {
			r.mu.Lock()
			skipped++
			r.mu.Unlock()
			return
		}
		var n int64
		var err error
		err = o.err
		if err == nil && r.out.dryRun && o.dryCheck != nil {
			err = o.dryCheck(ctx)
		}
		switch {
		case err != nil:
		case r.out.dryRun:
			if !r.out.silent() {
				r.print(r.e.stdout, "(dryrun) "+o.line())
			}
			return
		default:
			n, err = o.run(ctx)
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		switch {
		case err != nil && ctx.Err() != nil:
			interrupted++
			if cutErr == nil {
				cutErr = err
			}
		case err != nil && !r.many:
			single = err
		case err != nil:
			r.t.fails.total = r.t.total
			r.t.fails.add(r.e, err)
		default:
			r.t.add(o, n)
			if !r.out.silent() && !o.quiet {
				fmt.Fprintln(r.e.stdout, o.line())
			}
		}
	}
	// No more workers than operations (and at least one).
	for range max(1, min(concurrency, len(ops))) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for o := range work {
				do(o)
			}
		}()
	}
	sent := 0
	for ; sent < len(ops) && ctx.Err() == nil; sent++ {
		work <- &ops[sent]
	}
	close(work)
	wg.Wait()
	if single != nil {
		return single
	}
	// An interrupt that cut nothing short (the last upload was being
	// completed, and was) does not make the run an interrupted one.
	if err := ctx.Err(); err != nil && (interrupted > 0 || skipped > 0 || sent < len(ops)) {
		if cutErr == nil {
			cutErr = err
		}
		return r.interrupted(cutErr, interrupted)
	}
	return nil
}

// print writes a line under the runner's lock.
func (r *runner) print(w io.Writer, line string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintln(w, line)
}

// finish ends a run: with many files, the summary on stdout, or the error
// that counts the failures (its exit code the first one's).
func (r *runner) finish() error {
	t := &r.t
	if r.many && t.fails.first != nil {
		return &codedError{code: exitCode(t.fails.first), err: errors.New(t.summary(0, 0))}
	}
	if r.many && !r.out.silent() && !r.out.dryRun && t.total > 0 {
		fmt.Fprintln(r.e.stdout, t.summary(0, 0))
	}
	return nil
}

// interrupted is the error of an interrupted run: its note says what was
// done ("20 of 30 files: 20 uploaded (12.3 MiB), 1 interrupted, 9 not
// started"), after the note of the op that was cut short, if it has one.
func (r *runner) interrupted(err error, inFlight int) error {
	if !r.many {
		return err
	}
	t := &r.t
	notStarted := t.total - t.count() - t.fails.n - inFlight
	note := t.summary(inFlight, notStarted)
	var ua *encryptionclient.UploadAbortError
	var re *resumableErr
	if errors.As(err, &ua) || errors.As(err, &re) {
		// Its own line names the upload left behind; the summary
		// goes before it.
		fmt.Fprintln(r.e.stderr, "s3ec: interrupted; "+note)
		return err
	}
	var ie *interruptedErr
	if errors.As(err, &ie) {
		note += "; " + ie.note
	}
	if !errors.Is(err, context.Canceled) {
		err = fmt.Errorf("%w (%v)", context.Canceled, err)
	}
	return &interruptedErr{err: err, note: note}
}

// displayLocal renders a local path as the aws CLI prints it: a bare file
// name as "./name", anything else as given.
func displayLocal(p string) string {
	if p == "-" || filepath.IsAbs(p) || strings.HasPrefix(p, ".") || strings.ContainsRune(p, filepath.Separator) || strings.ContainsRune(p, '/') {
		return p
	}
	return "." + string(filepath.Separator) + p
}

// visible escapes what a terminal or a reader of the output would not
// take as text (printable.Text: control and bidirectional characters,
// invalid UTF-8). Object keys are chosen by whoever can write the bucket,
// and every line that names one goes through it.
func visible(s string) string { return printable.Text(s) }
