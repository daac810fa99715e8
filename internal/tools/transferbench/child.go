//go:build unix

package main

//lint:file-ignore SA1019 the baseline is feature/s3/manager, the transfer manager users have (deprecated for transfermanager)

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"runtime/pprof"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/materials"
)

// runChild performs one transfer and prints its duration as JSON.
func runChild(cfg config) error {
	var op, impl string
	var conc int
	if _, err := fmt.Sscanf(cfg.child, "%s %s %d", &op, &impl, &conc); err != nil {
		return fmt.Errorf("bad -child %q", cfg.child)
	}
	ctx := context.Background()
	client := cfg.s3Client()
	key, err := hex.DecodeString(os.Getenv(envKey))
	if err != nil || len(key) != 32 {
		return errors.New("no AES key in " + envKey)
	}
	kr, err := materials.NewAESKeyring(key)
	if err != nil {
		return err
	}
	enc, err := encryptionclient.New(client, kr)
	if err != nil {
		return err
	}
	bucket, object := aws.String(cfg.bucket), aws.String("transferbench/"+impl)
	upOpts := func(o *encryptionclient.UploadOptions) { o.PartSize, o.Concurrency = cfg.partSize, conc }
	downOpts := func(o *encryptionclient.DownloadOptions) { o.PartSize, o.Concurrency = cfg.partSize, conc }

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
	var n int64
	switch op + " " + impl {
	case "upload ours":
		var out *encryptionclient.UploadOutput
		out, err = enc.Upload(ctx, &s3.PutObjectInput{Bucket: bucket, Key: object, Body: newSource(cfg.size), ChecksumAlgorithm: cfg.checksum}, upOpts)
		if err == nil {
			n = out.Size
		}
	case "upload plain":
		up := manager.NewUploader(client, func(u *manager.Uploader) { u.PartSize, u.Concurrency = cfg.partSize, conc })
		_, err = up.Upload(ctx, &s3.PutObjectInput{Bucket: bucket, Key: object, Body: newSource(cfg.size), ChecksumAlgorithm: cfg.checksum})
		n = cfg.size
	case "download ours":
		n, err = enc.Download(ctx, discardAt{}, &s3.GetObjectInput{Bucket: bucket, Key: object}, downOpts)
	case "download plain":
		down := manager.NewDownloader(client, func(d *manager.Downloader) { d.PartSize, d.Concurrency = cfg.partSize, conc })
		n, err = down.Download(ctx, discardAt{}, &s3.GetObjectInput{Bucket: bucket, Key: object})
	case "verify ours":
		w := &checkAt{}
		n, err = enc.Download(ctx, w, &s3.GetObjectInput{Bucket: bucket, Key: object}, downOpts)
		if err == nil && w.mismatch.Load() {
			err = errors.New("downloaded plaintext differs from the uploaded stream")
		}
		if err == nil && w.bytes.Load() != cfg.size {
			err = fmt.Errorf("downloaded %d bytes, want %d", w.bytes.Load(), cfg.size)
		}
	default:
		return fmt.Errorf("unknown transfer %q", cfg.child)
	}
	if err != nil {
		return err
	}
	if n != cfg.size {
		return fmt.Errorf("transferred %d bytes, want %d", n, cfg.size)
	}
	return timed(start)
}

// period is the length after which the generated stream repeats: odd, so
// that parts at different offsets hold different bytes.
const period = 256<<10 + 4099

var pattern = func() []byte {
	b := make([]byte, period)
	mrand.NewChaCha8([32]byte{'t', 'r', 'a', 'n', 's', 'f', 'e', 'r'}).Read(b)
	return b
}()

// fill writes the stream's bytes at offset off into p.
func fill(p []byte, off int64) {
	for len(p) > 0 {
		n := copy(p, pattern[off%period:])
		p, off = p[n:], off+int64(n)
	}
}

// source is the generated plaintext: an io.ReadSeeker of size bytes that
// costs a memmove per byte and no memory.
type source struct {
	size, pos int64
}

func newSource(size int64) *source { return &source{size: size} }

func (s *source) Read(p []byte) (int, error) {
	if s.pos >= s.size {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), s.size-s.pos)]
	fill(p, s.pos)
	s.pos += int64(len(p))
	return len(p), nil
}

func (s *source) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		off += s.pos
	case io.SeekEnd:
		off += s.size
	default:
		return 0, errors.New("bad whence")
	}
	if off < 0 {
		return 0, errors.New("negative position")
	}
	s.pos = off
	return off, nil
}

// discardAt is an io.WriterAt that drops what it is given.
type discardAt struct{}

func (discardAt) WriteAt(p []byte, off int64) (int, error) { return len(p), nil }

// checkAt compares what it is given with the generated stream.
type checkAt struct {
	bytes    atomic.Int64
	mismatch atomic.Bool
}

func (c *checkAt) WriteAt(p []byte, off int64) (int, error) {
	want := make([]byte, len(p))
	fill(want, off)
	if !bytes.Equal(p, want) {
		c.mismatch.Store(true)
	}
	c.bytes.Add(int64(len(p)))
	return len(p), nil
}
