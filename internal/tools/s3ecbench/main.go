//go:build unix

// Command s3ecbench compares the encryption client with the plain
// aws-sdk-go-v2 S3 client on a real S3 endpoint: PutObject and GetObject
// wall time and peak RSS, for a few object sizes, in one run.
//
// Every measurement runs in a child process (this binary, re-executed with
// a hidden flag) so that its peak RSS is its own; runs of the plain and the
// encrypting client alternate, to share the drift of a noisy machine. The
// plaintext is a pseudo-random stream computed from the offset, never held
// in memory. The result is a Markdown table on stdout (and JSON with
// -json, PNG bar charts with -chart and -chart-rss), with the figures
// measured earlier for the AWS S3 Encryption Client for Go v3 as reference
// columns. -from-json reprints the table and redraws the charts from a
// saved -json file without running anything.
//
//	scripts/bench.sh -runs 5
//	scripts/bench.sh -runs 5 -json docs/bench/s3ecbench.json -chart docs/bench/s3ecbench.png -chart-rss docs/bench/s3ecbench-rss.png
//	go -C internal/tools run ./s3ecbench -from-json ../../docs/bench/s3ecbench.json -chart /tmp/chart.png
//	go -C internal/tools run ./s3ecbench -endpoint http://127.0.0.1:7070 -access-key … -secret-key …
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
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/s3ec/s3ec-go/encryptionclient"
)

// The environment variables of internal/testkit/s3test, used as flag defaults.
const (
	envEndpoint  = "S3EC_TEST_S3_ENDPOINT"
	envAccessKey = "S3EC_TEST_S3_ACCESS_KEY"
	envSecretKey = "S3EC_TEST_S3_SECRET_KEY"
	envRegion    = "S3EC_TEST_S3_REGION"
)

type config struct {
	endpoint, accessKey, secretKey, region, bucket string
	sizes                                          []int64
	runs                                           int
	unsigned                                       bool
	verify                                         bool
	keep                                           bool
	jsonPath                                       string
	chartPath, chartRSSPath                        string
	fromJSON                                       string
	profileDir                                     string
	readSize                                       int
	warmups, warmGets                              int
	spool                                          bool
	spoolDir                                       string

	// Hidden: set by the parent on its children.
	child        string // op/impl/mode
	childSize    int64
	childObject  string
	childVerify  bool
	childProfile string
}

// hidden flags are left out of the usage message.
var hidden = map[string]bool{"child": true, "child-size": true, "child-object": true, "child-verify": true, "child-profile": true}

func main() {
	c := &config{}
	fs := flag.NewFlagSet("s3ecbench", flag.ExitOnError)
	fs.StringVar(&c.endpoint, "endpoint", os.Getenv(envEndpoint), "S3 endpoint URL (default $"+envEndpoint+")")
	fs.StringVar(&c.accessKey, "access-key", os.Getenv(envAccessKey), "access key (default $"+envAccessKey+")")
	fs.StringVar(&c.secretKey, "secret-key", os.Getenv(envSecretKey), "secret key (default $"+envSecretKey+")")
	fs.StringVar(&c.region, "region", orDefault(os.Getenv(envRegion), "us-east-1"), "region (default $"+envRegion+" or us-east-1)")
	fs.StringVar(&c.bucket, "bucket", "", "bucket to use, created if missing (default: a new bucket); a bucket this run created is removed at the end")
	sizes := fs.String("sizes", "8MiB,64MiB,512MiB", "comma-separated object sizes (B, KiB, MiB, GiB)")
	fs.IntVar(&c.runs, "runs", 5, "timed runs of each measurement")
	fs.BoolVar(&c.unsigned, "unsigned", false, "send UNSIGNED-PAYLOAD (v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware) with both clients")
	fs.BoolVar(&c.verify, "verify", true, "before timing, check that every get returns the source bytes (untimed)")
	fs.BoolVar(&c.keep, "keep", false, "keep the objects (and a created bucket)")
	fs.StringVar(&c.jsonPath, "json", "", "also write the results as JSON to this file")
	fs.StringVar(&c.chartPath, "chart", "", "also draw the results as a PNG bar chart (seconds, log scale; with an RSS panel below unless -chart-rss is set)")
	fs.StringVar(&c.chartRSSPath, "chart-rss", "", "also draw peak RSS as a separate PNG bar chart")
	fs.StringVar(&c.fromJSON, "from-json", "", "run nothing: reprint the table (and draw -chart/-chart-rss) from this file written by -json")
	fs.IntVar(&c.readSize, "read-size", 256<<10, "bytes per Read of a GET body, the same for both clients")
	fs.IntVar(&c.warmups, "warmups", 2, "untimed GETs a warm child makes before its timed ones")
	fs.IntVar(&c.warmGets, "warm-gets", 4, "timed GETs of a warm child (repeated GETs in one process; 0: no warm rows); its peak RSS is that of repeated GETs")
	fs.BoolVar(&c.spool, "spool", true, "for sizes over the default BufferSize, also time authenticated GETs through the ciphertext spool (Options.SpoolLargeObjects)")
	fs.StringVar(&c.spoolDir, "spool-dir", "", "directory of the spool files (Options.SpoolDir; default os.TempDir())")
	fs.StringVar(&c.profileDir, "profile", "", "after the timed runs, run each measurement once more with CPU and allocation profiles written to this directory")
	fs.StringVar(&c.child, "child", "", "internal: run one measurement (op/impl/mode)")
	fs.Int64Var(&c.childSize, "child-size", 0, "internal")
	fs.StringVar(&c.childObject, "child-object", "", "internal")
	fs.BoolVar(&c.childVerify, "child-verify", false, "internal")
	fs.StringVar(&c.childProfile, "child-profile", "", "internal")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: s3ecbench [flags]\n")
		fs.VisitAll(func(f *flag.Flag) {
			if hidden[f.Name] {
				return
			}
			fmt.Fprintf(fs.Output(), "  -%s\n    \t%s", f.Name, f.Usage)
			if f.DefValue != "" && f.DefValue != "false" && !strings.Contains(f.Usage, "default") {
				fmt.Fprintf(fs.Output(), " (default %s)", f.DefValue)
			}
			fmt.Fprintln(fs.Output())
		})
	}
	fs.Parse(os.Args[1:])

	if c.child != "" {
		parts := strings.Split(c.child, "/")
		if len(parts) != 3 {
			fatal(fmt.Errorf("bad -child %q", c.child))
		}
		if err := runChild(c, task{Op: parts[0], Impl: parts[1], Mode: parts[2], Size: c.childSize, Object: c.childObject}); err != nil {
			fatal(err)
		}
		return
	}

	for _, p := range []string{c.chartPath, c.chartRSSPath} {
		if p == "" {
			continue
		}
		// Fail now, not after a long run.
		if st, err := os.Stat(filepath.Dir(p)); err != nil || !st.IsDir() {
			fatal(fmt.Errorf("chart %s: no directory %s", p, filepath.Dir(p)))
		}
	}
	if c.fromJSON != "" {
		if c.jsonPath != "" || c.profileDir != "" {
			fatal(errors.New("-from-json runs nothing: -json and -profile do not apply"))
		}
		rep, err := readJSON(c.fromJSON)
		if err != nil {
			fatal(err)
		}
		printTable(os.Stdout, rep)
		if err := writeCharts(rep, c.chartPath, c.chartRSSPath); err != nil {
			fatal(err)
		}
		return
	}

	var err error
	if c.sizes, err = parseSizes(*sizes); err != nil {
		fatal(err)
	}
	if c.endpoint == "" {
		fatal(fmt.Errorf("no endpoint: set -endpoint or $%s", envEndpoint))
	}
	if c.runs < 1 {
		fatal(errors.New("-runs must be at least 1"))
	}
	if c.runs%2 == 1 && c.runs > 1 {
		// Each client goes first in half of the runs: an odd count would
		// leave an order effect in the medians.
		c.runs++
		fmt.Fprintf(os.Stderr, "s3ecbench: -runs rounded up to %d, an even number of pairs\n", c.runs)
	}
	if c.readSize < 1 || c.warmups < 0 || c.warmGets < 0 {
		fatal(errors.New("-read-size must be positive, -warmups and -warm-gets not negative"))
	}
	if err := run(c); err != nil {
		fatal(err)
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "s3ecbench:", err)
	os.Exit(1)
}

func orDefault(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// sample is one child's measurement.
type sample struct {
	childResult
	MaxRSS  int64   `json:"max_rss"`  // bytes
	UserCPU float64 `json:"user_cpu"` // seconds, whole child process
	SysCPU  float64 `json:"sys_cpu"`
}

// measureKey names a series of samples.
type measureKey struct {
	Size int64
	Task string // op/impl/mode
}

func run(c *config) error {
	ctx := context.Background()
	if os.Getenv(envAESKey) == "" { // a preset key lets -keep objects be read again
		var key [32]byte
		rand.Read(key[:])
		os.Setenv(envAESKey, hex.EncodeToString(key[:]))
	}
	// Children take the credentials from the environment, not argv.
	os.Setenv(envAccessKey, c.accessKey)
	os.Setenv(envSecretKey, c.secretKey)

	self, err := os.Executable()
	if err != nil {
		return err
	}
	sc := c.s3Client()
	if c.bucket == "" {
		c.bucket = fmt.Sprintf("s3ecbench-%d", time.Now().UnixNano())
	}
	created := true
	if _, err := sc.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(c.bucket)}); err != nil {
		var owned *types.BucketAlreadyOwnedByYou
		if !errors.As(err, &owned) {
			return fmt.Errorf("create bucket %s: %w", c.bucket, err)
		}
		created = false
	}
	var objects []string
	defer func() {
		if c.keep {
			return
		}
		for _, o := range objects {
			sc.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(c.bucket), Key: aws.String(o)})
		}
		if created {
			sc.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(c.bucket)})
		}
	}()
	if c.profileDir != "" {
		if err := os.MkdirAll(c.profileDir, 0o755); err != nil {
			return err
		}
	}

	samples := map[measureKey][]sample{}
	exec1 := func(size int64, t string, verify bool, profile string) (sample, error) {
		parts := strings.Split(t, "/")
		object := fmt.Sprintf("%s/%d", parts[1], size)
		args := []string{
			"-child", t, "-child-size", strconv.FormatInt(size, 10), "-child-object", object,
			"-endpoint", c.endpoint, "-region", c.region, "-bucket", c.bucket,
			"-unsigned=" + strconv.FormatBool(c.unsigned), "-child-verify=" + strconv.FormatBool(verify),
			"-read-size", strconv.Itoa(c.readSize), "-warmups", strconv.Itoa(c.warmups), "-warm-gets", strconv.Itoa(c.warmGets),
			"-spool-dir", c.spoolDir,
		}
		if profile != "" {
			args = append(args, "-child-profile", profile)
		}
		cmd := exec.Command(self, args...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, os.Stderr
		if err := cmd.Run(); err != nil {
			return sample{}, fmt.Errorf("%s %s: %w", t, fmtSize(size), err)
		}
		var s sample
		if err := json.Unmarshal(out.Bytes(), &s.childResult); err != nil {
			return sample{}, fmt.Errorf("%s %s: bad child output %q: %w", t, fmtSize(size), out.String(), err)
		}
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			s.MaxRSS = ru.Maxrss << 10 // KiB on Linux
			s.UserCPU = time.Duration(ru.Utime.Nano()).Seconds()
			s.SysCPU = time.Duration(ru.Stime.Nano()).Seconds()
		}
		return s, nil
	}

	for _, size := range c.sizes {
		puts := []string{"put/plain/-", "put/ours/-"}
		gets := []string{"get/plain/-"}
		if size <= encryptionclient.DefaultBufferSize {
			gets = append(gets, "get/ours/default")
		}
		gets = append(gets, "get/ours/delayed")
		if c.spool && size > encryptionclient.DefaultBufferSize {
			gets = append(gets, "get/ours/spool")
		}
		var warm []string
		if c.warmGets > 0 && size <= encryptionclient.DefaultBufferSize {
			warm = []string{"getwarm/plain/-", "getwarm/ours/default"}
		}
		objects = append(objects, fmt.Sprintf("plain/%d", size), fmt.Sprintf("ours/%d", size))

		// Untimed: create the objects, warm the server, check the bytes.
		fmt.Fprintf(os.Stderr, "%s: setup", fmtSize(size))
		for _, t := range puts {
			if _, err := exec1(size, t, false, ""); err != nil {
				return err
			}
		}
		if c.verify {
			for _, t := range gets {
				if _, err := exec1(size, t, true, ""); err != nil {
					return fmt.Errorf("verify: %w", err)
				}
			}
			fmt.Fprintf(os.Stderr, ", verified")
		}
		fmt.Fprintln(os.Stderr)

		for r := range c.runs {
			fmt.Fprintf(os.Stderr, "%s: run %d/%d:", fmtSize(size), r+1, c.runs)
			// Interleave plain and ours; swap who goes first every run.
			for _, group := range [][]string{puts, gets, warm} {
				order := append([]string(nil), group...)
				if r%2 == 1 {
					for i, j := 0, len(order)-1; i < j; i, j = i+1, j-1 {
						order[i], order[j] = order[j], order[i]
					}
				}
				for _, t := range order {
					s, err := exec1(size, t, false, "")
					if err != nil {
						return err
					}
					k := measureKey{size, t}
					samples[k] = append(samples[k], s)
					fmt.Fprintf(os.Stderr, " %s %.3fs %dMiB", t, s.Seconds, s.MaxRSS>>20)
				}
			}
			fmt.Fprintln(os.Stderr)
		}

		if c.profileDir != "" {
			for _, t := range slices.Concat(puts, gets, warm) {
				prefix := filepath.Join(c.profileDir, fmt.Sprintf("%s-%s", strings.ReplaceAll(strings.TrimSuffix(t, "/-"), "/", "-"), fmtSize(size)))
				s, err := exec1(size, t, false, prefix)
				if err != nil {
					return err
				}
				fmt.Fprintf(os.Stderr, "%s: profiled %s: %.3fs (CPU %.2fs user %.2fs sys), %d MiB RSS, %d MiB allocated, %d GCs -> %s.*.pprof\n",
					fmtSize(size), t, s.Seconds, s.UserCPU, s.SysCPU, s.MaxRSS>>20, s.TotalAlloc>>20, s.NumGC, prefix)
			}
		}
	}

	rep := newReport(c, buildRows(c, samples), samples)
	printTable(os.Stdout, rep)
	if c.jsonPath != "" {
		if err := writeJSON(c.jsonPath, rep); err != nil {
			return err
		}
	}
	if c.chartPath != "" || c.chartRSSPath != "" {
		return writeCharts(rep, c.chartPath, c.chartRSSPath)
	}
	return nil
}

// parseSizes parses "8MiB,64MiB,512MiB".
func parseSizes(s string) ([]int64, error) {
	var out []int64
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		mult := int64(1)
		for _, u := range []struct {
			suffix string
			m      int64
		}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}, {"B", 1}} {
			if strings.HasSuffix(f, u.suffix) {
				f, mult = strings.TrimSuffix(f, u.suffix), u.m
				break
			}
		}
		n, err := strconv.ParseInt(strings.TrimSpace(f), 10, 64)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("bad size %q", f)
		}
		out = append(out, n*mult)
	}
	if len(out) == 0 {
		return nil, errors.New("no sizes")
	}
	return out, nil
}

func fmtSize(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%dGiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}
