package encryptionclient_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"go.uber.org/goleak"

	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/internal/testkit/s3test"
)

// TestMain fails the package's test binary when any goroutine outlives
// the tests: a body, a read-ahead, a transfer worker or a timer that
// nothing stops. Against a real server (S3EC_TEST_S3_ENDPOINT) the plain
// clients' idle keep-alive connections to it stay open by design, so their
// transport loops are ignored there; TestLeak* below check the client's
// own goroutines precisely in every mode. The same holds for AWS KMS
// (S3EC_TEST_KMS_KEY_ID).
func TestMain(m *testing.M) {
	opts := []goleak.Option{
		// The fault tests' harness, not the library: toxiproxy v2.5.0
		// leaves the goroutines of a connection's toxic chain blocked
		// after Proxy.Stop when that connection was cut mid-stream.
		goleak.IgnoreAnyFunction("github.com/Shopify/toxiproxy/v2/toxics.(*ToxicStub).Run"),
		goleak.IgnoreAnyFunction("github.com/Shopify/toxiproxy/v2.(*ToxicLink).read"),
		goleak.IgnoreAnyFunction("github.com/Shopify/toxiproxy/v2.(*ToxicLink).write"),
	}
	if os.Getenv(s3test.EnvEndpoint) != "" || os.Getenv(envKMSKeyID) != "" {
		opts = append(opts,
			goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
			goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
			goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
		)
	}
	goleak.VerifyTestMain(m, opts...)
}

// leakRig is a client over a transport of the test's own, whose idle
// connections can be closed before goroutines are counted.
func (e *env) leakClient(t *testing.T, optFns ...func(*encryptionclient.Options)) (*encryptionclient.Client, func()) {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	s3c := e.srv.Client(func(o *s3.Options) { o.HTTPClient = &http.Client{Transport: tr} })
	c, err := encryptionclient.New(s3c, e.krs["aes"], optFns...)
	if err != nil {
		t.Fatal(err)
	}
	return c, tr.CloseIdleConnections
}

// TestLeakEveryOperation runs every operation of the client, in every way
// a caller may end it (body read to the end, closed early, never read,
// context cancelled before or during the call), and checks that no
// goroutine of the client is left once the transport's idle connections
// are closed.
func TestLeakEveryOperation(t *testing.T) {
	e := newEnv(t)
	c, closeIdle := e.leakClient(t, func(o *encryptionclient.Options) { o.EnableUnauthenticatedRanges = true })
	delayed, closeIdle2 := e.leakClient(t, func(o *encryptionclient.Options) { o.EnableDelayedAuthentication = true })
	ctx := context.Background()
	ps := e.faultPartSize()
	big := randBytes(t, int(3*ps+99))
	small := randBytes(t, 5000)
	in := func(k string, b []byte) *s3.PutObjectInput {
		return &s3.PutObjectInput{Bucket: &e.bucket, Key: aws.String(k), Body: bytes.NewReader(b)}
	}
	get := func(k string) *s3.GetObjectInput { return &s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String(k)} }
	if _, err := c.PutObject(ctx, in("small", small)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Upload(e.faultCtx(ctx), in("big", big), e.faultUploadOpts(3)); err != nil {
		t.Fatal(err)
	}
	closeIdle()
	closeIdle2()
	before := goleak.IgnoreCurrent()
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	ops := map[string]func(){
		"PutObject": func() { c.PutObject(ctx, in("p", small)) },
		"GetObject read": func() {
			if out, err := c.GetObject(ctx, get("big")); err == nil {
				io.ReadAll(out.Body)
				out.Body.Close()
			}
		},
		"GetObject closed unread": func() {
			if out, err := c.GetObject(ctx, get("big")); err == nil {
				out.Body.Close()
			}
		},
		"GetObject delayed closed early": func() {
			if out, err := delayed.GetObject(ctx, get("big")); err == nil {
				io.ReadFull(out.Body, make([]byte, 100))
				out.Body.Close()
			}
		},
		"GetObject delayed read": func() {
			if out, err := delayed.GetObject(ctx, get("big")); err == nil {
				io.ReadAll(out.Body)
				out.Body.Close()
			}
		},
		"GetObject range closed early": func() {
			r := get("big")
			r.Range = aws.String("bytes=100-")
			if out, err := c.GetObject(ctx, r); err == nil {
				io.ReadFull(out.Body, make([]byte, 10))
				out.Body.Close()
			}
		},
		"GetObject cancelled": func() { c.GetObject(cancelled, get("big")) },
		"HeadObject":          func() { c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &e.bucket, Key: aws.String("small")}) },
		"CopyObject": func() {
			c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: &e.bucket, Key: aws.String("copy"), CopySource: aws.String(e.bucket + "/small")})
		},
		"DeleteObject":     func() { c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &e.bucket, Key: aws.String("p")}) },
		"Upload":           func() { c.Upload(e.faultCtx(ctx), in("u", big), e.faultUploadOpts(3)) },
		"Upload cancelled": func() { c.Upload(e.faultCtx(cancelled), in("uc", big), e.faultUploadOpts(3)) },
		"Upload failing body": func() {
			c.Upload(e.faultCtx(ctx), &s3.PutObjectInput{Bucket: &e.bucket, Key: aws.String("uf"), Body: io.MultiReader(bytes.NewReader(big[:ps+5]), failingBody{})}, e.faultUploadOpts(3))
		},
		"Download": func() {
			var w tamperBufferAt
			c.Download(ctx, &w, get("big"), func(o *encryptionclient.DownloadOptions) { o.PartSize, o.Concurrency = 16<<10, 4 })
		},
		"Download cancelled": func() {
			var w tamperBufferAt
			c.Download(cancelled, &w, get("big"), func(o *encryptionclient.DownloadOptions) { o.PartSize, o.Concurrency = 16<<10, 4 })
		},
		"DownloadFile": func() { c.DownloadFile(ctx, filepath.Join(t.TempDir(), "f"), get("big")) },
		"Rewrap": func() {
			c.Rewrap(ctx, &encryptionclient.RewrapInput{Bucket: &e.bucket, Key: aws.String("small"), Keyring: e.krs["rsa"]})
		},
		"RotatePrefix": func() {
			c.RotatePrefix(ctx, &encryptionclient.RotatePrefixInput{Bucket: &e.bucket, Keyring: e.krs["rsa"], Concurrency: 4})
		},
		"RotatePrefix cancelled": func() {
			c.RotatePrefix(cancelled, &encryptionclient.RotatePrefixInput{Bucket: &e.bucket, Keyring: e.krs["rsa"], Concurrency: 4})
		},
	}
	for name, op := range ops {
		op()
		closeIdle()
		closeIdle2()
		if err := goleakFind(before); err != nil {
			t.Fatalf("after %s: %v", name, err)
		}
	}
	t.Logf("%d operations, no goroutine left behind", len(ops))
}

// goleakFind retries for a bounded time: connections close asynchronously.
func goleakFind(before goleak.Option) error {
	var err error
	for range 50 {
		if err = goleak.Find(before, goleak.IgnoreAnyFunction("net/http.(*conn).serve")); err == nil {
			return nil
		}
		sleepBriefly()
	}
	return err
}

func sleepBriefly() { time.Sleep(100 * time.Millisecond) }

type failingBody struct{}

func (failingBody) Read([]byte) (int, error) { return 0, io.ErrClosedPipe }
