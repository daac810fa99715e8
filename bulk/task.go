package bulk

import (
	"context"
	"errors"
	"fmt"
)

// Task is one object of a job.
type Task struct {
	// Bucket, Key and VersionId name the object; Key is already
	// URL-decoded. VersionId is empty for the current version.
	Bucket, Key, VersionId string

	// Seq is the 0-based position of the task in the (unsharded)
	// manifest, for resuming (see Summary.Watermark and Skip).
	Seq int64

	// NotLatest marks a version an inventory lists as not the latest
	// (IsLatest false). Write operations skip it (Reason "not-latest");
	// Verify and Inspect read that version.
	NotLatest bool
}

// Manifest yields tasks one at a time in a fixed order; it never holds the
// whole list in memory. Its methods are not safe for concurrent use.
type Manifest interface {
	// Next returns the next task, or io.EOF after the last one.
	Next(ctx context.Context) (Task, error)
	// Close releases what the manifest holds open.
	Close() error
}

// ErrManifest is the class of every error of a malformed manifest; the
// *ManifestError names the file and the line.
var ErrManifest = errors.New("bulk: malformed manifest")

// ManifestError reports a manifest line that cannot be read. It matches
// ErrManifest with errors.Is.
type ManifestError struct {
	File   string // the manifest or data file; "" for a stream
	Line   int64  // 1-based line number; 0 when it is about the whole file
	Reason string
}

func (e *ManifestError) Error() string {
	where := e.File
	if where == "" {
		where = "manifest"
	}
	if e.Line > 0 {
		return fmt.Sprintf("bulk: %s line %d: %s", where, e.Line, e.Reason)
	}
	return fmt.Sprintf("bulk: %s: %s", where, e.Reason)
}

// Is makes errors.Is(err, ErrManifest) true.
func (e *ManifestError) Is(target error) bool { return target == ErrManifest }
