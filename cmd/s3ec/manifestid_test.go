package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// readCheckpointFile parses the local checkpoint name of the world.
func (w *world) readCheckpointFile(name string) checkpoint {
	w.t.Helper()
	var c checkpoint
	if err := json.Unmarshal(w.readFile(name), &c); err != nil {
		w.t.Fatalf("checkpoint: %v", err)
	}
	return c
}

// A manifest in S3 is identified by the ETag, version id and size its
// GetObject returned: the unchanged manifest resumes (nothing left to do),
// one uploaded again with other rows is refused.
func TestResumeManifestInS3(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	aes, _ := w.aesKey("k")
	w.writeFile("f", []byte("resume me"))
	var first, second strings.Builder
	for i := range 4 {
		k := fmt.Sprintf("r/%d", i)
		w.run(append([]string{"cp", "f", w.url(k)}, aes...)...).want(t, exitOK)
		fmt.Fprintf(&first, "%s,%s\n", w.bucket, k)
		if i >= 2 {
			fmt.Fprintf(&second, "%s,%s\n", w.bucket, k)
		}
	}
	w.putRaw("manifests/m.csv", []byte(first.String()), nil)
	args := append([]string{"verify", "--manifest", w.url("manifests/m.csv"), "--report", "r.csv"}, aes...)
	w.run(args...).want(t, exitOK)
	c := w.readCheckpointFile("r.csv.checkpoint")
	if m := c.Job.Manifest; m.ETag == "" || m.SHA256 != "" || m.Size != int64(first.Len()) || !c.Finished {
		t.Fatalf("checkpoint: %+v", c)
	}

	r := w.run(append(args, "--resume")...).want(t, exitOK)
	if !strings.Contains(r.stderr, "verify: 0 done, 0 skipped, 0 failed") {
		t.Errorf("resume of the unchanged manifest: %q", r.stderr)
	}

	w.putRaw("manifests/m.csv", []byte(second.String()), nil)
	r = w.run(append(args, "--resume")...).want(t, exitUsage)
	if !strings.Contains(r.stderr, "the manifest "+w.url("manifests/m.csv")+" is not the one r.csv.checkpoint was written for") ||
		!strings.Contains(r.stderr, "ETag "+c.Job.Manifest.ETag) || !strings.Contains(r.stderr, "delete r.csv.checkpoint") {
		t.Errorf("resume over the regenerated manifest: %q", r.stderr)
	}
	// Without --resume a finished job starts over with the new manifest.
	r = w.run(args...).want(t, exitOK)
	if !strings.Contains(r.stderr, "verify: 2 done") || !strings.Contains(r.stdout, "r/3:") || strings.Contains(r.stdout, "r/0:") {
		t.Errorf("a new run over the new manifest:\n%s\n%s", r.stdout, r.stderr)
	}
}

// In a versioned bucket the same bytes uploaded again are another version
// of the manifest: refused too (its ETag alone would not tell).
func TestResumeManifestNewVersion(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	if _, err := w.plain.PutBucketVersioning(context.Background(), &s3.PutBucketVersioningInput{Bucket: &w.bucket,
		VersioningConfiguration: &s3types.VersioningConfiguration{Status: s3types.BucketVersioningStatusEnabled}}); err != nil {
		if w.srv.Real {
			// versitygw, as scripts/servers.sh starts it, has no versioning.
			t.Skipf("%s: no bucket versioning: %v", w.srv.Name, err)
		}
		t.Fatalf("enabling versioning: %v", err)
	}
	aes, _ := w.aesKey("k")
	w.writeFile("f", []byte("x"))
	w.run(append([]string{"cp", "f", w.url("o")}, aes...)...).want(t, exitOK)
	manifest := []byte(w.bucket + ",o\n")
	w.putRaw("m.csv", manifest, nil)
	args := append([]string{"verify", "--manifest", w.url("m.csv"), "--report", "r.csv"}, aes...)
	w.run(args...).want(t, exitOK)
	c := w.readCheckpointFile("r.csv.checkpoint")
	if c.Job.Manifest.VersionId == "" || c.Job.Manifest.ETag == "" {
		t.Fatalf("checkpoint of a versioned manifest: %+v", c.Job.Manifest)
	}
	w.run(append(args, "--resume")...).want(t, exitOK)

	w.putRaw("m.csv", manifest, nil)
	r := w.run(append(args, "--resume")...).want(t, exitUsage)
	if !strings.Contains(r.stderr, "version "+c.Job.Manifest.VersionId) || !strings.Contains(r.stderr, "is not the one r.csv.checkpoint was written for") {
		t.Errorf("resume over a new version of the manifest: %q", r.stderr)
	}
}

// A checkpoint of format version 1 (no manifest identity) is refused with
// a message that names its version.
func TestCheckpointVersion1Refused(t *testing.T) {
	_, err := decodeCheckpoint("r.csv.checkpoint", strings.NewReader(`{"version":1,"job":{"operation":"verify","source":"manifest /m.csv","shard":"0/1"},"watermark":2}`))
	if err == nil || exitCode(err) != exitUsage || !strings.Contains(err.Error(), "format version 1") || !strings.Contains(err.Error(), "delete it") {
		t.Errorf("version 1: %v", err)
	}
	c, err := decodeCheckpoint("r.csv.checkpoint", strings.NewReader(`{"version":2,"job":{"operation":"verify","source":"manifest /m.csv","shard":"0/1","manifest":{"sha256":"ab","size":3}},"watermark":2}`))
	if err != nil || c.Job.Manifest != (manifestID{SHA256: "ab", Size: 3}) {
		t.Errorf("version 2: %+v, %v", c, err)
	}
}
