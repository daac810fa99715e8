package encryptionclient_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/internal/testkit/s3test"
)

// keepsPartialBodies plays a server that stores what it received of a PUT
// whose client gave up mid-body (versitygw does): the bytes read so far
// are forwarded as a whole object.
// It handles one request at a time, so that a request sent after the
// client gave up sees what the server made of the abandoned one.
type keepsPartialBodies struct {
	next   http.Handler
	mu     sync.Mutex
	stored atomic.Int32
}

func (k *keepsPartialBodies) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if r.Method == http.MethodPut && r.Header.Get("X-Amz-Copy-Source") == "" && r.Body != nil {
		got, err := io.ReadAll(r.Body)
		if err != nil && len(got) > 0 {
			k.stored.Add(1)
		}
		r.Body = io.NopCloser(bytes.NewReader(got))
		r.ContentLength = int64(len(got))
		r.Header.Set("Content-Length", strconv.Itoa(len(got)))
		r.Header.Del("X-Amz-Decoded-Content-Length")
	}
	// On, even though the client went away (as a server that commits
	// what it got does).
	// The whole answer is made before any of it is sent.
	rec := httptest.NewRecorder()
	k.next.ServeHTTP(rec, r.WithContext(context.WithoutCancel(r.Context())))
	for name, v := range rec.Header() {
		w.Header()[name] = v
	}
	w.WriteHeader(rec.Code)
	w.Write(rec.Body.Bytes())
}

// partialWorld is an in-process server with a bucket, reached directly
// (plain) and through a keepsPartialBodies proxy (through).
func partialWorld(t *testing.T) (keep *keepsPartialBodies, plain, through *s3.Client, bucket string) {
	t.Helper()
	srv := s3test.NewFake()
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	keep = &keepsPartialBodies{next: httputil.NewSingleHostReverseProxy(u)}
	front := httptest.NewServer(keep)
	t.Cleanup(front.Close)
	plain = srv.Client()
	bucket = srv.CreateBucket(t, plain)
	through = srv.Client(func(o *s3.Options) { o.BaseEndpoint = aws.String(front.URL) })
	return keep, plain, through, bucket
}

// A PutObject whose source fails after bytes went out leaves nothing, even
// on a server that stores the truncated body: the client removes the object
// that carries its own envelope, and only that one (an object another
// writer stored meanwhile, or the one there before, is kept).
func TestPartialBodyStoredByServerIsRemoved(t *testing.T) {
	keep, plain, through, bucket := partialWorld(t)
	kr := mustAES(t, map[string]string{"purpose": "partial"})
	c, err := encryptionclient.New(through, kr)
	if err != nil {
		t.Fatal(err)
	}
	exists := func(key string) bool {
		_, err := through.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &bucket, Key: aws.String(key)})
		return err == nil
	}
	ctx := context.Background()
	data := bytes.Repeat([]byte("payload!"), 128<<10) // 1 MiB: bytes reach the server before the error
	for _, sc := range failingSources {
		key := "partial-" + sc.name
		before := keep.stored.Load()
		_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: sc.src(t, data), ContentLength: aws.Int64(int64(len(data)))})
		if !errors.Is(err, sc.want) {
			t.Fatalf("%s: got %v, want %v", key, err, sc.want)
		}
		if keep.stored.Load() == before {
			t.Fatalf("%s: the server never saw a truncated body; the test proves nothing", key)
		}
		if exists(key) {
			t.Errorf("%s: the truncated body the server stored was left behind", key)
		}
	}

	// An object already at the key, which the failed write did not
	// replace, is not this call's: it stays. (The proxy is bypassed, so
	// the server does not store the truncated body this time.)
	direct, err := encryptionclient.New(plain, kr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := direct.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String("kept"), Body: bytes.NewReader([]byte("good"))}); err != nil {
		t.Fatal(err)
	}
	_, err = direct.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String("kept"), Body: failingSources[1].src(t, data), ContentLength: aws.Int64(int64(len(data)))})
	if !errors.Is(err, failingSources[1].want) {
		t.Fatalf("got %v", err)
	}
	out, err := direct.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: aws.String("kept")})
	if err != nil {
		t.Fatalf("the object that was there before is gone: %v", err)
	}
	defer out.Body.Close()
	if b, _ := io.ReadAll(out.Body); string(b) != "good" {
		t.Fatalf("the object that was there before reads %q", b)
	}
}

// In a versioned bucket the clean-up of a truncated body the server stored
// removes exactly that version, so the version that was current before is
// current again; a delete without the version id would have put a delete
// marker over it, and the key would read as gone.
func TestPartialBodyInVersionedBucketRemovesOnlyItsVersion(t *testing.T) {
	keep, plain, throughS3, bucket := partialWorld(t)
	ctx := context.Background()
	if _, err := plain.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{
		Bucket:                  &bucket,
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled},
	}); err != nil {
		t.Fatal(err)
	}
	kr := mustAES(t, map[string]string{"purpose": "partial"})
	direct, err := encryptionclient.New(plain, kr)
	if err != nil {
		t.Fatal(err)
	}
	through, err := encryptionclient.New(throughS3, kr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := direct.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String("v"), Body: bytes.NewReader([]byte("before"))}); err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("payload!"), 128<<10)
	before := keep.stored.Load()
	_, err = through.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String("v"), Body: failingSources[1].src(t, data), ContentLength: aws.Int64(int64(len(data)))})
	if !errors.Is(err, failingSources[1].want) {
		t.Fatalf("got %v, want %v", err, failingSources[1].want)
	}
	if keep.stored.Load() == before {
		t.Fatal("the server never saw a truncated body; the test proves nothing")
	}
	out, err := direct.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: aws.String("v")})
	if err != nil {
		t.Fatalf("the version that was current before does not read: %v", err)
	}
	defer out.Body.Close()
	if b, _ := io.ReadAll(out.Body); string(b) != "before" {
		t.Fatalf("the key reads %q", b)
	}
	vs, err := plain.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: &bucket, Prefix: aws.String("v")})
	if err != nil {
		t.Fatal(err)
	}
	if len(vs.DeleteMarkers) != 0 || len(vs.Versions) != 1 {
		t.Fatalf("%d versions and %d delete markers, want the one version written before", len(vs.Versions), len(vs.DeleteMarkers))
	}
}
