package encryptionclient_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/internal/testkit/s3test"
)

// errAfterAll delivers the whole body, then fails as net/http does when a
// connection drops after the last byte of a body whose end it had to see
// (a chunked answer without its last chunk): io.ErrUnexpectedEOF.
func errAfterAll() s3test.Lie {
	return func(_ *http.Request, resp *http.Response) (*http.Response, error) {
		orig := resp.Body
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(orig, errorOnly{io.ErrUnexpectedEOF}), orig}
		return resp, nil
	}
}

type errorOnly struct{ err error }

func (e errorOnly) Read([]byte) (int, error) { return 0, e.err }

// A Download range whose bytes all arrived, and whose connection then
// broke before the body's end was seen, is complete: the tag
// authenticates it. Before, it was resumed "from where it stopped" with an
// empty, inverted range (bytes=N-(N-1)), which no server answers with
// bytes, and the download failed with an error of no documented class
// (an outside review).
func TestAttackDownloadCutAfterLastByte(t *testing.T) {
	e := newLiarEnv(t)
	if e.srv.Real {
		t.Skip("the liar rewrites answers of the in-process server only")
	}
	ctx := context.Background()
	c := e.lyingClient(e.krs["aes"])
	data := randBytes(t, 3*1024+100)
	if err := e.put(c, ctx, "obj", data); err != nil {
		t.Fatal(err)
	}
	// The first ranged GET (one worker: the first range) is cut after its
	// last byte.
	e.liar.On(s3test.And(s3test.Get("obj"), s3test.Ranged), 1, errAfterAll())
	got, err := e.download(c, ctx, "obj", func(o *encryptionclient.DownloadOptions) { o.PartSize, o.Concurrency = 1024, 1 })
	for _, r := range e.liar.Requests() {
		if i := strings.Index(r, "range=bytes="); i >= 0 {
			var a, b int64
			if _, serr := fmt.Sscanf(r[i+len("range=bytes="):], "%d-%d", &a, &b); serr == nil && b < a {
				t.Errorf("Download asked an empty, inverted range: %s", r)
			}
		}
	}
	if err != nil {
		t.Errorf("Download of an object whose every byte arrived (one range's end cut after its last byte): %v, want success", err)
	}
	if err == nil && !bytes.Equal(got, data) {
		t.Errorf("Download returned other bytes")
	}
}

// The same cut, after the last byte, of a whole GetObject's body (in
// memory, streamed and spooled) is ErrTruncated, as ERRORS.md says a cut
// body is. It was io.ErrUnexpectedEOF alone, outside every documented
// class: exactBody made a cut ErrTruncated only while bytes were still
// due (an outside review).
func TestAttackGetCutAfterLastByteIsTruncated(t *testing.T) {
	e := newLiarEnv(t)
	if e.srv.Real {
		t.Skip("the liar rewrites answers of the in-process server only")
	}
	ctx := context.Background()
	data := randBytes(t, 5000)
	if err := e.put(e.client(e.krs["aes"]), ctx, "obj", data); err != nil {
		t.Fatal(err)
	}
	modes := map[string]func(*encryptionclient.Options){
		"in memory": func(*encryptionclient.Options) {},
		"streamed":  func(o *encryptionclient.Options) { o.EnableDelayedAuthentication = true },
		"spooled": func(o *encryptionclient.Options) {
			o.BufferSize, o.SpoolLargeObjects, o.SpoolDir = 1024, true, t.TempDir()
		},
	}
	for name, opt := range modes {
		e.liar.Reset()
		e.liar.On(s3test.And(s3test.Get("obj"), s3test.Whole), 1, errAfterAll())
		got, err := readAll(ctx, e.lyingClient(e.krs["aes"], opt), e.in("obj"))
		if err == nil {
			t.Errorf("%s: GetObject whose body was cut after its last byte succeeded (%d bytes, equal: %v), want ErrTruncated", name, len(got), bytes.Equal(got, data))
		} else if !errors.Is(err, encryptionclient.ErrTruncated) {
			t.Errorf("%s: GetObject whose body was cut after its last byte: %v (%T), want ErrTruncated", name, err, errors.Unwrap(err))
		}
	}
}
