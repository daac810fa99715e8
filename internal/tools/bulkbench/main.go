//go:build linux

// Command bulkbench measures the bulk-job operations of issue 12 on a real
// S3 endpoint (versitygw in scripts/bench-bulk.sh) beside the plain S3
// requests that do the same work without encryption, in one run:
//
//   - Rewrap objects/s (1 KiB and 1 MiB objects): bulk.Run with
//     bulk.Rewrap over a CSV manifest, beside a loop of plain
//     self-CopyObject requests (CopyObject onto itself, MetadataDirective
//     REPLACE, the object's metadata) at the same concurrency;
//   - ReEncrypt MiB/s (1 MiB objects, V2 to V3 and V3 to V3): bulk.Run with
//     bulk.ReEncrypt, beside plain GET + PUT of the same objects at the same
//     concurrency;
//   - memory: the peak RSS and live heap of bulk.Run over a generated
//     1,000,000-line manifest file (with a no-op operation, so that the
//     runner, the manifest reader and the report are measured, not S3),
//     beside the same over 10,000 lines: constant memory means the same
//     peak for both. Each runs in a child process (this binary, re-executed
//     with -child) so that its peak RSS is its own.
//
// The KMS is the project's KMS test server (internal/testkit/kmstest), in
// a child process (so that the CPU time reported per object is the
// client's alone), reached over HTTP by the real SDK KMS client: rewraps
// are KMS ReEncrypt calls, re-encryptions a Decrypt and a GenerateDataKey.
// The requests of both services are counted per object. The objects
// alternate between two KMS keys (A to B, then B to A), so that every
// measured run does real work; at the end, objects of each set are read
// back with the key they are under.
//
// Beside the plain copy, Rewrap is also compared with HEAD + CopyObject,
// what a plain program must do to rewrite an object's metadata (REPLACE
// drops what it does not repeat), for information.
//
// Fairness: one warm-up run of each side first (not counted); then an even
// number of pairs (-pairs, default 6), the order within a pair alternating
// (ours first, then plain first); each pair gives one ratio ours/plain, and
// the report is the median ratio and its spread (the smallest and largest
// ratio of a pair). Targets: Rewrap >= 0.8x the plain copy, ReEncrypt >=
// 0.8x plain GET+PUT; the memory of the 1,000,000-line run within 16 MiB of
// the 10,000-line run's.
//
//	scripts/bench-bulk.sh
//	scripts/bench-bulk.sh -pairs 10 -concurrency 32
//	go -C internal/tools run ./bulkbench -endpoint http://127.0.0.1:7070 -access-key … -secret-key …
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
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
)

// The environment variables of internal/testkit/s3test, used as flag
// defaults.
const (
	envEndpoint  = "S3EC_TEST_S3_ENDPOINT"
	envAccessKey = "S3EC_TEST_S3_ACCESS_KEY"
	envSecretKey = "S3EC_TEST_S3_SECRET_KEY"
	envRegion    = "S3EC_TEST_S3_REGION"
)

type config struct {
	endpoint, accessKey, secretKey, region, bucket string
	concurrency, pairs                             int
	rewrapSizes                                    []int64
	rewrapObjects                                  int
	reencryptSize                                  int64
	reencryptObjects                               int
	reencryptFrom                                  []string // of "V3", "V2"
	cacheDataKeys                                  bool     // ReEncrypt's target keyring behind materials.NewCachingKeyring
	manifestLines                                  []int
	measure                                        map[string]bool // of "rewrap", "reencrypt", "memory"
	child                                          string          // "memory LINES" in a child
	cpuProfile                                     string          // the parent's CPU profile, all sides
}

func main() {
	var cfg config
	var sizes, reSize, lines, measure, from string
	flag.StringVar(&cfg.endpoint, "endpoint", os.Getenv(envEndpoint), "S3 endpoint URL")
	flag.StringVar(&cfg.accessKey, "access-key", os.Getenv(envAccessKey), "access key")
	flag.StringVar(&cfg.secretKey, "secret-key", os.Getenv(envSecretKey), "secret key")
	flag.StringVar(&cfg.region, "region", cmp(os.Getenv(envRegion), "us-east-1"), "region")
	flag.StringVar(&cfg.bucket, "bucket", "bulkbench", "bucket (created if missing)")
	flag.IntVar(&cfg.concurrency, "concurrency", 16, "objects in flight, for ours and plain alike (bulk.RunOptions.Concurrency)")
	flag.IntVar(&cfg.pairs, "pairs", 6, "measured pairs (ours, plain) per measurement; even, so that each order runs as often")
	flag.StringVar(&sizes, "rewrap-sizes", "1KiB,1MiB", "object sizes of the Rewrap measurements")
	flag.IntVar(&cfg.rewrapObjects, "rewrap-objects", 400, "objects per Rewrap run")
	flag.StringVar(&reSize, "reencrypt-size", "1MiB", "object size of the ReEncrypt measurement")
	flag.IntVar(&cfg.reencryptObjects, "reencrypt-objects", 128, "objects per ReEncrypt run")
	flag.StringVar(&from, "reencrypt-from", "V2,V3", "formats of the objects ReEncrypt reads, one measurement each: V2 (the migration to V3; the objects are written again before each run, untimed), V3 (a new data key, V3 to V3)")
	flag.BoolVar(&cfg.cacheDataKeys, "cache-data-keys", false, "wrap ReEncrypt's target keyring in materials.NewCachingKeyring (as s3ec --cache-data-keys and batchops do): one GenerateDataKey for up to 1000 objects")
	flag.StringVar(&lines, "manifest-lines", "10000,1000000", "manifest lengths of the memory measurement (the first is the reference)")
	flag.StringVar(&measure, "measure", "rewrap,reencrypt,memory", "what to measure, of rewrap, reencrypt and memory")
	flag.StringVar(&cfg.cpuProfile, "cpuprofile", "", "write the benchmark process's CPU profile (every side, not the servers) to this file")
	flag.StringVar(&cfg.child, "child", "", "internal: run one memory measurement, \"memory LINES\", or the KMS test server, \"kms\"")
	flag.Parse()

	err := parseConfig(&cfg, sizes, reSize, lines, measure, from)
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
		fmt.Fprintln(os.Stderr, "bulkbench:", err)
		os.Exit(1)
	}
}

func parseConfig(cfg *config, sizes, reSize, lines, measure, from string) error {
	cfg.measure = map[string]bool{}
	for _, f := range strings.Split(measure, ",") {
		switch f = strings.TrimSpace(f); f {
		case "rewrap", "reencrypt", "memory":
			cfg.measure[f] = true
		default:
			return fmt.Errorf("bad -measure %q: want a list of rewrap, reencrypt and memory", measure)
		}
	}
	if cfg.pairs < 2 || cfg.pairs%2 != 0 {
		return fmt.Errorf("-pairs %d: want an even number >= 2", cfg.pairs)
	}
	if cfg.concurrency < 1 || cfg.rewrapObjects < 1 || cfg.reencryptObjects < 1 {
		return errors.New("-concurrency, -rewrap-objects and -reencrypt-objects must be positive")
	}
	for _, f := range strings.Split(sizes, ",") {
		n, err := parseSize(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return fmt.Errorf("bad -rewrap-sizes %q", sizes)
		}
		cfg.rewrapSizes = append(cfg.rewrapSizes, n)
	}
	for _, f := range strings.Split(from, ",") {
		if f = strings.TrimSpace(f); f != "V3" && f != "V2" {
			return fmt.Errorf("bad -reencrypt-from %q: want a list of V2 and V3", from)
		}
		cfg.reencryptFrom = append(cfg.reencryptFrom, f)
	}
	var err error
	if cfg.reencryptSize, err = parseSize(reSize); err != nil || cfg.reencryptSize < 1 {
		return fmt.Errorf("bad -reencrypt-size %q", reSize)
	}
	for _, f := range strings.Split(lines, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return fmt.Errorf("bad -manifest-lines %q", lines)
		}
		cfg.manifestLines = append(cfg.manifestLines, n)
	}
	return nil
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

func human(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}

func (cfg config) s3Client(optFns ...func(*s3.Options)) *s3.Client {
	return s3.New(s3.Options{
		BaseEndpoint: aws.String(cfg.endpoint),
		Region:       cfg.region,
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(cfg.accessKey, cfg.secretKey, ""),
	}, optFns...)
}

// side is one of the two things a pair compares: run processes every
// object of the set once and returns the wall time.
type side struct {
	name    string
	run     func(ctx context.Context) (time.Duration, error)
	check   func(ctx context.Context) error // after the runs: the objects read back (ours only)
	prepare func(ctx context.Context) error // before each run, untimed and uncounted; optional
}

func (s side) prep(ctx context.Context) error {
	if s.prepare == nil {
		return nil
	}
	return s.prepare(ctx)
}

// measurement is the outcome of the pairs of one comparison.
type measurement struct {
	what, unit, baseline string  // "Rewrap 1 KiB", "objects/s", "CopyObject (self)"
	work                 float64 // objects or MiB per run
	objects              int     // objects per run
	ours, plain          []float64
	ratios               []float64
	target               float64 // 0: informative, no PASS/FAIL line
	// CPU seconds of this process (client and KMS test server) per
	// object, median of the measured runs.
	oursCPU, plainCPU float64
	// Requests per object (S3 operations and "KMS Op"), mean of the
	// measured runs.
	oursRequests, plainRequests map[string]float64
}

// compare runs a warm-up of each side, then pairs with alternating order.
func compare(ctx context.Context, b *bench, what, unit string, work float64, objects int, ours, plain side, target float64) (measurement, error) {
	cfg := b.cfg
	m := measurement{what: what, unit: unit, baseline: plain.name, work: work, objects: objects, target: target}
	var reqs [2]map[string]float64 // per object, ours and plain, summed over the pairs
	for _, s := range []side{ours, plain} {
		if err := s.prep(ctx); err != nil {
			return m, fmt.Errorf("%s warm-up (%s): %w", what, s.name, err)
		}
		if _, err := s.run(ctx); err != nil {
			return m, fmt.Errorf("%s warm-up (%s): %w", what, s.name, err)
		}
	}
	var cpus [2][]float64 // ours, plain
	for p := range cfg.pairs {
		order := []side{ours, plain}
		if p%2 == 1 {
			order = []side{plain, ours}
		}
		var rate [2]float64 // ours, plain
		for _, s := range order {
			if err := s.prep(ctx); err != nil {
				return m, fmt.Errorf("%s pair %d (%s): %w", what, p+1, s.name, err)
			}
			cpu0, n0 := cpuSeconds(), b.counts()
			d, err := s.run(ctx)
			if err != nil {
				return m, fmt.Errorf("%s pair %d (%s): %w", what, p+1, s.name, err)
			}
			r, i := work/d.Seconds(), 1
			if s.name == ours.name {
				i = 0
			}
			rate[i] = r
			cpus[i] = append(cpus[i], cpuSeconds()-cpu0)
			if reqs[i] == nil {
				reqs[i] = map[string]float64{}
			}
			for k, v := range perObject(n0, b.counts(), objects) {
				reqs[i][k] += v / float64(cfg.pairs)
			}
			fmt.Fprintf(os.Stderr, "  %-14s pair %d: %-22s %9.1f %s\n", what, p+1, s.name, r, unit)
		}
		m.ours, m.plain = append(m.ours, rate[0]), append(m.plain, rate[1])
		m.ratios = append(m.ratios, rate[0]/rate[1])
	}
	if ours.check != nil {
		if err := ours.check(ctx); err != nil {
			return m, fmt.Errorf("%s: %w", what, err)
		}
	}
	m.oursCPU, m.plainCPU = median(cpus[0])/float64(objects), median(cpus[1])/float64(objects)
	m.oursRequests, m.plainRequests = reqs[0], reqs[1]
	return m, nil
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// cpuSeconds is this process's user + system CPU time so far (the KMS test
// server's included: it runs here).
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

func runParent(cfg config) error {
	ctx := context.Background()
	fmt.Fprintf(os.Stderr, "bulkbench: %d workers, %d pairs, Rewrap %d objects of %v bytes, ReEncrypt %d objects of %s from %v, manifests %v lines, against %s\n",
		cfg.concurrency, cfg.pairs, cfg.rewrapObjects, cfg.rewrapSizes, cfg.reencryptObjects, human(cfg.reencryptSize), cfg.reencryptFrom, cfg.manifestLines, cfg.endpoint)
	if cfg.cpuProfile != "" {
		f, err := os.Create(cfg.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	start := time.Now()
	b, err := newBench(ctx, cfg)
	if err != nil {
		return err
	}
	defer b.close()

	var ms []measurement
	for _, size := range cfg.rewrapSizes {
		if !cfg.measure["rewrap"] {
			break
		}
		ours, copyOnly, headCopy, err := b.rewrapSides(ctx, size, cfg.rewrapObjects)
		if err != nil {
			return err
		}
		for _, plain := range []side{copyOnly, headCopy} {
			target := 0.8 // the target, against the plain copy
			if plain.name != copyOnly.name {
				target = 0 // informative
			}
			m, err := compare(ctx, b, "Rewrap "+human(size), "objects/s", float64(cfg.rewrapObjects), cfg.rewrapObjects, ours, plain, target)
			if err != nil {
				return err
			}
			ms = append(ms, m)
		}
	}
	for _, from := range cfg.reencryptFrom {
		if !cfg.measure["reencrypt"] {
			break
		}
		ours, plain, err := b.reencryptSides(ctx, cfg.reencryptSize, cfg.reencryptObjects, from)
		if err != nil {
			return err
		}
		mib := float64(cfg.reencryptSize) * float64(cfg.reencryptObjects) / (1 << 20)
		name := "ReEncrypt " + from + " " + human(cfg.reencryptSize)
		if cfg.cacheDataKeys {
			name += ", cached data keys"
		}
		m, err := compare(ctx, b, name, "MiB/s", mib, cfg.reencryptObjects, ours, plain, 0.8)
		if err != nil {
			return err
		}
		ms = append(ms, m)
	}

	var mems []memResult
	for _, n := range cfg.manifestLines {
		if !cfg.measure["memory"] {
			break
		}
		r, err := spawnMemory(cfg, n)
		if err != nil {
			return fmt.Errorf("memory, %d lines: %w", n, err)
		}
		fmt.Fprintf(os.Stderr, "  memory %8d lines: %d tasks in %.1f s, peak RSS %.1f MiB, peak live heap %.1f MiB\n",
			n, r.Tasks, r.Seconds, float64(r.RSSKiB)/1024, float64(r.PeakHeap)/(1<<20))
		mems = append(mems, r)
	}
	report(cfg, ms, mems, time.Since(start))
	return nil
}

// report prints the table and the PASS/FAIL lines.
func report(cfg config, ms []measurement, mems []memResult, total time.Duration) {
	fmt.Printf("bulkbench against %s: %d workers, %d pairs (order alternating, after one warm-up of each), %d CPUs, load average %s, %s in all.\n",
		cfg.endpoint, cfg.concurrency, cfg.pairs, runtime.NumCPU(), loadAverage(), total.Round(time.Second))
	var lines []string
	if len(ms) > 0 {
		fmt.Println()
		fmt.Println("| measurement | unit | ours | baseline | baseline rate | median ratio | spread (min–max) | ours objects/s per worker | ours mean latency ms | CPU ms/object ours | CPU ms/object baseline |")
		fmt.Println("|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|")
	}
	for _, m := range ms {
		// objects/s of ours, per worker, and the mean time of one object.
		objPerSec := median(m.ours) * float64(m.objects) / m.work
		perWorker := objPerSec / float64(cfg.concurrency)
		fmt.Printf("| %s | %s | %.1f | %s | %.1f | %.2f | %.2f–%.2f | %.1f | %.1f | %.2f | %.2f |\n",
			m.what, m.unit, median(m.ours), m.baseline, median(m.plain), median(m.ratios),
			slices.Min(m.ratios), slices.Max(m.ratios), perWorker, 1000/perWorker, m.oursCPU*1000, m.plainCPU*1000)
		if m.target == 0 {
			continue
		}
		verdict := "PASS"
		if median(m.ratios) < m.target {
			verdict = "FAIL"
		}
		lines = append(lines, fmt.Sprintf("%s: %s median ratio %.2fx >= %.2fx %s (spread %.2f–%.2f)",
			verdict, m.what, median(m.ratios), m.target, m.baseline, slices.Min(m.ratios), slices.Max(m.ratios)))
	}
	if len(ms) > 0 {
		fmt.Println()
		fmt.Println("Requests per object (counted during the measured runs). CPU is the client process's (user + system), without the S3 and KMS servers.")
		fmt.Println()
		fmt.Println("| measurement | ours | baseline |")
		fmt.Println("|---|---|---|")
	}
	for _, m := range ms {
		fmt.Printf("| %s | %s | %s: %s |\n", m.what, formatCounts(m.oursRequests), m.baseline, formatCounts(m.plainRequests))
	}
	if len(mems) > 0 {
		fmt.Println()
		fmt.Println("| manifest lines | tasks | seconds | tasks/s | peak RSS MiB | peak live heap MiB |")
		fmt.Println("|---:|---:|---:|---:|---:|---:|")
	}
	for _, r := range mems {
		fmt.Printf("| %d | %d | %.2f | %.0f | %.1f | %.1f |\n", r.lines, r.Tasks, r.Seconds, float64(r.Tasks)/r.Seconds,
			float64(r.RSSKiB)/1024, float64(r.PeakHeap)/(1<<20))
	}
	if len(mems) >= 2 {
		ref, big := mems[0], mems[len(mems)-1]
		growth := float64(big.RSSKiB-ref.RSSKiB) / 1024
		verdict := "PASS"
		if growth > 16 {
			verdict = "FAIL"
		}
		lines = append(lines, fmt.Sprintf("%s: memory constant in the number of objects: peak RSS %.1f MiB for %d lines vs %.1f MiB for %d (growth %.1f MiB <= 16 MiB)",
			verdict, float64(big.RSSKiB)/1024, big.lines, float64(ref.RSSKiB)/1024, ref.lines, growth))
	}
	fmt.Println()
	for _, l := range lines {
		fmt.Println(l)
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
