//go:build unix

package main

//lint:file-ignore SA1019 one baseline is feature/s3/manager, the transfer manager most users have (deprecated for transfermanager)

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
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	tmtypes "github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/materials"
)

// readSize is the block in which downloads read response bodies: the
// encryption client's Download reads 128 KiB chunks, and the manager's
// Downloader is given the same (its BufferProvider).
const readSize = 128 << 10

// The objects: what each implementation writes (uploads overwrite their
// own key), and the two that the downloads read (made by "prepare").
func objectKey(op, impl string) string {
	switch op {
	case "download", "prepare":
		if impl == implOurs {
			return "transferbench/src-ours"
		}
		return "transferbench/src-plain"
	case "put":
		return "transferbench/put-" + impl
	}
	return "transferbench/up-" + impl
}

// runChild performs one transfer and prints its duration as JSON.
func runChild(cfg config) error {
	var op, impl string
	var conc int
	if _, err := fmt.Sscanf(cfg.child, "%s %s %d", &op, &impl, &conc); err != nil {
		return fmt.Errorf("bad -child %q", cfg.child)
	}
	ctx := context.Background()
	client, err := cfg.s3Client()
	if err != nil {
		return err
	}
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
	bucket, object := aws.String(cfg.bucket), aws.String(objectKey(op, impl))
	upOpts := func(o *encryptionclient.UploadOptions) { o.PartSize, o.Concurrency = cfg.partSize, conc }
	downOpts := func(o *encryptionclient.DownloadOptions) { o.PartSize, o.Concurrency = cfg.partSize, conc }
	tmOpts := func(o *transfermanager.Options) {
		o.PartSizeBytes, o.Concurrency = cfg.partSize, conc
		o.MultipartUploadThreshold = cfg.partSize
		o.ChecksumAlgorithm = tmtypes.ChecksumAlgorithm(cfg.checksum)
		if cfg.checksum == "" {
			o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		}
	}

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
	n := cfg.size
	switch op + " " + impl {
	case "put ours":
		_, err = enc.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: object, Body: newSource(cfg.size), ChecksumAlgorithm: cfg.checksum})
	case "put sdk":
		_, err = client.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: object, Body: newSource(cfg.size), ChecksumAlgorithm: cfg.checksum})
	case "upload ours", "prepare ours":
		var out *encryptionclient.UploadOutput
		out, err = enc.Upload(ctx, &s3.PutObjectInput{Bucket: bucket, Key: object, Body: newSource(cfg.size), ChecksumAlgorithm: cfg.checksum}, upOpts)
		if err == nil {
			n = out.Size
		}
	case "upload manager", "prepare manager":
		up := manager.NewUploader(client, func(u *manager.Uploader) { u.PartSize, u.Concurrency = cfg.partSize, conc })
		_, err = up.Upload(ctx, &s3.PutObjectInput{Bucket: bucket, Key: object, Body: newSource(cfg.size), ChecksumAlgorithm: cfg.checksum})
	case "upload tm":
		var out *transfermanager.UploadObjectOutput
		out, err = transfermanager.New(client, tmOpts).UploadObject(ctx, &transfermanager.UploadObjectInput{Bucket: bucket, Key: object, Body: newSource(cfg.size)})
		if err == nil {
			n = aws.ToInt64(out.ContentLength)
		}
	case "download ours":
		n, err = enc.Download(ctx, discardAt{}, &s3.GetObjectInput{Bucket: bucket, Key: object}, downOpts)
	case "download manager":
		down := manager.NewDownloader(client, func(d *manager.Downloader) {
			d.PartSize, d.Concurrency = cfg.partSize, conc
			d.BufferProvider = manager.NewPooledBufferedWriterReadFromProvider(readSize)
		})
		n, err = down.Download(ctx, discardAt{}, &s3.GetObjectInput{Bucket: bucket, Key: object})
	case "download tm":
		var out *transfermanager.DownloadObjectOutput
		out, err = transfermanager.New(client, tmOpts).DownloadObject(ctx, &transfermanager.DownloadObjectInput{Bucket: bucket, Key: object, WriterAt: discardAt{}})
		if err == nil {
			n = aws.ToInt64(out.ContentLength)
		}
	case "verify put", "verify upload", "verify download":
		// What ours wrote (or, for downloads, what it read) is the
		// generated stream.
		object = aws.String(objectKey(impl, implOurs))
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
