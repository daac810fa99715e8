package bulk

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"sync"
)

// Report writes a completion report in the CSV of S3 Batch Operations
// completion reports, one line per result and no header line, columns
// Bucket, Key, VersionId, TaskStatus, ErrorCode, HTTPStatusCode,
// ResultMessage:
//
//	bucket,photos/2024/a%20b.jpg,,Succeeded,,200,rewrapped: V3 metadata
//	bucket,x.bin,3HL4kqtJlcpXroDTDmjVBH40Nrjfkd,PermanentFailure,AuthenticationFailed,,encryptionclient: ...
//
// The key is URL-encoded as in a Batch manifest (spaces as %20), so that
// a report line can be a manifest line again; TaskStatus is the Batch
// result code (Result.Status: Succeeded, TemporaryFailure,
// PermanentFailure), which says whether a retry may help; ErrorCode is
// Result.ErrorCode; HTTPStatusCode is empty when unknown. (The reports S3
// Batch Operations writes itself say "succeeded" or "failed" in
// TaskStatus and put the result code in another column; a tool that reads
// both should accept either.) No cell starts a spreadsheet formula: keys
// are encoded (see EncodeKey), the manifest readers refuse version ids
// that are not S3 version ids, and a bucket, error code or message cell
// (or a version id of a caller's own Manifest) that starts with '=', '+',
// '-' or '@' is written with a leading "'". Methods are safe for
// concurrent use. Run
// writes a report for you.
type Report struct {
	mu sync.Mutex
	bw *bufio.Writer
	w  *csv.Writer
}

// NewReport returns a report that writes to w (buffered: call Flush).
func NewReport(w io.Writer) *Report {
	bw := bufio.NewWriter(w)
	return &Report{bw: bw, w: csv.NewWriter(bw)}
}

// Write writes one result.
func (r *Report) Write(res Result) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.w.Write(reportRecord(res))
}

// Flush writes what is buffered to the underlying writer.
func (r *Report) Flush() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.w.Flush()
	if err := r.w.Error(); err != nil {
		return err
	}
	return r.bw.Flush()
}

func reportRecord(res Result) []string {
	status := ""
	if res.HTTPStatus != 0 {
		status = strconv.Itoa(res.HTTPStatus)
	}
	version := res.VersionId
	if checkVersionId(version) != "" {
		// Not from ReadCSV or ReadInventory (they refuse such ids): a
		// Manifest of the caller's.
		version = neutral(version)
	}
	return []string{neutral(res.Bucket), EncodeKey(res.Key), version, string(res.Status), neutral(res.ErrorCode), status, neutral(res.Message)}
}

// neutral keeps a report cell on one line and from being read as a
// formula by a spreadsheet: line breaks and other control characters
// become spaces (as in a message: a cell of a caller's own Manifest or
// Operation may hold them), and a cell that starts with '=', '+', '-' or
// '@', after any spaces, gets a leading "'" (OWASP's advice for CSV
// injection). Bucket names never start so; error codes and messages may
// hold what a server said.
func neutral(cell string) string {
	cell = message(cell)
	if t := strings.TrimLeft(cell, " "); t != "" && strings.ContainsRune("=+-@", rune(t[0])) {
		return "'" + cell
	}
	return cell
}

// EncodeKey URL-encodes an object key as Batch Operations manifests and
// reports hold it (url.QueryEscape, with spaces as %20, and a leading '-'
// as %2D); ReadCSV and ParseReportLine decode it. The encoded key holds
// only letters, digits, '%', '-', '_', '.' and '~', and never starts with
// a character that makes a spreadsheet read a cell as a formula ('=',
// '+', '-', '@' are all encoded there).
func EncodeKey(key string) string {
	e := strings.ReplaceAll(url.QueryEscape(key), "+", "%20")
	if strings.HasPrefix(e, "-") {
		e = "%2D" + e[1:]
	}
	return e
}

// ParseReportLine parses one line of a report written by Report into the
// fields the report holds: the task's bucket, key (decoded) and version
// id, Status, ErrorCode, HTTPStatus and Message; Outcome is Failed for a
// failure status and Done otherwise (the report does not tell skipped
// tasks apart; their message does). It also reads the lines of the
// reports S3 Batch Operations writes itself (TaskStatus "succeeded" or
// "failed", the result code among the next two columns), so that the
// failures of a Batch job can be the manifest of a local rerun.
func ParseReportLine(line string) (Result, error) {
	rec, err := csv.NewReader(strings.NewReader(line)).Read()
	if err != nil {
		return Result{}, &ManifestError{File: "report", Reason: err.Error()}
	}
	if len(rec) != 7 {
		return Result{}, &ManifestError{File: "report", Reason: fmt.Sprintf("%d columns, want 7", len(rec))}
	}
	key, err := url.QueryUnescape(rec[1])
	if err != nil {
		return Result{}, &ManifestError{File: "report", Reason: "key is not URL-encoded"}
	}
	res := Result{Task: Task{Bucket: rec[0], Key: key, VersionId: rec[2]}, Status: TaskStatus(rec[3]), ErrorCode: rec[4], Message: rec[6]}
	switch res.Status {
	case Succeeded:
		res.Outcome = Done
	case TemporaryFailure, PermanentFailure:
		res.Outcome = Failed
	case "succeeded", "failed":
		return batchReportLine(res, rec)
	default:
		return Result{}, &ManifestError{File: "report", Reason: fmt.Sprintf("unknown TaskStatus %q", rec[3])}
	}
	if rec[5] != "" {
		if res.HTTPStatus, err = strconv.Atoi(rec[5]); err != nil {
			return Result{}, &ManifestError{File: "report", Reason: "HTTPStatusCode is not a number"}
		}
	}
	return res, nil
}

// batchReportLine reads a line of a report S3 Batch Operations wrote:
// TaskStatus "succeeded" or "failed", and the HTTP status and the result
// code in the two columns after it (in either order).
func batchReportLine(res Result, rec []string) (Result, error) {
	res.ErrorCode = ""
	res.Status, res.Outcome = Succeeded, Done
	if rec[3] == "failed" {
		res.Status, res.Outcome = PermanentFailure, Failed
	}
	for _, f := range rec[4:6] {
		switch {
		case f == "":
		case f == string(TemporaryFailure) || f == string(PermanentFailure):
			if res.Outcome == Failed {
				res.Status = TaskStatus(f)
			}
		default:
			n, err := strconv.Atoi(f)
			if err != nil {
				res.ErrorCode = f
				continue
			}
			res.HTTPStatus = n
		}
	}
	return res, nil
}
