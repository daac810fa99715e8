package bulk

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/s3ec/s3ec-go/internal/listguard"
)

// S3Getter is the S3 call that reads a manifest (*s3.Client has it).
type S3Getter interface {
	GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

// ListAPI is the S3 call that lists a prefix (*s3.Client has it).
type ListAPI interface {
	ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, optFns ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
}

// Source opens the files of a manifest: an inventory's data files.
type Source interface {
	Open(ctx context.Context, bucket, key string) (io.ReadCloser, error)
}

// S3Source reads files from S3 with GetObject.
func S3Source(client S3Getter) Source { return s3Source{client} }

type s3Source struct{ c S3Getter }

func (s s3Source) Open(ctx context.Context, bucket, key string) (io.ReadCloser, error) {
	if s.c == nil {
		return nil, errors.New("bulk: no S3 client to read s3://" + bucket + "/" + key)
	}
	out, err := s.c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return nil, err
	}
	return out.Body, nil
}

// DirSource reads files from a local directory: the file at dir/KEY (the
// destination bucket's layout, copied), or else a file of KEY's base name
// in dir or in dir/data (an inventory's data files downloaded beside its
// manifest.json). The bucket is ignored.
func DirSource(dir string) Source { return dirSource(dir) }

type dirSource string

func (d dirSource) Open(_ context.Context, _, key string) (io.ReadCloser, error) {
	if !filepath.IsLocal(filepath.FromSlash(key)) {
		return nil, fmt.Errorf("bulk: data file key %q is not a local path", key)
	}
	var first error
	for _, p := range []string{filepath.FromSlash(key), path.Base(key), filepath.Join("data", path.Base(key))} {
		f, err := os.Open(filepath.Join(string(d), p))
		if err == nil {
			return f, nil
		}
		if first == nil {
			first = err
		}
	}
	return nil, first
}

// Open opens a manifest at location, "s3://bucket/key" (read with client)
// or a local path. An S3 Inventory manifest.json (by its name, or by its
// content: a JSON object) is read with ReadInventory, its data files from
// the same place (the bucket of an S3 manifest.json, which its
// destinationBucket must name when it names one, else a *ManifestError;
// or the directory of a local manifest.json); anything else is a Batch
// Operations CSV (ReadCSV), streamed.
func Open(ctx context.Context, client S3Getter, location string) (Manifest, error) {
	var body io.ReadCloser
	var src Source
	bucket := ""
	if rest, ok := strings.CutPrefix(location, "s3://"); ok {
		b, key, _ := strings.Cut(rest, "/")
		if b == "" || key == "" {
			return nil, fmt.Errorf("bulk: manifest location %q: want s3://bucket/key", location)
		}
		r, err := S3Source(client).Open(ctx, b, key)
		if err != nil {
			return nil, fmt.Errorf("bulk: manifest %s: %w", location, err)
		}
		body, src, bucket = r, S3Source(client), b
	} else {
		f, err := os.Open(location)
		if err != nil {
			return nil, fmt.Errorf("bulk: manifest: %w", err)
		}
		body, src = f, DirSource(filepath.Dir(location))
	}
	br := bufio.NewReader(body)
	head, _ := br.Peek(512)
	isJSON := bytes.HasPrefix(bytes.TrimLeft(bytes.TrimPrefix(head, []byte("\ufeff")), " \t\r\n"), []byte("{"))
	if !isJSON && path.Base(filepath.ToSlash(location)) != "manifest.json" {
		return &csvManifest{lines: newLineReader(br, ""), closer: body}, nil
	}
	defer body.Close()
	doc, err := io.ReadAll(io.LimitReader(br, MaxInventoryManifestSize+1))
	if err != nil {
		return nil, fmt.Errorf("bulk: manifest %s: %w", location, err)
	}
	return readInventory(src, doc, bucket)
}

// List is a listing as a manifest: the objects of bucket under prefix, in
// ListObjectsV2 order, one page held at a time. The keys are taken as the
// server lists them (never decoded). A listing the server makes endless
// (a continuation token that comes back: the same pages again) or that
// names a key outside prefix is an error of Next, a *ListingError.
func List(client ListAPI, bucket, prefix string) Manifest {
	return &listing{c: client, in: &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)}, bucket: bucket, prefix: prefix}
}

// ErrListing is the class of listings a server answers wrongly; the
// *ListingError says how.
var ErrListing = errors.New("bulk: the server's listing cannot be followed")

// ListingError reports a ListObjectsV2 answer that List refuses: a
// continuation token the server handed out before (the listing would
// loop), or a key that does not start with the prefix listed. The tasks
// of the pages before it were already returned.
type ListingError struct {
	Bucket, Prefix string
	Reason         string
}

func (e *ListingError) Error() string {
	return fmt.Sprintf("bulk: list s3://%s/%s: %s", e.Bucket, e.Prefix, e.Reason)
}

// Is makes errors.Is(err, ErrListing) true.
func (e *ListingError) Is(target error) bool { return target == ErrListing }

type listing struct {
	c      ListAPI
	in     *s3.ListObjectsV2Input
	bucket string
	prefix string
	page   []string
	seq    int64
	done   bool
	err    error

	tokens listguard.Tokens // loop detection, in constant memory
}

func (l *listing) Next(ctx context.Context) (Task, error) {
	for len(l.page) == 0 {
		if l.err != nil {
			return Task{}, l.err
		}
		if l.done {
			return Task{}, io.EOF
		}
		out, err := l.c.ListObjectsV2(ctx, l.in)
		if err != nil {
			l.err = fmt.Errorf("bulk: list s3://%s/%s: %w", l.bucket, l.prefix, err)
			return Task{}, l.err
		}
		for _, o := range out.Contents {
			k := aws.ToString(o.Key)
			if !strings.HasPrefix(k, l.prefix) || k == "" {
				l.page = nil
				l.err = &ListingError{Bucket: l.bucket, Prefix: l.prefix, Reason: fmt.Sprintf("the server listed key %q, outside the prefix", k)}
				return Task{}, l.err
			}
			l.page = append(l.page, k)
		}
		tok := aws.ToString(out.NextContinuationToken)
		if !aws.ToBool(out.IsTruncated) || tok == "" {
			l.done = true
			continue
		}
		if err := l.track(tok); err != nil {
			// This page's keys are the ones listed before: not run again.
			l.page = nil
			l.err = err
			return Task{}, err
		}
		l.in.ContinuationToken = aws.String(tok)
	}
	t := Task{Bucket: l.bucket, Key: l.page[0], Seq: l.seq}
	l.page = l.page[1:]
	l.seq++
	return t, nil
}

// track records the next continuation token and fails when the server
// has handed it out before: the request (the one sent, or one Brent's
// check saved) would list the same pages again.
func (l *listing) track(tok string) error {
	if !l.tokens.Next(aws.ToString(l.in.ContinuationToken), tok) {
		return &ListingError{Bucket: l.bucket, Prefix: l.prefix, Reason: "the server handed out a continuation token again (the listing would never end)"}
	}
	return nil
}

func (l *listing) Close() error { return nil }
