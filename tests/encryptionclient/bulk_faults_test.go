package encryptionclient_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/s3ec/s3ec-go/bulk"
	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/materials"
)

// A ReEncrypt job through toxiproxy: the connections of two of its objects
// are cut (one while its source is read, one while the new object is
// written). Those two are temporary failures in the report and stay as
// they were, readable with the old key; the others are re-encrypted; no
// multipart upload is left; a rerun without faults finishes the two and
// skips the rest as already current, without writing them again. One
// object at a time: the proxy's toxic is armed while a faulty request is
// in flight, and must not hit the others.
func TestFaultReEncryptJobReportSaysWhatHappened(t *testing.T) {
	e := newEnv(t)
	r := newFaultRig(t, e)
	ctx := e.faultCtx(faultCtx(t))
	old := e.krs["aes"]
	target := mustAES(t, nil)

	const n = 6
	keys := make([]string, n)
	plain := make(map[string][]byte, n)
	stored := make(map[string][]byte, n)
	var manifest strings.Builder
	for i := range keys {
		keys[i] = fmt.Sprintf("job/%d", i)
		plain[keys[i]] = randBytes(t, 300<<10+i)
		if err := e.put(e.client(old, writeV2), context.Background(), keys[i], plain[keys[i]]); err != nil {
			t.Fatal(err)
		}
		stored[keys[i]], _, _ = e.raw(keys[i])
		fmt.Fprintf(&manifest, "%s,%s\n", e.bucket, keys[i])
	}
	cutGet, cutPut := keys[1], keys[4]
	faulty := func(req *http.Request) bool {
		return isGet("/"+cutGet)(req) || isPut("/"+cutPut)(req)
	}

	// The job's reading keyring knows the old key and the new one, as a
	// migration's does: a rerun must read what the first run wrote to see
	// that it is current.
	reader, err := encryptionclient.New(r.s3, materials.NewMulti(old, target), allowV2)
	if err != nil {
		t.Fatal(err)
	}
	run := func() ([]bulk.Result, bulk.Summary) {
		t.Helper()
		var report bytes.Buffer
		rep := bulk.NewReport(&report)
		op := bulk.ReEncrypt(reader, bulk.ReEncryptParams{Keyring: target})
		sum, err := bulk.Run(ctx, bulk.ReadCSV(strings.NewReader(manifest.String())), op, bulk.RunOptions{Concurrency: 1, Report: rep})
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		if err := rep.Flush(); err != nil {
			t.Fatal(err)
		}
		var got []bulk.Result
		sc := bufio.NewScanner(&report)
		for sc.Scan() {
			res, err := bulk.ParseReportLine(sc.Text())
			if err != nil {
				t.Fatalf("report line %q: %v", sc.Text(), err)
			}
			got = append(got, res)
		}
		if len(got) != n {
			t.Fatalf("%d report lines for %d objects:\n%s", len(got), n, report.String())
		}
		return got, sum
	}

	r.armEach(1000, faulty, func(req *http.Request) string {
		if req.Method == http.MethodGet {
			return cutAfter("downstream", 100<<10) // the source, mid-body
		}
		return cutAfter("upstream", 50<<10) // the new object, mid-body
	})
	first, sum := run()
	if hits := r.disarm(); hits == 0 {
		t.Fatal("no fault injected")
	}
	if sum.Done != n-2 || sum.Failed != 2 || sum.TemporaryFailures != 2 {
		t.Fatalf("first run: %+v", sum)
	}
	for _, res := range first {
		failed := res.Key == cutGet || res.Key == cutPut
		switch {
		case failed && res.Status != bulk.TemporaryFailure:
			t.Errorf("%s: %s %q, want TemporaryFailure", res.Key, res.Status, res.Message)
		case !failed && (res.Status != bulk.Succeeded || res.Outcome != bulk.Done):
			t.Errorf("%s: %s %s %q, want Succeeded", res.Key, res.Status, res.Outcome, res.Message)
		}
	}
	for _, k := range []string{cutGet, cutPut} {
		if got, _, _ := e.raw(k); !bytes.Equal(got, stored[k]) {
			t.Fatalf("%s: the source changed after a cut connection", k)
		}
		if got, err := e.get(e.client(old, allowV2), context.Background(), k); err != nil || !bytes.Equal(got, plain[k]) {
			t.Fatalf("%s: the source no longer reads with the old key: %v", k, err)
		}
	}
	if left := e.leftUploads(); left != 0 {
		t.Fatalf("%d multipart uploads left", left)
	}
	etags := map[string]string{}
	for _, k := range keys {
		if k == cutGet || k == cutPut {
			continue
		}
		if got := e.strictRead(target, k); !bytes.Equal(got, plain[k]) {
			t.Fatalf("%s: the re-encrypted object differs", k)
		}
		etags[k] = e.etag(k)
	}

	second, sum := run()
	if sum.Done != 2 || sum.Skipped != n-2 || sum.Failed != 0 {
		t.Fatalf("rerun: %+v", sum)
	}
	for _, res := range second {
		if res.Key != cutGet && res.Key != cutPut && !strings.Contains(res.Message, "already-current") {
			t.Errorf("rerun %s: %q, want already-current", res.Key, res.Message)
		}
	}
	for k, etag := range etags {
		if now := e.etag(k); now != etag {
			t.Errorf("%s was written again by the rerun (ETag %s, then %s)", k, etag, now)
		}
	}
	for _, k := range keys {
		if got := e.strictRead(target, k); !bytes.Equal(got, plain[k]) {
			t.Fatalf("%s: after the rerun the object differs", k)
		}
	}
}

// etag is the stored ETag of key.
func (e *env) etag(key string) string {
	e.t.Helper()
	out, err := e.plain.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &e.bucket, Key: &key})
	if err != nil {
		e.t.Fatal(err)
	}
	return aws.ToString(out.ETag)
}
