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

var lsCommand = &command{
	name:     "ls",
	synopsis: "s3ec ls [flags] [s3://bucket[/prefix]]",
	summary:  "list buckets, or objects with their plaintext sizes",
	help: `
List the buckets (no argument), or the objects and common prefixes under an
address, as 'aws s3 ls' does, but with the objects' plaintext sizes:

  2026-12-02 10:00:00       1234 report.pdf
                             PRE photos/

An address that does not end with "/" lists what starts with it at its
level ('ls s3://b/docs' shows "PRE docs/"); --recursive lists every object
under the prefix, with its full key. Times are local.

Sizes are read from each object's envelope without fetching any body: the
plaintext length it records (x-amz-unencrypted-content-length), or the
stored size less the 16-byte tag of AES-GCM. A legacy AES-CBC object that
records no length (its padding decides) shows "?", as does an object whose
envelope cannot be read (reported on stderr; the exit code is then the
first such failure's). An object without an envelope is not encrypted: its
stored size is shown. Instruction files are not listed. Listing needs no
key, but one HEAD request per object (--concurrency at once), and a GET of
the instruction file of objects that keep their envelope there.

An address with a prefix under which nothing is listed fails with exit
code 2.`,
	define: defineLs,
}

func defineLs(fs *flagSet) func(context.Context, *env, []string) error {
	var (
		a           awsFlags
		recursive   bool
		human       bool
		summarize   bool
		concurrency = 16
		suffix      = envelope.DefaultInstructionSuffix
	)
	fs.boolVar(&recursive, "recursive", "list every object under the prefix, with its full key")
	fs.alias("r", "recursive")
	fs.boolVar(&human, "human-readable", "show sizes in KiB, MiB, GiB...")
	fs.boolVar(&summarize, "summarize", "end with the number of objects and their total size")
	fs.intVar(&concurrency, "concurrency", "read the envelopes of `N` objects at once")
	fs.stringVar(&suffix, "instruction-suffix", "name instruction files KEY + `SUFFIX`")
	a.register(fs)

	return func(ctx context.Context, e *env, args []string) error {
		if len(args) > 1 {
			return usagef("ls takes one s3://bucket[/prefix] address, or none (see 's3ec ls --help')")
		}
		if err := checkConcurrency(concurrency); err != nil {
			return err
		}
		if len(args) == 0 || strings.EqualFold(args[0], "s3://") {
			if recursive || summarize {
				return usagef("--recursive and --summarize list objects: name a bucket")
			}
			cfg, err := a.load(ctx)
			if err != nil {
				return err
			}
			return listBuckets(ctx, e, a.s3Client(cfg, nil))
		}
		u, err := parseS3URL(args[0])
		if err != nil {
			return err
		}
		c, err := connectKeyless(ctx, &a, nil, suffix)
		if err != nil {
			return err
		}
		l := &lister{e: e, c: c, bucket: u.bucket, suffix: suffix, human: human, concurrency: concurrency}
		prefix := u.key
		if recursive && prefix != "" && !strings.HasSuffix(prefix, "/") {
			prefix += "/"
		}
		if err := l.list(ctx, prefix, recursive); err != nil {
			return err
		}
		if l.shown == 0 && prefix != "" {
			return &codedError{code: exitNotFound, err: fmt.Errorf("no objects under %s", s3URL{bucket: u.bucket, key: prefix})}
		}
		if summarize {
			fmt.Fprintf(e.stdout, "\nTotal Objects: %d\n   Total Size: %s", l.objects, l.formatSize(l.total))
			if l.unknown > 0 {
				fmt.Fprintf(e.stdout, " (and %d of unknown size)", l.unknown)
			}
			fmt.Fprintln(e.stdout)
		}
		return l.fails.err("objects' sizes")
	}
}

func listBuckets(ctx context.Context, e *env, c *s3.Client) error {
	pages := s3.NewListBucketsPaginator(c, &s3.ListBucketsInput{})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list buckets: %w", err)
		}
		for _, b := range page.Buckets {
			fmt.Fprintf(e.stdout, "%s %s\n", lsTime(aws.ToTime(b.CreationDate)), aws.ToString(b.Name))
		}
	}
	return nil
}

func lsTime(t time.Time) string { return t.Local().Format("2006-01-02 15:04:05") }

// lister prints the objects of one ls.
type lister struct {
	e           *env
	c           *clients
	bucket      string
	suffix      string
	human       bool
	concurrency int

	shown   int // lines printed
	objects int
	total   int64
	unknown int
	fails   failures
}

// list prints a listing page by page: the envelopes of a page are read at
// once, and its lines printed in S3's order.
func (l *lister) list(ctx context.Context, prefix string, recursive bool) error {
	in := &s3.ListObjectsV2Input{Bucket: aws.String(l.bucket)}
	if prefix != "" {
		in.Prefix = aws.String(prefix)
	}
	if !recursive {
		in.Delimiter = aws.String("/")
	}
	// Keys are shown relative to the "directory" of the prefix; with
	// --recursive, whole.
	dir := ""
	if !recursive {
		dir = prefix[:strings.LastIndex(prefix, "/")+1]
	}
	where := s3URL{bucket: l.bucket, key: prefix}
	pages := s3.NewListObjectsV2Paginator(l.c.plain, in)
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return &objectErr{url: where, err: err}
		}
		for _, p := range page.CommonPrefixes {
			k := aws.ToString(p.Prefix)
			if !strings.HasPrefix(k, prefix) {
				return &objectErr{url: where, err: fmt.Errorf("the server listed the prefix %q, which is not under the one asked", k)}
			}
			fmt.Fprintf(l.e.stdout, "%30s %s\n", "PRE", visible(strings.TrimPrefix(k, dir)))
			l.shown++
		}
		objs := make([]s3Object, 0, len(page.Contents))
		for _, o := range page.Contents {
			k := aws.ToString(o.Key)
			if !strings.HasPrefix(k, prefix) {
				return &objectErr{url: where, err: fmt.Errorf("the server listed the key %q, which is not under the prefix", k)}
			}
			objs = append(objs, s3Object{key: k, size: aws.ToInt64(o.Size), modified: aws.ToTime(o.LastModified)})
		}
		rows := l.read(ctx, objs)
		if err := ctx.Err(); err != nil {
			return err
		}
		for i, o := range objs {
			r := rows[i]
			if r.hidden {
				continue
			}
			if r.err != nil {
				l.fails.total++
				l.fails.add(l.e, r.err)
			}
			size := "?"
			if r.size != unknownSize {
				size = l.formatSize(r.size)
				l.total += r.size
			} else {
				l.unknown++
			}
			l.objects++
			l.shown++
			fmt.Fprintf(l.e.stdout, "%s %10s %s\n", lsTime(o.modified), size, visible(strings.TrimPrefix(o.key, dir)))
		}
	}
	return nil
}

type lsRow struct {
	size   int64
	hidden bool // an instruction file
	err    error
}

// read finds each object's plaintext size, and which are instruction
// files, l.concurrency at once.
func (l *lister) read(ctx context.Context, objs []s3Object) []lsRow {
	rows := make([]lsRow, len(objs))
	sz := &sizer{c: l.c, bucket: l.bucket, suffix: l.suffix}
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(l.concurrency, max(1, len(objs))) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				rows[i] = l.row(ctx, sz, objs[i])
			}
		}()
	}
	for i := 0; i < len(objs) && ctx.Err() == nil; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	return rows
}

func (l *lister) row(ctx context.Context, sz *sizer, o s3Object) lsRow {
	if strings.HasSuffix(o.key, "/") && o.size == 0 {
		return lsRow{size: 0} // a folder marker
	}
	if strings.HasSuffix(o.key, l.suffix) {
		instr, err := l.c.enc.IsInstructionFile(encryptionclient.WithInstructionFileSuffix(ctx, l.suffix), &s3.HeadObjectInput{Bucket: aws.String(l.bucket), Key: aws.String(o.key)})
		if err != nil {
			return lsRow{size: unknownSize, err: &objectErr{url: s3URL{bucket: l.bucket, key: o.key}, err: err}}
		}
		if instr {
			return lsRow{hidden: true}
		}
	}
	n, err := sz.size(ctx, o)
	if err != nil && errors.Is(err, context.Canceled) {
		return lsRow{size: unknownSize}
	}
	return lsRow{size: n, err: err}
}

// formatSize renders a size as 'aws s3 ls' does: bytes, or with
// --human-readable "123 Bytes", "1.2 KiB", "3.4 MiB".
func (l *lister) formatSize(n int64) string {
	if !l.human {
		return fmt.Sprint(n)
	}
	if n < 1024 {
		return fmt.Sprintf("%d Bytes", n)
	}
	return formatBytes(n)
}
