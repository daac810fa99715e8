package encryptionclient_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3ec/s3ec-go/encryptionclient"
)

// spliceLaterRanges forwards the ranged GETs that do not start at 0
// without their versionId and If-Match: a store that pins the first range
// only. Those ranges are then the current version's bytes, answered at
// the offsets asked, with the right Content-Range; with strip, their
// answers lose the ETag and version id that say so.
type spliceLaterRanges struct {
	next  http.RoundTripper
	strip bool
}

func (s spliceLaterRanges) RoundTrip(req *http.Request) (*http.Response, error) {
	if rg := req.Header.Get("Range"); req.Method == http.MethodGet && rg != "" && !strings.HasPrefix(rg, "bytes=0-") {
		r := req.Clone(req.Context())
		q := r.URL.Query()
		q.Del("versionId")
		r.URL.RawQuery = q.Encode()
		r.Header.Del("If-Match")
		resp, err := s.next.RoundTrip(r)
		if err == nil && s.strip {
			// A store that lies all the way: the answer no longer says
			// which object and version it is of.
			resp.Header.Del("Etag")
			resp.Header.Del("X-Amz-Version-Id")
		}
		return resp, err
	}
	return s.next.RoundTrip(req)
}

// A Download of an old version whose later ranges come from another
// version of the same size (same layout, valid Content-Range, another data
// key and IV) is a spliced body: it must fail, and DownloadFile must leave
// no file, temporary or final, and the destination that existed before
// unchanged. When the answers still carry their ETag and version id, the
// answer check refuses them (ErrObjectChanged) before anything is
// decrypted; when the store strips those too, the range sums combine into
// the tag, which the splice breaks (ErrAuthentication). Covers a splice of
// two authentic versions at range boundaries, which TestDownloadTampering
// (altered bytes) and TestDownloadObjectReplacedMidway (a store honouring
// the pins) do not.
func TestAttackDownloadSplicedVersions(t *testing.T) {
	for _, strip := range []bool{false, true} {
		t.Run(map[bool]string{false: "answers say what they are", true: "answers stripped"}[strip], func(t *testing.T) {
			testDownloadSplicedVersions(t, strip)
		})
	}
}

func testDownloadSplicedVersions(t *testing.T, strip bool) {
	e := newLiarEnv(t)
	if e.srv.Real {
		t.Skip("the proxy rewrites signed requests: only the in-process server, which checks no signature, takes them")
	}

	e.enableVersioning()
	ctx := context.Background()
	e.liar.Transport = spliceLaterRanges{next: e.liar.Transport, strip: strip}
	honest := e.client(e.krs["aes"])
	old, cur := randBytes(t, 5000), randBytes(t, 5000)
	var oldID string
	for i, data := range [][]byte{old, cur} {
		out, err := honest.PutObject(ctx, &s3.PutObjectInput{Bucket: &e.bucket, Key: aws.String("obj"), Body: bytes.NewReader(data)})
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			oldID = aws.ToString(out.VersionId)
		}
	}
	if oldID == "" {
		t.Skip("no version ids")
	}
	c := e.lyingClient(e.krs["aes"])
	in := func() *s3.GetObjectInput {
		in := e.in("obj")
		in.VersionId = aws.String(oldID)
		return in
	}
	part := func(o *encryptionclient.DownloadOptions) { o.PartSize = 1024; o.Concurrency = 2 }
	var hw bufferAt
	if _, err := honest.Download(ctx, &hw, in(), part); err != nil || !bytes.Equal(hw.Bytes(), old) {
		t.Fatalf("honest Download of the old version: %v", err)
	}
	// ErrAuthentication shows that the splice took place and the tag
	// caught it.
	want := encryptionclient.ErrObjectChanged
	if strip {
		want = encryptionclient.ErrAuthentication
	}
	var w bufferAt
	if _, err := c.Download(ctx, &w, in(), part); !errors.Is(err, want) {
		t.Errorf("Download of a body spliced from two versions: %v, want %v", err, want)
	}
	dir := t.TempDir()
	dst := filepath.Join(dir, "dst")
	if err := os.WriteFile(dst, []byte("before"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DownloadFile(ctx, dst, in(), part); err == nil {
		t.Errorf("DownloadFile of a spliced body: no error")
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		for _, ent := range ents {
			t.Logf("in the directory: %s", ent.Name())
		}
		t.Errorf("DownloadFile left %d entries, want dst alone", len(ents))
	}
	if b, _ := os.ReadFile(dst); string(b) != "before" {
		t.Errorf("DownloadFile changed the existing destination: %q", b)
	}
}
