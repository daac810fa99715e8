// Command cachebench measures what data-key caching saves on a workload of
// many small objects: the KMS calls and the time per object of N puts and
// N gets (10,000 objects of 1 KiB by default) through the encryption client
// with a KMS keyring, without and with a [materials.CachingKeyring], against
// the plain aws-sdk-go-v2 S3 client on the same in-process S3 server
// (gofakes3) in the same run.
//
// KMS is the project's KMS test server over HTTP on localhost, so a KMS call
// costs far less here than with AWS; -kms-latency adds a delay to every KMS
// request to show the effect of a real round trip. The gets of the caching
// run use a second caching keyring with an empty cache, as a separate
// reader would. The result is a Markdown table on stdout.
//
//	scripts/bench-cache.sh
//	go -C internal/tools run ./cachebench -n 10000 -size 1024 -kms-latency 5ms
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/internal/testkit/kmstest"
	"github.com/s3ec/s3ec-go/internal/testkit/s3test"
	"github.com/s3ec/s3ec-go/materials"
)

type config struct {
	n          int
	size       int
	maxObjects int
	maxAge     time.Duration
	kmsLatency time.Duration
	cpuProfile string
}

// result is one client's figures.
type result struct {
	name               string
	put, get           time.Duration
	putCalls, getCalls int // KMS GenerateDataKey during puts, Decrypt during gets
	writer, reader     *materials.CacheStats
}

func main() {
	var cfg config
	flag.IntVar(&cfg.n, "n", 10000, "objects to put and get per client")
	flag.IntVar(&cfg.size, "size", 1024, "object size in bytes")
	flag.IntVar(&cfg.maxObjects, "max-objects", materials.DefaultCacheMaxObjects, "CachingOptions.MaxObjects")
	flag.DurationVar(&cfg.maxAge, "max-age", materials.DefaultCacheMaxAge, "CachingOptions.MaxAge")
	flag.DurationVar(&cfg.kmsLatency, "kms-latency", 0, "delay added to every KMS request (e.g. 5ms for a real round trip)")
	flag.StringVar(&cfg.cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run to this file")
	flag.Parse()
	if cfg.n <= 0 || cfg.size < 0 {
		log.Fatal("cachebench: -n must be positive and -size not negative")
	}
	if cfg.cpuProfile != "" {
		f, err := os.Create(cfg.cpuProfile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	if err := run(cfg, os.Stdout); err != nil {
		log.Fatal(err)
	}
}

func run(cfg config, w io.Writer) error {
	ctx := context.Background()
	srv := s3test.NewFake()
	defer srv.Close()
	plain := srv.Client()
	kms := kmstest.NewServer()
	defer kms.Close()
	if cfg.kmsLatency > 0 {
		kms.SetDelay("*", cfg.kmsLatency)
	}
	keyID := kms.CreateKey()
	newKMS := func() (*materials.KMSKeyring, error) { return materials.NewKMSKeyring(kms.Client(), keyID) }
	newCaching := func() (*materials.CachingKeyring, error) {
		inner, err := newKMS()
		if err != nil {
			return nil, err
		}
		return materials.NewCachingKeyring(inner, func(o *materials.CachingOptions) {
			o.MaxObjects, o.MaxAge = cfg.maxObjects, cfg.maxAge
		})
	}
	data := make([]byte, cfg.size)
	rand.Read(data)

	// A put and a get for each client, with the same signatures.
	type ops struct {
		put func(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
		get func(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	}
	var results []*result
	measure := func(name string, writer, reader ops) (*result, error) {
		bucket := fmt.Sprintf("cachebench-%d", len(results))
		if _, err := plain.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
			return nil, err
		}
		r := &result{name: name}
		runtime.GC()
		gen := kms.Calls("GenerateDataKey")
		start := time.Now()
		for i := range cfg.n {
			_, err := writer.put(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(objectKey(i)), Body: bytes.NewReader(data)})
			if err != nil {
				return nil, fmt.Errorf("%s: put %d: %w", name, i, err)
			}
		}
		r.put = time.Since(start)
		r.putCalls = kms.Calls("GenerateDataKey") - gen
		runtime.GC()
		dec := kms.Calls("Decrypt")
		start = time.Now()
		for i := range cfg.n {
			out, err := reader.get(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(objectKey(i))})
			if err != nil {
				return nil, fmt.Errorf("%s: get %d: %w", name, i, err)
			}
			got, err := io.ReadAll(out.Body)
			out.Body.Close()
			if err != nil || !bytes.Equal(got, data) {
				return nil, fmt.Errorf("%s: get %d: wrong content (%v)", name, i, err)
			}
		}
		r.get = time.Since(start)
		r.getCalls = kms.Calls("Decrypt") - dec
		return r, nil
	}

	base, err := measure("plain S3 client", ops{plain.PutObject, plain.GetObject}, ops{plain.PutObject, plain.GetObject})
	if err != nil {
		return err
	}
	results = append(results, base)

	kr, err := newKMS()
	if err != nil {
		return err
	}
	c, err := encryptionclient.New(plain, kr)
	if err != nil {
		return err
	}
	r, err := measure("encrypted, KMS", ops{c.PutObject, c.GetObject}, ops{c.PutObject, c.GetObject})
	if err != nil {
		return err
	}
	results = append(results, r)

	wkr, err := newCaching()
	if err != nil {
		return err
	}
	defer wkr.Close()
	rkr, err := newCaching()
	if err != nil {
		return err
	}
	defer rkr.Close()
	wc, err := encryptionclient.New(plain, wkr)
	if err != nil {
		return err
	}
	rc, err := encryptionclient.New(plain, rkr)
	if err != nil {
		return err
	}
	r, err = measure("encrypted, KMS + caching", ops{wc.PutObject, wc.GetObject}, ops{rc.PutObject, rc.GetObject})
	if err != nil {
		return err
	}
	ws, rs := wkr.Stats(), rkr.Stats()
	r.writer, r.reader = &ws, &rs
	results = append(results, r)

	report(w, cfg, results)
	return nil
}

func objectKey(i int) string { return fmt.Sprintf("small/%06d", i) }

func report(w io.Writer, cfg config, results []*result) {
	fmt.Fprintf(w, "%d puts and %d gets of %d-byte objects per client; in-process S3 (gofakes3), KMS test server over HTTP", cfg.n, cfg.n, cfg.size)
	if cfg.kmsLatency > 0 {
		fmt.Fprintf(w, " with %v added per KMS request", cfg.kmsLatency)
	}
	fmt.Fprintf(w, "; caching: MaxObjects %d, MaxAge %v; %s, %s/%s, %d CPUs.\n\n", cfg.maxObjects, cfg.maxAge, runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU())
	fmt.Fprintln(w, "| client | KMS calls, puts | KMS calls, gets | put µs/object | × plain | get µs/object | × plain |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|")
	base := results[0]
	per := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(cfg.n) }
	for _, r := range results {
		calls := func(n int) string {
			if r == base {
				return "–"
			}
			return fmt.Sprint(n)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %.0f | %.2f | %.0f | %.2f |\n", r.name, calls(r.putCalls), calls(r.getCalls),
			per(r.put), r.put.Seconds()/base.put.Seconds(), per(r.get), r.get.Seconds()/base.get.Seconds())
	}
	for _, r := range results {
		if r.writer != nil {
			fmt.Fprintf(w, "\nCache counters: writer %d hits, %d misses, %d inner GenerateDataKey calls; reader %d hits, %d misses, %d inner Decrypt calls.\n",
				r.writer.EncryptHits, r.writer.EncryptMisses, r.writer.InnerGenerateCalls,
				r.reader.DecryptHits, r.reader.DecryptMisses, r.reader.InnerDecryptCalls)
		}
	}
}
