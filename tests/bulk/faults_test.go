package bulk_test

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/s3ec/s3ec-go/bulk"
	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/internal/testkit/s3test"
	"github.com/s3ec/s3ec-go/materials"
)

// cutWrites fails every n-th request that writes (PUT, POST) with a
// connection reset before it reaches the server, as a network fault
// mid-job would.
type cutWrites struct {
	next  http.RoundTripper
	n     int
	mu    sync.Mutex
	count int
	cut   int
}

func (c *cutWrites) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodPut || req.Method == http.MethodPost {
		c.mu.Lock()
		c.count++
		cut := c.count%c.n == 0
		if cut {
			c.cut++
		}
		c.mu.Unlock()
		if cut {
			if req.Body != nil {
				req.Body.Close()
			}
			return nil, &netErr{syscall.ECONNRESET}
		}
	}
	return c.next.RoundTrip(req)
}

type netErr struct{ error }

func (netErr) Timeout() bool   { return false }
func (netErr) Temporary() bool { return true }

func TestFaultsMidJobReportSaysWhatHappened(t *testing.T) {
	e := newEnv(t)
	oldKR, _ := e.kmsKeyring()
	newKR, _ := e.kmsKeyring()
	keys := e.putObjects(e.client(oldKR), "", 15)
	inner := &s3test.Liar{} // tells no lies: only the server's own transport
	cut := &cutWrites{next: inner, n: 4}
	faulty := e.srv.LiarClient(inner, func(o *s3.Options) {
		o.HTTPClient = &http.Client{Transport: cut}
		o.RetryMaxAttempts = 1 // let the faults reach the job
	})
	c, err := encryptionclient.New(faulty, oldKR)
	if err != nil {
		t.Fatal(err)
	}
	j := mustRun(t, bulk.ReadCSV(strings.NewReader(e.csvManifest(keys))), bulk.Rewrap(c, bulk.RewrapParams{Keyring: newKR}), bulk.RunOptions{Concurrency: 3})
	if cut.cut == 0 || j.sum.TemporaryFailures != int64(cut.cut) || j.sum.Done != int64(len(keys)-cut.cut) {
		t.Fatalf("%d writes cut, summary %v", cut.cut, j.sum)
	}
	// Every object is whole and under exactly the key its result says.
	var retry []string
	for _, k := range keys {
		r := j.results[k]
		switch r.Status {
		case bulk.Succeeded:
			e.mustRead(e.client(newKR), []string{k})
		case bulk.TemporaryFailure:
			if r.ErrorCode != "NetworkError" {
				t.Errorf("%q: %+v", k, r)
			}
			e.mustRead(e.client(oldKR), []string{k})
			retry = append(retry, k)
		default:
			t.Fatalf("%q: %+v", k, r)
		}
	}
	// The report's failed lines are the manifest of the retry.
	var again strings.Builder
	for _, line := range strings.Split(strings.TrimSuffix(j.report, "\n"), "\n") {
		r, err := bulk.ParseReportLine(line)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status == bulk.TemporaryFailure {
			fmt.Fprintf(&again, "%s,%s\n", r.Bucket, bulk.EncodeKey(r.Key))
		}
	}
	both := materials.NewMulti(newKR, oldKR)
	j2 := mustRun(t, bulk.ReadCSV(strings.NewReader(again.String())), bulk.Rewrap(e.client(both), bulk.RewrapParams{Keyring: newKR}), bulk.RunOptions{})
	j2.wantAll(t, retry, bulk.Done, "rewrapped")
	if j2.sum.Total != int64(len(retry)) {
		t.Fatalf("retry summary %v", j2.sum)
	}
	e.mustRead(e.client(newKR), keys)
	var ne interface{ Timeout() bool }
	for _, k := range retry {
		if !errors.As(j.results[k].Err, &ne) {
			t.Errorf("%q: the network error is not reachable: %v", k, j.results[k].Err)
		}
	}
}
