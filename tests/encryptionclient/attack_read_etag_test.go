package encryptionclient_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/internal/testkit/s3test"
)

// dropIfMatch is a store (or a proxy before it) that does not honour
// If-Match on GET: it answers whatever object is current, with that
// object's own ETag.
type dropIfMatch struct{ next http.RoundTripper }

func (d dropIfMatch) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodGet && req.Header.Get("If-Match") != "" {
		r := req.Clone(req.Context())
		r.Header.Del("If-Match")
		req = r
	}
	return d.next.RoundTrip(req)
}

// A ranged GetObject and a Download read the envelope from HeadObject and
// the bytes from GETs pinned to HeadObject's ETag. When the store ignores
// the pin and the object was replaced in between, the GET's own ETag says
// that its bytes belong to another object. The ranged read then decrypts
// the other object's ciphertext with this object's key and releases the
// result as plaintext (ranges are unauthenticated, but the threat model
// promises ErrObjectChanged for a replaced object); Download reports the
// replacement as tampering (ErrAuthentication) instead of ErrObjectChanged.
func TestAttackGetAnswerETagDiffersFromHead(t *testing.T) {
	e := newLiarEnv(t)
	if e.srv.Real {
		t.Skip("the proxy rewrites signed requests: only the in-process server, which checks no signature, takes them")
	}
	ctx := context.Background()
	e.liar.Transport = dropIfMatch{next: e.liar.Transport}
	honest := e.client(e.krs["aes"])
	first, second := randBytes(t, 5000), randBytes(t, 5000)
	c := e.lyingClient(e.krs["aes"], func(o *encryptionclient.Options) { o.EnableUnauthenticatedRanges = true })

	// Every HeadObject of "obj" is followed at once by a writer replacing
	// it (with an object of the same size, under the same keyring).
	var n atomic.Int32
	replace := func(_ *http.Request, resp *http.Response) (*http.Response, error) {
		data := first
		if n.Add(1)%2 == 1 {
			data = second
		}
		if err := e.put(honest, ctx, "obj", data); err != nil {
			return nil, err
		}
		return resp, nil
	}
	if err := e.put(honest, ctx, "obj", first); err != nil {
		t.Fatal(err)
	}
	// As AWS S3 in an unversioned bucket: no version id to pin.
	e.liar.On(s3test.Head("obj"), 0, replace, s3test.DelHeader("X-Amz-Version-Id"))

	// HEAD sees `first`; the GET gets `second` and its ETag.
	in := e.in("obj")
	in.Range = aws.String("bytes=100-199")
	got, err := readAll(ctx, c, in)
	if !errors.Is(err, encryptionclient.ErrObjectChanged) {
		t.Errorf("ranged GetObject of an object replaced after HeadObject (GET answered another ETag): %d bytes (the first object's: %v, the second's: %v), error %v, want ErrObjectChanged",
			len(got), bytes.Equal(got, first[100:200]), bytes.Equal(got, second[100:200]), err)
	}

	// HEAD sees `second` again... the ranges get `first`.
	_, err = e.download(c, ctx, "obj", func(o *encryptionclient.DownloadOptions) { o.PartSize = 1024 })
	if !errors.Is(err, encryptionclient.ErrObjectChanged) {
		t.Errorf("Download of an object replaced after HeadObject (GETs answered another ETag): %v, want ErrObjectChanged", err)
	}
}
