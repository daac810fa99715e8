package batchops

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/internal/testkit/kmstest"
	"github.com/s3ec/s3ec-go/internal/testkit/s3test"
	"github.com/s3ec/s3ec-go/materials"
)

// fixture is a bucket on the in-process S3 server (or the one the
// S3EC_TEST_S3_* variables name) and a KMS test server with an old and a
// new key.
type fixture struct {
	t              *testing.T
	s3             *s3test.Server
	kms            *kmstest.Server
	raw            *s3.Client
	bucket         string
	oldARN, newARN string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{t: t, s3: s3test.Start(t), kms: kmstest.New(t)}
	f.raw = f.s3.Client()
	f.bucket = f.s3.CreateBucket(t, f.raw)
	if _, err := f.raw.PutBucketVersioning(context.Background(), &s3.PutBucketVersioningInput{
		Bucket:                  aws.String(f.bucket),
		VersioningConfiguration: &s3types.VersioningConfiguration{Status: s3types.BucketVersioningStatusEnabled},
	}); err != nil {
		if !f.s3.Real {
			t.Fatalf("enable versioning: %v", err)
		}
		// versitygw's posix backend without a versioning directory: the
		// tasks then name no version.
		t.Logf("%s: no versioning (%v); tasks without version ids", f.s3.Name, err)
	}
	f.oldARN = f.kms.KeyARN(f.kms.CreateKey())
	f.newARN = f.kms.KeyARN(f.kms.CreateKey())
	return f
}

// env is the environment of the function: the SDK pointed at the test
// servers, static credentials, and the S3EC_* settings of extra.
func (f *fixture) env(extra map[string]string) map[string]string {
	e := map[string]string{
		"AWS_ENDPOINT_URL_S3":              f.s3.URL,
		"AWS_ENDPOINT_URL_KMS":             f.kms.URL,
		"AWS_REGION":                       f.s3.Region,
		"AWS_ACCESS_KEY_ID":                f.s3.AccessKey,
		"AWS_SECRET_ACCESS_KEY":            f.s3.SecretKey,
		"AWS_SESSION_TOKEN":                "",
		"AWS_PROFILE":                      "",
		"AWS_CONFIG_FILE":                  "/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE":      "/dev/null",
		"AWS_EC2_METADATA_DISABLED":        "true",
		"AWS_REQUEST_CHECKSUM_CALCULATION": "when_required",
		"AWS_RESPONSE_CHECKSUM_VALIDATION": "when_required",
		EnvS3UsePathStyle:                  "true",
		EnvKMSKeyIDs:                       f.oldARN + "," + f.newARN,
		EnvTargetKMSKeyID:                  f.newARN,
	}
	for k, v := range extra {
		e[k] = v
	}
	return e
}

// handler returns a Handler configured from f.env(extra) the way the
// Lambda's main does (ConfigFromEnv).
func (f *fixture) handler(extra map[string]string) *Handler {
	f.t.Helper()
	for k, v := range f.env(extra) {
		f.t.Setenv(k, v)
	}
	cfg, err := ConfigFromEnv(context.Background())
	if err != nil {
		f.t.Fatalf("ConfigFromEnv: %v", err)
	}
	return NewHandler(cfg)
}

// put writes an object encrypted under keyARN and returns its version id.
func (f *fixture) put(keyARN, key, body string) string {
	f.t.Helper()
	return f.putWith(encryptionclient.RequireEncryptRequireDecrypt, keyARN, key, body)
}

// putWith writes an object under keyARN in the format policy writes (V2
// for ForbidEncryptAllowDecrypt).
func (f *fixture) putWith(policy encryptionclient.CommitmentPolicy, keyARN, key, body string) string {
	f.t.Helper()
	kr, err := materials.NewKMSKeyring(f.kms.Client(), keyARN)
	if err != nil {
		f.t.Fatal(err)
	}
	c, err := encryptionclient.New(f.raw, kr, func(o *encryptionclient.Options) { o.CommitmentPolicy = policy })
	if err != nil {
		f.t.Fatal(err)
	}
	out, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(f.bucket), Key: aws.String(key), Body: strings.NewReader(body)})
	if err != nil {
		f.t.Fatalf("put %q: %v", key, err)
	}
	return aws.ToString(out.VersionId)
}

// read reads an object with a client that may unwrap only keyARN's data
// keys.
func (f *fixture) read(keyARN, key string) (string, error) {
	f.t.Helper()
	kr, err := materials.NewKMSDiscoveryKeyring(f.kms.Client(), func(o *materials.KMSDiscoveryOptions) { o.AllowedKeyARNs = []string{keyARN} })
	if err != nil {
		f.t.Fatal(err)
	}
	c, err := encryptionclient.New(f.raw, kr)
	if err != nil {
		f.t.Fatal(err)
	}
	out, err := c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(f.bucket), Key: aws.String(key)})
	if err != nil {
		return "", err
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	return string(b), err
}

// tamper flips one bit of an object's stored ciphertext, keeping its
// metadata (the envelope).
func (f *fixture) tamper(key string) {
	f.t.Helper()
	ctx := context.Background()
	out, err := f.raw.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(f.bucket), Key: aws.String(key)})
	if err != nil {
		f.t.Fatal(err)
	}
	b, err := io.ReadAll(out.Body)
	out.Body.Close()
	if err != nil || len(b) == 0 {
		f.t.Fatalf("read raw %q: %v", key, err)
	}
	b[len(b)/3] ^= 0x10
	if _, err := f.raw.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(f.bucket), Key: aws.String(key), Body: bytes.NewReader(b), Metadata: out.Metadata,
	}); err != nil {
		f.t.Fatal(err)
	}
}

// fingerprint identifies what is stored under key: its ETag and its
// metadata (a rewrap changes the wrapped key in the metadata or the
// instruction file, a reencrypt the ETag), and its instruction file's.
func (f *fixture) fingerprint(key string) string {
	f.t.Helper()
	var b strings.Builder
	for _, k := range []string{key, key + ".instruction"} {
		out, err := f.raw.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(f.bucket), Key: aws.String(k)})
		if err != nil {
			b.WriteString("absent;")
			continue
		}
		keys := make([]string, 0, len(out.Metadata))
		for m := range out.Metadata {
			keys = append(keys, m)
		}
		slices.Sort(keys)
		b.WriteString(aws.ToString(out.ETag) + ";" + aws.ToString(out.VersionId))
		for _, m := range keys {
			b.WriteString(";" + m + "=" + out.Metadata[m])
		}
		b.WriteString("|")
	}
	return b.String()
}

// testObject is an object of a job: its key, the task's s3Key (encoded
// as Batch Operations encodes it) and its version id.
type testObject struct {
	key, encoded, version string
}

// unusualKeys are keys with spaces, unicode, '+' and '%'; encoded as
// Batch Operations does (QueryEscape: a space is '+') or with %20.
type unusualKey struct {
	key      string
	encode   func(string) string
	withVers bool
}

var unusualKeys = []unusualKey{
	{"reports/2026 Q4/summary final.txt", url.QueryEscape, true},
	{"données/été ✓ 日本.bin", url.QueryEscape, false},
	{"math/a+b=c&d%.txt", url.QueryEscape, true},
	{"space path/x y.txt", func(s string) string { return strings.ReplaceAll(url.PathEscape(s), "/", "%2F") }, false},
}

// keys are the unusual keys the server stores faithfully: versitygw
// decodes '+' in x-amz-copy-source as a space, so an in-place copy of a
// key with '+' fails there (its bug, not the function's).
func (f *fixture) keys() []unusualKey {
	var out []unusualKey
	for _, k := range unusualKeys {
		if f.s3.Name == "versitygw" && strings.Contains(k.key, "+") {
			continue
		}
		out = append(out, k)
	}
	return out
}

// putUnusual writes the unusual keys under keyARN.
func (f *fixture) putUnusual(keyARN string) []testObject {
	var objs []testObject
	for _, k := range f.keys() {
		v := f.put(keyARN, k.key, "body of "+k.key)
		o := testObject{key: k.key, encoded: k.encode(k.key)}
		if k.withVers {
			o.version = v
		}
		objs = append(objs, o)
	}
	return objs
}

func eventV2(args map[string]string, bucket string, objs []testObject) []byte {
	ev := events.S3BatchJobEventV2{
		InvocationSchemaVersion: "2.0",
		InvocationID:            "YXNkbGZqYWRmaiBhc2RmdW9hZHNmZGpmaGFzbGtkaGZza2RmaAo",
		Job:                     events.S3BatchJobV2{ID: "f3cc4f60-61f6-4a2b-8a21-d07600c373ce", UserArguments: args},
	}
	for i, o := range objs {
		ev.Tasks = append(ev.Tasks, events.S3BatchJobTaskV2{
			TaskID: "dGFza2lk" + string(rune('A'+i)), S3Key: o.encoded, S3VersionID: o.version, S3Bucket: bucket,
		})
	}
	b, _ := json.Marshal(ev)
	return b
}

func eventV1(bucketARN string, objs []testObject) []byte {
	ev := events.S3BatchJobEvent{
		InvocationSchemaVersion: "1.0",
		InvocationID:            "djEtaW52b2NhdGlvbg",
		Job:                     events.S3BatchJob{ID: "0a1b2c3d-v1"},
	}
	for i, o := range objs {
		ev.Tasks = append(ev.Tasks, events.S3BatchJobTask{
			TaskID: "djF0YXNr" + string(rune('A'+i)), S3Key: o.encoded, S3VersionID: o.version, S3BucketARN: bucketARN,
		})
	}
	b, _ := json.Marshal(ev)
	return b
}

// decodeResponse parses a response and checks the fields every response
// has.
func decodeResponse(t *testing.T, payload []byte, schema, invocation string, tasks int) events.S3BatchJobResponse {
	t.Helper()
	var r events.S3BatchJobResponse
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("response %s: %v", payload, err)
	}
	if r.InvocationSchemaVersion != schema || r.TreatMissingKeysAs != "PermanentFailure" || r.InvocationID != invocation {
		t.Fatalf("response header %+v, want schema %s, PermanentFailure, invocation %s", r, schema, invocation)
	}
	if len(r.Results) != tasks {
		t.Fatalf("%d results, want %d: %s", len(r.Results), tasks, payload)
	}
	return r
}

// checkRewrapped asserts that each object reads with the new key only.
func (f *fixture) checkRewrapped(objs []testObject) {
	f.t.Helper()
	for _, o := range objs {
		got, err := f.read(f.newARN, o.key)
		if err != nil || got != "body of "+o.key {
			f.t.Errorf("%q with the new key: %q, %v", o.key, got, err)
		}
		if _, err := f.read(f.oldARN, o.key); err == nil {
			f.t.Errorf("%q still reads with the old key", o.key)
		}
	}
}

// format returns the envelope format of an object.
func (f *fixture) format(key string) envelope.Format {
	f.t.Helper()
	out, err := encryptionclient.ReadEnvelope(context.Background(), f.raw, &s3.HeadObjectInput{Bucket: aws.String(f.bucket), Key: aws.String(key)})
	if err != nil {
		f.t.Fatalf("ReadEnvelope %q: %v", key, err)
	}
	return out.Envelope.Format
}

// objectVersions counts the versions and delete markers of key.
func (f *fixture) objectVersions(key string) int {
	f.t.Helper()
	n := 0
	in := &s3.ListObjectVersionsInput{Bucket: aws.String(f.bucket), Prefix: aws.String(key)}
	for {
		out, err := f.raw.ListObjectVersions(context.Background(), in)
		if err != nil {
			f.t.Fatalf("list versions of %q: %v", key, err)
		}
		for _, v := range out.Versions {
			if aws.ToString(v.Key) == key {
				n++
			}
		}
		for _, d := range out.DeleteMarkers {
			if aws.ToString(d.Key) == key {
				n++
			}
		}
		if !aws.ToBool(out.IsTruncated) {
			return n
		}
		in.KeyMarker, in.VersionIdMarker = out.NextKeyMarker, out.NextVersionIdMarker
	}
}
