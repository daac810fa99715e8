package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/s3ec/s3ec-go/bulk"
	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/materials"
)

var rotateCommand = &command{
	name:     "rotate",
	synopsis: "s3ec rotate [flags] s3://bucket/key | s3://bucket/prefix/ | --manifest",
	summary:  "move objects to a new key without re-uploading them",
	help: `
Re-wrap the data key of an object, or of every object under a prefix, under
a new key. The content is neither downloaded nor re-uploaded: only the
envelope changes (the object is copied onto itself with new metadata, or
only its instruction file is rewritten). Afterwards the objects read with
the new key, and no longer with the old one.

  s3ec rotate --aes-key-file old.key --to-kms-key alias/data s3://bucket/f.pdf
  s3ec rotate --kms-discovery --kms-allow OLD-KEY-ARN \
    --to-kms-key alias/new s3://bucket/logs/

The keyring flags name the current key. Only objects that it would read are
rotated: its key (or, with --kms-discovery, the keys of --kms-allow) must be
the one that wraps the data key, the context must match, and V2 objects need
--policy allow. Anything else, such as an object someone planted under a KMS
key of their own, is reported as a failure. --kms-discovery without
--kms-allow accepts any KMS key your credentials may use, anyone's key that
allows everyone included: always give --kms-allow. From KMS to KMS the data
key moves with KMS ReEncrypt (the current key named as its source) and
never leaves KMS.

An address that ends with "/" or names only the bucket, or any address with
--recursive, rotates every object whose key starts with it, --concurrency at
a time. Objects already under the new key, objects that are not encrypted
and the instruction files of existing objects are skipped, so an
interrupted rotation can simply be run again, or resumed with
--start-after. A failed object does not stop the rotation: each failure is
reported on stderr, and the exit code is the first failure's. Rotated
objects are listed on stdout, with a summary.

--context is the encryption context the objects are expected to carry
(checked when given); --to-context the one the new wrapped keys are bound to
(default: keep the current one). A local new key cannot bind a context: the
context is dropped, which needs --context to name it. Readers choose a local
key by the material description stored with the object, so a new local key
of the kind of the current one needs its own: --to-material-description.
In a versioned bucket, older versions keep the old key.`,
	define: defineRotate,
}

func defineRotate(fs *flagSet) func(context.Context, *env, []string) error {
	var (
		f          clientFlags
		to         keyringFlags
		toContext  map[string]string
		recursive  bool
		startAfter string
		b          = bulkFlags{concurrency: encryptionclient.DefaultRotateConcurrency}
	)
	fs.boolVar(&recursive, "recursive", "treat the address as a key prefix, even without a trailing /")
	fs.alias("r", "recursive")
	fs.stringVar(&startAfter, "start-after", "resume a prefix rotation after `KEY` (printed when one is interrupted; without the bulk flags)")
	b.register(fs, "rotate", "rotate `N` objects of a prefix or manifest at once")
	to.registerTarget(fs, "New keyring (exactly one)")
	fs.funcVar("to-context", "bind the new wrapped keys to the encryption context entry `KEY=VALUE` (repeatable; KMS only)", pairFlag(&toContext))
	f.keyring.title = "Current keyring: decrypts the objects' data keys (exactly one)"
	f.keyring.role = keyDecrypt
	f.register(fs, cryptoPolicy) // --policy: which formats the current key may read

	return func(ctx context.Context, e *env, args []string) error {
		dryRun, quiet, concurrency := b.dryRun, b.quiet, b.concurrency
		if b.bulkMode() {
			return rotateBulk(ctx, e, args, &f, &to, toContext, &b, recursive, startAfter)
		}
		if len(args) != 1 {
			return usagef("rotate needs one s3://bucket/key, s3://bucket/prefix/ or --manifest FILE (see 's3ec rotate --help')")
		}
		u, err := parseS3URL(args[0])
		if err != nil {
			return err
		}
		prefix := recursive || u.key == "" || strings.HasSuffix(u.key, "/")
		switch {
		case checkConcurrency(concurrency) != nil:
			return checkConcurrency(concurrency)
		case checkKMSRate(b.kmsRPS) != nil:
			return checkKMSRate(b.kmsRPS)
		case startAfter != "" && !prefix:
			return usagef("--start-after resumes a prefix rotation; the address names one object")
		case len(toContext) > 0 && !to.isKMS():
			return usagef("--to-context needs --to-kms-key: local keys cannot bind an encryption context")
		}
		c, newKeyring, newContext, err := rotateKeyrings(ctx, &f, &to, toContext, &b)
		if err != nil {
			return err
		}
		r := &rotator{e: e, c: c, quiet: quiet, dryRun: dryRun}
		ctx = f.crypto.withContext(ctx)
		// Objects over 5 GiB are rotated by multipart copies, which an
		// interrupt aborts and waits for.
		defer cleanups.add(fmt.Sprintf("%s: a multipart copy (of an object over 5 GiB) may be left behind; list them with: aws s3api list-multipart-uploads --bucket %s --prefix %s",
			u, shellQuote(u.bucket), shellQuote(u.key)))()
		if !prefix {
			return r.one(ctx, u, &encryptionclient.RewrapInput{
				Bucket: aws.String(u.bucket), Key: aws.String(u.key),
				Keyring: newKeyring, EncryptionContext: newContext, DryRun: dryRun,
			})
		}
		in := &encryptionclient.RotatePrefixInput{
			Bucket: aws.String(u.bucket), Keyring: newKeyring, EncryptionContext: newContext,
			Concurrency: concurrency, DryRun: dryRun,
		}
		if u.key != "" {
			in.Prefix = aws.String(u.key)
		}
		if startAfter != "" {
			in.StartAfter = aws.String(startAfter)
		}
		return r.prefix(ctx, u, in)
	}
}

type rotator struct {
	e      *env
	c      *clients
	quiet  bool
	dryRun bool
}

func (r *rotator) verb() string {
	if r.dryRun {
		return "would rotate"
	}
	return "rotated"
}

func (r *rotator) one(ctx context.Context, u s3URL, in *encryptionclient.RewrapInput) error {
	out, err := r.c.enc.Rewrap(ctx, in)
	if errors.Is(err, encryptionclient.ErrSameWrappingKey) {
		if !r.quiet {
			fmt.Fprintf(r.e.stdout, "%s: already under the new key\n", u)
		}
		return nil
	}
	if err != nil {
		return err
	}
	if !r.quiet {
		fmt.Fprintf(r.e.stdout, "%s: %s (%s, %s -> %s)\n", u, r.verb(), out.Format, out.From, out.To)
	}
	return nil
}

func (r *rotator) prefix(ctx context.Context, u s3URL, in *encryptionclient.RotatePrefixInput) error {
	var first error
	in.Progress = func(ev encryptionclient.RotateEvent) {
		obj := s3URL{bucket: u.bucket, key: ev.Key}
		switch ev.Status {
		case encryptionclient.RotateRotated:
			if !r.quiet {
				fmt.Fprintf(r.e.stdout, "%s: %s (%s, %s -> %s)\n", obj, r.verb(), ev.Output.Format, ev.Output.From, ev.Output.To)
			}
		case encryptionclient.RotateFailed:
			fmt.Fprintln(r.e.stderr, errorLine(ev.Err))
			if first == nil {
				first = ev.Err
			}
		}
	}
	out, err := r.c.enc.RotatePrefix(ctx, in)
	if out != nil && !r.quiet {
		fmt.Fprintf(r.e.stdout, "%s %d, skipped %d (already under the new key %d, not encrypted %d, instruction files %d), failed %d\n",
			r.verb(), out.Rotated, out.Skipped, out.SkippedCurrent, out.SkippedNotEncrypted, out.SkippedInstructionFile, out.Failed)
	}
	switch {
	case err != nil && ctx.Err() != nil && out != nil && out.ResumeAfter != "":
		return &codedError{code: exitInterrupted, err: fmt.Errorf("interrupted; to resume: --start-after %q", out.ResumeAfter)}
	case err != nil:
		return err
	case first != nil:
		return &codedError{code: exitCode(first), err: fmt.Errorf("%d of %d objects failed; run again to retry them", out.Failed, out.Rotated+out.Skipped+out.Failed)}
	}
	return nil
}

// rotateKeyrings checks the keyrings of rotate and makes the clients, the
// new keyring and the new context (nil: keep each object's).
func rotateKeyrings(ctx context.Context, f *clientFlags, to *keyringFlags, toContext map[string]string, b *bulkFlags) (*clients, materials.Keyring, map[string]string, error) {
	if err := to.check(keyEncrypt); err != nil {
		return nil, nil, nil, err
	}
	if kind := to.local(); kind != "" && kind == f.keyring.local() && maps.Equal(to.matDesc, f.keyring.matDesc) {
		// Readers choose a local key by the material description
		// stored with the object: two keys cannot share one.
		return nil, nil, nil, usagef("the new %s key needs a material description of its own: give --to-material-description KEY=VALUE (and --material-description to name the current key's, if it has one)", kind)
	}
	f.keyring.kmsOpts = b.kmsOptions()
	c, err := f.connect(ctx, nil, keyDecrypt)
	if err != nil {
		return nil, nil, nil, err
	}
	to.kmsEndpoint = f.keyring.kmsEndpoint
	to.kms = f.keyring.kmsClient(c.cfg)
	newKeyring, err := to.keyring(c.cfg, false)
	if err != nil {
		return nil, nil, nil, err
	}
	newContext := toContext // nil keeps the current context
	if !to.isKMS() {
		newContext = map[string]string{}
	}
	return c, newKeyring, newContext, nil
}

// rotateBulk is the bulk form of rotate: --manifest, --report, --shard or
// --resume.
func rotateBulk(ctx context.Context, e *env, args []string, f *clientFlags, to *keyringFlags, toContext map[string]string, b *bulkFlags, recursive bool, startAfter string) error {
	src, err := parseSource("rotate", args, b.manifest, recursive)
	if err != nil {
		return err
	}
	switch {
	case startAfter != "":
		return usagef("--start-after resumes a rotation without a report; with --report, use --resume")
	case len(toContext) > 0 && !to.isKMS():
		return usagef("--to-context needs --to-kms-key: local keys cannot bind an encryption context")
	}
	if err := b.check(src); err != nil {
		return err
	}
	c, newKeyring, newContext, err := rotateKeyrings(ctx, f, to, toContext, b)
	if err != nil {
		return err
	}
	op := bulk.Rewrap(c.enc, bulk.RewrapParams{Keyring: newKeyring, EncryptionContext: newContext, DryRun: b.dryRun})
	ctx = f.crypto.withContext(ctx)
	defer cleanups.add("a multipart copy (of an object over 5 GiB) may be left behind; list them with: aws s3api list-multipart-uploads --bucket BUCKET")()
	j := &job{e: e, name: "rotate", op: op, flags: b, src: src, plain: c.plain}
	return j.run(ctx)
}
