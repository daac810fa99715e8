package bulk_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/s3ec/s3ec-go/bulk"
	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/materials"
)

func TestRewrapJobFromCSV(t *testing.T) {
	e := newEnv(t)
	oldKR, _ := e.kmsKeyring()
	newKR, _ := e.kmsKeyring()
	keys := e.putObjects(e.client(oldKR), "", 12)
	j := mustRun(t, bulk.ReadCSV(strings.NewReader(e.csvManifest(keys))), bulk.Rewrap(e.client(oldKR), bulk.RewrapParams{Keyring: newKR}), bulk.RunOptions{Concurrency: 4})
	j.wantAll(t, keys, bulk.Done, "rewrapped")
	if j.sum.Done != 12 || j.sum.Watermark != 11 || j.sum.Reasons["rewrapped"] != 12 {
		t.Fatalf("summary %v", j.sum)
	}
	// Only the new key reads them now.
	e.mustRead(e.client(newKR), keys)
	if _, err := e.client(oldKR).GetObject(ctx, &s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String(keys[0])}); err == nil {
		t.Fatal("the old key still reads a re-wrapped object")
	}

	// The report's lines parse back to the results.
	lines := strings.Split(strings.TrimSuffix(j.report, "\n"), "\n")
	if len(lines) != len(keys) {
		t.Fatalf("%d report lines for %d objects", len(lines), len(keys))
	}
	for _, line := range lines {
		got, err := bulk.ParseReportLine(line)
		if err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		want, ok := j.results[got.Key]
		want.Seq = 0 // not in a report
		if !ok || got.Task != want.Task || got.Status != want.Status || got.ErrorCode != want.ErrorCode || got.HTTPStatus != want.HTTPStatus || got.Message != want.Message {
			t.Fatalf("report line %q parses as %+v, result %+v", line, got, want)
		}
	}
}

func TestRewrapJobFromInventory(t *testing.T) {
	e := newEnv(t)
	oldKR, _ := e.kmsKeyring()
	newKR, _ := e.kmsKeyring()
	keys := e.putObjects(e.client(oldKR), "data/", 10)
	// Rows the job must skip: a delete marker, and an older version.
	loc := e.putInventory(keys, 4,
		fmt.Sprintf(`%q,"data%%2Fgone","v9","true","true",""`, e.bucket),
		fmt.Sprintf(`%q,%q,"v0","false","false","1"`, e.bucket, bulk.EncodeKey(keys[0])),
	)
	m, err := bulk.Open(ctx, e.plain, loc)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	j := mustRun(t, m, bulk.Rewrap(e.client(oldKR), bulk.RewrapParams{Keyring: newKR}), bulk.RunOptions{})
	if j.sum.Total != 11 || j.sum.Done != 10 || j.sum.Skipped != 1 || j.sum.Reasons["not-latest"] != 1 {
		t.Fatalf("summary %v", j.sum)
	}
	e.mustRead(e.client(newKR), keys)

	// A data file whose MD5 is not the listed one stops the job with a
	// typed error before any of its rows runs.
	manifestKey := strings.TrimPrefix(loc, "s3://"+e.bucket+"/")
	out, err := e.plain.GetObject(ctx, &s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String(manifestKey)})
	if err != nil {
		t.Fatal(err)
	}
	var doc bytes.Buffer
	doc.ReadFrom(out.Body)
	out.Body.Close()
	i := strings.Index(doc.String(), `"MD5checksum":"`) + len(`"MD5checksum":"`)
	tampered := doc.String()[:i] + "0123456789abcdef0123456789abcdef" + doc.String()[i+32:]
	badKey := strings.TrimSuffix(manifestKey, "manifest.json") + "bad/manifest.json"
	if _, err := e.plain.PutObject(ctx, &s3.PutObjectInput{Bucket: &e.bucket, Key: aws.String(badKey), Body: strings.NewReader(tampered)}); err != nil {
		t.Fatal(err)
	}
	m, err = bulk.Open(ctx, e.plain, "s3://"+e.bucket+"/"+badKey)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	j, err = run(t, m, bulk.Inspect(e.plain), bulk.RunOptions{})
	var ce *bulk.ChecksumError
	if !errors.As(err, &ce) || !strings.HasSuffix(ce.File, "/0.csv.gz") {
		t.Fatalf("err = %v, want a checksum error for the first data file", err)
	}
	if j.sum.Total != 0 {
		t.Fatalf("summary %v: rows of the file ran before its MD5 was checked", j.sum)
	}
}

func TestReEncryptV2ToV3WithDataKeyCaching(t *testing.T) {
	e := newEnv(t)
	kr, arn := e.kmsKeyring()
	v2 := e.client(kr, func(o *encryptionclient.Options) { o.CommitmentPolicy = encryptionclient.ForbidEncryptAllowDecrypt })
	keys := e.putObjects(v2, "", 16)
	migrate := e.client(kr, func(o *encryptionclient.Options) { o.CommitmentPolicy = encryptionclient.RequireEncryptAllowDecrypt })

	before := inspectFormats(t, e, keys)
	if len(before) != 1 || before["V2"] != 16 {
		t.Fatalf("before: %v", before)
	}
	// Half without caching, half with: one GenerateDataKey per object, or
	// one for all of them.
	e.kms.ResetCalls()
	mustRun(t, bulk.ReadCSV(strings.NewReader(e.csvManifest(keys[:8]))), bulk.ReEncrypt(migrate, bulk.ReEncryptParams{}), bulk.RunOptions{Concurrency: 4}).wantAll(t, keys[:8], bulk.Done, "reencrypted")
	uncached := e.kms.Calls("GenerateDataKey")
	cached, err := materials.NewCachingKeyring(kr)
	if err != nil {
		t.Fatal(err)
	}
	defer cached.Close()
	e.kms.ResetCalls()
	mustRun(t, bulk.ReadCSV(strings.NewReader(e.csvManifest(keys[8:]))), bulk.ReEncrypt(migrate, bulk.ReEncryptParams{Keyring: cached}), bulk.RunOptions{Concurrency: 4}).wantAll(t, keys[8:], bulk.Done, "reencrypted")
	withCache := e.kms.Calls("GenerateDataKey")
	t.Logf("GenerateDataKey for 8 objects: %d without the cache, %d with it (key %s)", uncached, withCache, arn)
	if uncached != 8 || withCache != 1 {
		t.Fatalf("GenerateDataKey calls: %d uncached, %d cached; want 8 and 1", uncached, withCache)
	}
	after := inspectFormats(t, e, keys)
	if after["V3"] != 16 {
		t.Fatalf("after: %v", after)
	}
	// A V3-only client reads them all.
	e.mustRead(e.client(kr), keys)

	// The rerun finds them current and writes nothing.
	e.liar.Reset()
	j := mustRun(t, bulk.ReadCSV(strings.NewReader(e.csvManifest(keys))), bulk.ReEncrypt(migrate, bulk.ReEncryptParams{}), bulk.RunOptions{})
	j.wantAll(t, keys, bulk.Skipped, "already-current")
	if n := e.writes(); n != 0 {
		t.Fatalf("rerun wrote %d times: %v", n, e.liar.Requests())
	}
}

// inspectFormats runs an Inspect job and counts the formats found.
func inspectFormats(t *testing.T, e *env, keys []string) map[string]int {
	t.Helper()
	j := mustRun(t, bulk.ReadCSV(strings.NewReader(e.csvManifest(keys))), bulk.Inspect(e.plain), bulk.RunOptions{})
	n := map[string]int{}
	for _, r := range j.results {
		if r.Inspection == nil || !r.Inspection.Encrypted {
			t.Fatalf("%q: %+v", r.Key, r)
		}
		n[r.Inspection.Format]++
		if r.Inspection.WrapAlgorithm != "kms+context" || r.Inspection.EnvelopeLocation != "metadata" || r.Inspection.PlaintextSize != int64(len(content(r.Key))) {
			t.Fatalf("%q: inspection %+v", r.Key, r.Inspection)
		}
	}
	return n
}

func TestRerunOfFinishedJobWritesNothing(t *testing.T) {
	e := newEnv(t)
	oldKR, _ := e.kmsKeyring()
	newKR, _ := e.kmsKeyring()
	keys := e.putObjects(e.client(oldKR), "", 8)
	manifest := e.csvManifest(keys)
	op := bulk.Rewrap(e.client(oldKR), bulk.RewrapParams{Keyring: newKR})
	mustRun(t, bulk.ReadCSV(strings.NewReader(manifest)), op, bulk.RunOptions{}).wantAll(t, keys, bulk.Done, "rewrapped")

	e.liar.Reset()
	// The job's client now needs the new key to read the envelopes it
	// checks; a rotation run twice with the same arguments has both.
	both := materials.NewMulti(newKR, oldKR)
	j := mustRun(t, bulk.ReadCSV(strings.NewReader(manifest)), bulk.Rewrap(e.client(both), bulk.RewrapParams{Keyring: newKR}), bulk.RunOptions{})
	j.wantAll(t, keys, bulk.Skipped, "already-current")
	if n := e.writes(); n != 0 {
		t.Fatalf("rerun wrote %d times: %v", n, e.liar.Requests())
	}
	if j.sum.Skipped != 8 || j.sum.Reasons["already-current"] != 8 {
		t.Fatalf("summary %v", j.sum)
	}
}

func TestAdoptJob(t *testing.T) {
	e := newEnv(t)
	kr, _ := e.kmsKeyring()
	var keys []string
	for i := range 6 {
		key := fmt.Sprintf("plain/%d.txt", i)
		if _, err := e.plain.PutObject(ctx, &s3.PutObjectInput{Bucket: &e.bucket, Key: aws.String(key), Body: bytes.NewReader(content(key))}); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, key)
	}
	c := e.client(kr)
	mustRun(t, bulk.List(e.plain, e.bucket, "plain/"), bulk.Adopt(c, bulk.AdoptParams{}), bulk.RunOptions{}).wantAll(t, keys, bulk.Done, "adopted")
	e.mustRead(c, keys)
	mustRun(t, bulk.List(e.plain, e.bucket, "plain/"), bulk.Verify(c), bulk.RunOptions{}).wantAll(t, keys, bulk.Done, "verified")
	e.liar.Reset()
	mustRun(t, bulk.List(e.plain, e.bucket, "plain/"), bulk.Adopt(c, bulk.AdoptParams{}), bulk.RunOptions{}).wantAll(t, keys, bulk.Skipped, "already-encrypted")
	if n := e.writes(); n != 0 {
		t.Fatalf("rerun wrote %d times", n)
	}
}

func TestInstructionFilesSkipped(t *testing.T) {
	e := newEnv(t)
	kr, _ := e.kmsKeyring()
	newKR, _ := e.kmsKeyring()
	c := e.client(kr, func(o *encryptionclient.Options) { o.EnvelopeStorage = encryptionclient.StoreInstructionFile })
	keys := e.putObjects(c, "if/", 3)
	j := mustRun(t, bulk.List(e.plain, e.bucket, "if/"), bulk.Rewrap(c, bulk.RewrapParams{Keyring: newKR}), bulk.RunOptions{})
	if j.sum.Total != 6 || j.sum.Reasons["instruction-file"] != 3 || j.sum.Reasons["rewrapped"] != 3 {
		t.Fatalf("summary %v", j.sum)
	}
	for _, k := range keys {
		if r := j.results[k+".instruction"]; r.Reason != "instruction-file" || r.Outcome != bulk.Skipped {
			t.Fatalf("%q: %+v", k+".instruction", r)
		}
	}
	e.mustRead(e.client(newKR), keys)
}

func TestShardsCoverExactlyOnce(t *testing.T) {
	e := newEnv(t)
	oldKR, _ := e.kmsKeyring()
	newKR, _ := e.kmsKeyring()
	keys := e.putObjects(e.client(oldKR), "", 20)
	manifest := e.csvManifest(keys)
	const n = 3
	seen := map[string]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for k := range n { // three workers at once, each reading the whole manifest
		wg.Add(1)
		go func() {
			defer wg.Done()
			j, err := run(t, bulk.Shard(bulk.ReadCSV(strings.NewReader(manifest)), k, n), bulk.Rewrap(e.client(oldKR), bulk.RewrapParams{Keyring: newKR}), bulk.RunOptions{Concurrency: 2})
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for key, r := range j.results {
				seen[key]++
				if r.Reason != "rewrapped" {
					t.Errorf("%q: %+v (rewrapped twice?)", key, r)
				}
			}
		}()
	}
	wg.Wait()
	if len(seen) != len(keys) {
		t.Fatalf("%d of %d objects covered", len(seen), len(keys))
	}
	for key, c := range seen {
		if c != 1 {
			t.Fatalf("%q in %d shards", key, c)
		}
	}
	e.mustRead(e.client(newKR), keys)
}

func TestResumeFromWatermark(t *testing.T) {
	e := newEnv(t)
	oldKR, _ := e.kmsKeyring()
	newKR, _ := e.kmsKeyring()
	keys := e.putObjects(e.client(oldKR), "", 20)
	manifest := e.csvManifest(keys)
	both := materials.NewMulti(newKR, oldKR)
	op := bulk.Rewrap(e.client(both), bulk.RewrapParams{Keyring: newKR})
	cctx, cancel := context.WithCancel(ctx)
	var first []bulk.Result
	sum, err := bulk.Run(cctx, bulk.ReadCSV(strings.NewReader(manifest)), op, bulk.RunOptions{
		Concurrency: 2,
		Progress: func(r bulk.Result, s bulk.Summary) {
			first = append(first, r)
			if s.Total == 7 {
				cancel() // the worker stops, as a preempted pod would
			}
		},
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if sum.Watermark < 0 || sum.Watermark >= int64(len(keys)-1) {
		t.Fatalf("watermark %d", sum.Watermark)
	}
	for _, r := range first {
		if r.Outcome != bulk.Done {
			t.Fatalf("first run: %+v", r)
		}
	}
	j := mustRun(t, bulk.Skip(bulk.ReadCSV(strings.NewReader(manifest)), sum.Watermark), op, bulk.RunOptions{})
	for _, r := range j.results {
		if r.Seq <= sum.Watermark {
			t.Fatalf("resume ran task %d <= watermark %d", r.Seq, sum.Watermark)
		}
	}
	if int64(len(j.results)) != int64(len(keys))-1-sum.Watermark {
		t.Fatalf("resume ran %d tasks after watermark %d", len(j.results), sum.Watermark)
	}
	// Tasks past the watermark that the first run finished are found
	// done; every object is re-wrapped once.
	e.mustRead(e.client(newKR), keys)
}

func TestKMSThrottlingRetried(t *testing.T) {
	e := newEnv(t)
	oldKR, _ := e.kmsKeyring(bulk.Retry(6), bulk.RateLimit(200))
	newKR, _ := e.kmsKeyring(bulk.Retry(6), bulk.RateLimit(200))
	keys := e.putObjects(e.client(oldKR), "", 10)
	e.kms.ResetCalls()
	e.kms.FailEvery("ReEncrypt", "ThrottlingException", 3)
	defer e.kms.FailEvery("ReEncrypt", "", 0)
	j := mustRun(t, bulk.ReadCSV(strings.NewReader(e.csvManifest(keys))), bulk.Rewrap(e.client(oldKR), bulk.RewrapParams{Keyring: newKR}), bulk.RunOptions{Concurrency: 4})
	j.wantAll(t, keys, bulk.Done, "rewrapped")
	if n := e.kms.Calls("ReEncrypt"); n <= len(keys) {
		t.Fatalf("%d ReEncrypt requests for %d objects: no throttling was injected", n, len(keys))
	}
	e.mustRead(e.client(newKR), keys)
}

func TestKMSThrottlingExhausted(t *testing.T) {
	e := newEnv(t)
	oldKR, _ := e.kmsKeyring(bulk.Retry(2))
	newKR, _ := e.kmsKeyring(bulk.Retry(2))
	keys := e.putObjects(e.client(oldKR), "", 6)
	e.kms.FailEvery("*", "ThrottlingException", 1)
	j := mustRun(t, bulk.ReadCSV(strings.NewReader(e.csvManifest(keys))), bulk.Rewrap(e.client(oldKR), bulk.RewrapParams{Keyring: newKR}), bulk.RunOptions{Concurrency: 6})
	e.kms.FailEvery("*", "", 0)
	for _, k := range keys {
		r := j.results[k]
		if r.Outcome != bulk.Failed || r.Status != bulk.TemporaryFailure || r.ErrorCode != "ThrottlingException" {
			t.Fatalf("%q: %+v", k, r)
		}
	}
	if j.sum.TemporaryFailures != 6 || j.sum.Watermark != 5 {
		t.Fatalf("summary %v", j.sum)
	}
	if !strings.Contains(j.report, ",TemporaryFailure,ThrottlingException,") {
		t.Fatalf("report:\n%s", j.report)
	}
	// Nothing changed: the old key still reads every object.
	e.mustRead(e.client(oldKR), keys)
}

func TestTamperedObjectIsPermanentFailure(t *testing.T) {
	e := newEnv(t)
	kr, _ := e.kmsKeyring()
	c := e.client(kr)
	keys := e.putObjects(c, "", 6)
	bad := keys[2]
	out, err := e.plain.GetObject(ctx, &s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String(bad)})
	if err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	body.ReadFrom(out.Body)
	out.Body.Close()
	b := body.Bytes()
	b[10] ^= 1
	if _, err := e.plain.PutObject(ctx, &s3.PutObjectInput{Bucket: &e.bucket, Key: aws.String(bad), Body: bytes.NewReader(b), Metadata: out.Metadata}); err != nil {
		t.Fatal(err)
	}
	manifest := e.csvManifest(keys)
	for _, op := range []bulk.Operation{bulk.Verify(c), bulk.ReEncrypt(c, bulk.ReEncryptParams{Force: true})} {
		j := mustRun(t, bulk.ReadCSV(strings.NewReader(manifest)), op, bulk.RunOptions{})
		r := j.results[bad]
		if r.Status != bulk.PermanentFailure || r.ErrorCode != "AuthenticationFailed" || !errors.Is(r.Err, encryptionclient.ErrAuthentication) {
			t.Fatalf("%s of the tampered object: %+v", op.Name(), r)
		}
		others := slices.DeleteFunc(slices.Clone(keys), func(k string) bool { return k == bad })
		if j.sum.Done != 5 || j.sum.PermanentFailures != 1 {
			t.Fatalf("%s: summary %v", op.Name(), j.sum)
		}
		e.mustRead(c, others)
	}
	// The tampered object is as it was: ReEncrypt wrote nothing over it.
	got, err := e.plain.GetObject(ctx, &s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String(bad)})
	if err != nil {
		t.Fatal(err)
	}
	var now bytes.Buffer
	now.ReadFrom(got.Body)
	got.Body.Close()
	if !bytes.Equal(now.Bytes(), b) {
		t.Fatal("the tampered object was rewritten")
	}
}

func TestNoKeyMaterialInResults(t *testing.T) {
	e := newEnv(t)
	key, wrong := randBytes(t, 32), randBytes(t, 32)
	kr, err := materials.NewAESKeyring(key)
	if err != nil {
		t.Fatal(err)
	}
	wrongKR, err := materials.NewAESKeyring(wrong)
	if err != nil {
		t.Fatal(err)
	}
	keys := e.putObjects(e.client(kr), "", 3)
	// One object tampered too, so that the unwrap succeeds and the content
	// fails, with the right key.
	manifest := e.csvManifest(keys) + e.bucket + ",missing-object\n"
	var results []bulk.Result
	var reports strings.Builder
	for _, op := range []bulk.Operation{
		bulk.Verify(e.client(wrongKR)),
		bulk.ReEncrypt(e.client(wrongKR), bulk.ReEncryptParams{}),
		bulk.Rewrap(e.client(wrongKR), bulk.RewrapParams{Keyring: kr}),
		bulk.Rewrap(e.client(kr), bulk.RewrapParams{Keyring: wrongKR, DryRun: true}),
		bulk.Adopt(e.client(kr), bulk.AdoptParams{}),
	} {
		j := mustRun(t, bulk.ReadCSV(strings.NewReader(manifest)), op, bulk.RunOptions{})
		for _, r := range j.results {
			results = append(results, r)
		}
		reports.WriteString(j.report)
	}
	failures := 0
	var text strings.Builder
	for _, r := range results {
		if r.Outcome == bulk.Failed {
			failures++
		}
		fmt.Fprintf(&text, "%s|%s|%s|%s|%s|%v\n", r.Reason, r.ErrorCode, r.Message, r.Bucket, r.Key, r.Err)
	}
	if failures < 9 {
		t.Fatalf("only %d failures: the check proves little", failures)
	}
	all := text.String() + reports.String()
	for _, k := range [][]byte{key, wrong} {
		for _, enc := range []string{hex.EncodeToString(k), strings.ToUpper(hex.EncodeToString(k)), base64.StdEncoding.EncodeToString(k), base64.RawStdEncoding.EncodeToString(k), base64.URLEncoding.EncodeToString(k), base64.RawURLEncoding.EncodeToString(k), string(k)} {
			if strings.Contains(all, enc) {
				t.Fatalf("key material in a result or report: %q", enc)
			}
		}
		// No 8-byte window of the key in hex either.
		h := hex.EncodeToString(k)
		for i := 0; i+16 <= len(h); i += 2 {
			if strings.Contains(strings.ToLower(all), h[i:i+16]) {
				t.Fatalf("8 bytes of key material in a result: %s", h[i:i+16])
			}
		}
	}
	for _, line := range strings.Split(strings.TrimSuffix(reports.String(), "\n"), "\n") {
		if len(line) > 2*1024+200 {
			t.Fatalf("report line of %d bytes", len(line))
		}
	}
}

func TestVersionIdsHonoured(t *testing.T) {
	e := newEnv(t)
	if _, err := e.plain.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: &e.bucket, VersioningConfiguration: &s3types.VersioningConfiguration{Status: s3types.BucketVersioningStatusEnabled}}); err != nil {
		t.Skipf("%s: no versioning: %v", e.srv.Name, err)
	}
	oldKR, _ := e.kmsKeyring()
	newKR, _ := e.kmsKeyring()
	c := e.client(oldKR)
	const key = "versioned.txt"
	var versions []string
	for i := range 2 {
		out, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &e.bucket, Key: aws.String(key), Body: bytes.NewReader(content(fmt.Sprint(key, i)))})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(out.VersionId) == "" {
			t.Skipf("%s: versioning enabled but no version ids", e.srv.Name)
		}
		versions = append(versions, aws.ToString(out.VersionId))
	}
	old, cur := versions[0], versions[1]
	manifest := fmt.Sprintf("%s,%s,%s\n%s,%s,%s\n", e.bucket, key, old, e.bucket, key, cur)
	// A rewrite of a version that is not the current one is the client's
	// ErrNotCurrentVersion (an ErrObjectChanged), a permanent failure: a
	// retry cannot rewrite it in place. The current one is rewritten.
	for _, op := range []bulk.Operation{
		bulk.ReEncrypt(c, bulk.ReEncryptParams{Keyring: newKR, Force: true, DryRun: true}),
		bulk.Rewrap(c, bulk.RewrapParams{Keyring: newKR, DryRun: true}),
	} {
		j := mustRun(t, bulk.ReadCSV(strings.NewReader(manifest)), op, bulk.RunOptions{Concurrency: 1})
		r := j.results[key+"?versionId="+old]
		if r.Outcome != bulk.Failed || r.Status != bulk.PermanentFailure || r.ErrorCode != "NotCurrentVersion" ||
			!errors.Is(r.Err, encryptionclient.ErrNotCurrentVersion) || !errors.Is(r.Err, encryptionclient.ErrObjectChanged) {
			t.Fatalf("%s of the old version: %+v", op.Name(), r)
		}
		if r := j.results[key+"?versionId="+cur]; r.Outcome != bulk.Done {
			t.Fatalf("%s of the current version: %+v", op.Name(), r)
		}
	}
	// Verify and Inspect read the version named.
	j := mustRun(t, bulk.ReadCSV(strings.NewReader(manifest)), bulk.Verify(c), bulk.RunOptions{})
	for _, v := range versions {
		if r := j.results[key+"?versionId="+v]; r.Reason != "verified" {
			t.Fatalf("verify of version %s: %+v", v, r)
		}
	}
	j = mustRun(t, bulk.ReadCSV(strings.NewReader(manifest)), bulk.Inspect(e.plain), bulk.RunOptions{})
	for i, v := range versions {
		r := j.results[key+"?versionId="+v]
		if r.Inspection == nil || r.Inspection.PlaintextSize != int64(len(content(fmt.Sprint(key, i)))) {
			t.Fatalf("inspect of version %s: %+v", v, r)
		}
	}
}

func TestOpenCSVManifestFromS3(t *testing.T) {
	e := newEnv(t)
	kr, _ := e.kmsKeyring()
	keys := e.putObjects(e.client(kr), "m/", 3)
	if _, err := e.plain.PutObject(ctx, &s3.PutObjectInput{Bucket: &e.bucket, Key: aws.String("jobs/manifest.csv"), Body: strings.NewReader(e.csvManifest(keys))}); err != nil {
		t.Fatal(err)
	}
	m, err := bulk.Open(ctx, e.plain, "s3://"+e.bucket+"/jobs/manifest.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	mustRun(t, m, bulk.Verify(e.client(kr)), bulk.RunOptions{}).wantAll(t, keys, bulk.Done, "verified")
	if _, err := bulk.Open(ctx, e.plain, "s3://"+e.bucket+"/jobs/missing.csv"); err == nil {
		t.Fatal("a missing manifest opened")
	}
}

func TestInspectJob(t *testing.T) {
	e := newEnv(t)
	kr, arn := e.kmsKeyring()
	meta := e.client(kr)
	instr := e.client(kr, func(o *encryptionclient.Options) { o.EnvelopeStorage = encryptionclient.StoreInstructionFile })
	if _, err := meta.PutObject(ctx, &s3.PutObjectInput{Bucket: &e.bucket, Key: aws.String("i/meta"), Body: strings.NewReader("hello")}); err != nil {
		t.Fatal(err)
	}
	if _, err := instr.PutObject(ctx, &s3.PutObjectInput{Bucket: &e.bucket, Key: aws.String("i/instr"), Body: strings.NewReader("hello!")}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.plain.PutObject(ctx, &s3.PutObjectInput{Bucket: &e.bucket, Key: aws.String("i/plain"), Body: strings.NewReader("plain text")}); err != nil {
		t.Fatal(err)
	}
	j := mustRun(t, bulk.List(e.plain, e.bucket, "i/"), bulk.Inspect(e.plain), bulk.RunOptions{})
	if j.sum.Total != 4 || j.sum.Reasons["inspected"] != 2 || j.sum.Reasons["not-encrypted"] != 2 {
		t.Fatalf("summary %v", j.sum)
	}
	m := j.results["i/meta"].Inspection
	if m == nil || !m.Encrypted || m.Format != "V3" || m.EnvelopeLocation != "metadata" || m.PlaintextSize != 5 || len(m.ContextKeys) == 0 || !slices.IsSorted(m.ContextKeys) {
		t.Fatalf("i/meta: %+v", m)
	}
	if i := j.results["i/instr"].Inspection; i == nil || i.EnvelopeLocation != "instruction-file" || i.PlaintextSize != 6 {
		t.Fatalf("i/instr: %+v", i)
	}
	if p := j.results["i/plain"]; p.Outcome != bulk.Done || p.Inspection == nil || p.Inspection.Encrypted || p.Inspection.PlaintextSize != 10 {
		t.Fatalf("i/plain: %+v %+v", p, p.Inspection)
	}
	// The report says what was found, and no context values or key ids
	// beyond what the envelope records.
	if strings.Contains(j.report, arn) {
		t.Errorf("report names the KMS key ARN, which the envelope does not record:\n%s", j.report)
	}
}

// InspectWith and an InstructionFileSuffix recognise an instruction file
// only when the object it names keeps its envelope in that very file: the
// real one is Skipped "instruction-file"; one merely named like it (no
// such object, or an object whose envelope is in its metadata) and one of
// another suffix stay "not-encrypted". Inspect itself is unchanged.
func TestInspectWithRecognisesInstructionFiles(t *testing.T) {
	e := newEnv(t)
	kr, _ := e.kmsKeyring()
	instr := e.client(kr, func(o *encryptionclient.Options) { o.EnvelopeStorage = encryptionclient.StoreInstructionFile })
	other := e.client(kr, func(o *encryptionclient.Options) {
		o.EnvelopeStorage = encryptionclient.StoreInstructionFile
		o.InstructionFileSuffix = ".ief"
	})
	put := func(c interface {
		PutObject(context.Context, *s3.PutObjectInput, ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	}, key, body string) {
		t.Helper()
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &e.bucket, Key: aws.String(key), Body: strings.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
	}
	put(instr, "w/obj", "hello!")
	put(other, "w/alt", "hello?")
	put(e.plain, "w/plain", "plain text")
	put(e.client(kr), "w/meta", "in metadata")
	put(e.plain, "w/meta.instruction", "looks like one")
	put(e.plain, "w/orphan.instruction", "names no object")
	j := mustRun(t, bulk.List(e.plain, e.bucket, "w/"), bulk.InspectWith(e.plain, bulk.InspectParams{InstructionFileSuffix: ".instruction"}), bulk.RunOptions{})
	if r := j.results["w/obj.instruction"]; r.Outcome != bulk.Skipped || r.Reason != "instruction-file" {
		t.Fatalf("w/obj.instruction: %+v", r)
	}
	for _, k := range []string{"w/plain", "w/meta.instruction", "w/orphan.instruction", "w/alt.ief"} {
		if r := j.results[k]; r.Outcome != bulk.Done || r.Reason != "not-encrypted" {
			t.Fatalf("%s: %+v", k, r)
		}
	}
	// w/alt's envelope is in w/alt.ief, which the suffix .instruction
	// does not find.
	if r := j.results["w/alt"]; r.Outcome != bulk.Failed || r.ErrorCode != "MalformedEnvelope" {
		t.Fatalf("w/alt with suffix .instruction: %+v", r)
	}
	if j.sum.Total != 8 || j.sum.Reasons["instruction-file"] != 1 || j.sum.Reasons["inspected"] != 2 || j.sum.Reasons["not-encrypted"] != 4 {
		t.Fatalf("summary %v\n%s", j.sum, j.report)
	}
	j = mustRun(t, bulk.List(e.plain, e.bucket, "w/"), bulk.InspectWith(e.plain, bulk.InspectParams{InstructionFileSuffix: ".ief"}), bulk.RunOptions{})
	if r := j.results["w/alt.ief"]; r.Outcome != bulk.Skipped || r.Reason != "instruction-file" {
		t.Fatalf("w/alt.ief with suffix .ief: %+v", r)
	}
	if r := j.results["w/obj.instruction"]; r.Reason != "not-encrypted" {
		t.Fatalf("w/obj.instruction with suffix .ief: %+v", r)
	}
	if i := j.results["w/alt"].Inspection; i == nil || !i.Encrypted || i.EnvelopeLocation != "instruction-file" || i.PlaintextSize != 6 {
		t.Fatalf("w/alt with suffix .ief: %+v", j.results["w/alt"])
	}
	j = mustRun(t, bulk.List(e.plain, e.bucket, "w/"), bulk.Inspect(e.plain), bulk.RunOptions{})
	if j.sum.Reasons["instruction-file"] != 0 || j.sum.Reasons["not-encrypted"] != 5 {
		t.Fatalf("Inspect: %v", j.sum)
	}
}
