//go:build unix

// Command putcpubench measures the client CPU of one encrypting PutObject
// against a plain PutObject of the same body, over HTTP (where the SDK
// signs the payload: one pass to hash it, one to send it) and over HTTPS
// (unsigned payload, and a trailing checksum where the server takes one).
//
// The client runs in this process; the server runs in a child process (the
// in-process gofakes3 server of internal/testkit/s3test, over HTTP or
// behind TLS), or is named by -endpoint, so the CPU counted
// (getrusage(RUSAGE_SELF), user + system, read around each put) is the
// client's alone. Each pair puts the same bytes both ways, in an order that
// alternates from pair to pair, after a warm-up pair; a garbage collection
// runs before every put so that no put pays for another's garbage. It
// prints, per size and protocol, the median CPU of each side, the median of
// the per-pair ratios ours/plain and their spread.
//
//	go -C internal/tools run ./putcpubench -sizes 64MiB,512MiB -pairs 6
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/internal/testkit/s3test"
	"github.com/s3ec/s3ec-go/materials"
)

type config struct {
	sizes      []int64
	pairs      int
	protocols  []string
	source     string // mem or file
	dir        string
	endpoint   string // external server; empty: a child gofakes3
	caFile     string // PEM of the external server's certificate (HTTPS)
	accessKey  string
	secretKey  string
	bucket     string
	checksum   string
	cpuProfile string
	profile    string // ours or plain: the side whose puts are profiled
}

func main() {
	var cfg config
	var sizes, protocols, serve string
	flag.StringVar(&sizes, "sizes", "64MiB,512MiB", "comma-separated object sizes")
	flag.IntVar(&cfg.pairs, "pairs", 6, "measured pairs per size and protocol (even: the order alternates)")
	flag.StringVar(&protocols, "protocols", "http,https", "http, https or both")
	flag.StringVar(&cfg.source, "source", "mem", "body: mem (a bytes.Reader) or file (an *os.File in -dir)")
	flag.StringVar(&cfg.dir, "dir", os.TempDir(), "directory of the -source file body")
	flag.StringVar(&cfg.endpoint, "endpoint", "", "an external S3 endpoint (its scheme decides the protocol); default: gofakes3 in a child process")
	flag.StringVar(&cfg.caFile, "ca", "", "with an https -endpoint: PEM file of its certificate")
	flag.StringVar(&cfg.accessKey, "access-key", os.Getenv("S3_ACCESS_KEY"), "with -endpoint: access key")
	flag.StringVar(&cfg.secretKey, "secret-key", os.Getenv("S3_SECRET_KEY"), "with -endpoint: secret key")
	flag.StringVar(&cfg.bucket, "bucket", "putcpubench", "bucket (created if missing)")
	flag.StringVar(&cfg.checksum, "checksum", "default", "request checksums: default (the SDK's: CRC32 when supported; none for gofakes3, which takes no trailers) or none")
	flag.StringVar(&cfg.cpuProfile, "cpuprofile", "", "write a CPU profile of the measured puts of one side (-profile) to this file")
	flag.StringVar(&cfg.profile, "profile", "ours", "with -cpuprofile: ours or plain")
	flag.StringVar(&serve, "serve", "", "internal: run the gofakes3 server over http or https and print its address")
	flag.Parse()
	if serve != "" {
		if err := runServer(serve); err != nil {
			fmt.Fprintln(os.Stderr, "putcpubench server:", err)
			os.Exit(1)
		}
		return
	}
	err := func() error {
		for _, f := range strings.Split(sizes, ",") {
			n, err := parseSize(strings.TrimSpace(f))
			if err != nil {
				return err
			}
			cfg.sizes = append(cfg.sizes, n)
		}
		for _, p := range strings.Split(protocols, ",") {
			p = strings.TrimSpace(p)
			if p != "http" && p != "https" {
				return fmt.Errorf("bad protocol %q", p)
			}
			cfg.protocols = append(cfg.protocols, p)
		}
		if cfg.endpoint != "" {
			cfg.protocols = []string{strings.SplitN(cfg.endpoint, ":", 2)[0]}
		}
		if cfg.pairs < 2 || cfg.pairs%2 != 0 {
			return fmt.Errorf("-pairs %d: want an even number ≥ 2", cfg.pairs)
		}
		return run(cfg)
	}()
	if err != nil {
		fmt.Fprintln(os.Stderr, "putcpubench:", err)
		os.Exit(1)
	}
}

// runServer serves gofakes3 until stdin closes. It prints the URL, then,
// for https, the test certificate (base64 DER) on a second line.
func runServer(proto string) error {
	var s *s3test.Server
	switch proto {
	case "http":
		s = s3test.NewFake()
	case "https":
		s = s3test.NewFakeTLS()
	default:
		return fmt.Errorf("bad -serve %q", proto)
	}
	defer s.Close()
	fmt.Println(s.URL)
	if proto == "https" {
		// The certificate the server just started with, read back over
		// loopback, for the parent to pin.
		der, err := serverCert(strings.TrimPrefix(s.URL, "https://"))
		if err != nil {
			return err
		}
		fmt.Println(base64.StdEncoding.EncodeToString(der))
	}
	io.Copy(io.Discard, os.Stdin)
	return nil
}

// serverCert returns the leaf certificate a TLS server at addr presents.
func serverCert(addr string) ([]byte, error) {
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true}) // only to read it back; the parent verifies against it
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	certs := conn.ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return nil, errors.New("no certificate")
	}
	return certs[0].Raw, nil
}

// target is a server and the HTTP client that reaches it.
type target struct {
	url, accessKey, secretKey string
	http                      *http.Client
	fake                      bool
	stop                      func()
}

func startTarget(cfg config, proto string) (*target, error) {
	if cfg.endpoint != "" {
		t := &target{url: cfg.endpoint, accessKey: cfg.accessKey, secretKey: cfg.secretKey, stop: func() {}}
		if cfg.caFile != "" {
			pemData, err := os.ReadFile(cfg.caFile)
			if err != nil {
				return nil, err
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pemData) {
				return nil, errors.New("no certificate in " + cfg.caFile)
			}
			t.http = tlsClient(pool)
		}
		return t, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, "-serve", proto)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	stop := func() { stdin.Close(); cmd.Wait() }
	lines := bufio.NewScanner(stdout)
	t := &target{accessKey: "test", secretKey: "testsecret", fake: true, stop: stop}
	if !lines.Scan() {
		stop()
		return nil, errors.New("the server child printed no address")
	}
	t.url = lines.Text()
	if proto == "https" {
		if !lines.Scan() {
			stop()
			return nil, errors.New("the server child printed no certificate")
		}
		der, err := base64.StdEncoding.DecodeString(lines.Text())
		if err != nil {
			stop()
			return nil, err
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			stop()
			return nil, err
		}
		pool := x509.NewCertPool()
		pool.AddCert(cert)
		t.http = tlsClient(pool)
	}
	return t, nil
}

func tlsClient(pool *x509.CertPool) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: tr}
}

func (t *target) client(cfg config) *s3.Client {
	o := s3.Options{
		BaseEndpoint: aws.String(t.url),
		Region:       "us-east-1",
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(t.accessKey, t.secretKey, ""),
	}
	if t.http != nil {
		o.HTTPClient = t.http
	}
	if t.fake || cfg.checksum == "none" {
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	}
	return s3.New(o)
}

// profileOut receives the CPU profile of the profiled side's puts; the
// profiler runs during the first of them only (a profile is one run).
var profileOut io.Writer

// sample is the CPU and wall time of one put.
type sample struct{ cpu, wall float64 }

func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

func run(cfg config) error {
	ctx := context.Background()
	if cfg.cpuProfile != "" {
		f, err := os.Create(cfg.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		profileOut = f
	}
	key := make([]byte, 32)
	rand.Read(key)
	kr, err := materials.NewAESKeyring(key)
	clear(key)
	if err != nil {
		return err
	}
	fmt.Printf("putcpubench: %s, GOMAXPROCS %d, source %s, %d pairs (order alternating) after a warm-up pair\n",
		runtime.Version(), runtime.GOMAXPROCS(0), cfg.source, cfg.pairs)
	fmt.Printf("%-6s %9s %10s %10s %8s %8s %8s %8s %9s %9s\n", "proto", "size", "plain s", "ours s", "ratio", "min", "max", "extra", "plain MB/s", "ours MB/s")
	for _, proto := range cfg.protocols {
		t, err := startTarget(cfg, proto)
		if err != nil {
			return err
		}
		client := t.client(cfg)
		enc, err := encryptionclient.New(client, kr)
		if err != nil {
			t.stop()
			return err
		}
		if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(cfg.bucket)}); err != nil {
			var owned *types.BucketAlreadyOwnedByYou
			var exists *types.BucketAlreadyExists
			if !errors.As(err, &owned) && !errors.As(err, &exists) {
				t.stop()
				return fmt.Errorf("create bucket: %w", err)
			}
		}
		for _, size := range cfg.sizes {
			if err := measure(ctx, cfg, proto, size, client, enc); err != nil {
				t.stop()
				return err
			}
		}
		t.stop()
	}
	return nil
}

func measure(ctx context.Context, cfg config, proto string, size int64, client *s3.Client, enc *encryptionclient.Client) error {
	data := make([]byte, size)
	rand.Read(data)
	var path string
	if cfg.source == "file" {
		f, err := os.CreateTemp(cfg.dir, "putcpubench-*")
		if err != nil {
			return err
		}
		path = f.Name()
		defer os.Remove(path)
		_, err = f.Write(data)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		data = nil
	}
	body := func() (io.ReadSeeker, func(), error) {
		if path == "" {
			return bytes.NewReader(data), func() {}, nil
		}
		f, err := os.Open(filepath.Clean(path))
		if err != nil {
			return nil, nil, err
		}
		return f, func() { f.Close() }, nil
	}
	put := func(ours bool) (sample, error) {
		b, done, err := body()
		if err != nil {
			return sample{}, err
		}
		defer done()
		in := &s3.PutObjectInput{Bucket: aws.String(cfg.bucket), Key: aws.String("putcpubench/object"), Body: b, ContentLength: aws.Int64(size)}
		runtime.GC()
		if profileOut != nil && ours == (cfg.profile == "ours") {
			if err := pprof.StartCPUProfile(profileOut); err == nil {
				profileOut = nil
				defer pprof.StopCPUProfile()
			}
		}
		start, cpu := time.Now(), cpuSeconds()
		if ours {
			_, err = enc.PutObject(ctx, in)
		} else {
			_, err = client.PutObject(ctx, in)
		}
		s := sample{cpu: cpuSeconds() - cpu, wall: time.Since(start).Seconds()}
		return s, err
	}
	pair := func(oursFirst bool) (plain, ours sample, err error) {
		for _, o := range []bool{oursFirst, !oursFirst} {
			s, err := put(o)
			if err != nil {
				return plain, ours, fmt.Errorf("%s put (ours %v) of %s: %w", proto, o, human(size), err)
			}
			if o {
				ours = s
			} else {
				plain = s
			}
		}
		return plain, ours, nil
	}
	if _, _, err := pair(false); err != nil { // warm-up
		return err
	}
	var plains, ourss, ratios []float64
	var plainWall, oursWall []float64
	for i := range cfg.pairs {
		p, o, err := pair(i%2 == 1)
		if err != nil {
			return err
		}
		plains, ourss = append(plains, p.cpu), append(ourss, o.cpu)
		plainWall, oursWall = append(plainWall, p.wall), append(oursWall, o.wall)
		ratios = append(ratios, o.cpu/p.cpu)
	}
	r := median(ratios)
	mb := float64(size) / 1e6
	fmt.Printf("%-6s %9s %10.3f %10.3f %8.3f %8.3f %8.3f %7.0f%% %9.0f %9.0f\n", proto, human(size),
		median(plains), median(ourss), r, slices.Min(ratios), slices.Max(ratios), (r-1)*100,
		mb/median(plainWall), mb/median(oursWall))
	return nil
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func parseSize(s string) (int64, error) {
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		m      int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSuffix(s, u.suffix), u.m
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("bad size %q", s)
	}
	return n * mult, nil
}

func human(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%dGiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	}
	return strconv.FormatInt(n, 10)
}
