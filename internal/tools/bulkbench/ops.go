//go:build linux

package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/s3ec/s3ec-go/bulk"
	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/materials"
)

// bench holds the servers, keys and clients of a run.
type bench struct {
	cfg      config
	s3       *s3.Client
	requests *requestCounter // the S3 client's requests
	kmsCalls *requestCounter // the KMS client's requests
	kms      *kmsProcess
	// keyrings and clients of the two KMS keys A and B: clients[i] reads
	// with keyrings[i].
	keyrings [2]materials.Keyring
	clients  [2]*encryptionclient.Client
	v2Writer *encryptionclient.Client // writes V2 objects under key A (-reencrypt-from V2)
}

func newBench(ctx context.Context, cfg config) (*bench, error) {
	k, err := startKMS()
	if err != nil {
		return nil, err
	}
	b := &bench{cfg: cfg, requests: newRequestCounter(), kmsCalls: newRequestCounter(), kms: k}
	b.s3 = cfg.s3Client(func(o *s3.Options) { o.HTTPClient = b.requests })
	kmsClient := k.client(b.kmsCalls)
	if _, err := b.s3.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &cfg.bucket}); err != nil {
		if _, err := b.s3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &cfg.bucket}); err != nil {
			b.close()
			return nil, fmt.Errorf("create bucket: %w", err)
		}
	}
	for i := range b.keyrings {
		key, err := kmsClient.CreateKey(ctx, &kms.CreateKeyInput{})
		if err != nil {
			b.close()
			return nil, fmt.Errorf("KMS CreateKey: %w", err)
		}
		kr, err := materials.NewKMSKeyring(kmsClient, aws.ToString(key.KeyMetadata.Arn))
		if err != nil {
			b.close()
			return nil, err
		}
		// V3 writers that also read V2 (the policy of a migration).
		c, err := encryptionclient.New(b.s3, kr, func(o *encryptionclient.Options) {
			o.CommitmentPolicy = encryptionclient.RequireEncryptAllowDecrypt
		})
		if err != nil {
			b.close()
			return nil, err
		}
		b.keyrings[i], b.clients[i] = kr, c
	}
	v2, err := encryptionclient.New(b.s3, b.keyrings[0], func(o *encryptionclient.Options) {
		o.CommitmentPolicy = encryptionclient.ForbidEncryptAllowDecrypt
	})
	if err != nil {
		b.close()
		return nil, err
	}
	b.v2Writer = v2
	return b, nil
}

func (b *bench) close() { b.kms.stop() }

// pool calls f for i in [0, n) on conc goroutines; the first error stops
// it.
func pool(ctx context.Context, n, conc int, f func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(conc, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := f(ctx, i); err != nil {
					cancel(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	return context.Cause(ctx)
}

// objectSet is n objects of one size, encrypted under key A at first.
type objectSet struct {
	keys []string
	meta []map[string]string // each object's metadata (its envelope), read at setup
	ct   []*string
	dir  int // the key the objects are under now: 0 = A, 1 = B
	// rewritten: a run left the set in V3 (with -reencrypt-from V2, the
	// next run writes it again as V2 first).
	rewritten bool
}

// putSet writes n encrypted objects of size bytes under prefix with
// writer (V3 or V2, under key A) and reads back their metadata (outside
// any timed run).
func (b *bench) putSet(ctx context.Context, writer *encryptionclient.Client, prefix string, size int64, n int) (*objectSet, error) {
	set := &objectSet{keys: make([]string, n), meta: make([]map[string]string, n), ct: make([]*string, n)}
	body := make([]byte, size)
	rand.Read(body)
	err := pool(ctx, n, b.cfg.concurrency, func(ctx context.Context, i int) error {
		key := fmt.Sprintf("%s%06d", prefix, i)
		set.keys[i] = key
		_, err := writer.PutObject(ctx, &s3.PutObjectInput{
			Bucket: &b.cfg.bucket, Key: &key, Body: bytes.NewReader(body), ContentType: aws.String("application/octet-stream"),
		})
		if err != nil {
			return err
		}
		head, err := b.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &b.cfg.bucket, Key: &key})
		if err != nil {
			return err
		}
		set.meta[i], set.ct[i] = head.Metadata, head.ContentType
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("write %s objects under %s: %w", human(size), prefix, err)
	}
	return set, nil
}

// manifest is the set as a Batch Operations CSV manifest (bucket,key;
// keys URL-encoded).
func (b *bench) manifest(set *objectSet) []byte {
	var buf bytes.Buffer
	for _, k := range set.keys {
		fmt.Fprintf(&buf, "%s,%s\n", b.cfg.bucket, url.QueryEscape(k))
	}
	return buf.Bytes()
}

// runJob runs op over the set's manifest with bulk.Run and fails unless
// every task is done.
func (b *bench) runJob(ctx context.Context, set *objectSet, csv []byte, op bulk.Operation) (time.Duration, error) {
	var first *bulk.Result
	start := time.Now()
	sum, err := bulk.Run(ctx, bulk.ReadCSV(bytes.NewReader(csv)), op, bulk.RunOptions{
		Concurrency: b.cfg.concurrency,
		Progress: func(r bulk.Result, _ bulk.Summary) {
			if r.Outcome != bulk.Done && first == nil {
				first = &r
			}
		},
	})
	d := time.Since(start)
	if err != nil {
		return d, err
	}
	if first != nil {
		return d, fmt.Errorf("%s: %s %s: %s (%s)", op.Name(), first.Key, first.Outcome, first.Reason, first.Message)
	}
	if sum.Done != int64(len(set.keys)) {
		return d, fmt.Errorf("%s: %d of %d tasks done", op.Name(), sum.Done, len(set.keys))
	}
	return d, nil
}

// rewrapSides are Rewrap (bulk.Run + bulk.Rewrap, from the key the objects
// are under to the other one) and two baselines at the same concurrency:
// a self-CopyObject of each object with MetadataDirective REPLACE and the
// object's metadata (read at setup), the one S3 request a rewrap writes
// with; and HEAD + that CopyObject, what a plain program that rewrites an
// object's metadata must do, as REPLACE drops what it does not repeat.
func (b *bench) rewrapSides(ctx context.Context, size int64, n int) (ours, copyOnly, headCopy side, err error) {
	prefix := fmt.Sprintf("rewrap-%d/", size)
	oset, err := b.putSet(ctx, b.clients[0], prefix+"ours/", size, n)
	if err != nil {
		return side{}, side{}, side{}, err
	}
	ps, err := b.putSet(ctx, b.clients[0], prefix+"plain/", size, n)
	if err != nil {
		return side{}, side{}, side{}, err
	}
	csv := b.manifest(oset)
	ours = side{name: "bulk.Rewrap", check: func(ctx context.Context) error { return b.checkReadable(ctx, oset, size) }, run: func(ctx context.Context) (time.Duration, error) {
		op := bulk.Rewrap(b.clients[oset.dir], bulk.RewrapParams{Keyring: b.keyrings[1-oset.dir]})
		d, err := b.runJob(ctx, oset, csv, op)
		if err == nil {
			oset.dir = 1 - oset.dir
		}
		return d, err
	}}
	selfCopy := func(ctx context.Context, i int, meta map[string]string, ct *string) error {
		_, err := b.s3.CopyObject(ctx, &s3.CopyObjectInput{
			Bucket: &b.cfg.bucket, Key: &ps.keys[i], CopySource: aws.String(b.cfg.bucket + "/" + url.PathEscape(ps.keys[i])),
			MetadataDirective: types.MetadataDirectiveReplace, Metadata: meta, ContentType: ct,
			TaggingDirective: types.TaggingDirectiveCopy,
		})
		return err
	}
	copyOnly = side{name: "CopyObject (self)", run: func(ctx context.Context) (time.Duration, error) {
		start := time.Now()
		err := pool(ctx, n, b.cfg.concurrency, func(ctx context.Context, i int) error {
			return selfCopy(ctx, i, ps.meta[i], ps.ct[i])
		})
		return time.Since(start), err
	}}
	headCopy = side{name: "HEAD + CopyObject", run: func(ctx context.Context) (time.Duration, error) {
		start := time.Now()
		err := pool(ctx, n, b.cfg.concurrency, func(ctx context.Context, i int) error {
			head, err := b.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &b.cfg.bucket, Key: &ps.keys[i]})
			if err != nil {
				return err
			}
			return selfCopy(ctx, i, head.Metadata, head.ContentType)
		})
		return time.Since(start), err
	}}
	return ours, copyOnly, headCopy, nil
}

// reencryptSides are ReEncrypt (bulk.Run + bulk.ReEncrypt, to the other
// key, V3) and its baseline: GET of each object read whole, then PUT of the
// same bytes and metadata. With from V2, every run of ours starts from V2
// objects under key A, written again before it (untimed): the migration
// V2 -> V3; otherwise V3 objects move between the keys.
func (b *bench) reencryptSides(ctx context.Context, size int64, n int, from string) (ours, plain side, err error) {
	prefix := fmt.Sprintf("reencrypt-%s-%d/", from, size)
	writer := b.clients[0]
	if from == "V2" {
		writer = b.v2Writer
	}
	oset, err := b.putSet(ctx, writer, prefix+"ours/", size, n)
	if err != nil {
		return side{}, side{}, err
	}
	ps, err := b.putSet(ctx, writer, prefix+"plain/", size, n)
	if err != nil {
		return side{}, side{}, err
	}
	csv := b.manifest(oset)
	ours = side{name: "bulk.ReEncrypt", check: func(ctx context.Context) error { return b.checkReadable(ctx, oset, size) }}
	ours.prepare = func(ctx context.Context) error {
		if from == "V2" && oset.rewritten {
			// Back to V2 under key A.
			if _, err := b.putSet(ctx, writer, prefix+"ours/", size, n); err != nil {
				return err
			}
			oset.dir, oset.rewritten = 0, false
		}
		return nil
	}
	ours.run = func(ctx context.Context) (time.Duration, error) {
		target := b.keyrings[1-oset.dir]
		if b.cfg.cacheDataKeys {
			cached, err := materials.NewCachingKeyring(target)
			if err != nil {
				return 0, err
			}
			defer cached.Close()
			target = cached
		}
		op := bulk.ReEncrypt(b.clients[oset.dir], bulk.ReEncryptParams{Keyring: target})
		d, err := b.runJob(ctx, oset, csv, op)
		if err == nil {
			oset.dir, oset.rewritten = 1-oset.dir, true
		}
		return d, err
	}
	limit := size + 64 // the ciphertext: plaintext + tag
	plain = side{name: "GET + PUT", run: func(ctx context.Context) (time.Duration, error) {
		start := time.Now()
		err := pool(ctx, n, b.cfg.concurrency, func(ctx context.Context, i int) error {
			get, err := b.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: &b.cfg.bucket, Key: &ps.keys[i]})
			if err != nil {
				return err
			}
			defer get.Body.Close()
			if l := aws.ToInt64(get.ContentLength); l < 0 || l > limit {
				return fmt.Errorf("GET %s: %d bytes, want at most %d", ps.keys[i], l, limit)
			}
			buf := make([]byte, aws.ToInt64(get.ContentLength))
			if _, err := io.ReadFull(get.Body, buf); err != nil {
				return err
			}
			_, err = b.s3.PutObject(ctx, &s3.PutObjectInput{
				Bucket: &b.cfg.bucket, Key: &ps.keys[i], Body: bytes.NewReader(buf),
				Metadata: get.Metadata, ContentType: get.ContentType,
			})
			return err
		})
		return time.Since(start), err
	}}
	return ours, plain, nil
}

// checkReadable reads one object of a set back with the client of the key
// it is under now: the measured runs left every object readable.
func (b *bench) checkReadable(ctx context.Context, set *objectSet, want int64) error {
	for _, i := range []int{0, len(set.keys) - 1} {
		got, err := b.clients[set.dir].GetObject(ctx, &s3.GetObjectInput{Bucket: &b.cfg.bucket, Key: &set.keys[i]})
		if err != nil {
			return fmt.Errorf("read back %s: %w", set.keys[i], err)
		}
		n, err := io.Copy(io.Discard, got.Body)
		got.Body.Close()
		if err != nil {
			return fmt.Errorf("read back %s: %w", set.keys[i], err)
		}
		if n != want {
			return fmt.Errorf("read back %s: %d bytes, want %d", set.keys[i], n, want)
		}
	}
	return nil
}
