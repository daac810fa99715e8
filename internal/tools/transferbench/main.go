//go:build unix

// Command transferbench compares the encryption client's parallel Upload
// and Download with the plain aws-sdk-go-v2 transfer manager
// (feature/s3/manager Uploader and Downloader) on a real S3 endpoint, with
// the same part size and concurrency, in one run.
//
// Every transfer runs in a child process (this binary, re-executed with
// -child) so that its peak RSS is its own. For each concurrency, the
// encrypting and the plain transfer alternate (their order flips every
// run) to share the drift of a noisy machine, and the median of the runs
// is reported. The plaintext is a generated seekable stream, never held in
// memory (an io.ReadSeeker without ReadAt, so both uploaders buffer their
// parts); downloads go to an io.WriterAt that discards. Both uploads ask
// for the same ChecksumAlgorithm (-checksum, by default CRC32, which the
// transfer manager would pick anyway). The result is a Markdown table on
// stdout, with the client processes' CPU time beside the throughput: on a
// small machine shared with the server, the encryption's CPU cost shows
// there first.
//
//	scripts/bench-transfer.sh -runs 3
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
	"runtime"
	"slices"
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

type config struct {
	endpoint, accessKey, secretKey, region, bucket string
	size, partSize                                 int64
	concurrency                                    []int
	runs                                           int
	child                                          string // "op impl concurrency" in a child
	cpuProfile                                     string // child: write a CPU profile here
	checksum                                       types.ChecksumAlgorithm
}

func main() {
	var cfg config
	var size, partSize, conc string
	flag.StringVar(&cfg.endpoint, "endpoint", os.Getenv(envEndpoint), "S3 endpoint URL")
	flag.StringVar(&cfg.accessKey, "access-key", os.Getenv(envAccessKey), "access key")
	flag.StringVar(&cfg.secretKey, "secret-key", os.Getenv(envSecretKey), "secret key")
	flag.StringVar(&cfg.region, "region", cmp(os.Getenv(envRegion), "us-east-1"), "region")
	flag.StringVar(&cfg.bucket, "bucket", "transferbench", "bucket (created if missing)")
	flag.StringVar(&size, "size", "1GiB", "object size")
	flag.StringVar(&partSize, "part-size", "8MiB", "part size of uploads and range size of downloads")
	flag.StringVar(&conc, "concurrency", "1,2,4", "comma-separated worker counts")
	flag.IntVar(&cfg.runs, "runs", 3, "runs per measurement (the median is reported)")
	var checksum string
	flag.StringVar(&checksum, "checksum", "CRC32", "ChecksumAlgorithm of both uploads (the transfer manager's default, CRC32); \"\" for none")
	flag.StringVar(&cfg.child, "child", "", "internal: run one transfer, e.g. \"download ours 2\" (with -cpuprofile to profile it)")
	flag.StringVar(&cfg.cpuProfile, "cpuprofile", "", "with -child: write the transfer's CPU profile to this file")
	flag.Parse()

	cfg.checksum = types.ChecksumAlgorithm(checksum)
	var err error
	if cfg.size, err = parseSize(size); err == nil {
		cfg.partSize, err = parseSize(partSize)
	}
	if err == nil {
		for _, f := range strings.Split(conc, ",") {
			n, cerr := strconv.Atoi(strings.TrimSpace(f))
			if cerr != nil || n < 1 {
				err = fmt.Errorf("bad -concurrency %q", conc)
				break
			}
			cfg.concurrency = append(cfg.concurrency, n)
		}
	}
	if err == nil && cfg.endpoint == "" {
		err = errors.New("no endpoint: set -endpoint or " + envEndpoint)
	}
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

func (cfg config) s3Client() *s3.Client {
	return s3.New(s3.Options{
		BaseEndpoint: aws.String(cfg.endpoint),
		Region:       cfg.region,
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(cfg.accessKey, cfg.secretKey, ""),
	})
}

// result is one measurement.
type result struct {
	seconds float64 // wall time of the transfer
	cpu     float64 // user + system CPU seconds of the whole child
	rssKiB  int64
}

type measureKey struct {
	op, impl string
	conc     int
}

func runParent(cfg config) error {
	ctx := context.Background()
	plain := cfg.s3Client()
	if _, err := plain.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &cfg.bucket}); err != nil {
		if _, err := plain.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &cfg.bucket}); err != nil {
			return fmt.Errorf("create bucket: %w", err)
		}
	}
	key := make([]byte, 32)
	rand.Read(key)
	os.Setenv(envKey, hex.EncodeToString(key))

	fmt.Fprintf(os.Stderr, "transferbench: %s objects, %s parts, workers %v, checksum %q, %d runs against %s\n",
		human(cfg.size), human(cfg.partSize), cfg.concurrency, cfg.checksum, cfg.runs, cfg.endpoint)
	results := map[measureKey][]result{}
	for run := range cfg.runs {
		for _, conc := range cfg.concurrency {
			impls := []string{"ours", "plain"}
			if run%2 == 1 {
				slices.Reverse(impls)
			}
			for _, op := range []string{"upload", "download"} {
				for _, impl := range impls {
					r, err := spawn(cfg, op, impl, conc)
					if err != nil {
						return fmt.Errorf("%s %s ×%d: %w", impl, op, conc, err)
					}
					k := measureKey{op, impl, conc}
					results[k] = append(results[k], r)
					fmt.Fprintf(os.Stderr, "  run %d: %-8s %-5s ×%d  %6.1f MiB/s  %5.2f CPU s  %4d MiB RSS\n",
						run+1, op, impl, conc, mibps(cfg.size, r.seconds), r.cpu, r.rssKiB>>10)
				}
			}
		}
	}
	// The encrypted object of the last run must read back as the stream
	// it was made from (outside the timed runs).
	if _, err := spawn(cfg, "verify", "ours", cfg.concurrency[len(cfg.concurrency)-1]); err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	report(cfg, results)
	return nil
}

// spawn runs one transfer in a child process and returns its time and
// peak RSS.
func spawn(cfg config, op, impl string, conc int) (result, error) {
	args := []string{
		"-child", fmt.Sprintf("%s %s %d", op, impl, conc),
		"-endpoint", cfg.endpoint, "-access-key", cfg.accessKey, "-secret-key", cfg.secretKey,
		"-region", cfg.region, "-bucket", cfg.bucket,
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
	return result{seconds: out.Seconds, cpu: cpu, rssKiB: ru.Maxrss}, nil // Maxrss is in KiB on Linux
}

func median(rs []result) result {
	s := slices.Clone(rs)
	slices.SortFunc(s, func(a, b result) int {
		switch {
		case a.seconds < b.seconds:
			return -1
		case a.seconds > b.seconds:
			return 1
		}
		return 0
	})
	m := s[len(s)/2]
	cpus := make([]float64, len(rs))
	for i, r := range rs {
		cpus[i] = r.cpu
	}
	slices.Sort(cpus)
	m.cpu = cpus[len(cpus)/2]
	m.rssKiB = slices.MaxFunc(rs, func(a, b result) int { return int(a.rssKiB - b.rssKiB) }).rssKiB
	return m
}

func mibps(size int64, seconds float64) float64 { return float64(size) / (1 << 20) / seconds }

func human(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d B", n)
}

// report prints the table and checks the targets: ours/plain throughput
// ≥ 0.9, peak RSS ≤ workers × part size + 32 MiB, and a gain from 1 to 2
// workers.
func report(cfg config, results map[measureKey][]result) {
	fmt.Printf("%s object, %s parts, %d CPUs, load average %s; median of %d runs; CPU is the client process's user+system time; peak RSS is the largest of the runs.\n\n",
		human(cfg.size), human(cfg.partSize), runtime.NumCPU(), loadAverage(), cfg.runs)
	fmt.Println("| operation | workers | ours MiB/s | plain MiB/s | ours/plain | ours CPU s | plain CPU s | ours peak RSS MiB | plain peak RSS MiB | RSS budget MiB |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	var notes []string
	speed := map[measureKey]float64{}
	for _, op := range []string{"upload", "download"} {
		for _, conc := range cfg.concurrency {
			ours := median(results[measureKey{op, "ours", conc}])
			plain := median(results[measureKey{op, "plain", conc}])
			so, sp := mibps(cfg.size, ours.seconds), mibps(cfg.size, plain.seconds)
			speed[measureKey{op, "ours", conc}], speed[measureKey{op, "plain", conc}] = so, sp
			budget := int64(conc)*cfg.partSize>>20 + 32
			fmt.Printf("| %s | %d | %.0f | %.0f | %.2f | %.2f | %.2f | %d | %d | %d |\n",
				op, conc, so, sp, so/sp, ours.cpu, plain.cpu, ours.rssKiB>>10, plain.rssKiB>>10, budget)
			if so/sp < 0.9 {
				notes = append(notes, fmt.Sprintf("%s ×%d: ours/plain %.2f < 0.9", op, conc, so/sp))
			}
			if ours.rssKiB>>10 > budget {
				notes = append(notes, fmt.Sprintf("%s ×%d: peak RSS %d MiB > %d MiB", op, conc, ours.rssKiB>>10, budget))
			}
		}
	}
	fmt.Println()
	for _, op := range []string{"upload", "download"} {
		one, two := speed[measureKey{op, "ours", 1}], speed[measureKey{op, "ours", 2}]
		if one > 0 && two > 0 {
			fmt.Printf("%s, 1 → 2 workers: ours ×%.2f, plain ×%.2f\n", op, two/one, speed[measureKey{op, "plain", 2}]/speed[measureKey{op, "plain", 1}])
			if two/one < 1.05 {
				notes = append(notes, fmt.Sprintf("%s: no measurable gain from 1 to 2 workers (×%.2f)", op, two/one))
			}
		}
	}
	if len(notes) == 0 {
		fmt.Println("\nAll targets met.")
	} else {
		fmt.Println("\nTargets missed:\n- " + strings.Join(notes, "\n- "))
	}
}

// loadAverage returns the 1, 5 and 15-minute load averages (Linux), to
// tell a quiet machine from a busy one.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "unknown"
}

// timed reports the duration of a child's transfer to the parent.
func timed(start time.Time) error {
	return json.NewEncoder(os.Stdout).Encode(struct{ Seconds float64 }{time.Since(start).Seconds()})
}
