package encryptionclient_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3ec/s3ec-go/encryptionclient"
)

// dropVersionID is a proxy (or a cache keyed on the path) that forwards
// every request without its versionId parameter: S3 then answers with the
// current version, and its headers say so (x-amz-version-id).
type dropVersionID struct{ next http.RoundTripper }

func (d dropVersionID) RoundTrip(req *http.Request) (*http.Response, error) {
	q := req.URL.Query()
	if q.Has("versionId") {
		r := req.Clone(req.Context())
		q.Del("versionId")
		r.URL.RawQuery = q.Encode()
		req = r
	}
	return d.next.RoundTrip(req)
}

// A read that names an object version must release the plaintext of that
// version or fail: when the answer is another version (the current one,
// which S3 or a proxy serves when it ignores versionId, and whose
// x-amz-version-id header says so), the plaintext of the current version
// must not be returned as the version asked for. The answer's version id
// is the server's own statement that the body is not the one requested;
// ReEncrypt already refuses "another version" on that ground, the read
// paths do not look.
func TestAttackReadOfOldVersionAnsweredWithCurrent(t *testing.T) {
	e := newLiarEnv(t)
	if e.srv.Real {
		t.Skip("the proxy rewrites signed requests: only the in-process server, which checks no signature, takes them")
	}
	e.enableVersioning()
	ctx := context.Background()
	// The liar's transport is set by LiarClient; put the version-dropping
	// proxy in front of the real server.
	e.liar.Transport = dropVersionID{next: e.liar.Transport}
	honest := e.client(e.krs["aes"])
	old, cur := randBytes(t, 3000), randBytes(t, 3000)
	put := func(data []byte) string {
		out, err := honest.PutObject(ctx, &s3.PutObjectInput{Bucket: &e.bucket, Key: aws.String("obj"), Body: bytes.NewReader(data)})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(out.VersionId) == "" {
			t.Skip("the server gave no version id")
		}
		return *out.VersionId
	}
	oldID := put(old)
	put(cur)
	// Honest reads of the old version work.
	in := e.in("obj")
	in.VersionId = aws.String(oldID)
	if got, err := readAll(ctx, honest, in); err != nil || !bytes.Equal(got, old) {
		t.Fatalf("honest read of the old version: %v (old plaintext %v)", err, bytes.Equal(got, old))
	}

	c := e.lyingClient(e.krs["aes"], func(o *encryptionclient.Options) { o.EnableUnauthenticatedRanges = true })
	mk := func() *s3.GetObjectInput {
		in := e.in("obj")
		in.VersionId = aws.String(oldID)
		return in
	}
	wrong := func(what string, got []byte, err error) {
		t.Helper()
		if err == nil {
			t.Errorf("%s of version %s: no error, %d bytes (the current version's plaintext: %v)", what, oldID, len(got), bytes.Equal(got, cur))
		}
	}

	got, err := readAll(ctx, c, mk())
	wrong("GetObject", got, err)

	func() {
		dc := e.lyingClient(e.krs["aes"], func(o *encryptionclient.Options) { o.EnableDelayedAuthentication = true })
		out, err := dc.GetObject(ctx, mk())
		if err == nil {
			defer out.Body.Close()
			got, err = io.ReadAll(out.Body)
		}
		wrong("GetObject (delayed authentication)", got, err)
	}()

	rin := mk()
	rin.Range = aws.String("bytes=0-99")
	got, err = readAll(ctx, c, rin)
	if err == nil && bytes.Equal(got, cur[:100]) {
		t.Errorf("ranged GetObject of version %s: the current version's bytes", oldID)
	}

	var w bufferAt
	_, err = c.Download(ctx, &w, mk(), func(o *encryptionclient.DownloadOptions) { o.PartSize = 1024 })
	wrong("Download", w.Bytes(), err)

	dir := t.TempDir()
	if _, err = c.DownloadFile(ctx, filepath.Join(dir, "dst"), mk()); err == nil {
		t.Errorf("DownloadFile of version %s: no error", oldID)
		noFiles(t, dir)
	}

	h, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &e.bucket, Key: aws.String("obj"), VersionId: aws.String(oldID)})
	if err == nil && aws.ToString(h.VersionId) != oldID {
		t.Errorf("HeadObject of version %s: answered for version %s without an error", oldID, aws.ToString(h.VersionId))
	}
	env, err := encryptionclient.ReadEnvelope(ctx, e.s3, &s3.HeadObjectInput{Bucket: &e.bucket, Key: aws.String("obj"), VersionId: aws.String(oldID)})
	if err == nil && aws.ToString(env.HeadObject.VersionId) != oldID {
		t.Errorf("ReadEnvelope of version %s: the envelope of version %s without an error", oldID, aws.ToString(env.HeadObject.VersionId))
	}
	if errors.Is(err, encryptionclient.ErrAuthentication) {
		t.Errorf("a version mix-up reported as tampering: %v", err)
	}
}
