package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3ec/s3ec-go/encryptionclient"
)

// Resumable uploads of cp: the resume token of a file's multipart upload
// is kept in a file of its own, in the token directory, from the first
// part on; the same command run again finds it and continues the upload.

// maxTokenFile bounds what is read of a token file: a token records at
// most 10,000 parts, a few dozen bytes each.
const maxTokenFile = 4 << 20

// resumeHelp is the paragraph of cp --help on resumable uploads.
const resumeHelp = `
An upload of a file in parts (8 MiB or more) is resumable: its resume
token, which records the parts sent, is kept from the first part on in a
file readable by you only (0600) in $XDG_STATE_HOME/s3ec/uploads/ (else
~/.local/state/s3ec/uploads/, created 0700; --resume-dir to choose
another). An upload that is interrupted or fails leaves its multipart
upload open and says so; the same command run again checks the parts
already sent against the file, sends the others and removes the token file
(the same keyring and --context are needed). A file that changed
meanwhile, or an upload that was completed or aborted since, starts anew
(the old upload is aborted). --no-resume aborts a failed upload at once, as
stdin's always is. Two uploads of the same file to the same object at the
same time would share one token file (there is no lock): do not run them.
`

// resumeStore is the token directory of one command.
type resumeStore struct {
	dir      string // "" until first used: created then
	endpoint string // the S3 endpoint, part of every token's name
}

// newResumeStore returns the store of dir (default: the state directory).
func newResumeStore(dir, endpoint string) (*resumeStore, error) {
	if dir == "" {
		base := os.Getenv("XDG_STATE_HOME")
		if base == "" || !filepath.IsAbs(base) {
			home, err := os.UserHomeDir()
			if err != nil {
				return nil, fmt.Errorf("no directory for resume tokens (%v); give one with --resume-dir, or pass --no-resume", err)
			}
			base = filepath.Join(home, ".local", "state")
		}
		dir = filepath.Join(base, "s3ec", "uploads")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	return &resumeStore{dir: abs, endpoint: endpoint}, nil
}

// endpointOf is the endpoint the command sends S3 requests to, as the
// SDK resolves it from the flag and the environment ("" for AWS).
func endpointOf(a *awsFlags) string {
	for _, s := range []string{a.endpoint, os.Getenv("AWS_ENDPOINT_URL_S3"), os.Getenv("AWS_ENDPOINT_URL")} {
		if s != "" {
			return s
		}
	}
	return ""
}

// resumeJob is the token file of one upload.
type resumeJob struct {
	store   *resumeStore
	path    string // the token file
	display string // the source, as the output names it
	dst     s3URL
	saved   bool // a token was written by this run
}

// job returns the token file of the upload of the file at src to dst.
// Its name is the hex SHA-256 of the file's absolute path, the
// destination and the endpoint: the same command finds it again, and a
// changed file is found by the library's check of its parts.
func (s *resumeStore) job(src string, dst s3URL) (*resumeJob, error) {
	abs, err := filepath.Abs(src)
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	for _, f := range []string{"s3ec upload v1", abs, dst.String(), s.endpoint} {
		fmt.Fprintf(h, "%d:%s\n", len(f), f)
	}
	name := hex.EncodeToString(h.Sum(nil)) + ".token"
	return &resumeJob{store: s, path: filepath.Join(s.dir, name), display: displayLocal(src), dst: dst}, nil
}

// load returns the token of an earlier run, nil when there is none. A
// token file that is not a regular file (a link, a directory) is refused.
func (j *resumeJob) load() ([]byte, error) {
	if _, err := os.Lstat(j.path); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	// Only a token the user alone could have written is resumed: in a
	// directory and a file nobody else can write. The file is checked as
	// opened (openPrivate), so that it cannot be swapped after the check.
	dirSt, err := os.Lstat(j.store.dir)
	if err == nil {
		err = checkPrivate(j.store.dir, dirSt)
	}
	if err != nil {
		return nil, fmt.Errorf("resume token of %s: %w: it could have been planted; remove it, or pass --no-resume", j.display, err)
	}
	f, st, err := openPrivate(j.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("resume token of %s: %w: it could have been planted; remove it, or pass --no-resume", j.display, err)
	}
	defer f.Close()
	if st.Size() > maxTokenFile {
		return nil, fmt.Errorf("resume token of %s: %s holds %d bytes, more than any token; remove it, or pass --no-resume", j.display, j.path, st.Size())
	}
	tok, err := io.ReadAll(io.LimitReader(f, maxTokenFile+1))
	if err != nil {
		return nil, fmt.Errorf("resume token of %s: %w", j.display, err)
	}
	if len(tok) > maxTokenFile {
		return nil, fmt.Errorf("resume token of %s: %s grew past the size of any token", j.display, j.path)
	}
	return tok, nil
}

// save makes tok durable (the library's OnResumeToken): written to a
// temporary file, 0600, synced, renamed over the earlier token. An error
// fails the upload.
func (j *resumeJob) save(tok []byte) error {
	if err := os.MkdirAll(j.store.dir, 0o700); err != nil {
		return fmt.Errorf("the resume token directory: %w", err)
	}
	f, err := os.CreateTemp(j.store.dir, ".token-*") // 0600
	if err != nil {
		return fmt.Errorf("writing the resume token: %w", err)
	}
	tmp := f.Name()
	if err := f.Chmod(0o600); err == nil {
		_, err = f.Write(tok)
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(tmp, j.path)
		}
		if err == nil {
			syncDir(j.store.dir)
			j.saved = true
			return nil
		}
	} else {
		f.Close()
	}
	os.Remove(tmp)
	return fmt.Errorf("writing the resume token %s: %w", j.path, err)
}

// syncDir makes a rename in dir durable, where the system allows it.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

// remove deletes the token file: its upload completed, or is given up.
func (j *resumeJob) remove() error {
	if err := os.Remove(j.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing the resume token %s: %w", j.path, err)
	}
	return nil
}

// restart decides, after an Upload that resumed from a token failed,
// whether to start the upload anew: when the token's upload is over
// (stale), the token is not one (invalid), or it does not fit the file
// (mismatch: the file changed; its upload is aborted). The token file is
// then removed, and the reason said on stderr. A token the keyring cannot
// open is kept: the command with the keyring that started it resumes it.
// abortRecorded aborts the multipart upload a refused token recorded,
// within cleanupTimeout even when ctx is cancelled.
func (cp *copier) abortRecorded(ctx context.Context, re *encryptionclient.ResumeError) error {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	_, err := cp.c.plain.AbortMultipartUpload(cctx, &s3.AbortMultipartUploadInput{
		Bucket: aws.String(re.Bucket), Key: aws.String(re.Key), UploadId: aws.String(re.UploadID),
	})
	return err
}

func (cp *copier) restart(ctx context.Context, j *resumeJob, err error) (bool, error) {
	var re *encryptionclient.ResumeError
	if !errors.As(err, &re) {
		return false, err
	}
	var why string
	switch {
	case errors.Is(err, encryptionclient.ErrResumeStale):
		why = "its upload is no longer open (completed or aborted)"
		if re.Bucket == j.dst.bucket && re.Key == j.dst.key && re.UploadID != "" {
			// Said by the server (NoSuchUpload), or by a proxy: an abort
			// costs nothing if the upload is gone, and leaves none
			// behind if the answer was wrong. Its error changes nothing.
			cp.abortRecorded(ctx, re)
		}
	case errors.Is(err, encryptionclient.ErrInvalidResumeToken):
		// The upload it recorded cannot be known from it.
		why = fmt.Sprintf("its resume token is damaged; the upload it recorded may be left: list it with: aws s3api list-multipart-uploads --bucket %s --prefix %s",
			shellQuote(j.dst.bucket), shellQuote(j.dst.key))
	case errors.Is(err, encryptionclient.ErrResumeMismatch):
		why = "the file, or the command's object settings, changed since the interrupted upload"
		if re.Bucket == j.dst.bucket && re.Key == j.dst.key && re.UploadID != "" {
			// The token opened under the keyring: the upload is ours.
			if aerr := cp.abortRecorded(ctx, re); aerr != nil {
				return false, &objectErr{url: j.dst, err: fmt.Errorf("%s (or the command's object settings) changed since its upload was interrupted, and the abort of that upload failed: %w%s",
					j.display, aerr, abortHint(&encryptionclient.UploadAbortError{Bucket: re.Bucket, Key: re.Key, UploadID: re.UploadID}))}
			}
			why += "; its upload " + re.UploadID + " was aborted"
		} else {
			why = "its resume token is for another upload (" + s3URL{bucket: re.Bucket, key: re.Key}.String() + "), which was left alone"
		}
	default:
		return false, err
	}
	if rerr := j.remove(); rerr != nil {
		return false, rerr
	}
	fmt.Fprintf(cp.e.stderr, "s3ec: upload of %s to %s starts anew: %s\n", j.display, j.dst, why)
	return true, nil
}

// cleanupTimeout bounds the abort of a superseded upload.
const cleanupTimeout = 30 * time.Second

// resumableErr is an upload left open for a resume: it says how to resume
// it or abort it. Its exit code is its cause's (130 when interrupted).
type resumableErr struct {
	display string
	dst     s3URL
	id      string
	cause   error // why the upload stopped
	err     error // the library's error
}

func (e *resumableErr) Error() string { return e.line() + ": " + e.err.Error() }
func (e *resumableErr) Unwrap() error { return e.err }

// line is what the command prints of it.
func (e *resumableErr) line() string {
	return fmt.Sprintf("upload of %s to %s interrupted; run the same command again to resume it (upload id %s), or abort it with: aws s3api abort-multipart-upload --bucket %s --key %s --upload-id %s",
		e.display, e.dst, e.id, shellQuote(e.dst.bucket), shellQuote(e.dst.key), shellQuote(e.id))
}

// pendingLine is what a second interrupt prints of a resumable upload in
// flight, whose id the command does not know yet.
func (j *resumeJob) pendingLine() string {
	return fmt.Sprintf("upload of %s to %s interrupted; run the same command again to resume it, or find its upload with: aws s3api list-multipart-uploads --bucket %s --prefix %s",
		j.display, j.dst, shellQuote(j.dst.bucket), shellQuote(j.dst.key))
}

// tokenRefusedErr is a token file the keyring cannot open (another
// keyring or encryption context started the upload): it is kept.
type tokenRefusedErr struct {
	path string
	err  error
}

func (e *tokenRefusedErr) Error() string {
	abort := ""
	var re *encryptionclient.ResumeError
	if errors.As(e.err, &re) && re.UploadID != "" {
		abort = fmt.Sprintf("abort its upload (aws s3api abort-multipart-upload --bucket %s --key %s --upload-id %s) and ",
			shellQuote(re.Bucket), shellQuote(re.Key), shellQuote(re.UploadID))
	}
	return "the resume token of an interrupted upload cannot be opened with this keyring: " + e.err.Error() +
		" [resume it with the keyring and --encryption-context that started it, or " + abort + "remove " + e.path + " to start anew]"
}
func (e *tokenRefusedErr) Unwrap() error { return e.err }
