package encryptionclient_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/internal/testhooks"
)

// Fault injection through toxiproxy, run in-process on 127.0.0.1:
//
//	encryption client -> toxiproxy -> recorder -> S3 server of newEnv
//
// toxiproxy cuts, resets, stalls, delays, slices and throttles the TCP
// streams; the recorder (an HTTP reverse proxy) keeps every PUT body that
// reached the server side of the proxy, cut or whole, so that retries can
// be compared byte for byte with what was finally stored. A fault plan
// arms a toxic for the next N matching requests only, so that the SDK's
// retries go through. Every operation runs under a deadline, and every
// loop is bounded.

// faultTimeout bounds every operation of the fault tests.
const faultTimeout = 60 * time.Second

// faultsInjected counts the toxics armed by every fault test of the run.
var faultsInjected atomic.Int64

type faultRig struct {
	t     *testing.T
	e     *env
	proxy *toxiproxy.Proxy
	rec   *faultRecorder
	tr    *http.Transport
	s3    *s3.Client
	// lister reads the bucket directly, over a transport of its own (its
	// idle connections are closed before goroutines are counted).
	lister   *s3.Client
	listerTr *http.Transport

	mu      sync.Mutex
	plan    *faultPlan
	active  int // requests currently under the armed toxic
	injects int
	total   atomic.Int64 // faults injected by this rig
}

// faultPlan arms toxic for the next n requests that match.
type faultPlan struct {
	match func(*http.Request) bool
	n     int
	toxic string // JSON of the toxic
	// toxicFor, when set, chooses the toxic of each request instead.
	toxicFor func(*http.Request) string
	name     string
}

func newFaultRig(t *testing.T, e *env, optFns ...func(*s3.Options)) *faultRig {
	t.Helper()
	zerolog.SetGlobalLevel(zerolog.Disabled) // the toxics log through zerolog's global logger
	rec := newFaultRecorder(t, e.srv.URL)
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	p := toxiproxy.NewProxy(srv, "s3", "127.0.0.1:0", rec.addr)
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	r := &faultRig{t: t, e: e, proxy: p, rec: rec}
	t.Cleanup(func() {
		t.Logf("%d faults injected by this test (%d in the run so far)", r.total.Load(), faultsInjected.Load())
	})
	r.tr = &http.Transport{MaxIdleConnsPerHost: 16, ResponseHeaderTimeout: 30 * time.Second}
	t.Cleanup(r.tr.CloseIdleConnections)
	opts := s3.Options{
		BaseEndpoint: aws.String("http://" + p.Listen), Region: e.srv.Region, UsePathStyle: true,
		Credentials:                credentials.NewStaticCredentialsProvider(e.srv.AccessKey, e.srv.SecretKey, ""),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
		HTTPClient:                 &faultHTTPClient{rig: r},
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = 5
			o.RateLimiter = ratelimit.None
			o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 5 * time.Millisecond, nil })
		}),
	}
	for _, fn := range optFns {
		fn(&opts)
	}
	r.s3 = s3.New(opts)
	r.listerTr = &http.Transport{}
	t.Cleanup(r.listerTr.CloseIdleConnections)
	r.lister = e.srv.Client(func(o *s3.Options) { o.HTTPClient = &http.Client{Transport: r.listerTr} })
	return r
}

// closeIdle closes the idle connections of every client-side transport of
// the rig.
func (r *faultRig) closeIdle() {
	r.tr.CloseIdleConnections()
	r.listerTr.CloseIdleConnections()
	r.rec.tr.CloseIdleConnections()
}

func (r *faultRig) exists(key string) bool {
	_, err := r.lister.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &r.e.bucket, Key: aws.String(key)})
	return err == nil
}

func (r *faultRig) uploads(ctx context.Context) (int, error) {
	out, err := r.lister.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &r.e.bucket})
	if err != nil {
		return 0, err
	}
	return len(out.Uploads), nil
}

// client returns an encryption client over the proxy.
func (r *faultRig) client(optFns ...func(*encryptionclient.Options)) *encryptionclient.Client {
	c, err := encryptionclient.New(r.s3, r.e.krs["aes"], optFns...)
	if err != nil {
		r.t.Fatal(err)
	}
	return c
}

// arm plans toxic for the next n requests that match.
func (r *faultRig) arm(n int, match func(*http.Request) bool, toxic string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.plan = &faultPlan{match: match, n: n, toxic: toxic, name: "planned"}
}

// armEach is arm with a toxic chosen per request (toxicFor): one plan for
// faults of several kinds. The toxic is the proxy's while a request that
// matched is in flight, so a test that needs other requests unharmed runs
// one request at a time.
func (r *faultRig) armEach(n int, match func(*http.Request) bool, toxicFor func(*http.Request) string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.plan = &faultPlan{match: match, n: n, toxicFor: toxicFor, name: "planned"}
}

// disarm drops what is left of the plan and reports how many requests it
// hit.
func (r *faultRig) disarm() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.plan = nil
	n := r.injects
	r.injects = 0
	return n
}

// addToxic adds a toxic for every connection until it is removed.
func (r *faultRig) addToxic(name, json string) {
	r.t.Helper()
	if _, err := r.proxy.Toxics.AddToxicJson(strings.NewReader(withName(name, json))); err != nil {
		r.t.Fatal(err)
	}
	r.total.Add(1)
	faultsInjected.Add(1)
}

func (r *faultRig) removeToxic(name string) {
	if err := r.proxy.Toxics.RemoveToxic(context.Background(), name); err != nil {
		r.t.Errorf("remove toxic %s: %v", name, err)
	}
}

func withName(name, json string) string {
	return `{"name":"` + name + `",` + strings.TrimPrefix(json, "{")
}

// Toxics (toxiproxy's JSON). upstream is client -> server.
func cutAfter(stream string, n int) string {
	return fmt.Sprintf(`{"type":"limit_data","stream":%q,"toxicity":1,"attributes":{"bytes":%d}}`, stream, n)
}

func resetPeer(stream string, ms int) string {
	return fmt.Sprintf(`{"type":"reset_peer","stream":%q,"toxicity":1,"attributes":{"timeout":%d}}`, stream, ms)
}

const stall = `{"type":"timeout","stream":"upstream","toxicity":1,"attributes":{"timeout":0}}`

// faultHTTPClient arms the plan's toxic around the requests it hits.
type faultHTTPClient struct{ rig *faultRig }

func (c *faultHTTPClient) Do(req *http.Request) (*http.Response, error) {
	r := c.rig
	r.mu.Lock()
	hit := r.plan != nil && r.plan.n > 0 && r.plan.match(req)
	if hit {
		r.plan.n--
		r.injects++
		r.total.Add(1)
		faultsInjected.Add(1)
		toxic := r.plan.toxic
		if r.plan.toxicFor != nil {
			toxic = r.plan.toxicFor(req)
		}
		if r.active == 0 {
			if _, err := r.proxy.Toxics.AddToxicJson(strings.NewReader(withName(r.plan.name, toxic))); err != nil {
				r.mu.Unlock()
				return nil, err
			}
		}
		r.active++
	}
	r.mu.Unlock()
	resp, err := (&http.Client{Transport: r.tr}).Do(req)
	if !hit {
		return resp, err
	}
	var once sync.Once
	release := func() {
		once.Do(func() {
			r.mu.Lock()
			defer r.mu.Unlock()
			if r.active--; r.active == 0 {
				r.proxy.Toxics.RemoveToxic(context.Background(), "planned")
			}
		})
	}
	if err != nil {
		release()
		return resp, err
	}
	resp.Body = &releasingBody{ReadCloser: resp.Body, release: release}
	return resp, nil
}

type releasingBody struct {
	io.ReadCloser
	release func()
}

func (b *releasingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		b.release()
	}
	return n, err
}

func (b *releasingBody) Close() error {
	b.release()
	return b.ReadCloser.Close()
}

// faultRecorder forwards to S3 and records the body of every PUT that
// reached it, by object path and part number; a body cut short is recorded
// and not forwarded.
type faultRecorder struct {
	addr string
	rp   *httputil.ReverseProxy
	tr   *http.Transport

	mu       sync.Mutex
	attempts map[string][][]byte
	cut      map[string]int
}

func newFaultRecorder(t *testing.T, target string) *faultRecorder {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rec := &faultRecorder{rp: httputil.NewSingleHostReverseProxy(u), tr: &http.Transport{}, attempts: map[string][][]byte{}, cut: map[string]int{}}
	rec.rp.Transport = rec.tr
	rec.rp.ErrorHandler = func(w http.ResponseWriter, _ *http.Request, _ error) { w.WriteHeader(http.StatusBadGateway) }
	t.Cleanup(rec.tr.CloseIdleConnections)
	ts := httptest.NewServer(rec)
	t.Cleanup(ts.Close)
	rec.addr = strings.TrimPrefix(ts.URL, "http://")
	return rec
}

func recordKey(r *http.Request) string {
	k := r.URL.Path
	if pn := r.URL.Query().Get("partNumber"); pn != "" {
		k += "#" + pn
	}
	return k
}

func (rec *faultRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPut && r.Header.Get("X-Amz-Copy-Source") == "" {
		body, err := io.ReadAll(r.Body)
		k := recordKey(r)
		rec.mu.Lock()
		rec.attempts[k] = append(rec.attempts[k], body)
		if err != nil || int64(len(body)) != r.ContentLength {
			rec.cut[k]++
			rec.mu.Unlock()
			return // the client is gone
		}
		rec.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	rec.rp.ServeHTTP(w, r)
}

// checkRetries asserts that every attempt that reached the server for k is
// a prefix of the last one, which equals stored, and returns the number of
// attempts.
func (rec *faultRecorder) checkRetries(t *testing.T, k string, stored []byte) int {
	t.Helper()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	as := rec.attempts[k]
	if len(as) == 0 {
		t.Fatalf("no PUT of %s reached the server", k)
	}
	final := as[len(as)-1]
	if stored != nil && !bytes.Equal(final, stored) {
		t.Fatalf("%s: the last attempt (%d bytes) is not what S3 stored (%d bytes)", k, len(final), len(stored))
	}
	for i, a := range as[:len(as)-1] {
		if !bytes.HasPrefix(final, a) {
			t.Fatalf("%s: attempt %d of %d sent other bytes than the last attempt (%d bytes)", k, i+1, len(as), len(a))
		}
	}
	return len(as)
}

func isPut(suffix string) func(*http.Request) bool {
	return func(r *http.Request) bool {
		return r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, suffix) && !r.URL.Query().Has("partNumber")
	}
}

func isUploadPart(r *http.Request) bool {
	return r.Method == http.MethodPut && r.URL.Query().Has("partNumber")
}

func isGet(suffix string) func(*http.Request) bool {
	return func(r *http.Request) bool { return r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, suffix) }
}

// faultPartSize is the multipart part size: small on the in-process
// server, S3's minimum on real ones.
func (e *env) faultPartSize() int64 {
	if e.srv.Real {
		return encryptionclient.MinPartSize
	}
	return 64<<10 + 16
}

// faultCtx is the context of the fault tests' Upload calls: the part
// limits are lowered on the in-process server, which accepts small parts.
func (e *env) faultCtx(ctx context.Context) context.Context {
	if e.srv.Real {
		return testhooks.WithPartLimits(ctx, encryptionclient.MinPartSize, 1<<20)
	}
	return testhooks.WithPartLimits(ctx, 16, 1<<20)
}

// faultUploadOpts sets the fault tests' part size and concurrency; use it
// with faultCtx.
func (e *env) faultUploadOpts(concurrency int) func(*encryptionclient.UploadOptions) {
	ps := e.faultPartSize()
	return func(o *encryptionclient.UploadOptions) {
		o.PartSize, o.Concurrency = ps, concurrency
	}
}

func (e *env) noMultipartUploads(t *testing.T) {
	t.Helper()
	out, err := e.plain.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: &e.bucket})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Uploads) != 0 {
		t.Fatalf("%d multipart uploads left behind (first: %s)", len(out.Uploads), aws.ToString(out.Uploads[0].Key))
	}
}

func faultCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), faultTimeout)
	t.Cleanup(cancel)
	return ctx
}

// A connection cut or reset in the middle of a PutObject body is retried
// by the SDK; every retry sends exactly the ciphertext of the first
// attempt, and the stored object decrypts. With the retries exhausted the
// PutObject fails and leaves no object and no instruction file.
func TestFaultPutObjectResets(t *testing.T) {
	e := newEnv(t)
	r := newFaultRig(t, e)
	ctx := faultCtx(t)
	data := randBytes(t, 400<<10)
	for _, tc := range []struct{ name, toxic string }{
		{"cut", cutAfter("upstream", 100<<10)},
		{"reset", resetPeer("upstream", 20)},
	} {
		for _, storage := range []encryptionclient.EnvelopeStorage{encryptionclient.StoreMetadata, encryptionclient.StoreInstructionFile} {
			c := r.client(func(o *encryptionclient.Options) { o.EnvelopeStorage = storage })
			key := fmt.Sprintf("put/%s/%d", tc.name, storage)
			if tc.name == "reset" {
				// 4 MB/s: the body takes about 100 ms, the reset comes
				// 20 ms into it.
				r.addToxic("bw", `{"type":"bandwidth","stream":"upstream","toxicity":1,"attributes":{"rate":4096}}`)
			}
			r.arm(2, isPut("/"+key), tc.toxic)
			if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &e.bucket, Key: aws.String(key), Body: bytes.NewReader(data)}); err != nil {
				t.Fatalf("%s: %v", key, err)
			}
			if tc.name == "reset" {
				r.removeToxic("bw")
			}
			if n := r.disarm(); n != 2 {
				t.Fatalf("%s: %d faults hit, want 2", key, n)
			}
			stored, _, err := e.raw(key)
			if err != nil {
				t.Fatal(err)
			}
			if n := r.rec.checkRetries(t, "/"+e.bucket+"/"+key, stored); n < 2 && tc.name == "cut" {
				t.Fatalf("%s: %d attempts reached the server", key, n)
			}
			if got, err := e.get(e.client(e.krs["aes"]), ctx, key); err != nil || !bytes.Equal(got, data) {
				t.Fatalf("%s: %v", key, err)
			}
		}
	}
	// Every attempt cut: the PutObject fails, nothing is stored.
	for _, storage := range []encryptionclient.EnvelopeStorage{encryptionclient.StoreMetadata, encryptionclient.StoreInstructionFile} {
		c := r.client(func(o *encryptionclient.Options) { o.EnvelopeStorage = storage })
		key := fmt.Sprintf("put/failed/%d", storage)
		r.arm(100, isPut("/"+key), cutAfter("upstream", 50<<10))
		_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &e.bucket, Key: aws.String(key), Body: bytes.NewReader(data)})
		n := r.disarm()
		if err == nil {
			t.Fatalf("%s: PutObject succeeded through %d cut connections", key, n)
		}
		if e.exists(key) || e.exists(key+envelope.DefaultInstructionSuffix) {
			t.Fatalf("%s: a failed PutObject left an object behind", key)
		}
	}
	// Only the instruction file's PUT fails: the object is removed again.
	c := r.client(func(o *encryptionclient.Options) { o.EnvelopeStorage = encryptionclient.StoreInstructionFile })
	key := "put/instruction-fails"
	r.arm(100, isPut("/"+key+envelope.DefaultInstructionSuffix), resetPeer("upstream", 0))
	_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &e.bucket, Key: aws.String(key), Body: bytes.NewReader(data)})
	r.disarm()
	if err == nil || e.exists(key) || e.exists(key+envelope.DefaultInstructionSuffix) {
		t.Fatalf("instruction file failed: err=%v, object left=%v", err, e.exists(key))
	}
	t.Logf("%d faults injected so far in this run", faultsInjected.Load())
}

// Upload (multipart) and the low-level UploadPart: a part whose connection
// is cut is retried with the same sealed bytes; when the retries run out,
// Upload aborts: no object, no multipart upload left.
func TestFaultUploadPartResets(t *testing.T) {
	e := newEnv(t)
	r := newFaultRig(t, e)
	ctx := faultCtx(t)
	ps := e.faultPartSize()
	data := randBytes(t, int(3*ps+1000))
	c := r.client()
	reader := e.client(e.krs["aes"])

	key := "upload/retried"
	r.arm(3, isUploadPart, cutAfter("upstream", int(ps/3)))
	out, err := c.Upload(e.faultCtx(ctx), &s3.PutObjectInput{Bucket: &e.bucket, Key: aws.String(key), Body: bytes.NewReader(data)}, e.faultUploadOpts(2))
	if err != nil {
		t.Fatal(err)
	}
	if n := r.disarm(); n != 3 {
		t.Fatalf("%d faults hit, want 3", n)
	}
	if out.Parts != 4 {
		t.Fatalf("%d parts", out.Parts)
	}
	stored, _, err := e.raw(key)
	if err != nil {
		t.Fatal(err)
	}
	attempts := 0
	for p := 1; p <= out.Parts; p++ {
		lo := int64(p-1) * ps
		hi := min(lo+ps, int64(len(stored)))
		if p == out.Parts {
			hi = int64(len(stored))
		}
		attempts += r.rec.checkRetries(t, fmt.Sprintf("/%s/%s#%d", e.bucket, key, p), stored[lo:hi])
	}
	if attempts < out.Parts+3 {
		t.Fatalf("%d part attempts for %d parts and 3 faults", attempts, out.Parts)
	}
	if got, err := e.get(reader, ctx, key); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("uploaded object: %v", err)
	}
	e.noMultipartUploads(t)

	// The low-level API: one part cut once, then completed.
	key = "mpu/retried"
	pctx := encryptionclient.WithPartSize(ctx, ps)
	if !e.srv.Real {
		pctx = testhooks.WithPartLimits(pctx, 16, 1<<20)
	}
	created, err := c.CreateMultipartUpload(pctx, &s3.CreateMultipartUploadInput{Bucket: &e.bucket, Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	var parts []s3CompletedPart
	for p := int32(1); p <= 2; p++ {
		chunk := data[int64(p-1)*ps : min(int64(p)*ps, int64(len(data)))]
		pc := pctx
		if p == 2 {
			chunk = data[ps : 2*ps-100]
			pc = encryptionclient.WithLastPart(pctx)
		}
		r.arm(1, isUploadPart, resetPeer("upstream", 1))
		po, err := c.UploadPart(pc, &s3.UploadPartInput{Bucket: &e.bucket, Key: aws.String(key), UploadId: created.UploadId,
			PartNumber: aws.Int32(p), Body: bytes.NewReader(chunk), ContentLength: aws.Int64(int64(len(chunk)))})
		r.disarm()
		if err != nil {
			t.Fatalf("part %d: %v", p, err)
		}
		parts = append(parts, s3CompletedPart{p, po.ETag})
	}
	if _, err := c.CompleteMultipartUpload(pctx, completeInput(e.bucket, key, created.UploadId, parts)); err != nil {
		t.Fatal(err)
	}
	if got, err := e.get(reader, ctx, key); err != nil || !bytes.Equal(got, data[:2*ps-100]) {
		t.Fatalf("low-level upload: %v", err)
	}

	// Every part attempt cut: Upload fails and aborts.
	key = "upload/failed"
	r.arm(1000, isUploadPart, cutAfter("upstream", 1000))
	_, err = c.Upload(e.faultCtx(ctx), &s3.PutObjectInput{Bucket: &e.bucket, Key: aws.String(key), Body: bytes.NewReader(data)}, e.faultUploadOpts(3))
	n := r.disarm()
	if err == nil {
		t.Fatalf("Upload succeeded through %d cut parts", n)
	}
	if e.exists(key) {
		t.Fatal("failed Upload left an object")
	}
	e.noMultipartUploads(t)
	t.Logf("upload: %d part attempts for %d parts; %d faults injected so far in this run", attempts, out.Parts, faultsInjected.Load())
}

type s3CompletedPart struct {
	n    int32
	etag *string
}

// A GetObject whose body is cut releases nothing (buffered mode) or fails
// its final Read (delayed mode); a Download resumes cut ranges, and when a
// range keeps breaking it fails, and DownloadFile leaves neither the file
// nor a temporary file.
func TestFaultGetAndDownloadResets(t *testing.T) {
	e := newEnv(t)
	r := newFaultRig(t, e)
	ctx := faultCtx(t)
	data := randBytes(t, 1<<20+77)
	key := "get/object"
	if err := e.put(e.client(e.krs["aes"]), ctx, key, data); err != nil {
		t.Fatal(err)
	}
	buffered := r.client()
	delayed := r.client(func(o *encryptionclient.Options) { o.EnableDelayedAuthentication = true })
	for i, toxic := range []string{cutAfter("downstream", 200<<10), resetPeer("downstream", 2), cutAfter("downstream", 100)} {
		r.arm(1, isGet("/"+key), toxic)
		out, err := buffered.GetObject(ctx, &s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String(key)})
		hits := r.disarm()
		if err == nil && i > 0 {
			// Reset before the response headers: the SDK retried the GET.
			b, _ := io.ReadAll(out.Body)
			if !bytes.Equal(b, data) {
				t.Fatalf("GetObject after a retried reset: other bytes")
			}
		} else if err == nil || out != nil {
			var n int
			if out != nil {
				b, _ := io.ReadAll(out.Body)
				n = len(b)
			}
			t.Fatalf("buffered GetObject of a cut body (%d faults): %d bytes, err=%v", hits, n, err)
		}
		r.arm(1, isGet("/"+key), toxic)
		out, err = delayed.GetObject(ctx, &s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String(key)})
		if err == nil {
			var got []byte
			got, err = io.ReadAll(out.Body)
			out.Body.Close()
			if err == nil && !bytes.Equal(got, data) {
				t.Fatalf("delayed GetObject of a cut body read %d bytes without error", len(got))
			}
		}
		r.disarm()
		// The next read goes through.
		if got, err := e.get(buffered, ctx, key); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("after the fault: %v", err)
		}
	}

	// Download: every connection cut after 160 KiB; 256 KiB ranges resume
	// (three times at most) and the object is complete and authenticated.
	r.addToxic("cut-all", cutAfter("downstream", 160<<10))
	dl := func(o *encryptionclient.DownloadOptions) { o.PartSize, o.Concurrency = 256<<10, 3 }
	var w tamperBufferAt
	if n, err := buffered.Download(ctx, &w, &s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String(key)}, dl); err != nil || !bytes.Equal(w.buf[:n], data) {
		t.Fatalf("Download through cut connections: %v", err)
	}
	r.removeToxic("cut-all")

	// Connections cut after 10 KiB: a range cannot finish in four tries.
	dir := t.TempDir()
	dest := filepath.Join(dir, "out.bin")
	r.addToxic("cut-short", cutAfter("downstream", 10<<10))
	_, err := buffered.DownloadFile(ctx, dest, &s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String(key)}, dl)
	if err == nil {
		t.Fatal("DownloadFile succeeded through broken connections")
	}
	if errors.Is(err, encryptionclient.ErrAuthentication) {
		t.Fatalf("a network failure reported as tampering: %v", err)
	}
	// An existing destination is left as it was.
	if err := os.WriteFile(dest, []byte("previous"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := buffered.DownloadFile(ctx, dest, &s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String(key)}, dl); err == nil {
		t.Fatal("DownloadFile succeeded through broken connections")
	}
	r.removeToxic("cut-short")
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != "out.bin" {
		t.Fatalf("DownloadFile left %d entries in the directory", len(entries))
	}
	if b, _ := os.ReadFile(dest); string(b) != "previous" {
		t.Fatal("a failed DownloadFile changed the destination")
	}
	// Without faults it works.
	if n, err := buffered.DownloadFile(ctx, dest, &s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String(key)}, dl); err != nil || n != int64(len(data)) {
		t.Fatalf("DownloadFile: %v", err)
	}
	if b, _ := os.ReadFile(dest); !bytes.Equal(b, data) {
		t.Fatal("downloaded file differs")
	}
}

// Latency, jitter, small TCP segments and a throttled link: everything
// still round trips, byte for byte.
func TestFaultLatencyAndSlowBodies(t *testing.T) {
	e := newEnv(t)
	r := newFaultRig(t, e)
	ctx := faultCtx(t)
	r.addToxic("latency-up", `{"type":"latency","stream":"upstream","toxicity":1,"attributes":{"latency":15,"jitter":10}}`)
	r.addToxic("latency-down", `{"type":"latency","stream":"downstream","toxicity":1,"attributes":{"latency":15,"jitter":10}}`)
	r.addToxic("slicer-up", `{"type":"slicer","stream":"upstream","toxicity":1,"attributes":{"average_size":700,"size_variation":600,"delay":20}}`)
	r.addToxic("slicer-down", `{"type":"slicer","stream":"downstream","toxicity":1,"attributes":{"average_size":500,"size_variation":400,"delay":10}}`)
	r.addToxic("bandwidth-down", `{"type":"bandwidth","stream":"downstream","toxicity":1,"attributes":{"rate":8192}}`)
	c := r.client()
	delayed := r.client(func(o *encryptionclient.Options) { o.EnableDelayedAuthentication = true })
	ps := e.faultPartSize()
	for i, size := range []int{0, 1, 4097, 300 << 10, int(2*ps + 33)} {
		data := randBytes(t, size)
		key := fmt.Sprintf("slow/%d", i)
		if i < 4 {
			if err := e.put(c, ctx, key, data); err != nil {
				t.Fatal(err)
			}
		} else if _, err := c.Upload(e.faultCtx(ctx), &s3.PutObjectInput{Bucket: &e.bucket, Key: aws.String(key), Body: bytes.NewReader(data)}, e.faultUploadOpts(2)); err != nil {
			t.Fatal(err)
		}
		for name, read := range map[string]func() ([]byte, error){
			"GetObject":         func() ([]byte, error) { return e.get(c, ctx, key) },
			"GetObject-delayed": func() ([]byte, error) { return e.get(delayed, ctx, key) },
			"Download": func() ([]byte, error) {
				var w tamperBufferAt
				n, err := c.Download(ctx, &w, &s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String(key)}, func(o *encryptionclient.DownloadOptions) { o.PartSize = 64 << 10 })
				if err != nil {
					return nil, err
				}
				return append(w.buf[:n:n], []byte{}...), nil
			},
		} {
			got, err := read()
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("%s of %d bytes: %v", name, size, err)
			}
		}
	}
}

// A stalled connection: the context's deadline ends every operation
// quickly with context.DeadlineExceeded, no object or multipart upload is
// left once the network recovers, and no goroutine outlives the calls.
func TestFaultTimeoutsAndCancellation(t *testing.T) {
	e := newEnv(t)
	r := newFaultRig(t, e)
	ctx := faultCtx(t)
	c := r.client()
	ps := e.faultPartSize()
	big := randBytes(t, int(4*ps+5))
	if _, err := e.client(e.krs["aes"]).Upload(e.faultCtx(ctx), &s3.PutObjectInput{Bucket: &e.bucket, Key: aws.String("stall/existing"), Body: bytes.NewReader(big)}, e.faultUploadOpts(4)); err != nil {
		t.Fatal(err)
	}
	r.closeIdle()
	before := goleak.IgnoreCurrent()

	ops := map[string]func(ctx context.Context) error{
		"PutObject": func(ctx context.Context) error {
			_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &e.bucket, Key: aws.String("stall/put"), Body: bytes.NewReader(big)})
			return err
		},
		"Upload": func(ctx context.Context) error {
			_, err := c.Upload(e.faultCtx(ctx), &s3.PutObjectInput{Bucket: &e.bucket, Key: aws.String("stall/upload"), Body: bytes.NewReader(big)}, e.faultUploadOpts(4))
			return err
		},
		"GetObject": func(ctx context.Context) error {
			_, err := e.get(c, ctx, "stall/existing")
			return err
		},
		"Download": func(ctx context.Context) error {
			var w tamperBufferAt
			_, err := c.Download(ctx, &w, &s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String("stall/existing")}, func(o *encryptionclient.DownloadOptions) { o.PartSize, o.Concurrency = 32<<10, 4 })
			return err
		},
		"DownloadFile": func(ctx context.Context) error {
			_, err := c.DownloadFile(ctx, filepath.Join(t.TempDir(), "f"), &s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String("stall/existing")})
			return err
		},
	}
	// Stalled: a deadline.
	for name, op := range ops {
		r.addToxic("stall", stall)
		opCtx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		start := time.Now()
		err := op(opCtx)
		cancel()
		// Let the stalled bytes through, so that what the call left
		// behind (an abort) can reach the server.
		r.removeToxic("stall")
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s under a stalled connection: %v, want context.DeadlineExceeded", name, err)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("%s took %v to honour a 300 ms deadline", name, d)
		}
	}
	// Throttled to 32 KiB/s: cancelled mid-transfer.
	r.addToxic("slow-up", `{"type":"bandwidth","stream":"upstream","toxicity":1,"attributes":{"rate":32}}`)
	r.addToxic("slow-down", `{"type":"bandwidth","stream":"downstream","toxicity":1,"attributes":{"rate":32}}`)
	for name, op := range ops {
		opCtx, cancel := context.WithCancel(ctx)
		timer := time.AfterFunc(200*time.Millisecond, cancel)
		start := time.Now()
		err := op(opCtx)
		timer.Stop()
		cancel()
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s cancelled: %v, want context.Canceled", name, err)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("%s took %v to honour a cancellation", name, d)
		}
	}
	r.removeToxic("slow-up")
	r.removeToxic("slow-down")
	// Aborts run on their own context: wait (bounded) for them.
	deadline := time.Now().Add(20 * time.Second)
	for {
		n, err := r.uploads(ctx)
		if err == nil && n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d multipart uploads left behind (%v)", n, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if r.exists("stall/upload") {
		t.Error("an interrupted Upload left an object")
	}
	// A single PUT whose bytes were already in flight when the deadline
	// struck may still complete on the server once the network recovers
	// (HTTP cannot take a request back); the object is then whole and
	// authentic, never partial.
	if r.exists("stall/put") {
		// Read through the rig's lister, whose idle connections
		// closeIdle closes: a client of its own left one behind, which
		// the leak check below took for a leak.
		lc, err := encryptionclient.New(r.lister, r.e.krs["aes"])
		if err != nil {
			t.Fatal(err)
		}
		if got, err := r.e.get(lc, ctx, "stall/put"); err != nil || !bytes.Equal(got, big) {
			t.Errorf("an interrupted PutObject left a partial object: %v", err)
		}
		t.Log("the stalled PutObject completed on the server after the network recovered: a whole, authentic object")
	}
	verifyNoLeaks(t, before, r.closeIdle)
}

// verifyNoLeaks fails the test if goroutines other than those of before
// (and the servers' own connection handlers) are still running after a
// bounded wait.
//
// Idle keep-alive connections are closed on every try: a request that was
// still in flight when the check began (a stalled PUT completing late)
// returns its connection to the pool afterwards, and the pool's reader and
// writer goroutines are not a leak.
func verifyNoLeaks(t *testing.T, before goleak.Option, closeIdle ...func()) {
	t.Helper()
	opts := []goleak.Option{before,
		// Server side of the in-process servers and of the proxy: they
		// end when their connections close, which the OS reports late.
		goleak.IgnoreAnyFunction("net/http.(*conn).serve"),
		goleak.IgnoreAnyFunction("github.com/Shopify/toxiproxy/v2.(*ToxicLink).read"),
		goleak.IgnoreAnyFunction("github.com/Shopify/toxiproxy/v2.(*ToxicLink).write"),
		goleak.IgnoreAnyFunction("github.com/Shopify/toxiproxy/v2/toxics.(*ToxicStub).Run"),
		goleak.IgnoreAnyFunction("github.com/Shopify/toxiproxy/v2.(*ToxicCollection).StartLink.func1"),
		goleak.IgnoreAnyFunction("github.com/Shopify/toxiproxy/v2.(*ToxicLink).Start.func1"),
	}
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		for _, f := range closeIdle {
			f()
		}
		http.DefaultTransport.(*http.Transport).CloseIdleConnections()
		if err = goleak.Find(opts...); err == nil {
			return
		}
	}
	t.Fatalf("goroutines left running: %v", err)
}

func completeInput(bucket, key string, id *string, parts []s3CompletedPart) *s3.CompleteMultipartUploadInput {
	var cps []types.CompletedPart
	for _, p := range parts {
		cps = append(cps, types.CompletedPart{PartNumber: aws.Int32(p.n), ETag: p.etag})
	}
	return &s3.CompleteMultipartUploadInput{Bucket: &bucket, Key: &key, UploadId: id, MultipartUpload: &types.CompletedMultipartUpload{Parts: cps}}
}

// A response body cut by the network is a network error, not tampering:
// reporting it as ErrAuthentication would send an operator looking for an
// attacker (and hide a retryable failure). The buffered read path reads
// the body through readAhead (readahead.go), whose loop turns an
// io.ErrUnexpectedEOF of the body (what net/http returns for a body shorter
// than its Content-Length) into io.EOF when the last chunk before the cut
// was short; the truncated ciphertext then fails the tag check. Through
// toxiproxy this depends on how the bytes arrive; the cutBodyS3 variant
// makes it deterministic. Until readahead.go is fixed this test reports
// the defect with a skip; afterwards it asserts.
func TestFaultNetworkCutIsNotTampering(t *testing.T) {
	e := newEnv(t)
	r := newFaultRig(t, e)
	ctx := faultCtx(t)
	data := randBytes(t, 3<<20) // bodies over 2 MiB are read ahead
	if err := e.put(e.client(e.krs["aes"]), ctx, "cut", data); err != nil {
		t.Fatal(err)
	}
	var errs []error
	c := r.client()
	r.arm(1, isGet("/cut"), cutAfter("downstream", 300<<10))
	_, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String("cut")})
	r.disarm()
	errs = append(errs, err)
	cut, err := encryptionclient.New(cutBodyS3{S3API: e.plain, after: 1000}, e.krs["aes"])
	if err != nil {
		t.Fatal(err)
	}
	_, err = cut.GetObject(ctx, &s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String("cut")})
	errs = append(errs, err)
	for i, err := range errs {
		if err == nil {
			t.Fatalf("variant %d: a cut body decrypted", i)
		}
		if errors.Is(err, encryptionclient.ErrAuthentication) {
			t.Fatalf("a body cut by the network is reported as tampering (variant %d): %v", i, err)
		}
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Logf("variant %d: network cut reported as: %v", i, err)
		}
	}
}

// cutBodyS3 returns GetObject bodies that fail with io.ErrUnexpectedEOF
// after a number of bytes, as net/http does when a connection drops.
type cutBodyS3 struct {
	encryptionclient.S3API
	after int64
}

func (c cutBodyS3) GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	out, err := c.S3API.GetObject(ctx, in, optFns...)
	if err == nil {
		out.Body = &cutBody{ReadCloser: out.Body, left: c.after}
	}
	return out, err
}

type cutBody struct {
	io.ReadCloser
	left int64
}

func (b *cutBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, io.ErrUnexpectedEOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	return n, err
}

// When the network stalls in the middle of an Upload, the call must stay
// bounded. Upload aborts the multipart upload on a context without
// cancellation (so that the abort is not cancelled with the upload) and
// waits for it, within the cleanup timeout: without that bound a stalled
// network would hold the caller indefinitely. This test stalls the network
// at the first UploadPart and lets it recover after 3 s.
func TestFaultUploadAbortUnderStall(t *testing.T) {
	e := newEnv(t)
	r := newFaultRig(t, e)
	ctx := faultCtx(t)
	ps := e.faultPartSize()
	data := randBytes(t, int(3*ps))
	var once sync.Once
	r.arm(1, func(req *http.Request) bool {
		if isUploadPart(req) {
			once.Do(func() {
				r.addToxic("stall-all", stall)
				time.AfterFunc(3*time.Second, func() { r.removeToxic("stall-all") })
			})
			return true
		}
		return false
	}, `{"type":"latency","stream":"upstream","toxicity":1,"attributes":{"latency":1}}`)
	opCtx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := r.client().Upload(e.faultCtx(opCtx), &s3.PutObjectInput{Bucket: &e.bucket, Key: aws.String("stall/abort"), Body: bytes.NewReader(data)}, e.faultUploadOpts(2))
	took := time.Since(start)
	r.disarm()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Upload under a stalled network: %v", err)
	}
	// Upload returns only once its abort was answered (issue 10 #11: a
	// command exiting on return cut a background abort short), which the
	// cleanup timeout bounds: the upload is gone at once.
	if n, err := r.uploads(ctx); err != nil || n != 0 {
		t.Fatalf("%d multipart uploads left when Upload returned (%v)", n, err)
	}
	if took > 30*time.Second+2*time.Second {
		t.Fatalf("Upload with a 500 ms deadline returned after %v: its abort is bounded by 30 s", took.Round(100*time.Millisecond))
	}
	t.Logf("Upload returned %v after its deadline", took)
}
