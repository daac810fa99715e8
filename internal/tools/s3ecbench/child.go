//go:build unix

package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/materials"
)

// envAESKey carries the benchmark's AES wrapping key (hex) from the parent
// to its children, so objects put by one child can be read by another.
const envAESKey = "S3ECBENCH_AES_KEY"

// task is one measurement, run in a child process.
type task struct {
	Op     string // "put", "get" (one GET in a fresh process) or "getwarm" (repeated GETs in one process)
	Impl   string // "plain" or "ours"
	Mode   string // gets of ours: "default", "delayed" or "spool"
	Size   int64
	Object string
}

// childResult is what a child prints on stdout, as one JSON line.
type childResult struct {
	Seconds    float64 `json:"seconds"`
	Bytes      int64   `json:"bytes"`
	TotalAlloc uint64  `json:"total_alloc"` // bytes allocated by the Go heap during the run
	HeapSys    uint64  `json:"heap_sys"`    // heap memory obtained from the OS
	Sys        uint64  `json:"sys"`         // all memory obtained from the OS by the runtime
	NumGC      uint32  `json:"num_gc"`
	// Repeats are the timed GETs of a getwarm child, after its warm-up
	// GETs; Seconds is their median.
	Repeats []float64 `json:"repeats,omitempty"`
}

// s3Client returns the plain SDK client both implementations send through.
func (c *config) s3Client() *s3.Client {
	opts := s3.Options{
		BaseEndpoint: aws.String(c.endpoint),
		Region:       c.region,
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(c.accessKey, c.secretKey, ""),
	}
	if c.unsigned {
		opts.APIOptions = append(opts.APIOptions, v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware)
	}
	return s3.New(opts)
}

// objectAPI is what both implementations offer: the SDK's signatures.
type objectAPI interface {
	PutObject(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

func (c *config) client(t task) (objectAPI, error) {
	sc := c.s3Client()
	if t.Impl == "plain" {
		return sc, nil
	}
	key, err := hex.DecodeString(os.Getenv(envAESKey))
	if err != nil || len(key) != 32 {
		return nil, fmt.Errorf("child: %s must hold a hex 32-byte key", envAESKey)
	}
	kr, err := materials.NewAESKeyring(key)
	if err != nil {
		return nil, err
	}
	return encryptionclient.New(sc, kr, func(o *encryptionclient.Options) {
		o.EnableDelayedAuthentication = t.Mode == "delayed"
		if t.Mode == "spool" {
			o.SpoolLargeObjects, o.SpoolDir = true, c.spoolDir
		}
	})
}

// runChild performs one task and prints its result on stdout.
func runChild(c *config, t task) error {
	api, err := c.client(t)
	if err != nil {
		return err
	}
	ctx := context.Background()
	var stopProfile func() error
	if c.childProfile != "" {
		if stopProfile, err = startProfile(c.childProfile); err != nil {
			return err
		}
	}
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	start := time.Now()
	var n int64
	var repeats []float64
	switch t.Op {
	case "put":
		_, err = api.PutObject(ctx, &s3.PutObjectInput{
			Bucket: aws.String(c.bucket), Key: aws.String(t.Object), Body: newSource(t.Size),
		})
		n = t.Size
	case "get":
		n, err = get(ctx, api, c.bucket, t.Object, t.Size, c.childVerify, c.readSize)
	case "getwarm":
		// The same GET again and again in one process: the first ones
		// warm it up (and fill the client's buffer pool), the others are
		// timed one by one.
		for i := range c.warmups + c.warmGets {
			s := time.Now()
			if n, err = get(ctx, api, c.bucket, t.Object, t.Size, c.childVerify, c.readSize); err != nil {
				break
			}
			if i >= c.warmups {
				repeats = append(repeats, time.Since(s).Seconds())
			}
		}
	default:
		err = fmt.Errorf("child: unknown op %q", t.Op)
	}
	elapsed := time.Since(start)
	if err != nil {
		return err
	}

	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if stopProfile != nil {
		if err := stopProfile(); err != nil {
			return err
		}
	}
	secs := elapsed.Seconds()
	if len(repeats) > 0 {
		secs = median(repeats)
	}
	return json.NewEncoder(os.Stdout).Encode(childResult{
		Seconds: secs, Bytes: n, Repeats: repeats,
		TotalAlloc: after.TotalAlloc - before.TotalAlloc, HeapSys: after.HeapSys, Sys: after.Sys,
		NumGC: after.NumGC - before.NumGC,
	})
}

// get reads the object's body and drops it (or checks it against the
// source when verify is set) and returns its length. Both clients' bodies
// are read with the same Read calls of readSize bytes (io.Copy would let
// io.Discard read in 8 KiB pieces, or a body's WriteTo choose its own).
func get(ctx context.Context, api objectAPI, bucket, object string, size int64, verify bool, readSize int) (int64, error) {
	out, err := api.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(object)})
	if err != nil {
		return 0, err
	}
	defer out.Body.Close()
	if !verify {
		buf := make([]byte, readSize)
		var n int64
		for {
			k, err := out.Body.Read(buf)
			n += int64(k)
			if err == io.EOF {
				break
			}
			if err != nil {
				return n, err
			}
		}
		if n != size {
			return n, fmt.Errorf("get %s: %d bytes, want %d", object, n, size)
		}
		return n, out.Body.Close()
	}
	vw := newVerifyWriter(size)
	n, err := io.Copy(vw, out.Body)
	if err != nil {
		return n, err
	}
	if err := out.Body.Close(); err != nil {
		return n, err
	}
	return n, vw.Close()
}

// startProfile starts a CPU profile at prefix.cpu.pprof; the returned
// function stops it and writes the allocation profile (prefix.allocs.pprof;
// view with -sample_index=alloc_space or inuse_space).
func startProfile(prefix string) (func() error, error) {
	runtime.MemProfileRate = 64 << 10
	cpu, err := os.Create(prefix + ".cpu.pprof")
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(cpu); err != nil {
		cpu.Close()
		return nil, err
	}
	return func() error {
		pprof.StopCPUProfile()
		err := cpu.Close()
		f, ferr := os.Create(prefix + ".allocs.pprof")
		if ferr != nil {
			return errors.Join(err, ferr)
		}
		return errors.Join(err, pprof.Lookup("allocs").WriteTo(f, 0), f.Close())
	}, nil
}
