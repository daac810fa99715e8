package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3ec/s3ec-go/bulk"
	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/materials"
)

// The bulk form of rotate, reencrypt, adopt, verify and inspect: one
// operation of package bulk run over an object, a prefix or a manifest,
// with a completion report, shards, a checkpoint to resume from and a
// request-rate limit for KMS.

// bulkFlags are the flags every bulk command takes.
type bulkFlags struct {
	manifest    string
	report      string
	shard       string
	shardK      int
	shardN      int
	concurrency int
	dryRun      bool
	resume      bool
	kmsRPS      float64
	quiet       bool
	// readOnly: the command writes nothing (verify, inspect), so that
	// --dryrun changes nothing.
	readOnly bool
}

// defaultBulkConcurrency is the number of objects a bulk run handles at
// once unless --concurrency says otherwise.
const defaultBulkConcurrency = 16

// register defines --dryrun and --concurrency in the command's first group
// and the bulk-run flags in a group of their own. concurrencyUsage
// describes --concurrency (verify gives it a second meaning).
func (b *bulkFlags) register(fs *flagSet, verb, concurrencyUsage string) {
	if b.concurrency == 0 {
		b.concurrency = defaultBulkConcurrency
	}
	if b.readOnly {
		fs.boolVar(&b.dryRun, "dryrun", "changes nothing: "+verb+" writes nothing anyway (accepted so that one command line serves every bulk command)")
	} else {
		fs.boolVar(&b.dryRun, "dryrun", "make every read, check and key-service call, but write nothing")
	}
	fs.longAlias("dry-run", "dryrun")
	fs.intVar(&b.concurrency, "concurrency", concurrencyUsage)
	fs.boolVar(&b.quiet, "quiet", "print only errors and the summary: no line per object, no progress")
	fs.alias("q", "quiet")
	fs.group("Many objects (a manifest, a report, shards)")
	fs.stringVar(&b.manifest, "manifest", "the objects to "+verb+": an S3 Batch Operations CSV manifest (bucket,key[,versionId]) or an S3 Inventory manifest.json, in a local `FILE` or at s3://bucket/key")
	fs.stringVar(&b.report, "report", "write the completion report, in the CSV of S3 Batch Operations (Bucket, Key, VersionId, TaskStatus, ErrorCode, HTTPStatusCode, ResultMessage), to a local `FILE` or to s3://bucket/key (uploaded when the run ends, also when it is interrupted)")
	fs.stringVar(&b.shard, "shard", "handle only shard `K/N` of the objects (0 <= K < N): N runs with K = 0 ... N-1 cover every object exactly once")
	fs.boolVar(&b.resume, "resume", "continue the interrupted run of the same job (operation, objects, shard) from the checkpoint REPORT.checkpoint, appending to its report; a manifest must be the one the checkpoint was written for (its SHA-256, or its S3 ETag and version, are recorded)")
	fs.float64Var(&b.kmsRPS, "kms-requests-per-second", "send at most `N` requests per second to KMS (0: no limit); KMS quotas are shared by every caller of the account and region")
}

// bulkMode reports whether a flag of the bulk form was given.
func (b *bulkFlags) bulkMode() bool {
	return b.manifest != "" || b.report != "" || b.shard != "" || b.resume
}

// parseShard parses --shard K/N.
func parseShard(s string) (k, n int, err error) {
	ks, ns, ok := strings.Cut(s, "/")
	if !ok {
		return 0, 0, usagef("--shard %q: want K/N, such as 0/4 (shard K of N, K from 0 to N-1)", s)
	}
	k, kerr := strconv.Atoi(ks)
	n, nerr := strconv.Atoi(ns)
	switch {
	case kerr != nil || nerr != nil:
		return 0, 0, usagef("--shard %q: want K/N with whole numbers, such as 0/4 (shard K of N, K from 0 to N-1)", s)
	case n < 1:
		return 0, 0, usagef("--shard %s: N must be at least 1", s)
	case k < 0 || k >= n:
		return 0, 0, usagef("--shard %s: K must be from 0 to %d (shards are numbered 0 to N-1)", s, n-1)
	}
	return k, n, nil
}

// check validates the flags, for a job over src.
func (b *bulkFlags) check(src jobSource) error {
	b.shardK, b.shardN = 0, 1
	if b.shard != "" {
		var err error
		if b.shardK, b.shardN, err = parseShard(b.shard); err != nil {
			return err
		}
	}
	switch {
	case checkConcurrency(b.concurrency) != nil:
		return checkConcurrency(b.concurrency)
	case checkKMSRate(b.kmsRPS) != nil:
		return checkKMSRate(b.kmsRPS)
	case b.resume && b.report == "":
		return usagef("--resume needs --report: the checkpoint is kept beside the report (REPORT.checkpoint)")
	case b.shard != "" && src.object != nil:
		return usagef("--shard splits a prefix or a manifest; %s names one object", src.object)
	case b.report == "-":
		return usagef("--report wants a file or s3://bucket/key, not standard output")
	}
	if isS3URL(b.report) {
		u, err := parseObjectURL(b.report)
		if err != nil {
			return usagef("--report %s: want s3://bucket/key", b.report)
		}
		if p := src.prefix; p != nil && u.bucket == p.bucket && strings.HasPrefix(u.key, p.key) {
			// The next run would list the report and its checkpoint with
			// the objects (and adopt would encrypt them).
			return usagef("--report %s is under the prefix %s that the command works on: put it elsewhere", b.report, p)
		}
	}
	if b.report != "" && b.report == b.manifest || sameLocalFile(b.report, b.manifest) {
		return usagef("--report %s is the manifest: the report would overwrite it", b.report)
	}
	if isS3URL(b.manifest) {
		if _, err := parseObjectURL(b.manifest); err != nil {
			return usagef("--manifest %s: want s3://bucket/key", b.manifest)
		}
	}
	return nil
}

// cacheFlag registers --cache-data-keys, of the commands that generate
// data keys (reencrypt, adopt).
func cacheFlag(fs *flagSet, p *bool) {
	fs.boolVar(p, "cache-data-keys", fmt.Sprintf("reuse each new data key for up to %d objects and %v (one KMS GenerateDataKey request for many objects); each V3 object still gets its own content key, derived from its own message id", materials.DefaultCacheMaxObjects, materials.DefaultCacheMaxAge))
}

// cached wraps kr in a caching keyring when on; the returned function
// zeroes the cached keys.
func cached(kr materials.Keyring, on bool) (materials.Keyring, func(), error) {
	if !on {
		return kr, func() {}, nil
	}
	c, err := materials.NewCachingKeyring(kr)
	if err != nil {
		return nil, nil, err
	}
	return c, func() { c.Close() }, nil
}

// sameLocalFile reports whether a and b are one existing local file.
func sameLocalFile(a, b string) bool {
	if a == "" || b == "" || isS3URL(a) || isS3URL(b) {
		return false
	}
	sa, err := os.Stat(a)
	if err != nil {
		return false
	}
	sb, err := os.Stat(b)
	return err == nil && os.SameFile(sa, sb)
}

// kmsOptions returns the options of the KMS client: more attempts on
// ThrottlingException, and the rate limit.
func (b *bulkFlags) kmsOptions() []func(*kms.Options) {
	opts := []func(*kms.Options){bulk.Retry(bulk.DefaultRetryAttempts)}
	if b.kmsRPS > 0 {
		opts = append(opts, bulk.RateLimit(b.kmsRPS))
	}
	return opts
}

// jobSource is what a job runs over: one object, a prefix, or a manifest.
type jobSource struct {
	object   *s3URL
	prefix   *s3URL
	manifest string
}

// parseSource reads the positional arguments of a bulk command: one
// s3://bucket/key (an object), s3://bucket/prefix/ or s3://bucket (a
// prefix; any address with recursive), or none with --manifest.
func parseSource(cmd string, args []string, manifest string, recursive bool) (jobSource, error) {
	if manifest != "" {
		if len(args) != 0 {
			return jobSource{}, usagef("%s: --manifest names the objects: give no address beside it", cmd)
		}
		return jobSource{manifest: manifest}, nil
	}
	if len(args) != 1 {
		return jobSource{}, usagef("%s needs one s3://bucket/key, s3://bucket/prefix/ or --manifest FILE (see 's3ec %s --help')", cmd, cmd)
	}
	u, err := parseS3URL(args[0])
	if err != nil {
		return jobSource{}, err
	}
	if u.key == "" && !recursive && !strings.HasSuffix(args[0], "/") && (cmd == "verify" || cmd == "inspect") {
		// As before the bulk forms: these commands name objects; a whole
		// bucket is s3://bucket/ or --recursive.
		return jobSource{}, usagef("%q names no object (want s3://bucket/key; every object of the bucket: s3://%s/)", args[0], u.bucket)
	}
	if recursive || u.key == "" || strings.HasSuffix(u.key, "/") {
		return jobSource{prefix: &u}, nil
	}
	return jobSource{object: &u}, nil
}

// id names the source in a checkpoint.
func (s jobSource) id() string {
	switch {
	case s.object != nil:
		return "object " + s.object.String()
	case s.prefix != nil:
		return "prefix " + s.prefix.String()
	case isS3URL(s.manifest):
		return "manifest " + s.manifest
	}
	if abs, err := filepath.Abs(s.manifest); err == nil {
		return "manifest " + abs
	}
	return "manifest " + s.manifest
}

// open returns the tasks of the source and, for a manifest with identify,
// the identity of the manifest read (see manifestID).
func (s jobSource) open(ctx context.Context, c *s3.Client, identify bool) (bulk.Manifest, manifestID, error) {
	switch {
	case s.object != nil:
		return &oneTask{t: bulk.Task{Bucket: s.object.bucket, Key: s.object.key}}, manifestID{}, nil
	case s.prefix != nil:
		return bulk.List(c, s.prefix.bucket, s.prefix.key), manifestID{}, nil
	}
	var mid manifestID
	var getter bulk.S3Getter = c
	var rec *recordingGetter
	switch {
	case identify && isS3URL(s.manifest):
		u, _ := parseObjectURL(s.manifest) // checked by bulkFlags.check
		rec = &recordingGetter{c: c, bucket: u.bucket, key: u.key}
		getter = rec
	case identify:
		// Hashed before it is read: a manifest rewritten in between has
		// another content than the one recorded, so a resume of it is
		// refused.
		var err error
		if mid, err = hashFile(s.manifest); err != nil {
			return nil, manifestID{}, fmt.Errorf("--manifest %s: %w", s.manifest, err)
		}
	}
	m, err := bulk.Open(ctx, getter, s.manifest)
	if err != nil {
		return nil, manifestID{}, fmt.Errorf("--manifest %s: %w", s.manifest, err)
	}
	if rec != nil {
		var ok bool
		if mid, ok = rec.identity(); !ok {
			m.Close()
			return nil, manifestID{}, fmt.Errorf("--manifest %s: the manifest was not read", s.manifest)
		}
	}
	return m, mid, nil
}

// oneTask is the manifest of one object.
type oneTask struct {
	t    bulk.Task
	done bool
}

func (o *oneTask) Next(context.Context) (bulk.Task, error) {
	if o.done {
		return bulk.Task{}, io.EOF
	}
	o.done = true
	return o.t, nil
}

func (o *oneTask) Close() error { return nil }

// job is one run of a bulk command.
type job struct {
	e     *env
	name  string // the command: "reencrypt"
	op    bulk.Operation
	flags *bulkFlags
	src   jobSource
	plain *s3.Client
	// print writes a result of the run on stdout (inspect: the inspection;
	// the others: one line), unless --quiet. Nil: printResult.
	print func(w io.Writer, r bulk.Result) error
	// printFailures: print writes failed results too (inspect json, csv).
	printFailures bool
	// alwaysPrint: print even with --quiet (inspect: it is the output).
	alwaysPrint bool
	// single is the single-object form: its result is the command's
	// outcome, and no summary is printed.
	single bool
}

// jobCounts are the counts of a run.
type jobCounts struct {
	done, skipped, failed int64
	skippedBy             map[string]int64
	// doneBy counts the done results worth naming in the summary: those
	// whose source was not authenticated ("reencrypted-unauthenticated",
	// verify's "unauthenticated").
	doneBy map[string]int64
	first  *bulk.Result // the first failure
}

func (j *job) run(ctx context.Context) error {
	b := j.flags
	id := jobID{Operation: j.name, Source: j.src.id(), Shard: fmt.Sprintf("%d/%d", b.shardK, b.shardN), DryRun: b.dryRun}
	// The manifest is opened first: the checkpoint holds its identity.
	m, mid, err := j.src.open(ctx, j.plain, b.report != "")
	if err != nil {
		return err
	}
	defer m.Close()
	id.Manifest = mid
	var rep *jobReport
	var resume *checkpoint
	if b.report != "" {
		if rep, resume, err = openReport(ctx, j.plain, b.report, id, j.src.manifest, b.resume); err != nil {
			return err
		}
		defer rep.discard()
	}
	m = bulk.Shard(m, b.shardK, b.shardN)
	if resume != nil {
		m = resume.skip(m, j.src.prefix != nil)
	}
	tr := newTracker(m, resume, j.src.prefix != nil)

	var p *progress
	if !b.quiet {
		p = newProgress(j.e, false)
	}
	verb := j.name
	if b.dryRun {
		verb += " (dry run)"
	}
	bar := p.startCount(verb)
	counts := &jobCounts{skippedBy: map[string]int64{}, doneBy: map[string]int64{}}
	var outErr error
	var repErr error
	lastCheckpoint := time.Now()
	progressFn := func(r bulk.Result, _ bulk.Summary) {
		if ctx.Err() != nil && errors.Is(r.Err, context.Canceled) {
			// Cut short by the interrupt: not a result; a resumed run
			// does it again.
			return
		}
		switch r.Outcome {
		case bulk.Done:
			counts.done++
			if strings.HasSuffix(r.Reason, "unauthenticated") {
				counts.doneBy[r.Reason]++
			}
		case bulk.Skipped:
			counts.skipped++
			counts.skippedBy[r.Reason]++
		default:
			counts.failed++
			if counts.first == nil {
				rc := r
				counts.first = &rc
			}
		}
		bar.clear()
		if r.Outcome == bulk.Failed && !j.single {
			// (The single object's failure is the command's error.)
			fmt.Fprintln(j.e.stderr, failureLine(r))
		}
		if (r.Outcome != bulk.Failed || j.printFailures) && (!b.quiet || j.alwaysPrint) && outErr == nil {
			pr := j.print
			if pr == nil {
				pr = j.printResult
			}
			outErr = pr(j.e.stdout, r)
		}
		bar.describe(fmt.Sprintf("%s: %d done, %d skipped, %d failed", verb, counts.done, counts.skipped, counts.failed))
		bar.add(1)
		if rep != nil && repErr == nil {
			repErr = rep.write(r)
		}
		tr.finished(r)
		if rep != nil && repErr == nil && rep.local() && time.Since(lastCheckpoint) >= checkpointEvery {
			repErr = rep.checkpoint(tr.state(id, false))
			lastCheckpoint = time.Now()
		}
	}
	sum, runErr := bulk.Run(ctx, tr, j.op, bulk.RunOptions{Concurrency: b.concurrency, Progress: progressFn})
	_ = sum
	bar.done(nil)
	interrupted := ctx.Err() != nil
	finished := runErr == nil && !interrupted
	if rep != nil {
		err := rep.finish(ctx, tr.state(id, finished))
		if repErr == nil {
			repErr = err
		}
	}

	if !j.single || interrupted {
		fmt.Fprintln(j.e.stderr, j.summaryLine(counts, interrupted))
	}
	switch {
	case interrupted:
		note := "run it again to finish: objects already done are skipped"
		if rep != nil && repErr == nil {
			note = "to resume: the same command with --resume"
		}
		return &interruptedErr{note: note, err: context.Canceled}
	case runErr != nil && j.src.prefix != nil && address(runErr) == "" && isS3NotFound(runErr):
		// The listing of the prefix: its bucket is missing.
		return &objectErr{url: *j.src.prefix, err: runErr}
	case runErr != nil:
		return runErr
	case repErr != nil:
		return fmt.Errorf("--report %s: %w", b.report, repErr)
	case outErr != nil:
		return outErr
	case j.single && counts.skippedBy["not-encrypted"] > 0:
		hint := ""
		if j.name == "reencrypt" {
			hint = " (to encrypt it in place: s3ec adopt)"
		}
		return &objectErr{url: *j.src.object, err: fmt.Errorf("%w%s", encryptionclient.ErrNotEncrypted, hint)}
	case counts.failed > 0 && j.single:
		return resultError(*counts.first)
	case counts.failed > 0:
		return &codedError{code: resultExitCode(*counts.first), err: fmt.Errorf("%d of %d objects failed%s", counts.failed, counts.done+counts.skipped+counts.failed, j.reportHint())}
	}
	return nil
}

// resultError is the error of a failed result, naming its object.
func resultError(r bulk.Result) error {
	switch {
	case r.Err != nil && address(r.Err) != "":
		return r.Err
	case r.Err != nil:
		return &objectErr{url: s3URL{bucket: r.Bucket, key: r.Key}, err: r.Err}
	}
	return &objectErr{url: s3URL{bucket: r.Bucket, key: r.Key}, err: errors.New(oneLine(r.Message))}
}

// reportHint names the report in a message, if there is one.
func (j *job) reportHint() string {
	if j.flags.report == "" {
		return ""
	}
	return "; the report " + j.flags.report + " lists them"
}

// summaryLine is the line printed at the end of a run, and when it is
// interrupted: "reencrypt: 1200 done, 30 skipped (already-current 30), 2
// failed; report: r.csv". Done objects whose source was not authenticated
// are counted apart: "3 done (reencrypted-unauthenticated 3)".
func (j *job) summaryLine(c *jobCounts, interrupted bool) string {
	var b strings.Builder
	b.WriteString(j.name)
	if j.flags.dryRun {
		b.WriteString(" (dry run)")
	}
	if interrupted {
		b.WriteString(" interrupted")
	}
	byReason := func(counts map[string]int64) {
		if len(counts) == 0 {
			return
		}
		var parts []string
		for _, reason := range slices.Sorted(maps.Keys(counts)) {
			parts = append(parts, fmt.Sprintf("%s %d", reason, counts[reason]))
		}
		b.WriteString(" (" + strings.Join(parts, ", ") + ")")
	}
	fmt.Fprintf(&b, ": %d done", c.done)
	byReason(c.doneBy)
	fmt.Fprintf(&b, ", %d skipped", c.skipped)
	byReason(c.skippedBy)
	fmt.Fprintf(&b, ", %d failed", c.failed)
	if j.flags.report != "" {
		b.WriteString("; report: " + j.flags.report)
	}
	return b.String()
}

// taskURL names a task's object, with its version when it has one.
func taskURL(t bulk.Task) string {
	s := s3URL{bucket: t.Bucket, key: t.Key}.String()
	if t.VersionId != "" {
		s += " (version " + t.VersionId + ")"
	}
	return visible(s)
}

// printResult writes the line of a done or skipped object:
// "s3://b/k: reencrypted (V2 -> V3)", "s3://b/k: skipped: already-current".
func (j *job) printResult(w io.Writer, r bulk.Result) error {
	msg := oneLine(r.Message) // "reencrypted: V2 ... -> V3 ...", "skipped: already-current"
	if msg == "" {
		msg = r.Reason
	}
	_, err := fmt.Fprintln(w, taskURL(r.Task)+": "+msg)
	return err
}

// failureLine is the stderr line of a failed object.
func failureLine(r bulk.Result) string {
	if r.Err != nil {
		if address(r.Err) != "" {
			return errorLine(r.Err)
		}
		return errorLine(fmt.Errorf("%s: %w", taskURL(r.Task), r.Err))
	}
	msg := r.Message
	if msg == "" {
		msg = string(r.Status) + " " + r.ErrorCode
	}
	return "s3ec: " + taskURL(r.Task) + ": " + oneLine(msg)
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// resultExitCode is the exit code of a failed result: its error's.
func resultExitCode(r bulk.Result) int {
	if r.Err != nil {
		return exitCode(r.Err)
	}
	return exitOther
}

// tracker follows the tasks of a run from the manifest to their results,
// for the checkpoint: the watermark is the last task of the manifest's
// order up to which every task has a result, and the ahead set the tasks
// after it that have one. Run bounds the tasks between the oldest
// unfinished task and the newest one, so the queue stays small.
type tracker struct {
	m bulk.Manifest

	mu        sync.Mutex
	queue     []trackedTask // dispatched, oldest first, up to the first unfinished
	watermark trackedTask   // the last task popped
	hasMark   bool
	prev      *checkpoint // the resumed checkpoint, whose marks carry over
	// byKey: the tasks come from a listing, in key order, which a resumed
	// run lists again: its positions are compared by key.
	byKey bool
}

type trackedTask struct {
	bulk.Task
	done bool
}

func newTracker(m bulk.Manifest, prev *checkpoint, byKey bool) *tracker {
	return &tracker{m: m, prev: prev, byKey: byKey}
}

// Next passes the manifest's tasks on, recording their order.
func (t *tracker) Next(ctx context.Context) (bulk.Task, error) {
	task, err := t.m.Next(ctx)
	if err == nil {
		t.mu.Lock()
		t.queue = append(t.queue, trackedTask{Task: task})
		t.mu.Unlock()
	}
	return task, err
}

func (t *tracker) Close() error { return t.m.Close() }

// finished records the result of a task.
func (t *tracker) finished(r bulk.Result) {
	t.mu.Lock()
	defer t.mu.Unlock()
	same := func(q *trackedTask) bool {
		return q.Seq == r.Seq && q.Bucket == r.Bucket && q.Key == r.Key && q.VersionId == r.VersionId
	}
	// Seqs grow in the manifest's order: a binary search finds the task,
	// a scan is the fallback.
	i, ok := slices.BinarySearchFunc(t.queue, r.Seq, func(q trackedTask, seq int64) int { return cmp.Compare(q.Seq, seq) })
	if !ok || !same(&t.queue[i]) || t.queue[i].done {
		i = slices.IndexFunc(t.queue, func(q trackedTask) bool { return !q.done && same(&q) })
	}
	if i >= 0 {
		t.queue[i].done = true
	}
	n := 0
	for n < len(t.queue) && t.queue[n].done {
		n++
	}
	if n > 0 {
		t.watermark, t.hasMark = t.queue[n-1], true
		t.queue = t.queue[n:]
		if cap(t.queue) > 4096 && len(t.queue) < cap(t.queue)/4 {
			t.queue = slices.Clone(t.queue)
		}
	}
}

// state is the checkpoint of the run so far.
func (t *tracker) state(id jobID, finished bool) *checkpoint {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := &checkpoint{Version: checkpointVersion, Job: id, Watermark: -1, Finished: finished}
	if t.prev != nil {
		c.Watermark, c.WatermarkKey = t.prev.Watermark, t.prev.WatermarkKey
		// Tasks of the previous run's ahead set that this run has not
		// passed yet stay in the set.
		for _, a := range t.prev.Ahead {
			if t.hasMark && (!t.byKey && a.Seq <= t.watermark.Seq || t.byKey && a.Key <= t.watermark.Key) {
				continue
			}
			c.Ahead = append(c.Ahead, a)
		}
	}
	if t.hasMark {
		c.Watermark = t.watermark.Seq
		c.WatermarkKey = t.watermark.Key
	}
	for _, q := range t.queue {
		if q.done {
			c.Ahead = append(c.Ahead, aheadTask{Seq: q.Seq, Bucket: q.Bucket, Key: q.Key, VersionId: q.VersionId})
		}
	}
	return c
}
