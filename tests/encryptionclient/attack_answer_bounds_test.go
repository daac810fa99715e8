package encryptionclient_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/internal/testkit/s3test"
)

// repeatReader yields its pattern without end.
type repeatReader struct {
	p   []byte
	off int
}

func (r *repeatReader) Read(b []byte) (int, error) {
	n := 0
	for n < len(b) {
		k := copy(b[n:], r.p[r.off:])
		n += k
		r.off = (r.off + k) % len(r.p)
	}
	return n, nil
}

// hugeBody answers with status and a body of n bytes: head, then pattern
// repeated, then tail; the bytes are generated as they are read.
func hugeBody(status int, n int64, head, pattern, tail string) s3test.Lie {
	return func(_ *http.Request, resp *http.Response) (*http.Response, error) {
		resp.Body.Close()
		mid := n - int64(len(head)) - int64(len(tail))
		mid -= mid % int64(len(pattern)) // whole patterns: the XML stays well formed
		resp.Body = io.NopCloser(io.MultiReader(strings.NewReader(head), io.LimitReader(&repeatReader{p: []byte(pattern)}, mid), strings.NewReader(tail)))
		resp.StatusCode = status
		resp.Status = strconv.Itoa(status) + " " + http.StatusText(status)
		resp.ContentLength = n
		resp.Header = http.Header{"Content-Type": {"application/xml"}, "Content-Length": {strconv.FormatInt(n, 10)}}
		return resp, nil
	}
}

// allocDuring returns the bytes allocated while f ran.
func allocDuring(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// The SDK copies the body of every S3 error answer whole into memory
// before decoding it (the deserializers io.Copy it into a bytes.Buffer,
// and the message is copied whole into the error's text) and decodes
// success answers whole. A server (or a plain-HTTP network) that answers
// the GetObject of an object, ranged or not, Download's ranges, the
// instruction file's GET with a 32 MiB error, or DeleteObjects with a
// 32 MiB result, used to make the process allocate many times that. Every
// call of the Client now reads such a body below the SDK's deserializers
// only as far as an honest answer goes (withSafety, deleteAnswerBound):
// the call fails, and little is allocated.
func TestAttackErrorAnswerBodiesBounded(t *testing.T) {
	const size = 32 << 20
	const most = 8 << 20
	e := newLiarEnv(t)
	ctx := context.Background()
	honest := e.client(e.krs["aes"])
	if err := e.put(honest, ctx, "obj", randBytes(t, 5000)); err != nil {
		t.Fatal(err)
	}
	c := e.lyingClient(e.krs["aes"], func(o *encryptionclient.Options) { o.EnableUnauthenticatedRanges = true })
	errorXML := hugeBody(http.StatusNotFound, size, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchKey</Code><Message>", "x", "</Message></Error>")

	check := func(name string, f func() error) {
		t.Helper()
		var err error
		alloc := allocDuring(func() { err = f() })
		if err == nil {
			t.Errorf("%s: no error", name)
		}
		if alloc > most {
			t.Errorf("%s: %d MiB allocated for an error answer of %d MiB (the error's text is %d bytes long)", name, alloc>>20, size>>20, len(err.Error()))
		}
	}
	whole := s3test.And(s3test.Get("obj"), s3test.Whole)
	ranged := s3test.And(s3test.Get("obj"), s3test.Ranged)

	e.liar.Reset()
	e.liar.On(whole, 0, errorXML)
	check("GetObject", func() error { _, err := readAll(ctx, c, e.in("obj")); return err })

	e.liar.Reset()
	e.liar.On(ranged, 0, errorXML)
	check("ranged GetObject", func() error {
		in := e.in("obj")
		in.Range = aws.String("bytes=0-9")
		_, err := readAll(ctx, c, in)
		return err
	})
	check("Download", func() error { _, err := e.download(c, ctx, "obj"); return err })

	// The instruction file's GET: an object whose envelope is there.
	ic := e.lyingClient(e.krs["aes"], func(o *encryptionclient.Options) { o.EnvelopeStorage = encryptionclient.StoreInstructionFile })
	if err := e.put(honest, ctx, "io", randBytes(t, 100)); err != nil {
		t.Fatal(err)
	}
	ih := e.client(e.krs["aes"], func(o *encryptionclient.Options) { o.EnvelopeStorage = encryptionclient.StoreInstructionFile })
	if err := e.put(ih, ctx, "io", randBytes(t, 100)); err != nil {
		t.Fatal(err)
	}
	e.liar.Reset()
	e.liar.On(s3test.Get("io.instruction"), 0, hugeBody(http.StatusForbidden, size, "<Error><Code>AccessDenied</Code><Message>", "x", "</Message></Error>"))
	check("GetObject of an object with an instruction file", func() error { _, err := readAll(ctx, ic, e.in("io")); return err })

	// DeleteObjects: a success answer listing keys nobody asked for.
	e.liar.Reset()
	e.liar.On(func(r *http.Request) bool { return r.Method == http.MethodPost && r.URL.Query().Has("delete") }, 0,
		hugeBody(http.StatusOK, size, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DeleteResult>", "<Deleted><Key>k</Key></Deleted>", "</DeleteResult>"))
	var derr error
	alloc := allocDuring(func() {
		_, derr = c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: &e.bucket, Delete: &types.Delete{Objects: []types.ObjectIdentifier{{Key: aws.String("gone")}}}})
	})
	if alloc > most {
		t.Errorf("DeleteObjects: %d MiB allocated for an answer of %d MiB (error: %v)", alloc>>20, size>>20, derr != nil)
	}
	if derr == nil {
		t.Logf("DeleteObjects accepted a %d MiB answer", size>>20)
	}
	if errors.Is(derr, encryptionclient.ErrAuthentication) {
		t.Errorf("DeleteObjects: ErrAuthentication")
	}
}

// Honest answers under the bounds pass: a wordy 404 of almost 64 KiB is
// still a NoSuchKey, a DeleteObjects of 1000 keys of 1024 bytes (whose
// escaped answer is megabytes long) confirms every delete, and a 12 MiB
// listing decodes; a listing past 16 MiB, or an error answer past 64 KiB,
// is ErrBadResponse and is sent once.
func TestAttackAnswerBoundsHonestAnswersPass(t *testing.T) {
	e := newLiarEnv(t)
	ctx := context.Background()
	c := e.lyingClient(e.krs["aes"])

	for _, tc := range []struct {
		size int64
		bad  bool
	}{{60 << 10, false}, {65 << 10, true}} {
		e.liar.Reset()
		e.liar.On(s3test.Get("missing"), 0, hugeBody(http.StatusNotFound, tc.size, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchKey</Code><Message>", "x", "</Message></Error>"))
		_, err := readAll(ctx, c, e.in("missing"))
		var nsk *types.NoSuchKey
		switch {
		case tc.bad && !errors.Is(err, encryptionclient.ErrBadResponse):
			t.Errorf("a %d-byte 404: %v, want ErrBadResponse", tc.size, err)
		case !tc.bad && (!errors.As(err, &nsk) || errors.Is(err, encryptionclient.ErrBadResponse)):
			t.Errorf("a %d-byte 404: %v, want NoSuchKey", tc.size, err)
		}
		if n := len(e.liar.Requests()); n != 1 {
			t.Errorf("a %d-byte 404: %d requests, want 1 (no retry): %v", tc.size, n, e.liar.Requests())
		}
	}

	// 1000 keys of 1000 bytes, most of them characters XML escapes (in
	// segments of 198: a real server stores keys as file paths).
	e.liar.Reset()
	objs := make([]types.ObjectIdentifier, 1000)
	seg := strings.Repeat(`"&<`, 66)
	for i := range objs {
		objs[i].Key = aws.String(fmt.Sprintf("%04d/", i) + strings.Join([]string{seg, seg, seg, seg, seg}, "/"))
		if e.srv.Real {
			// A real server keeps keys as file names: one name of 200
			// bytes ('&' grows fivefold; versitygw fails '<', '"' and
			// long paths of objects that do not exist with a 500).
			objs[i].Key = aws.String(fmt.Sprintf("%04d", i) + strings.Repeat("&", 196))
		}
	}
	out, err := c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: &e.bucket, Delete: &types.Delete{Objects: objs}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Deleted) != len(objs) || len(out.Errors) != 0 {
		t.Fatalf("DeleteObjects of %d keys: %d deleted, %d errors", len(objs), len(out.Deleted), len(out.Errors))
	}

	tm, err := c.ForTransferManager()
	if err != nil {
		t.Fatal(err)
	}
	entry := "<Contents><Key>" + strings.Repeat("k", 1000) + "</Key><Size>1</Size></Contents>"
	for _, tc := range []struct {
		size int64
		bad  bool
	}{{12 << 20, false}, {17 << 20, true}} {
		e.liar.Reset()
		e.liar.On(func(r *http.Request) bool { return r.Method == http.MethodGet && r.URL.Query().Get("list-type") == "2" }, 0,
			hugeBody(http.StatusOK, tc.size, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult><Name>b</Name><IsTruncated>false</IsTruncated>", entry, "</ListBucketResult>"))
		page, err := tm.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &e.bucket})
		switch {
		case tc.bad && !errors.Is(err, encryptionclient.ErrBadResponse):
			t.Errorf("a %d MiB listing: %v, want ErrBadResponse", tc.size>>20, err)
		case !tc.bad && (err != nil || len(page.Contents) < int(tc.size)/len(entry)-1):
			t.Errorf("a %d MiB listing: %v", tc.size>>20, err)
		}
		if n := len(e.liar.Requests()); n != 1 {
			t.Errorf("a %d MiB listing: %d requests, want 1 (no retry)", tc.size>>20, n)
		}
	}
}
