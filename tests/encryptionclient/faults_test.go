package encryptionclient_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/s3ec/s3ec-go/encryptionclient"
)

// dropProxy forwards to an S3 server, but cuts the connection of the first
// drops PUT requests whose path ends with a suffix, after reading cut bytes
// of the body. It records the bytes every PUT attempt of that object sent.
type dropProxy struct {
	t        *testing.T
	target   *url.URL
	rp       *httputil.ReverseProxy
	suffix   string
	drops    int
	cut      int
	mu       sync.Mutex
	attempts [][]byte
}

func newDropProxy(t *testing.T, target, suffix string, drops, cut int) (*dropProxy, string) {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &dropProxy{t: t, target: u, rp: httputil.NewSingleHostReverseProxy(u), suffix: suffix, drops: drops, cut: cut}
	ts := httptest.NewServer(p)
	t.Cleanup(ts.Close)
	return p, ts.URL
}

func (p *dropProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPut || !strings.HasSuffix(r.URL.Path, p.suffix) {
		p.rp.ServeHTTP(w, r)
		return
	}
	p.mu.Lock()
	drop := p.drops > 0
	if drop {
		p.drops--
	}
	p.mu.Unlock()
	if drop {
		buf := make([]byte, p.cut)
		n, _ := io.ReadFull(r.Body, buf)
		p.record(buf[:n])
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close() // the client sees a reset connection
		}
		return
	}
	body, _ := io.ReadAll(r.Body)
	p.record(body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	p.rp.ServeHTTP(w, r)
}

func (p *dropProxy) record(b []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.attempts = append(p.attempts, bytes.Clone(b))
}

// A PUT whose connection drops is retried by the SDK; the retry must send
// exactly the bytes of the first attempt (same plaintext, key and IV), and
// the object must decrypt.
func TestPutRetryResendsIdenticalCiphertext(t *testing.T) {
	e := newEnv(t)
	proxy, proxyURL := newDropProxy(t, e.srv.URL, "/retried", 2, 100_000)
	viaProxy := s3.New(s3.Options{
		BaseEndpoint: aws.String(proxyURL), Region: e.srv.Region, UsePathStyle: true,
		Credentials:                credentials.NewStaticCredentialsProvider(e.srv.AccessKey, e.srv.SecretKey, ""),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		RetryMaxAttempts:           5,
	})
	c, err := encryptionclient.New(viaProxy, e.krs["kms"])
	if err != nil {
		t.Fatal(err)
	}
	data := randBytes(t, 700_000)
	if _, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: &e.bucket, Key: aws.String("retried"), Body: bytes.NewReader(data)}); err != nil {
		t.Fatal(err)
	}
	if len(proxy.attempts) != 3 {
		t.Fatalf("%d attempts reached the proxy, want 3", len(proxy.attempts))
	}
	final := proxy.attempts[2]
	for i, a := range proxy.attempts[:2] {
		if len(a) == 0 || !bytes.Equal(a, final[:len(a)]) {
			t.Fatalf("attempt %d sent other bytes than the final attempt", i)
		}
	}
	if got, err := e.get(e.client(e.krs["kms"]), context.Background(), "retried"); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("retried object: %v", err)
	}
	// A non-seekable body cannot be rewound: the failure is reported and no
	// object is stored.
	proxy.drops = 1
	_, err = c.PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: &e.bucket, Key: aws.String("once/retried"), Body: io.MultiReader(bytes.NewReader(data)), ContentLength: aws.Int64(int64(len(data))),
	})
	if err == nil {
		t.Fatal("a non-seekable body was retried")
	}
	if e.exists("once/retried") {
		t.Fatal("failed put left an object")
	}
}
