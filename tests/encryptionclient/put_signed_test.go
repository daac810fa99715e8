package encryptionclient_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
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

// hashCheckProxy forwards to an S3 server and checks, as S3 does, that
// every PUT's X-Amz-Content-Sha256 is the SHA-256 of the body it receives
// (gofakes3 does not check it). The first fail PUTs whose path ends with
// suffix are answered 500 after their whole body was read.
type hashCheckProxy struct {
	rp     *httputil.ReverseProxy
	suffix string
	mu     sync.Mutex
	fail   int
	puts   int      // PUTs of the object received
	bad    []string // what went wrong
}

func (p *hashCheckProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPut || !strings.HasSuffix(r.URL.Path, p.suffix) {
		p.rp.ServeHTTP(w, r)
		return
	}
	body, err := io.ReadAll(r.Body)
	sum := sha256.Sum256(body)
	p.mu.Lock()
	p.puts++
	if claimed := r.Header.Get("X-Amz-Content-Sha256"); err != nil || claimed != hex.EncodeToString(sum[:]) {
		p.bad = append(p.bad, "payload hash "+claimed+" over "+r.URL.Scheme+" does not match the body")
	}
	fail := p.fail > 0
	if fail {
		p.fail--
	}
	p.mu.Unlock()
	if fail {
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code><Message>injected</Message></Error>`)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	p.rp.ServeHTTP(w, r)
}

// Over plain HTTP the SDK signs the payload: it hashes the encrypting body
// in one pass (through the body's WriteTo) and sends it in another. The
// signed hash must be the SHA-256 of the bytes sent, on the first attempt
// and on the SDK's retries after a 500; the object then decrypts to the
// source.
func TestPutSignedPayloadHashMatchesTheBody(t *testing.T) {
	e := newEnv(t)
	u, err := url.Parse(e.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if u.Scheme != "http" {
		t.Skip("the server is not reached over plain HTTP: the payload is not signed")
	}
	proxy := &hashCheckProxy{rp: httputil.NewSingleHostReverseProxy(u), suffix: "/signed", fail: 2}
	ts := httptest.NewServer(proxy)
	t.Cleanup(ts.Close)
	viaProxy := s3.New(s3.Options{
		BaseEndpoint: aws.String(ts.URL), Region: e.srv.Region, UsePathStyle: true,
		Credentials:                credentials.NewStaticCredentialsProvider(e.srv.AccessKey, e.srv.SecretKey, ""),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		RetryMaxAttempts:           4,
	})
	c, err := encryptionclient.New(viaProxy, e.krs["aes"])
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range []int{0, 1000, 3<<18 + 5} {
		proxy.mu.Lock()
		proxy.fail, proxy.puts, proxy.bad = 2, 0, nil
		proxy.mu.Unlock()
		data := randBytes(t, size)
		if _, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: &e.bucket, Key: aws.String("signed"), Body: bytes.NewReader(data)}); err != nil {
			t.Fatalf("%d bytes: %v", size, err)
		}
		if proxy.puts != 3 || len(proxy.bad) != 0 {
			t.Fatalf("%d bytes: %d PUTs (want 3: two 500s, then the stored one); %v", size, proxy.puts, proxy.bad)
		}
		if got, err := e.get(e.client(e.krs["aes"]), context.Background(), "signed"); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%d bytes: the object read back: %v", size, err)
		}
	}
}
