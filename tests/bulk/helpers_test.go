// Package bulk_test runs bulk jobs end to end: the real S3 SDK client
// against the S3 test server (in-process gofakes3, or the real server the
// S3EC_TEST_S3_* variables name, as scripts/integration.sh sets them for
// versitygw and MinIO), and the real KMS SDK client against the KMS test
// server over HTTP.
package bulk_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/s3ec/s3ec-go/bulk"
	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/internal/testkit/kmstest"
	"github.com/s3ec/s3ec-go/internal/testkit/s3test"
	"github.com/s3ec/s3ec-go/materials"
)

var ctx = context.Background()

// env is one test's world: an S3 server and a bucket, with every request
// of the clients recorded (to count writes), and a KMS test server.
type env struct {
	t      *testing.T
	srv    *s3test.Server
	liar   *s3test.Liar // records requests; tells no lies
	plain  *s3.Client
	bucket string
	kms    *kmstest.Server
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, srv: s3test.Start(t), kms: kmstest.New(t), liar: &s3test.Liar{}}
	e.plain = e.srv.LiarClient(e.liar)
	e.bucket = e.srv.CreateBucket(t, e.srv.Client())
	return e
}

// kmsKeyring returns a KMS keyring for a new key of the test server, and
// the key's ARN. The KMS client retries as a bulk job's should.
func (e *env) kmsKeyring(optFns ...func(*kms.Options)) (materials.Keyring, string) {
	e.t.Helper()
	arn := e.kms.CreateKey()
	kr, err := materials.NewKMSKeyring(e.kms.Client(optFns...), arn)
	if err != nil {
		e.t.Fatal(err)
	}
	return kr, arn
}

func (e *env) client(kr materials.Keyring, optFns ...func(*encryptionclient.Options)) *encryptionclient.Client {
	e.t.Helper()
	c, err := encryptionclient.New(e.plain, kr, optFns...)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// putObjects writes n objects with c and returns their keys (with
// characters that need URL-encoding in a manifest).
func (e *env) putObjects(c *encryptionclient.Client, prefix string, n int) []string {
	e.t.Helper()
	var keys []string
	for i := range n {
		// A space, a comma and a non-ASCII letter: URL-encoded in
		// manifests and reports. ('+' is left out: versitygw v1.8.0
		// decodes it as a space in CopyObject's x-amz-copy-source and
		// answers NoSuchKey, so no in-place rewrite works there.)
		key := fmt.Sprintf("%sdir/object %02d €,x.bin", prefix, i)
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &e.bucket, Key: aws.String(key), Body: bytes.NewReader(content(key))}); err != nil {
			e.t.Fatal(err)
		}
		keys = append(keys, key)
	}
	return keys
}

// content is an object's plaintext, derived from its key.
func content(key string) []byte {
	return bytes.Repeat([]byte(key+"\n"), 40)
}

// mustRead asserts that c reads every key back whole.
func (e *env) mustRead(c *encryptionclient.Client, keys []string) {
	e.t.Helper()
	for _, key := range keys {
		out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String(key)})
		if err != nil {
			e.t.Fatalf("read %q: %v", key, err)
		}
		b, err := io.ReadAll(out.Body)
		out.Body.Close()
		if err != nil || !bytes.Equal(b, content(key)) {
			e.t.Fatalf("read %q: %v, content differs: %v", key, err, !bytes.Equal(b, content(key)))
		}
	}
}

// csvManifest is a Batch Operations manifest of keys.
func (e *env) csvManifest(keys []string) string {
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s,%s\n", e.bucket, bulk.EncodeKey(k))
	}
	return b.String()
}

// putInventory stores an S3 Inventory report of keys in the bucket (data
// files of perFile rows, gzip CSV, and manifest.json with their real
// MD5s) and returns the s3:// location of manifest.json. extra rows (raw
// CSV) go into the last file.
func (e *env) putInventory(keys []string, perFile int, extra ...string) string {
	e.t.Helper()
	type file struct {
		Key  string `json:"key"`
		Size int64  `json:"size"`
		MD5  string `json:"MD5checksum"`
	}
	var files []file
	for start := 0; ; start += perFile {
		var raw bytes.Buffer
		zw := gzip.NewWriter(&raw)
		end := min(start+perFile, len(keys))
		for _, k := range keys[start:end] {
			fmt.Fprintf(zw, "%q,%q,\"\",\"true\",\"false\",\"%d\"\n", e.bucket, bulk.EncodeKey(k), len(content(k)))
		}
		if end == len(keys) {
			for _, x := range extra {
				fmt.Fprintln(zw, x)
			}
		}
		zw.Close()
		key := fmt.Sprintf("inventory/%s/config/data/%d.csv.gz", e.bucket, start)
		if _, err := e.plain.PutObject(ctx, &s3.PutObjectInput{Bucket: &e.bucket, Key: aws.String(key), Body: bytes.NewReader(raw.Bytes())}); err != nil {
			e.t.Fatal(err)
		}
		sum := md5.Sum(raw.Bytes())
		files = append(files, file{key, int64(raw.Len()), hex.EncodeToString(sum[:])})
		if end == len(keys) {
			break
		}
	}
	doc, _ := json.Marshal(map[string]any{
		"sourceBucket": e.bucket, "destinationBucket": "arn:aws:s3:::" + e.bucket, "version": "2016-11-30",
		"fileFormat": "CSV", "fileSchema": "Bucket, Key, VersionId, IsLatest, IsDeleteMarker, Size", "files": files,
	})
	key := fmt.Sprintf("inventory/%s/config/2026-01-01T01-00Z/manifest.json", e.bucket)
	if _, err := e.plain.PutObject(ctx, &s3.PutObjectInput{Bucket: &e.bucket, Key: aws.String(key), Body: bytes.NewReader(doc)}); err != nil {
		e.t.Fatal(err)
	}
	return "s3://" + e.bucket + "/" + key
}

// writes counts the requests that change the bucket since the last
// reset: PUT, POST and DELETE.
func (e *env) writes() int {
	n := 0
	for _, r := range e.liar.Requests() {
		if strings.HasPrefix(r, "PUT ") || strings.HasPrefix(r, "POST ") || strings.HasPrefix(r, "DELETE ") {
			n++
		}
	}
	return n
}

// job is what a run produced: the summary, every result (by key, and
// KEY?versionId=ID for a version) and the report's text.
type job struct {
	sum     bulk.Summary
	results map[string]bulk.Result
	report  string
}

// run runs op over m with a report, collecting every result.
func run(t *testing.T, m bulk.Manifest, op bulk.Operation, o bulk.RunOptions) (job, error) {
	t.Helper()
	var buf bytes.Buffer
	var mu sync.Mutex
	j := job{results: map[string]bulk.Result{}}
	o.Report = bulk.NewReport(&buf)
	progress := o.Progress
	o.Progress = func(r bulk.Result, s bulk.Summary) {
		mu.Lock()
		id := r.Key
		if r.VersionId != "" {
			id += "?versionId=" + r.VersionId
		}
		if _, dup := j.results[id]; dup {
			t.Errorf("two results for %q", id)
		}
		j.results[id] = r
		mu.Unlock()
		if progress != nil {
			progress(r, s)
		}
	}
	sum, err := bulk.Run(ctx, m, op, o)
	j.sum, j.report = sum, buf.String()
	return j, err
}

func mustRun(t *testing.T, m bulk.Manifest, op bulk.Operation, o bulk.RunOptions) job {
	t.Helper()
	j, err := run(t, m, op, o)
	if err != nil {
		t.Fatalf("run: %v (summary %v)", err, j.sum)
	}
	return j
}

// wantAll asserts that every key's result has the outcome and reason.
func (j job) wantAll(t *testing.T, keys []string, outcome bulk.Outcome, reason string) {
	t.Helper()
	for _, k := range keys {
		r, ok := j.results[k]
		if !ok {
			t.Fatalf("no result for %q; summary %v", k, j.sum)
		}
		if r.Outcome != outcome || r.Reason != reason {
			t.Fatalf("%q: %s %s %s %s (%s), want %s %s", k, r.Outcome, r.Reason, r.Status, r.ErrorCode, r.Message, outcome, reason)
		}
	}
}

func randBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}
