package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/s3ec/s3ec-go/bulk"
)

// A bulk run with --report keeps a checkpoint beside it, REPORT.checkpoint:
// the identity of the job (of a manifest's content too: see manifestID),
// the watermark (every task of the manifest up to it has its line in the
// report), the tasks after it that have one, and the length of the report
// that holds those lines. --resume continues
// from it: the report is cut back to that length (the lines after it are
// of tasks the resumed run does again) and appended to.
//
// A local checkpoint is replaced atomically (a temporary file renamed over
// it) every checkpointEvery and at the end of the run, after the report is
// flushed to disk. With an s3:// report, the report and then its
// checkpoint are uploaded when the run ends, interrupted or not; a run
// killed before that resumes from the previous checkpoint, and the tasks
// it does again are skipped as already done.

// checkpointEvery is how often a local checkpoint is written.
var checkpointEvery = 5 * time.Second

// checkpointVersion is the version of the checkpoint's format (2: the
// job holds the manifest's identity).
const checkpointVersion = 2

// maxCheckpointSize bounds a checkpoint read back (its ahead set is
// bounded by the window of bulk.Run).
const maxCheckpointSize = 64 << 20

// jobID identifies a job: a checkpoint of another one is refused.
type jobID struct {
	Operation string `json:"operation"`
	Source    string `json:"source"` // "manifest PATH|s3://…", "prefix s3://…", "object s3://…"
	Shard     string `json:"shard"`  // "K/N"
	DryRun    bool   `json:"dry_run"`
	// Manifest is the identity of the manifest's content (of a job over a
	// manifest): the positions the checkpoint counts are its rows.
	Manifest manifestID `json:"manifest,omitzero"`
}

// sameJobOtherManifest reports whether id and other are one job over a
// manifest whose content differs.
func (id jobID) sameJobOtherManifest(other jobID) bool {
	a, b := id, other
	a.Manifest, b.Manifest = manifestID{}, manifestID{}
	return a == b && id.Manifest != other.Manifest
}

func (id jobID) String() string {
	s := fmt.Sprintf("%s of %s, shard %s", id.Operation, id.Source, id.Shard)
	if id.DryRun {
		s += ", dry run"
	}
	return s
}

// checkpoint is the content of REPORT.checkpoint.
type checkpoint struct {
	Version int   `json:"version"`
	Job     jobID `json:"job"`
	// Watermark is the Seq of the last task up to which every task has a
	// result (-1: none); WatermarkKey its key (a listing, resumed, is
	// listed again and compared by key).
	Watermark    int64       `json:"watermark"`
	WatermarkKey string      `json:"watermark_key,omitempty"`
	Ahead        []aheadTask `json:"ahead,omitempty"`
	ReportBytes  int64       `json:"report_bytes"`
	Finished     bool        `json:"finished"`
	Updated      time.Time   `json:"updated"`
}

// aheadTask is a task after the watermark that has a result.
type aheadTask struct {
	Seq       int64  `json:"seq"`
	Bucket    string `json:"bucket"`
	Key       string `json:"key"`
	VersionId string `json:"version_id,omitempty"`
}

// skip drops from m the tasks the checkpoint's run did: up to the
// watermark (by position, or by key for a listing) and the ahead set.
func (c *checkpoint) skip(m bulk.Manifest, byKey bool) bulk.Manifest {
	ahead := map[aheadTask]bool{}
	for _, a := range c.Ahead {
		if byKey {
			a.Seq = 0
		}
		ahead[a] = true
	}
	if !byKey {
		m = bulk.Skip(m, c.Watermark)
	}
	return &resumed{m: m, c: c, byKey: byKey, ahead: ahead}
}

type resumed struct {
	m     bulk.Manifest
	c     *checkpoint
	byKey bool
	ahead map[aheadTask]bool
}

func (r *resumed) Next(ctx context.Context) (bulk.Task, error) {
	for {
		t, err := r.m.Next(ctx)
		if err != nil {
			return t, err
		}
		a := aheadTask{Seq: t.Seq, Bucket: t.Bucket, Key: t.Key, VersionId: t.VersionId}
		if r.byKey {
			if r.c.Watermark >= 0 && t.Key <= r.c.WatermarkKey {
				continue
			}
			a.Seq = 0
		}
		if !r.ahead[a] {
			return t, nil
		}
	}
}

func (r *resumed) Close() error { return r.m.Close() }

// jobReport is the completion report of a run and its checkpoint.
type jobReport struct {
	name  string // as given: FILE or s3://bucket/key
	s3    *s3URL // the report's address, for s3://
	plain *s3.Client
	path  string // the file the lines go to: the report, or a temporary file
	f     *os.File
	w     *bulk.Report
	done  func() // forgets the cleanup note
}

func (r *jobReport) local() bool { return r.s3 == nil }

func (r *jobReport) checkpointPath() string { return r.path + ".checkpoint" }

func (r *jobReport) checkpointURL() s3URL {
	return s3URL{bucket: r.s3.bucket, key: r.s3.key + ".checkpoint"}
}

// openReport opens the report of job id, and with resume the checkpoint
// to continue from (nil: start from the beginning). manifest is the
// --manifest of the job, as given ("": none).
func openReport(ctx context.Context, plain *s3.Client, name string, id jobID, manifest string, resume bool) (*jobReport, *checkpoint, error) {
	r := &jobReport{name: name, plain: plain}
	var prev *checkpoint
	var err error
	if isS3URL(name) {
		u, _ := parseObjectURL(name)
		r.s3 = &u
		prev, err = r.readS3Checkpoint(ctx)
	} else {
		r.path = name
		prev, err = readLocalCheckpoint(r.checkpointPath())
	}
	if err != nil {
		return nil, nil, err
	}
	where := r.checkpointName()
	switch {
	case prev != nil && prev.Job.sameJobOtherManifest(id) && (resume || !prev.Finished):
		return nil, nil, usagef("--report %s: the manifest %s is not the one %s was written for (it had %s; it has %s now): it was changed or regenerated since, and the checkpoint's positions would skip rows of this manifest that no run did; to run this manifest from its first row, delete %s or give another --report", name, manifest, where, prev.Job.Manifest, id.Manifest, where)
	case prev != nil && prev.Job != id && (resume || !prev.Finished):
		return nil, nil, usagef("--report %s: %s is the checkpoint of another job (%s), not of this one (%s): give this job a report of its own, or delete the checkpoint to start over", name, where, prev.Job, id)
	case prev != nil && resume && manifest != "" && id.Manifest.weak():
		return nil, nil, usagef("--report %s: the manifest %s has no ETag or version id (S3 returned none): a regenerated manifest cannot be told from this one, so --resume is refused; delete %s to start over", name, manifest, where)
	case prev != nil && !resume && !prev.Finished:
		return nil, nil, usagef("--report %s: %s holds an unfinished run of this job: give --resume to continue it, or delete the checkpoint to start over", name, where)
	case !resume:
		prev = nil
	}
	if err := r.openLines(ctx, prev); err != nil {
		return nil, nil, err
	}
	r.w = bulk.NewReport(r.f)
	if r.s3 != nil {
		r.done = cleanups.add(fmt.Sprintf("the report %s was not uploaded: its lines are in %s", name, r.path))
	} else if err := r.checkpoint(startState(id, prev)); err != nil {
		r.discard()
		return nil, nil, err
	}
	return r, prev, nil
}

// startState is the checkpoint of a run that has done nothing yet.
func startState(id jobID, prev *checkpoint) *checkpoint {
	if prev != nil {
		c := *prev
		c.Finished = false
		return &c
	}
	return &checkpoint{Version: checkpointVersion, Job: id, Watermark: -1}
}

func (r *jobReport) checkpointName() string {
	if r.s3 != nil {
		return r.checkpointURL().String()
	}
	return r.checkpointPath()
}

// openLines opens the file the report's lines go to: the report itself,
// cut back to the checkpoint's length on resume; for s3:// a temporary
// file (0600), filled with the stored report on resume.
func (r *jobReport) openLines(ctx context.Context, prev *checkpoint) error {
	if r.s3 == nil {
		flags := os.O_WRONLY | os.O_CREATE
		if prev == nil {
			flags |= os.O_TRUNC
		}
		f, err := os.OpenFile(r.path, flags, 0o600)
		if err != nil {
			return fmt.Errorf("--report: %w", err)
		}
		if prev != nil {
			st, err := f.Stat()
			switch {
			case err != nil:
				f.Close()
				return fmt.Errorf("--report: %w", err)
			case st.Size() < prev.ReportBytes:
				f.Close()
				return fmt.Errorf("--report %s: the report is shorter (%d bytes) than its checkpoint says (%d): it was changed since; delete the checkpoint to start over", r.path, st.Size(), prev.ReportBytes)
			}
			if err := f.Truncate(prev.ReportBytes); err != nil {
				f.Close()
				return fmt.Errorf("--report: %w", err)
			}
			if _, err := f.Seek(prev.ReportBytes, io.SeekStart); err != nil {
				f.Close()
				return fmt.Errorf("--report: %w", err)
			}
		}
		r.f = f
		return nil
	}
	f, err := os.CreateTemp("", "s3ec-report-*.csv") // mode 0600
	if err != nil {
		return fmt.Errorf("--report: a temporary file: %w", err)
	}
	r.f, r.path = f, f.Name()
	if prev != nil && prev.ReportBytes > 0 {
		out, err := r.plain.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(r.s3.bucket), Key: aws.String(r.s3.key)})
		if err != nil {
			r.discard()
			return &objectErr{url: *r.s3, err: fmt.Errorf("reading the report to resume: %w", err)}
		}
		n, err := io.Copy(f, io.LimitReader(out.Body, prev.ReportBytes))
		out.Body.Close()
		if err == nil && n < prev.ReportBytes {
			err = fmt.Errorf("the report is shorter (%d bytes) than its checkpoint says (%d)", n, prev.ReportBytes)
		}
		if err != nil {
			r.discard()
			return &objectErr{url: *r.s3, err: fmt.Errorf("reading the report to resume: %w", err)}
		}
	}
	return nil
}

// write adds the line of a result.
func (r *jobReport) write(res bulk.Result) error { return r.w.Write(res) }

// checkpoint flushes the report to disk and replaces the local checkpoint
// with c. (An s3:// report has its checkpoint uploaded by finish.)
func (r *jobReport) checkpoint(c *checkpoint) error {
	if err := r.w.Flush(); err != nil {
		return err
	}
	if err := r.f.Sync(); err != nil {
		return err
	}
	st, err := r.f.Stat()
	if err != nil {
		return err
	}
	c.ReportBytes = st.Size()
	c.Updated = time.Now().UTC()
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	return writeFileAtomic(r.checkpointPath(), b)
}

// finish writes the last checkpoint, closes the report and, for s3://,
// uploads the report, then its checkpoint. It runs when the run was
// interrupted too: the uploads get a minute of their own.
func (r *jobReport) finish(ctx context.Context, c *checkpoint) error {
	if r.s3 == nil {
		err := r.checkpoint(c)
		if cerr := r.f.Close(); err == nil {
			err = cerr
		}
		r.f = nil
		return err
	}
	if err := r.w.Flush(); err != nil {
		return err
	}
	st, err := r.f.Stat()
	if err != nil {
		return err
	}
	upCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	if _, err := r.f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	_, err = r.plain.PutObject(upCtx, &s3.PutObjectInput{
		Bucket: aws.String(r.s3.bucket), Key: aws.String(r.s3.key),
		Body: io.NewSectionReader(r.f, 0, st.Size()), ContentLength: aws.Int64(st.Size()),
		ContentType: aws.String("text/csv"),
	})
	if err != nil {
		return fmt.Errorf("uploading it failed (its lines are kept in %s): %w", r.path, err)
	}
	c.ReportBytes = st.Size()
	c.Updated = time.Now().UTC()
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	_, err = r.plain.PutObject(upCtx, &s3.PutObjectInput{
		Bucket: aws.String(r.s3.bucket), Key: aws.String(r.checkpointURL().key),
		Body: bytes.NewReader(append(b, '\n')), ContentType: aws.String("application/json"),
	})
	if err != nil {
		return fmt.Errorf("uploading its checkpoint %s failed: %w", r.checkpointURL(), err)
	}
	r.f.Close()
	os.Remove(r.path)
	r.f = nil
	if r.done != nil {
		r.done()
	}
	return nil
}

// discard closes what is still open; an s3:// report that could not be
// uploaded keeps its temporary file, which the error names.
func (r *jobReport) discard() {
	if r.f != nil {
		r.f.Close()
		r.f = nil
	}
}

// readLocalCheckpoint reads a checkpoint file; nil if there is none.
//
// Like a resume token, it is read only from a regular file that the user
// alone could have written (openPrivate): a checkpoint planted by another
// user of a shared directory would make --resume skip the tasks it names.
func readLocalCheckpoint(path string) (*checkpoint, error) {
	f, _, err := openPrivate(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("--report: the checkpoint: %w: it could have been planted; remove it to start the job again", err)
	}
	defer f.Close()
	return decodeCheckpoint(path, f)
}

func (r *jobReport) readS3Checkpoint(ctx context.Context) (*checkpoint, error) {
	u := r.checkpointURL()
	out, err := r.plain.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(u.bucket), Key: aws.String(u.key)})
	var api smithy.APIError
	if isS3NotFound(err) && !(errors.As(err, &api) && api.ErrorCode() == "NoSuchBucket") {
		return nil, nil
	}
	if err != nil {
		return nil, &objectErr{url: u, err: err}
	}
	defer out.Body.Close()
	return decodeCheckpoint(u.String(), out.Body)
}

func decodeCheckpoint(name string, rd io.Reader) (*checkpoint, error) {
	b, err := io.ReadAll(io.LimitReader(rd, maxCheckpointSize+1))
	if err != nil {
		return nil, fmt.Errorf("--report: %s: %w", name, err)
	}
	if len(b) > maxCheckpointSize {
		return nil, fmt.Errorf("--report: %s: larger than %d bytes: not a checkpoint of s3ec", name, maxCheckpointSize)
	}
	var c checkpoint
	if err := json.Unmarshal(b, &c); err != nil || c.Version < 1 || c.Job.Operation == "" {
		return nil, usagef("--report: %s is not a checkpoint of s3ec (version %d): delete it to start over", name, checkpointVersion)
	}
	if c.Version != checkpointVersion {
		// Version 1 held no identity of the manifest.
		return nil, usagef("--report: %s is a checkpoint of format version %d, and this s3ec reads version %d only: delete it to start over", name, c.Version, checkpointVersion)
	}
	return &c, nil
}

// writeFileAtomic replaces path with b: a temporary file in the same
// directory (0600), synced, renamed over it.
func writeFileAtomic(path string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	syncDir(filepath.Dir(path)) // the rename itself survives a crash
	return nil
}
