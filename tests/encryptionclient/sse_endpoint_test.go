package encryptionclient_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	smithyendpoints "github.com/aws/smithy-go/endpoints"
	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/internal/testkit/s3test"
	"github.com/s3ec/s3ec-go/materials"
)

// keySpy is an http.Handler in front of the real in-process server that
// records every request carrying a customer-provided key.
type keySpy struct {
	next http.Handler
	mu   sync.Mutex
	seen []string // "METHOD path" of the requests that carried a key
	all  int
}

var ssecHeaders = []string{
	"X-Amz-Server-Side-Encryption-Customer-Key",
	"X-Amz-Copy-Source-Server-Side-Encryption-Customer-Key",
}

func (s *keySpy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.all++
	for _, h := range ssecHeaders {
		if r.Header.Get(h) != "" {
			s.seen = append(s.seen, r.Method+" "+r.URL.Path)
			break
		}
	}
	s.mu.Unlock()
	if s.next == nil {
		http.Error(w, "no upstream", http.StatusBadGateway)
		return
	}
	s.next.ServeHTTP(w, r)
}

func (s *keySpy) leaked() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.seen...)
}

// spiedServer is the in-process S3 server behind a keySpy, over plain HTTP.
func spiedServer(t *testing.T) (*s3test.Server, *keySpy, string) {
	t.Helper()
	srv := s3test.NewFake()
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	spy := &keySpy{next: httputil.NewSingleHostReverseProxy(u)}
	front := httptest.NewServer(spy)
	t.Cleanup(front.Close)
	return srv, spy, front.URL
}

// v2Resolver resolves every request to a fixed base URL (path-style), the
// way a custom EndpointResolverV2 for an S3-compatible server does.
type v2Resolver struct{ base string }

func (r v2Resolver) ResolveEndpoint(_ context.Context, p s3.EndpointParameters) (smithyendpoints.Endpoint, error) {
	u, err := url.Parse(r.base)
	if err != nil {
		return smithyendpoints.Endpoint{}, err
	}
	if b := aws.ToString(p.Bucket); b != "" {
		u.Path = "/" + b
	}
	return smithyendpoints.Endpoint{URI: *u}, nil
}

const (
	testSSECKey = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
	testSSECMD5 = "jsZ9oKDLHx5VpZcc+8Vu7Q=="
)

// ssecOperations runs every operation of the client that can carry an
// SSE-C key, with one, and returns each one's error by name. Objects
// "meta" (envelope in metadata) and "instr" (instruction file) exist.
func ssecOperations(t *testing.T, c *encryptionclient.Client, bucket string) map[string]error {
	t.Helper()
	ctx := context.Background()
	alg, key, md5 := aws.String("AES256"), aws.String(testSSECKey), aws.String(testSSECMD5)
	errs := map[string]error{}
	_, errs["PutObject"] = c.PutObject(ctx, &s3.PutObjectInput{
		Bucket: &bucket, Key: aws.String("new"), Body: bytes.NewReader([]byte("payload")),
		SSECustomerAlgorithm: alg, SSECustomerKey: key, SSECustomerKeyMD5: md5,
	})
	for _, k := range []string{"meta", "instr"} {
		_, errs["GetObject "+k] = c.GetObject(ctx, &s3.GetObjectInput{
			Bucket: &bucket, Key: aws.String(k), SSECustomerAlgorithm: alg, SSECustomerKey: key, SSECustomerKeyMD5: md5,
		})
		_, errs["GetObject range "+k] = c.GetObject(ctx, &s3.GetObjectInput{
			Bucket: &bucket, Key: aws.String(k), Range: aws.String("bytes=0-1"),
			SSECustomerAlgorithm: alg, SSECustomerKey: key, SSECustomerKeyMD5: md5,
		})
		_, errs["HeadObject "+k] = c.HeadObject(ctx, &s3.HeadObjectInput{
			Bucket: &bucket, Key: aws.String(k), SSECustomerAlgorithm: alg, SSECustomerKey: key, SSECustomerKeyMD5: md5,
		})
		_, errs["CopyObject dest key "+k] = c.CopyObject(ctx, &s3.CopyObjectInput{
			Bucket: &bucket, Key: aws.String(k + "-copy"), CopySource: aws.String(bucket + "/" + k),
			SSECustomerAlgorithm: alg, SSECustomerKey: key, SSECustomerKeyMD5: md5,
		})
		_, errs["CopyObject source key "+k] = c.CopyObject(ctx, &s3.CopyObjectInput{
			Bucket: &bucket, Key: aws.String(k + "-copy"), CopySource: aws.String(bucket + "/" + k),
			CopySourceSSECustomerAlgorithm: alg, CopySourceSSECustomerKey: key, CopySourceSSECustomerKeyMD5: md5,
		})
		_, errs["Rewrap "+k] = c.Rewrap(ctx, &encryptionclient.RewrapInput{
			Bucket: &bucket, Key: aws.String(k), Keyring: newAESKeyringForTest(t),
			SSECustomerAlgorithm: alg, SSECustomerKey: key, SSECustomerKeyMD5: md5,
		})
		var sink writerAtBuffer
		_, errs["Download "+k] = c.Download(ctx, &sink, &s3.GetObjectInput{
			Bucket: &bucket, Key: aws.String(k), SSECustomerAlgorithm: alg, SSECustomerKey: key, SSECustomerKeyMD5: md5,
		})
		_, errs["DownloadFile "+k] = c.DownloadFile(ctx, filepath.Join(t.TempDir(), "f"), &s3.GetObjectInput{
			Bucket: &bucket, Key: aws.String(k), SSECustomerAlgorithm: alg, SSECustomerKey: key, SSECustomerKeyMD5: md5,
		})
	}
	rot, err := c.RotatePrefix(ctx, &encryptionclient.RotatePrefixInput{
		Bucket: &bucket, Keyring: newAESKeyringForTest(t),
		SSECustomerAlgorithm: alg, SSECustomerKey: key, SSECustomerKeyMD5: md5,
	})
	if err == nil && rot != nil && len(rot.Failures) > 0 {
		err = rot.Failures[0].Err
	} else if err == nil {
		err = errors.New("RotatePrefix reported no failure")
	}
	errs["RotatePrefix"] = err
	_, errs["Upload"] = c.Upload(ctx, &s3.PutObjectInput{
		Bucket: &bucket, Key: aws.String("up"), Body: bytes.NewReader([]byte("payload")),
		SSECustomerAlgorithm: alg, SSECustomerKey: key, SSECustomerKeyMD5: md5,
	})
	_, errs["CreateMultipartUpload"] = c.CreateMultipartUpload(encryptionclient.WithPartSize(ctx, 5<<20), &s3.CreateMultipartUploadInput{
		Bucket: &bucket, Key: aws.String("mpu"), SSECustomerAlgorithm: alg, SSECustomerKey: key, SSECustomerKeyMD5: md5,
	})
	// An upload created without a key, then parts and completion with one.
	mpu, err := c.CreateMultipartUpload(encryptionclient.WithPartSize(ctx, 5<<20), &s3.CreateMultipartUploadInput{Bucket: &bucket, Key: aws.String("mpu2")})
	if err != nil {
		t.Fatalf("CreateMultipartUpload without SSE-C: %v", err)
	}
	part := bytes.Repeat([]byte("p"), 16)
	_, errs["UploadPart"] = c.UploadPart(encryptionclient.WithLastPart(ctx), &s3.UploadPartInput{
		Bucket: &bucket, Key: aws.String("mpu2"), UploadId: mpu.UploadId, PartNumber: aws.Int32(1),
		Body: bytes.NewReader(part), ContentLength: aws.Int64(int64(len(part))),
		SSECustomerAlgorithm: alg, SSECustomerKey: key, SSECustomerKeyMD5: md5,
	})
	if _, err := c.UploadPart(encryptionclient.WithLastPart(ctx), &s3.UploadPartInput{
		Bucket: &bucket, Key: aws.String("mpu2"), UploadId: mpu.UploadId, PartNumber: aws.Int32(1),
		Body: bytes.NewReader(part), ContentLength: aws.Int64(int64(len(part))),
	}); err != nil {
		t.Fatalf("UploadPart without SSE-C: %v", err)
	}
	_, errs["CompleteMultipartUpload"] = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: &bucket, Key: aws.String("mpu2"), UploadId: mpu.UploadId,
		SSECustomerAlgorithm: alg, SSECustomerKey: key, SSECustomerKeyMD5: md5,
	})
	c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &bucket, Key: aws.String("mpu2"), UploadId: mpu.UploadId})
	return errs
}

type writerAtBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (w *writerAtBuffer) WriteAt(p []byte, off int64) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if end := off + int64(len(p)); end > int64(len(w.buf)) {
		w.buf = append(w.buf, make([]byte, end-int64(len(w.buf)))...)
	}
	copy(w.buf[off:], p)
	return len(p), nil
}

func newAESKeyringForTest(t *testing.T) materials.Keyring {
	kr, err := materials.NewAESKeyring(randBytes(t, 32))
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// Every operation that carries an SSE-C key refuses plain HTTP, however the
// endpoint was configured, and the server never sees the key.
func TestSSECRefusedOverHTTPEveryEndpointKind(t *testing.T) {
	cases := map[string]func(base string) func(*s3.Options){
		"BaseEndpoint": func(base string) func(*s3.Options) {
			return func(o *s3.Options) { o.BaseEndpoint = aws.String(base) }
		},
		"EndpointResolverV2": func(base string) func(*s3.Options) {
			return func(o *s3.Options) { o.BaseEndpoint = nil; o.EndpointResolverV2 = v2Resolver{base} }
		},
		"legacy EndpointResolver": func(base string) func(*s3.Options) {
			return func(o *s3.Options) {
				o.BaseEndpoint = nil
				//lint:ignore SA1019 the deprecated way must be covered too
				o.EndpointResolver = s3.EndpointResolverFromURL(base)
			}
		},
	}
	for name, endpoint := range cases {
		t.Run(name, func(t *testing.T) {
			srv, spy, front := spiedServer(t)
			setup := srv.Client()
			bucket := srv.CreateBucket(t, setup)
			e := newEnv(t)
			kr := e.krs["aes"]
			for key, storage := range map[string]encryptionclient.EnvelopeStorage{"meta": encryptionclient.StoreMetadata, "instr": encryptionclient.StoreInstructionFile} {
				w, err := encryptionclient.New(setup, kr, func(o *encryptionclient.Options) { o.EnvelopeStorage = storage })
				if err != nil {
					t.Fatal(err)
				}
				if _, err := w.PutObject(context.Background(), &s3.PutObjectInput{Bucket: &bucket, Key: aws.String(key), Body: bytes.NewReader([]byte("0123456789"))}); err != nil {
					t.Fatal(err)
				}
			}
			plain := s3.New(s3.Options{
				Region: "us-east-1", UsePathStyle: true,
				Credentials:                credentials.NewStaticCredentialsProvider("test", "testsecret", ""),
				RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
				ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
			}, endpoint(front))
			// The plain client really reaches the server this way.
			if _, err := plain.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &bucket, Key: aws.String("meta")}); err != nil {
				t.Fatalf("endpoint setup does not reach the server: %v", err)
			}
			c, err := encryptionclient.New(plain, kr, func(o *encryptionclient.Options) { o.EnableUnauthenticatedRanges = true })
			if err != nil {
				t.Fatal(err)
			}
			for op, err := range ssecOperations(t, c, bucket) {
				if !errors.Is(err, encryptionclient.ErrInvalidInput) || !strings.Contains(err.Error(), "HTTPS") {
					t.Errorf("%s over http:// (%s): got %v, want ErrInvalidInput (SSE-C over plain HTTP)", op, name, err)
				}
			}
			if l := spy.leaked(); len(l) > 0 {
				t.Errorf("the server received %d requests carrying the SSE-C key over plain HTTP: %v", len(l), l)
			}
		})
	}
}

// A redirect from HTTPS to HTTP does not carry the key along: the SDK's
// HTTP client follows 307 and 308 redirects, and Go's http.Client keeps
// custom headers on them.
func TestSSECNotSentOnRedirectToHTTP(t *testing.T) {
	srv, spy, front := spiedServer(t)
	setup := srv.Client()
	bucket := srv.CreateBucket(t, setup)
	e := newEnv(t)
	kr := e.krs["aes"]
	w, err := encryptionclient.New(setup, kr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.PutObject(context.Background(), &s3.PutObjectInput{Bucket: &bucket, Key: aws.String("x"), Body: bytes.NewReader([]byte("0123456789"))}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	withKey := 0 // requests with a key that reached the HTTPS server
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(ssecHeaders[0]) != "" {
			mu.Lock()
			withKey++
			mu.Unlock()
		}
		http.Redirect(w, r, front+r.URL.RequestURI(), http.StatusTemporaryRedirect)
	}))
	defer tlsSrv.Close()
	tlsConfig := tlsSrv.Client().Transport.(*http.Transport).TLSClientConfig
	clients := map[string]aws.HTTPClient{
		"SDK BuildableClient": awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) { tr.TLSClientConfig = tlsConfig.Clone() }),
		"net/http Client":     &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConfig.Clone()}},
	}
	for name, hc := range clients {
		t.Run(name, func(t *testing.T) {
			plain := s3.New(s3.Options{
				Region: "us-east-1", UsePathStyle: true, BaseEndpoint: aws.String(tlsSrv.URL), HTTPClient: hc,
				Credentials:                credentials.NewStaticCredentialsProvider("test", "testsecret", ""),
				RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
				ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
			})
			// Without a key the redirect is followed, to the real server.
			if _, err := plain.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &bucket, Key: aws.String("x")}); err != nil {
				t.Fatalf("a redirected request without a key: %v", err)
			}
			c, err := encryptionclient.New(plain, kr)
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.GetObject(context.Background(), &s3.GetObjectInput{
				Bucket: &bucket, Key: aws.String("x"),
				SSECustomerAlgorithm: aws.String("AES256"), SSECustomerKey: aws.String(testSSECKey), SSECustomerKeyMD5: aws.String(testSSECMD5),
			})
			if !errors.Is(err, encryptionclient.ErrInvalidInput) {
				t.Errorf("GetObject with SSE-C redirected to http://: got %v, want ErrInvalidInput", err)
			}
			if l := spy.leaked(); len(l) > 0 {
				t.Errorf("the key followed the redirect to plain HTTP: %v", l)
			}
			mu.Lock()
			n := withKey
			withKey = 0
			mu.Unlock()
			if n != 1 {
				t.Errorf("the HTTPS server saw %d requests with the key, want 1 (the refusal is not retried)", n)
			}
		})
	}
}

// A redirect from HTTPS to HTTPS (S3's 307 to a bucket's regional
// endpoint) is still followed with the key.
func TestSSECFollowsRedirectToHTTPS(t *testing.T) {
	target := s3test.NewFakeTLS()
	defer target.Close()
	setup := target.Client()
	bucket := target.CreateBucket(t, setup)
	kr := newEnv(t).krs["aes"]
	w, err := encryptionclient.New(setup, kr)
	if err != nil {
		t.Fatal(err)
	}
	ssec := func(in *s3.GetObjectInput) *s3.GetObjectInput {
		in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = aws.String("AES256"), aws.String(testSSECKey), aws.String(testSSECMD5)
		return in
	}
	if _, err := w.PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: &bucket, Key: aws.String("x"), Body: bytes.NewReader([]byte("0123456789")),
		SSECustomerAlgorithm: aws.String("AES256"), SSECustomerKey: aws.String(testSSECKey), SSECustomerKeyMD5: aws.String(testSSECMD5),
	}); err != nil {
		t.Fatal(err)
	}
	redirector := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+r.URL.RequestURI(), http.StatusTemporaryRedirect)
	}))
	defer redirector.Close()
	tlsConfig := redirector.Client().Transport.(*http.Transport).TLSClientConfig // trusts both test servers
	for name, hc := range map[string]aws.HTTPClient{
		"SDK BuildableClient": awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) { tr.TLSClientConfig = tlsConfig.Clone() }),
		"net/http Client":     &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConfig.Clone()}},
	} {
		t.Run(name, func(t *testing.T) {
			plain := s3.New(s3.Options{
				Region: "us-east-1", UsePathStyle: true, BaseEndpoint: aws.String(redirector.URL), HTTPClient: hc,
				Credentials:                credentials.NewStaticCredentialsProvider("test", "testsecret", ""),
				RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
				ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
			})
			c, err := encryptionclient.New(plain, kr)
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 2; i++ { // the second time through the cached guarded client
				out, err := c.GetObject(context.Background(), ssec(&s3.GetObjectInput{Bucket: &bucket, Key: aws.String("x")}))
				if err != nil {
					t.Fatalf("GetObject with SSE-C redirected to https://: %v", err)
				}
				out.Body.Close()
			}
		})
	}
}
