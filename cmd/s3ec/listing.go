package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/envelope"
)

// s3Object is one listed object.
type s3Object struct {
	key      string
	size     int64 // stored (ciphertext) size
	modified time.Time
}

// listPrefix lists the objects under prefix, except the instruction files
// of listed objects, and except folder markers (keys ending with "/")
// unless markers is set. A key that only looks like an instruction file
// (its name ends in the suffix, but it is an object of its own:
// encryptionclient.Client.IsInstructionFile) is listed.
//
// Every key must start with prefix: a listing that holds another key (a
// server that does not honour the prefix, or lies) fails as a whole,
// before anything is done with it, so that no command reads, writes or
// deletes anything outside the prefix it was given.
func listPrefix(ctx context.Context, c *clients, bucket, prefix, suffix string, markers bool) ([]s3Object, error) {
	in := &s3.ListObjectsV2Input{Bucket: aws.String(bucket)}
	if prefix != "" {
		in.Prefix = aws.String(prefix)
	}
	where := s3URL{bucket: bucket, key: prefix}
	var objs []s3Object
	pages := s3.NewListObjectsV2Paginator(c.plain, in)
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, &objectErr{url: where, err: err}
		}
		for _, o := range page.Contents {
			k := aws.ToString(o.Key)
			if !strings.HasPrefix(k, prefix) {
				return nil, &objectErr{url: where, err: fmt.Errorf("the server listed the key %q, which is not under the prefix: nothing was done", k)}
			}
			objs = append(objs, s3Object{key: k, size: aws.ToInt64(o.Size), modified: aws.ToTime(o.LastModified)})
		}
	}
	listed := make(map[string]bool, len(objs))
	for _, o := range objs {
		listed[o.key] = true
	}
	out := objs[:0]
	for _, o := range objs {
		if strings.HasSuffix(o.key, "/") {
			if markers {
				out = append(out, o)
			}
			continue
		}
		if base, ok := strings.CutSuffix(o.key, suffix); ok && listed[base] {
			instr, err := c.enc.IsInstructionFile(encryptionclient.WithInstructionFileSuffix(ctx, suffix), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(o.key)})
			if err != nil {
				return nil, &objectErr{url: s3URL{bucket: bucket, key: o.key}, err: err}
			}
			if instr {
				continue
			}
		}
		out = append(out, o)
	}
	return out, nil
}

// listObjects returns the keys listPrefix lists, without folder markers.
func listObjects(ctx context.Context, c *clients, bucket, prefix, suffix string) ([]string, error) {
	objs, err := listPrefix(ctx, c, bucket, prefix, suffix, false)
	if err != nil {
		return nil, err
	}
	keys := make([]string, len(objs))
	for i, o := range objs {
		keys[i] = o.key
	}
	return keys, nil
}

// unknownSize is the plaintext size of an object whose envelope does not
// say it (a legacy AES-CBC object without x-amz-unencrypted-content-length:
// its padding, in the last block, decides).
const unknownSize = -1

// plaintextSize returns the plaintext size of the object head describes,
// with its envelope env (nil: not encrypted): the length the envelope
// records, else the stored size less the GCM tag; unknownSize for CBC
// without a recorded length. No body is read.
func plaintextSize(stored int64, env *envelope.Envelope) int64 {
	switch {
	case env == nil:
		return stored
	case env.PlaintextLength >= 0:
		return env.PlaintextLength
	case env.Suite.Authenticated():
		if n, exact, err := envelope.PlaintextLength(env.Suite, stored); err == nil && exact {
			return n
		}
	}
	return unknownSize
}

// sizer finds the plaintext sizes of listed objects, reading only their
// metadata and instruction files (encryptionclient.ReadEnvelope),
// concurrency at once.
type sizer struct {
	c           *clients
	bucket      string
	suffix      string
	concurrency int
	sse         *objectFlags // the SSE-C key, if any
}

// sizes returns the plaintext size of each object, and for each one whose
// envelope could not be read the error (its size is then unknownSize).
// An object without an envelope is not encrypted: its stored size is its
// size.
func (s *sizer) sizes(ctx context.Context, objs []s3Object) ([]int64, []error) {
	sizes := make([]int64, len(objs))
	errs := make([]error, len(objs))
	work := make(chan int)
	var wg sync.WaitGroup
	for range max(1, s.concurrency) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				sizes[i], errs[i] = s.size(ctx, objs[i])
			}
		}()
	}
	sent := 0
	for ; sent < len(objs) && ctx.Err() == nil; sent++ {
		work <- sent
	}
	close(work)
	wg.Wait()
	for i := sent; i < len(objs); i++ {
		sizes[i], errs[i] = unknownSize, ctx.Err()
	}
	return sizes, errs
}

func (s *sizer) size(ctx context.Context, o s3Object) (int64, error) {
	in := &s3.HeadObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(o.key)}
	if s.sse != nil {
		s.sse.head(in)
	}
	out, err := encryptionclient.ReadEnvelope(encryptionclient.WithInstructionFileSuffix(ctx, s.suffix), s.c.plain, in)
	switch {
	case errors.Is(err, encryptionclient.ErrNotEncrypted):
		return o.size, nil
	case err != nil:
		return unknownSize, &objectErr{url: s3URL{bucket: s.bucket, key: o.key}, err: err}
	}
	return plaintextSize(aws.ToInt64(out.HeadObject.ContentLength), out.Envelope), nil
}
