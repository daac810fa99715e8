package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/materials"
)

// `cp s3://… s3://… --to-*` with a keyring that may not re-wrap the
// source's key: nothing is copied (the re-wrap's checks run on the source
// first). Before, the copy was made, its re-wrap failed, and the clean-up
// was a DeleteObject of the key without a version id: in a versioned
// bucket a delete marker, so the copy stayed, as a noncurrent version,
// readable under the source's key (the key the user meant to leave
// behind), and the object current at the destination before the command
// was hidden behind the marker (an outside review).
func TestAttackCopyRewrapRefusedCopiesNothing(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	if _, err := w.plain.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: &w.bucket,
		VersioningConfiguration: &s3types.VersioningConfiguration{Status: s3types.BucketVersioningStatusEnabled}}); err != nil {
		t.Skipf("%s: no bucket versioning: %v", w.srv.Name, err)
	}
	aes, _ := w.aesKey("k")
	w.aesKey("k2")
	third, _ := w.aesKey("k3")
	w.writeFile("src", []byte("secret under the old key k"))
	w.writeFile("prior", []byte("the destination's own content, under k3"))
	w.run(append([]string{"cp", "src", w.url("c/a")}, aes...)...).want(t, exitOK)
	w.run(append([]string{"cp", "prior", w.url("dst/a")}, third...)...).want(t, exitOK)

	// k3 cannot read c/a (k wrapped it), so the re-wrap fails after the copy.
	w.run(append(append([]string{"cp", w.url("c/a"), w.url("dst/a")}, third...), "--to-aes-key-file", "k2", "--to-material-description", "name=k2")...).want(t, exitKey)

	// The destination's object of before is still current and reads.
	if r := w.run(append([]string{"cat", w.url("dst/a")}, third...)...); r.code != exitOK || r.stdout != "the destination's own content, under k3" {
		t.Errorf("after the failed re-wrap, dst/a no longer reads (exit %d, %q, %s): the clean-up hid the version that was current before", r.code, r.stdout, r.stderr)
	}

	// No version of dst/a is the copy readable under the source's key k.
	key, err := readAESKey(filepath.Join(w.dir, "k"))
	if err != nil {
		t.Fatal(err)
	}
	kr, err := materials.NewAESKeyring(key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := encryptionclient.New(w.plain, kr)
	if err != nil {
		t.Fatal(err)
	}
	vs, err := w.plain.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: &w.bucket, Prefix: aws.String("dst/a")})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs.Versions {
		if aws.ToString(v.Key) != "dst/a" {
			continue
		}
		out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: &w.bucket, Key: v.Key, VersionId: v.VersionId})
		if err != nil {
			continue
		}
		b, _ := io.ReadAll(out.Body)
		out.Body.Close()
		t.Errorf("version %s of dst/a, the copy whose re-wrap failed, is still stored and reads under the source's key: %q", aws.ToString(v.VersionId), b)
	}
}

// A re-wrap of the copy that fails after its checks passed (here KMS
// refuses the new key's Encrypt) removes exactly the copy: in a versioned
// bucket the version the copy created, so that the destination's object
// of before is current again; in an unversioned one the copy.
func TestAttackCopyRewrapFailureRemovesOnlyTheCopy(t *testing.T) {
	for _, versioned := range []bool{true, false} {
		t.Run(fmt.Sprintf("versioned=%v", versioned), func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			ctx := context.Background()
			if versioned {
				if _, err := w.plain.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: &w.bucket,
					VersioningConfiguration: &s3types.VersioningConfiguration{Status: s3types.BucketVersioningStatusEnabled}}); err != nil {
					t.Skipf("%s: no bucket versioning: %v", w.srv.Name, err)
				}
			}
			aes, _ := w.aesKey("k")
			w.writeFile("src", []byte("secret under the old key k"))
			w.writeFile("prior", []byte("the destination's own content"))
			w.run(append([]string{"cp", "src", w.url("c/a")}, aes...)...).want(t, exitOK)
			w.run(append([]string{"cp", "prior", w.url("dst/a")}, aes...)...).want(t, exitOK)

			// The dry run's Encrypt passes, the real one is refused.
			w.kms.FailEvery("Encrypt", "AccessDeniedException", 2)
			r := w.run(append(append([]string{"cp", w.url("c/a"), w.url("dst/a")}, aes...), "--to-kms-key", w.kmsKey, "--kms-endpoint-url", w.kms.URL)...)
			w.kms.FailEvery("Encrypt", "", 0)
			if r.code == exitOK {
				t.Fatalf("cp with a refused re-wrap succeeded: %s", r.stdout)
			}
			if !strings.Contains(r.stderr, "the copy was removed") {
				t.Errorf("stderr does not say the copy was removed: %s", r.stderr)
			}
			got := w.run(append([]string{"cat", w.url("dst/a")}, aes...)...)
			switch {
			case versioned && (got.code != exitOK || got.stdout != "the destination's own content"):
				t.Errorf("dst/a after the failed re-wrap (exit %d, %q, %s): want the destination's object of before", got.code, got.stdout, got.stderr)
			case !versioned && got.code == exitOK:
				t.Errorf("dst/a still reads after the failed re-wrap: %q", got.stdout)
			}
			vs, err := w.plain.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: &w.bucket, Prefix: aws.String("dst/a")})
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range vs.Versions {
				if aws.ToString(v.Key) != "dst/a" {
					continue
				}
				out, err := w.plain.GetObject(ctx, &s3.GetObjectInput{Bucket: &w.bucket, Key: v.Key, VersionId: v.VersionId})
				if err != nil {
					continue
				}
				b, _ := io.ReadAll(out.Body)
				out.Body.Close()
				if bytes.Contains(b, []byte("secret")) {
					t.Fatal("plaintext stored") // never: the test's objects are encrypted
				}
			}
			if n := countVersions(vs, "dst/a"); versioned && n != 1 {
				t.Errorf("%d versions of dst/a left, want 1 (the destination's own)", n)
			}
		})
	}
}

func countVersions(vs *s3.ListObjectVersionsOutput, key string) int {
	n := 0
	for _, v := range vs.Versions {
		if aws.ToString(v.Key) == key {
			n++
		}
	}
	return n
}
