package main

import (
	"context"

	"github.com/s3ec/s3ec-go/bulk"
)

var adoptCommand = &command{
	name:     "adopt",
	synopsis: "s3ec adopt [flags] s3://bucket/key | s3://bucket/prefix/ | --manifest",
	summary:  "encrypt existing unencrypted objects in place",
	help: `
Encrypt existing plaintext objects in place: each object is read and
written over itself encrypted (V3), the usual first step of a bucket that
moves to client-side encryption. The write is conditional on the object's
ETag, so an object that changes meanwhile is left alone and reported;
user metadata, content type and the other headers, tags, SSE settings and
storage class are kept, the ACL is not. Objects that already carry an
envelope are refused and left as they are (counted as skipped, reason
already-encrypted), so a run can be repeated and writes nothing the second
time.

  s3ec adopt --kms-key alias/data s3://bucket/uploads/
  s3ec adopt --kms-key alias/data --context team=blue \
    --manifest inventory/manifest.json --report adopt.csv --resume

The keyring is the writing keyring: it wraps the new data keys, and
--context binds them to an encryption context (KMS only). Once adopted,
the objects no longer read without the key: readers must use an S3
Encryption Client, or 's3ec cp' and 's3ec cat'.

The objects are an address (one object, or with a trailing "/" every
object under the prefix) or --manifest. A line per object goes to stdout
(not with --quiet), each failure to stderr, and a summary line to stderr at
the end. See 's3ec --help' for reports, shards, --resume and the exit
codes.`,
	define: defineAdopt,
}

func defineAdopt(fs *flagSet) func(context.Context, *env, []string) error {
	var (
		f         clientFlags
		b         bulkFlags
		recursive bool
		cache     bool
	)
	fs.boolVar(&recursive, "recursive", "treat the address as a key prefix, even without a trailing /")
	fs.alias("r", "recursive")
	b.register(fs, "encrypt", "encrypt `N` objects at once")
	cacheFlag(fs, &cache)
	f.keyring.title = "Writing keyring: the keyring that wraps the new data keys (exactly one)"
	f.keyring.role = keyEncrypt
	f.register(fs, cryptoWrite)

	return func(ctx context.Context, e *env, args []string) error {
		src, err := parseSource("adopt", args, b.manifest, recursive)
		if err != nil {
			return err
		}
		if err := b.check(src); err != nil {
			return err
		}
		f.keyring.kmsOpts = b.kmsOptions()
		c, err := f.connect(ctx, nil, keyEncrypt)
		if err != nil {
			return err
		}
		encCtx := f.crypto.context
		if encCtx == nil {
			encCtx = map[string]string{}
		}
		writing, release, err := cached(c.keyring, cache)
		if err != nil {
			return err
		}
		defer release()
		op := bulk.Adopt(c.enc, bulk.AdoptParams{Keyring: writing, EncryptionContext: encCtx, DryRun: b.dryRun})
		defer cleanups.add("an encryption of an object over the multipart threshold may leave a multipart upload behind; list them with: aws s3api list-multipart-uploads --bucket BUCKET")()
		j := &job{e: e, name: "adopt", op: op, flags: &b, src: src, plain: c.plain, single: src.object != nil && !b.bulkMode()}
		return j.run(ctx)
	}
}
