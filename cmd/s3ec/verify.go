package main

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3ec/s3ec-go/bulk"
	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/envelope"
)

var verifyCommand = &command{
	name:     "verify",
	synopsis: "s3ec verify [flags] s3://bucket/key... | s3://bucket/prefix/ | --manifest",
	summary:  "check that objects decrypt and authenticate, writing no plaintext",
	help: `
Download objects, decrypt them and check their authentication, without
writing the plaintext anywhere, in constant memory (large objects with
parallel ranged reads). It proves that the keyring can unwrap each object's
data key, that its envelope and key commitment are intact, and that its
content was not altered or truncated.

Exit code 0 only if every object authenticated; 3 if one failed
authentication (or is legacy AES-CBC, which cannot be authenticated); 4 if its
data key could not be unwrapped; 2 if it does not exist or is not encrypted.
A line "s3://bucket/key: OK (...)" is printed on stdout for each object that
authenticated, unless --quiet.

With --manifest, --report, --shard or --resume, verify runs as a bulk job:
over one address (an object, or with a trailing "/" a prefix) or the
objects of the manifest, --concurrency objects at once, a line per object
on stdout, each failure on stderr, a completion report line per object
(a failure is a PermanentFailure or, when a retry may help, a
TemporaryFailure) and a summary line on stderr. See 's3ec --help'.`,
	define: defineVerify,
}

func defineVerify(fs *flagSet) func(context.Context, *env, []string) error {
	var (
		f         clientFlags
		recursive bool
		b         = bulkFlags{concurrency: encryptionclient.DefaultConcurrency}
	)
	fs.boolVar(&recursive, "recursive", "verify every object under each prefix")
	fs.alias("r", "recursive")
	b.readOnly = true
	b.register(fs, "verify", fmt.Sprintf("in a bulk run (--manifest, --report, --shard, --resume), verify `N` objects at once (default %d); otherwise read N parts of a large object at once", defaultBulkConcurrency))
	f.keyring.title = "Reading keyring: the keyring that decrypts the objects (exactly one)"
	f.keyring.role = keyDecrypt
	f.register(fs, cryptoPolicy|cryptoLegacyUnauth)

	return func(ctx context.Context, e *env, args []string) error {
		quiet, concurrency := b.quiet, b.concurrency
		b.dryRun = false // verify writes nothing anyway
		if b.bulkMode() {
			if !fs.isSet("concurrency") {
				b.concurrency = defaultBulkConcurrency
			}
			src, err := parseSource("verify", args, b.manifest, recursive)
			if err != nil {
				return err
			}
			if err := b.check(src); err != nil {
				return err
			}
			f.keyring.kmsOpts = b.kmsOptions()
			c, err := f.connect(ctx, nil, keyDecrypt)
			if err != nil {
				return err
			}
			ctx = f.crypto.withContext(ctx)
			j := &job{e: e, name: "verify", op: bulk.Verify(c.enc), flags: &b, src: src, plain: c.plain}
			return j.run(ctx)
		}
		if len(args) == 0 {
			return usagef("verify needs s3://bucket/key (see 's3ec verify --help')")
		}
		if err := checkConcurrency(concurrency); err != nil {
			return err
		}
		if err := checkKMSRate(b.kmsRPS); err != nil {
			return err
		}
		// The KMS rate limit and retries hold outside a bulk run too (the
		// flag was accepted and had no effect).
		f.keyring.kmsOpts = b.kmsOptions()
		urls := make([]s3URL, len(args))
		for i, a := range args {
			var err error
			if recursive {
				urls[i], err = parseS3URL(a)
			} else {
				urls[i], err = parseObjectURL(a)
			}
			if err != nil {
				return err
			}
		}
		p := newProgress(e, quiet)
		c, err := f.connect(ctx, p, keyDecrypt)
		if err != nil {
			return err
		}
		v := &verifier{e: e, c: c, p: p, quiet: quiet, suffix: f.crypto.suffix, concurrency: concurrency}
		ctx = f.crypto.withContext(ctx)
		if !recursive && len(urls) == 1 {
			return v.verify(ctx, urls[0])
		}
		var objs []s3URL
		if recursive {
			for _, u := range urls {
				keys, err := listObjects(ctx, c, u.bucket, u.prefix(), v.suffix)
				if err != nil {
					return err
				}
				if len(keys) == 0 {
					return &codedError{code: exitNotFound, err: fmt.Errorf("no objects under %s", s3URL{bucket: u.bucket, key: u.prefix()})}
				}
				for _, k := range keys {
					objs = append(objs, s3URL{bucket: u.bucket, key: k})
				}
			}
		} else {
			objs = urls
		}
		var fails failures
		for _, obj := range objs {
			fails.total++
			if err := v.verify(ctx, obj); err != nil {
				if ctx.Err() != nil {
					return err
				}
				fails.add(e, err)
			}
		}
		return fails.err("objects")
	}
}

type verifier struct {
	e           *env
	c           *clients
	p           *progress
	quiet       bool
	suffix      string
	concurrency int
}

// verify reads obj with the client's Download, which authenticates it,
// into a writer that discards the plaintext.
func (v *verifier) verify(ctx context.Context, obj s3URL) error {
	// The envelope says whether the object can be authenticated at all.
	head, env, err := readEnvelope(ctx, v.c.plain, obj, v.suffix)
	if err != nil {
		return err
	}
	if !env.Suite.Authenticated() {
		return &codedError{code: exitAuth, err: &objectErr{url: obj, err: fmt.Errorf("legacy %s content has no authentication: it cannot be verified", env.Suite.CipherName())}}
	}
	var b *bar
	if head.ContentLength != nil {
		b = v.p.start(*head.ContentLength-envelope.TagSize, obj.key)
	}
	n, err := v.c.enc.Download(ctx, discard{}, &s3.GetObjectInput{Bucket: aws.String(obj.bucket), Key: aws.String(obj.key)},
		func(o *encryptionclient.DownloadOptions) {
			o.Concurrency = v.concurrency
			if b != nil {
				o.Progress = b.set
			}
		})
	b.done(err)
	if err != nil {
		return err
	}
	if !v.quiet {
		fmt.Fprintf(v.e.stdout, "%s: OK (%s, %s, %d bytes)\n", visible(obj.String()), env.Format, env.Suite, n)
	}
	return nil
}

// discard is an io.WriterAt that keeps nothing.
type discard struct{}

func (discard) WriteAt(p []byte, _ int64) (int, error) { return len(p), nil }
