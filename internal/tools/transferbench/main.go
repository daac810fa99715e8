//go:build unix

// Command transferbench compares the encryption client's transfers with the
// plain aws-sdk-go-v2 ones on a real S3 endpoint, in one run, with the same
// part size, concurrency, checksum algorithm and read size:
//
//   - put: Client.PutObject beside the plain s3.Client.PutObject (one
//     request: the client CPU it costs is the put CPU target's measure);
//   - upload, download: Client.Upload and Client.Download beside the SDK's
//     feature/s3/manager Uploader/Downloader and its successor
//     feature/s3/transfermanager (UploadObject, DownloadObject), plain.
//
// Every transfer runs in a child process (this binary, re-executed with
// -child) so that its peak RSS and its CPU time (user + system, from
// rusage) are its own. For each operation, worker count and baseline, one
// warm-up pair runs first and is discarded; then an even number of pairs
// runs, ours first in one pair and the baseline first in the next, so that
// an order effect cancels. Each pair gives a ratio (ours/baseline
// throughput, ours/baseline CPU); the table reports their median and
// range. The plaintext is a generated seekable stream, never held in
// memory (an io.ReadSeeker without ReadAt, so every uploader buffers its
// parts); downloads go to an io.WriterAt that discards. Downloads read the
// response bodies in 128 KiB blocks on our side and the manager's (its
// BufferProvider), the transfer manager in io.Copy's 32 KiB (it has no
// setting).
//
// With an https:// endpoint and -ca, the SDK trusts that certificate
// (not InsecureSkipVerify) and sends unsigned payloads with trailing
// checksums, as it does against AWS; -gencert writes a self-signed
// certificate for 127.0.0.1 for the server.
//
//	scripts/bench-transfer.sh -size 256MiB -pairs 4
//	scripts/bench-transfer.sh --https -size 256MiB -pairs 4
//	go -C internal/tools run ./transferbench -endpoint http://127.0.0.1:7070 -access-key … -secret-key …
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// The environment variables of internal/testkit/s3test, used as flag defaults, and
// the one that hands the children the benchmark's AES key.
const (
	envEndpoint  = "S3EC_TEST_S3_ENDPOINT"
	envAccessKey = "S3EC_TEST_S3_ACCESS_KEY"
	envSecretKey = "S3EC_TEST_S3_SECRET_KEY"
	envRegion    = "S3EC_TEST_S3_REGION"
	envKey       = "TRANSFERBENCH_AES_KEY"
)

// The implementations: ours, and the plain baselines.
const (
	implOurs    = "ours"
	implSDK     = "sdk"     // s3.Client.PutObject (put)
	implManager = "manager" // feature/s3/manager
	implTM      = "tm"      // feature/s3/transfermanager
)

type config struct {
	endpoint, accessKey, secretKey, region, bucket string
	ca                                             string // PEM certificate to trust (https)
	size, partSize                                 int64
	concurrency                                    []int
	pairs                                          int
	ops, baselines                                 []string
	child                                          string // "op impl concurrency" in a child
	cpuProfile                                     string // child: write a CPU profile here
	checksum                                       types.ChecksumAlgorithm
	json                                           string // parent: write the measurements here
}

func main() {
	var cfg config
	var size, partSize, conc, ops, baselines, genCert string
	flag.StringVar(&cfg.endpoint, "endpoint", os.Getenv(envEndpoint), "S3 endpoint URL (http:// or https://)")
	flag.StringVar(&cfg.accessKey, "access-key", os.Getenv(envAccessKey), "access key")
	flag.StringVar(&cfg.secretKey, "secret-key", os.Getenv(envSecretKey), "secret key")
	flag.StringVar(&cfg.region, "region", cmp(os.Getenv(envRegion), "us-east-1"), "region")
	flag.StringVar(&cfg.bucket, "bucket", "transferbench", "bucket (created if missing)")
	flag.StringVar(&cfg.ca, "ca", "", "PEM certificate the client trusts (an https endpoint with a self-signed certificate)")
	flag.StringVar(&genCert, "gencert", "", "write a self-signed certificate for 127.0.0.1 and localhost (cert.pem, key.pem) into this directory and exit")
	flag.StringVar(&size, "size", "256MiB", "object size")
	flag.StringVar(&partSize, "part-size", "8MiB", "part size of uploads and range size of downloads")
	flag.StringVar(&conc, "concurrency", "1,2,4,8,16", "comma-separated worker counts (upload, download)")
	flag.IntVar(&cfg.pairs, "pairs", 4, "measured pairs per cell, an even number (the order alternates), after one warm-up pair")
	flag.StringVar(&ops, "ops", "put,upload,download", "operations to measure")
	flag.StringVar(&baselines, "baselines", "manager,tm", "baselines of upload and download: manager (feature/s3/manager), tm (feature/s3/transfermanager)")
	var checksum string
	flag.StringVar(&checksum, "checksum", "CRC32", "ChecksumAlgorithm of every upload (the SDK's default, CRC32); \"\" for none")
	flag.StringVar(&cfg.json, "json", "", "write the measurements as JSON to this file; {scheme} in it becomes http or https")
	flag.StringVar(&cfg.child, "child", "", "internal: run one transfer, e.g. \"download ours 2\" (with -cpuprofile to profile it)")
	flag.StringVar(&cfg.cpuProfile, "cpuprofile", "", "with -child: write the transfer's CPU profile to this file")
	flag.Parse()

	if genCert != "" {
		if err := writeSelfSigned(genCert); err != nil {
			fmt.Fprintln(os.Stderr, "transferbench:", err)
			os.Exit(1)
		}
		return
	}
	cfg.checksum = types.ChecksumAlgorithm(checksum)
	cfg.ops, cfg.baselines = splitList(ops), splitList(baselines)
	err := cfg.parse(size, partSize, conc)
	if err == nil {
		if cfg.child != "" {
			err = runChild(cfg)
		} else {
			err = runParent(cfg)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "transferbench:", err)
		os.Exit(1)
	}
}

func (cfg *config) parse(size, partSize, conc string) error {
	var err error
	if cfg.size, err = parseSize(size); err != nil {
		return err
	}
	if cfg.partSize, err = parseSize(partSize); err != nil {
		return err
	}
	for _, f := range splitList(conc) {
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return fmt.Errorf("bad -concurrency %q", conc)
		}
		cfg.concurrency = append(cfg.concurrency, n)
	}
	if len(cfg.concurrency) == 0 {
		return errors.New("no -concurrency")
	}
	if cfg.pairs < 2 || cfg.pairs%2 != 0 {
		return fmt.Errorf("-pairs %d: want an even number of at least 2, so that each order runs equally often", cfg.pairs)
	}
	for _, op := range cfg.ops {
		if op != "put" && op != "upload" && op != "download" {
			return fmt.Errorf("unknown operation %q", op)
		}
	}
	for _, b := range cfg.baselines {
		if b != implManager && b != implTM {
			return fmt.Errorf("unknown baseline %q", b)
		}
	}
	if cfg.endpoint == "" {
		return errors.New("no endpoint: set -endpoint or " + envEndpoint)
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func cmp(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func parseSize(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}, {"", 1}}
	for _, u := range units {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			n, err := strconv.ParseInt(num, 10, 64)
			if err != nil || n < 0 {
				return 0, fmt.Errorf("bad size %q", s)
			}
			return n * u.mult, nil
		}
	}
	return 0, fmt.Errorf("bad size %q", s)
}

// s3Client is the plain client every implementation uses: path-style, and
// over https a transport that trusts -ca.
func (cfg config) s3Client() (*s3.Client, error) {
	opts := s3.Options{
		BaseEndpoint: aws.String(cfg.endpoint),
		Region:       cfg.region,
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(cfg.accessKey, cfg.secretKey, ""),
	}
	if cfg.ca != "" {
		hc, err := trustingClient(cfg.ca)
		if err != nil {
			return nil, err
		}
		opts.HTTPClient = hc
	}
	return s3.New(opts), nil
}

// result is one measurement.
type result struct {
	Seconds float64 // wall time of the transfer, measured in the child
	CPU     float64 // user + system CPU seconds of the whole child
	RSSKiB  int64   // peak RSS of the child
}

// pair is one measured pair of a cell.
type pair struct {
	Ours, Base result
	OursFirst  bool
}

// cell is one line of a table: an operation at a worker count against a
// baseline.
type cell struct {
	Op, Base string
	Conc     int
	Pairs    []pair
}

// runParent prepares the objects the downloads read, then measures every
// cell, and prints the tables.
func runParent(cfg config) error {
	ctx := context.Background()
	plain, err := cfg.s3Client()
	if err != nil {
		return err
	}
	if _, err := plain.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &cfg.bucket}); err != nil {
		if _, err := plain.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &cfg.bucket}); err != nil {
			return fmt.Errorf("create bucket: %w", err)
		}
	}
	key := make([]byte, 32)
	rand.Read(key)
	os.Setenv(envKey, hex.EncodeToString(key))

	fmt.Fprintf(os.Stderr, "transferbench: %s objects, %s parts, workers %v, checksum %q, %d pairs (+1 warm-up) per cell against %s\n",
		human(cfg.size), human(cfg.partSize), cfg.concurrency, cfg.checksum, cfg.pairs, cfg.endpoint)
	load0 := loadAverage()
	start := time.Now()
	// The objects every download reads: ours (encrypted) and the plain
	// one, in parts of the part size.
	if contains(cfg.ops, "download") {
		for _, impl := range []string{implOurs, implManager} {
			if _, err := spawn(cfg, "prepare", impl, cfg.concurrency[len(cfg.concurrency)-1]); err != nil {
				return fmt.Errorf("prepare %s: %w", impl, err)
			}
		}
	}
	var cells []*cell
	for _, op := range cfg.ops {
		concs, bases := cfg.concurrency, cfg.baselines
		if op == "put" {
			concs, bases = []int{1}, []string{implSDK}
		}
		for _, conc := range concs {
			for _, base := range bases {
				c := &cell{Op: op, Base: base, Conc: conc}
				if err := measure(cfg, c); err != nil {
					return err
				}
				cells = append(cells, c)
			}
		}
	}
	// What ours wrote and read must be the generated stream (outside the
	// timed runs).
	for _, op := range cfg.ops {
		if _, err := spawn(cfg, "verify", op, cfg.concurrency[len(cfg.concurrency)-1]); err != nil {
			return fmt.Errorf("verify %s: %w", op, err)
		}
	}
	env := runEnv{Load: load0 + " → " + loadAverage(), Minutes: time.Since(start).Minutes()}
	if cfg.json != "" {
		b, _ := json.MarshalIndent(struct {
			Env   runEnv
			Cells []*cell
		}{env, cells}, "", "  ")
		scheme, _, _ := strings.Cut(cfg.endpoint, "://")
		if err := os.WriteFile(strings.ReplaceAll(cfg.json, "{scheme}", scheme), b, 0o644); err != nil {
			return err
		}
	}
	report(cfg, env, cells)
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// measure runs a cell's warm-up pair and its pairs, alternating the order.
func measure(cfg config, c *cell) error {
	for i := -1; i < cfg.pairs; i++ {
		oursFirst := i%2 == 0 || i < 0
		order := []string{implOurs, c.Base}
		if !oursFirst {
			order = []string{c.Base, implOurs}
		}
		var p pair
		p.OursFirst = oursFirst
		for _, impl := range order {
			r, err := spawn(cfg, c.Op, impl, c.Conc)
			if err != nil {
				return fmt.Errorf("%s %s ×%d: %w", impl, c.Op, c.Conc, err)
			}
			if impl == implOurs {
				p.Ours = r
			} else {
				p.Base = r
			}
		}
		label := fmt.Sprintf("pair %d", i+1)
		if i < 0 {
			label = "warm-up"
		} else {
			c.Pairs = append(c.Pairs, p)
		}
		fmt.Fprintf(os.Stderr, "  %-8s ×%-2d %-7s %-8s ours %6.1f MiB/s %5.2f CPU s %4d MiB | %-7s %6.1f MiB/s %5.2f CPU s %4d MiB | ratio %.2f\n",
			c.Op, c.Conc, c.Base, label,
			mibps(cfg.size, p.Ours.Seconds), p.Ours.CPU, p.Ours.RSSKiB>>10,
			c.Base, mibps(cfg.size, p.Base.Seconds), p.Base.CPU, p.Base.RSSKiB>>10,
			p.Base.Seconds/p.Ours.Seconds)
	}
	return nil
}

// spawn runs one transfer in a child process and returns its time, CPU
// and peak RSS.
func spawn(cfg config, op, impl string, conc int) (result, error) {
	args := []string{
		"-child", fmt.Sprintf("%s %s %d", op, impl, conc),
		"-endpoint", cfg.endpoint, "-access-key", cfg.accessKey, "-secret-key", cfg.secretKey,
		"-region", cfg.region, "-bucket", cfg.bucket, "-ca", cfg.ca,
		"-size", strconv.FormatInt(cfg.size, 10), "-part-size", strconv.FormatInt(cfg.partSize, 10),
		"-checksum", string(cfg.checksum),
	}
	cmd := exec.Command(os.Args[0], args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return result{}, fmt.Errorf("%v: %s", err, strings.TrimSpace(stderr.String()))
	}
	var out struct{ Seconds float64 }
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		return result{}, fmt.Errorf("child output %q: %w", stdout.String(), err)
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return result{}, errors.New("no rusage on this platform")
	}
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
	return result{Seconds: out.Seconds, CPU: cpu, RSSKiB: ru.Maxrss}, nil // Maxrss is in KiB on Linux
}

// timed reports the duration of a child's transfer to the parent.
func timed(start time.Time) error {
	return json.NewEncoder(os.Stdout).Encode(struct{ Seconds float64 }{time.Since(start).Seconds()})
}
