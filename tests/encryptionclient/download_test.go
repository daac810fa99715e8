package encryptionclient_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/internal/testkit/testvectors"
	"github.com/s3ec/s3ec-go/materials"
)

// Objects written by PutObject, V3 and V2, with ranges of every kind of
// alignment.
func TestDownloadPutObjectObjects(t *testing.T) {
	e := newEnv(t)
	kr := e.krs["kms"]
	writers := map[string]*encryptionclient.Client{
		"v3": e.client(kr),
		"v2": e.client(kr, func(o *encryptionclient.Options) { o.CommitmentPolicy = envelope.ForbidEncryptAllowDecrypt }),
	}
	reader := e.client(kr, func(o *encryptionclient.Options) { o.CommitmentPolicy = envelope.RequireEncryptAllowDecrypt })
	opts := []func(*encryptionclient.DownloadOptions){
		func(o *encryptionclient.DownloadOptions) {},
		func(o *encryptionclient.DownloadOptions) { o.PartSize, o.Concurrency = 16, 1 },
		func(o *encryptionclient.DownloadOptions) { o.PartSize, o.Concurrency = 1024, 3 },
		func(o *encryptionclient.DownloadOptions) { o.PartSize, o.Concurrency = 100<<10, 8 },
	}
	for name, w := range writers {
		for _, size := range []int{0, 1, 15, 16, 17, 1024, 100<<10 + 3, 600 << 10} {
			key := fmt.Sprintf("dl/%s/%d", name, size)
			data := randBytes(t, size)
			if err := e.put(w, context.Background(), key, data); err != nil {
				t.Fatal(err)
			}
			for i, fn := range opts {
				if size > 1024 && i == 1 {
					continue // 16-byte ranges: thousands of requests
				}
				prog := &progressLog{t: t}
				got, err := e.download(reader, context.Background(), key, fn, func(o *encryptionclient.DownloadOptions) { o.Progress = prog.fn })
				if err != nil || !bytes.Equal(got, data) {
					t.Fatalf("%s, options %d: %v", key, i, err)
				}
				prog.check(int64(size))
			}
		}
	}
	// The default policy refuses the V2 object before any range is read.
	_, err := e.download(e.client(kr), context.Background(), "dl/v2/17")
	mustErrorIs(t, err, encryptionclient.ErrPolicy)
}

// Any altered or truncated byte fails authentication; DownloadFile then
// leaves no file behind, and an existing file untouched.
func TestDownloadTampering(t *testing.T) {
	e := newEnv(t)
	c := e.client(e.krs["aes"])
	data := randBytes(t, 50<<10+9)
	if err := e.put(c, context.Background(), "orig", data); err != nil {
		t.Fatal(err)
	}
	stored, meta, err := e.raw("orig")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	dest := filepath.Join(dir, "existing")
	if err := os.WriteFile(dest, []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	small := func(o *encryptionclient.DownloadOptions) { o.PartSize, o.Concurrency = 4096, 3 }
	check := func(what string) {
		t.Helper()
		_, err := e.download(c, context.Background(), "bad", small)
		if !errors.Is(err, encryptionclient.ErrAuthentication) {
			t.Fatalf("%s: Download: %v", what, err)
		}
		for _, path := range []string{filepath.Join(dir, "new"), dest} {
			_, err = c.DownloadFile(context.Background(), path, &s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String("bad")}, small)
			if !errors.Is(err, encryptionclient.ErrAuthentication) {
				t.Fatalf("%s: DownloadFile: %v", what, err)
			}
		}
		entries, _ := os.ReadDir(dir)
		if len(entries) != 1 || entries[0].Name() != "existing" {
			t.Fatalf("%s: files left behind: %v", what, entries)
		}
		if b, _ := os.ReadFile(dest); string(b) != "keep me" {
			t.Fatalf("%s: an existing file was changed", what)
		}
	}
	for _, pos := range []int{0, 4095, 4096, len(data) / 2, len(data) - 1, len(data), len(stored) - 1} {
		bad := bytes.Clone(stored)
		bad[pos] ^= 0x80
		e.putRaw("bad", bad, meta)
		check(fmt.Sprintf("flipped byte %d", pos))
	}
	for _, cut := range []int{1, 15, 16, 17, 4096, len(stored) - 15, len(stored)} {
		e.putRaw("bad", stored[:len(stored)-cut], meta)
		check(fmt.Sprintf("truncated by %d", cut))
	}
	e.putRaw("bad", append(bytes.Clone(stored), 0), meta)
	check("extended by a byte")
}

func TestDownloadFile(t *testing.T) {
	e := newEnv(t)
	c := e.client(e.krs["aes"])
	data := randBytes(t, int(2*e.testPartSize()+77))
	if _, err := c.Upload(e.uploadCtx(context.Background()), uploadInput(e.bucket, "file", data, "seekable"), e.uploadOpts()...); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "out.bin")
	if err := os.WriteFile(path, []byte("old content that is longer than nothing"), 0o644); err != nil {
		t.Fatal(err)
	}
	prog := &progressLog{t: t}
	n, err := c.DownloadFile(context.Background(), path, &s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String("file")},
		func(o *encryptionclient.DownloadOptions) { o.PartSize, o.Progress = 8<<10, prog.fn })
	if err != nil || n != int64(len(data)) {
		t.Fatalf("DownloadFile: %d, %v", n, err)
	}
	prog.check(n)
	got, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("file content differs: %v", err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("file mode %v", fi.Mode())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("files left behind: %v", entries)
	}

	// Cancelled part-way: no file, no temporary file.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err = c.DownloadFile(ctx, filepath.Join(dir, "cancelled"), &s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String("file")},
		func(o *encryptionclient.DownloadOptions) {
			o.PartSize, o.Concurrency = 4<<10, 1
			o.Progress = func(int64) { cancel() }
		})
	mustErrorIs(t, err, context.Canceled)
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("files left behind: %v", entries)
	}
	// A missing object, into a missing directory.
	_, err = c.DownloadFile(context.Background(), filepath.Join(dir, "missing"), &s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String("nothing")})
	var api smithy.APIError
	if !errors.As(err, &api) {
		t.Fatalf("missing object: %v", err)
	}
	if _, err := c.DownloadFile(context.Background(), filepath.Join(dir, "no", "such"), &s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String("file")}); err == nil {
		t.Fatal("downloaded into a missing directory")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("files left behind: %v", entries)
	}
}

func TestDownloadRefusals(t *testing.T) {
	e := newEnv(t)
	c := e.client(e.krs["aes"])
	if err := e.put(c, context.Background(), "obj", []byte("hello")); err != nil {
		t.Fatal(err)
	}
	e.putRaw("plain", []byte("hello"), nil)
	var w bufferAt
	cases := []struct {
		in   *s3.GetObjectInput
		opt  func(*encryptionclient.DownloadOptions)
		want error
	}{
		{&s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String("obj"), Range: aws.String("bytes=0-1")}, nil, encryptionclient.ErrInvalidInput},
		{&s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String("obj"), PartNumber: aws.Int32(1)}, nil, encryptionclient.ErrInvalidInput},
		{&s3.GetObjectInput{Bucket: &e.bucket}, nil, encryptionclient.ErrInvalidInput},
		{&s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String("obj")}, func(o *encryptionclient.DownloadOptions) { o.PartSize = 100 }, encryptionclient.ErrInvalidInput},
		{&s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String("obj")}, func(o *encryptionclient.DownloadOptions) { o.Concurrency = -2 }, encryptionclient.ErrInvalidInput},
		{&s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String("plain")}, nil, encryptionclient.ErrNotEncrypted},
	}
	for i, tc := range cases {
		var fns []func(*encryptionclient.DownloadOptions)
		if tc.opt != nil {
			fns = append(fns, tc.opt)
		}
		if _, err := c.Download(context.Background(), &w, tc.in, fns...); !errors.Is(err, tc.want) {
			t.Errorf("case %d: %v, want %v", i, err, tc.want)
		}
	}
	if _, err := c.Download(context.Background(), nil, &s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String("obj")}); !errors.Is(err, encryptionclient.ErrInvalidInput) {
		t.Errorf("nil writer: %v", err)
	}
	_, err := c.Download(context.Background(), &w, &s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String("plain")})
	var oe *encryptionclient.ObjectError
	if !errors.As(err, &oe) || oe.Op != "Download" || !strings.Contains(err.Error(), "s3://"+e.bucket+"/plain") {
		t.Fatalf("error does not name the object: %v", err)
	}
	if len(w.Bytes()) != 0 {
		t.Fatal("refused downloads wrote data")
	}
}

// replacingS3 overwrites the object once, after the client's HeadObject.
type replacingS3 struct {
	encryptionclient.S3API
	e    *env
	done atomic.Bool
}

func (r *replacingS3) HeadObject(ctx context.Context, in *s3.HeadObjectInput, optFns ...func(*s3.Options)) (*s3.HeadObjectOutput, error) {
	out, err := r.S3API.HeadObject(ctx, in, optFns...)
	if err == nil && !r.done.Swap(true) {
		stored, meta, err := r.e.raw(aws.ToString(in.Key))
		if err != nil {
			return nil, err
		}
		stored[0] ^= 1
		r.e.putRaw(aws.ToString(in.Key), stored, meta)
	}
	return out, err
}

// An object replaced during the download is not mixed with the old one:
// every range asks for the ETag HeadObject saw.
func TestDownloadObjectReplacedMidway(t *testing.T) {
	e := newEnv(t)
	c := e.client(e.krs["aes"])
	if err := e.put(c, context.Background(), "moving", randBytes(t, 10000)); err != nil {
		t.Fatal(err)
	}
	rc, err := encryptionclient.New(&replacingS3{S3API: e.plain, e: e}, e.krs["aes"])
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.download(rc, context.Background(), "moving")
	var api smithy.APIError
	// PreconditionFailed, or NoSuchVersion where HeadObject gave a version.
	if !errors.As(err, &api) || api.ErrorCode() != "PreconditionFailed" && api.ErrorCode() != "NoSuchVersion" {
		t.Fatalf("got %v, want a PreconditionFailed error", err)
	}
	if !errors.Is(err, encryptionclient.ErrObjectChanged) {
		t.Fatalf("got %v, want ErrObjectChanged", err)
	}
}

// cutProxy forwards to an S3 server, but cuts the body of the first cuts
// ranged GET responses after n bytes.
type cutProxy struct {
	rp   *httputil.ReverseProxy
	cuts atomic.Int32
	n    int
}

func newCutProxy(t *testing.T, target string, cuts, n int) (*cutProxy, string) {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{rp: httputil.NewSingleHostReverseProxy(u), n: n}
	p.rp.ErrorLog = nil
	p.cuts.Store(int32(cuts))
	ts := httptest.NewServer(p)
	t.Cleanup(ts.Close)
	return p, ts.URL
}

func (p *cutProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet && r.Header.Get("Range") != "" && p.cuts.Add(-1) >= 0 {
		w = &cutWriter{ResponseWriter: w, left: p.n}
	}
	p.rp.ServeHTTP(w, r)
}

type cutWriter struct {
	http.ResponseWriter
	left int
}

func (c *cutWriter) Write(b []byte) (int, error) {
	if len(b) > c.left {
		n, _ := c.ResponseWriter.Write(b[:c.left])
		c.left = 0
		return n, errors.New("cut")
	}
	c.left -= len(b)
	return c.ResponseWriter.Write(b)
}

// A range whose body breaks off is asked for again from where it stopped.
func TestDownloadResumesBrokenBodies(t *testing.T) {
	e := newEnv(t)
	c := e.client(e.krs["aes"])
	data := randBytes(t, 300<<10+5)
	if err := e.put(c, context.Background(), "resumed", data); err != nil {
		t.Fatal(err)
	}
	_, proxyURL := newCutProxy(t, e.srv.URL, 3, 50_000)
	viaProxy := s3.New(s3.Options{
		BaseEndpoint: aws.String(proxyURL), Region: e.srv.Region, UsePathStyle: true,
		Credentials:                credentials.NewStaticCredentialsProvider(e.srv.AccessKey, e.srv.SecretKey, ""),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
	pc, err := encryptionclient.New(viaProxy, e.krs["aes"])
	if err != nil {
		t.Fatal(err)
	}
	got, err := e.download(pc, context.Background(), "resumed", func(o *encryptionclient.DownloadOptions) { o.PartSize, o.Concurrency = 128<<10, 1 })
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Download: %v", err)
	}
	// A body that keeps breaking off fails in the end.
	_, proxyURL = newCutProxy(t, e.srv.URL, 100, 20_000)
	viaProxy = s3.New(s3.Options{
		BaseEndpoint: aws.String(proxyURL), Region: e.srv.Region, UsePathStyle: true,
		Credentials:                credentials.NewStaticCredentialsProvider(e.srv.AccessKey, e.srv.SecretKey, ""),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
	pc, _ = encryptionclient.New(viaProxy, e.krs["aes"])
	if _, err := e.download(pc, context.Background(), "resumed"); err == nil || errors.Is(err, encryptionclient.ErrAuthentication) {
		t.Fatalf("a body that always breaks: %v", err)
	}
}

// vectorKeyring hands out one vector's data key.
type vectorKeyring struct{ key []byte }

func (k vectorKeyring) GenerateDataKey(context.Context, *materials.EncryptionRequest) (*materials.DataKey, error) {
	return nil, errors.New("decrypt only")
}

func (k vectorKeyring) DecryptDataKey(context.Context, *materials.DecryptionRequest) ([]byte, error) {
	return bytes.Clone(k.key), nil
}

// Legacy CBC objects have no tag: with the opt-in, Download reads them in
// one sequential GET.
func TestDownloadLegacyCBC(t *testing.T) {
	e := newEnv(t)
	vs, err := testvectors.Load(filepath.Join(testvectors.Dir(), "sdkv1-v1client-cbc"))
	if err != nil {
		t.Fatal(err)
	}
	var v *testvectors.Vector
	for _, cand := range vs {
		if cand.PlaintextRef.Size == 65541 && !cand.Negative() {
			v = cand
		}
	}
	if v == nil {
		t.Fatal("no CBC vector of 65541 bytes")
	}
	ct, err := v.Ciphertext()
	if err != nil {
		t.Fatal(err)
	}
	pt, err := v.Plaintext()
	if err != nil {
		t.Fatal(err)
	}
	key, err := base64.StdEncoding.DecodeString(v.KMS[0].PlaintextKeyB64)
	if err != nil {
		t.Fatal(err)
	}
	e.putRaw("cbc", ct, v.Metadata)
	kr := vectorKeyring{key: key}
	_, err = e.download(e.client(kr), context.Background(), "cbc")
	mustErrorIs(t, err, encryptionclient.ErrPolicy)
	legacy := e.client(kr, func(o *encryptionclient.Options) {
		o.CommitmentPolicy = envelope.RequireEncryptAllowDecrypt
		o.EnableLegacyUnauthenticatedModes = true
	})
	prog := &progressLog{t: t}
	got, err := e.download(legacy, context.Background(), "cbc", func(o *encryptionclient.DownloadOptions) { o.PartSize, o.Progress = 4096, prog.fn })
	if err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("Download of a CBC object: %v", err)
	}
	prog.check(int64(len(pt)))
	bad := bytes.Clone(ct)
	bad = bad[:len(bad)-1]
	e.putRaw("cbc", bad, v.Metadata)
	_, err = e.download(legacy, context.Background(), "cbc")
	mustErrorIs(t, err, encryptionclient.ErrInvalidCiphertext)
}

// A ranged GetObject reads the envelope with HeadObject, then the bytes: an
// object replaced in between is refused as ErrObjectChanged, never
// decrypted with the old envelope.
func TestRangedGetObjectReplacedMidway(t *testing.T) {
	e := newEnv(t)
	c := e.client(e.krs["aes"])
	if err := e.put(c, context.Background(), "moving", randBytes(t, 10000)); err != nil {
		t.Fatal(err)
	}
	rc, err := encryptionclient.New(&replacingS3{S3API: e.plain, e: e}, e.krs["aes"], func(o *encryptionclient.Options) { o.EnableUnauthenticatedRanges = true })
	if err != nil {
		t.Fatal(err)
	}
	out, err := rc.GetObject(context.Background(), &s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String("moving"), Range: aws.String("bytes=100-199")})
	if err == nil {
		out.Body.Close()
		t.Fatal("a range of a replaced object was served")
	}
	if !errors.Is(err, encryptionclient.ErrObjectChanged) {
		t.Fatalf("got %v, want ErrObjectChanged", err)
	}
}
