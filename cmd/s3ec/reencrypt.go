package main

import (
	"context"
	"maps"

	"github.com/s3ec/s3ec-go/bulk"
	"github.com/s3ec/s3ec-go/materials"
)

var reencryptCommand = &command{
	name:     "reencrypt",
	synopsis: "s3ec reencrypt [flags] s3://bucket/key | s3://bucket/prefix/ | --manifest",
	summary:  "rewrite encrypted objects under new data keys, in the V3 format",
	help: `
Rewrite encrypted objects in place under a new data key, in the format this
client writes: V3, which commits to its key. It is how V1 (AES-CBC) and V2
objects move to V3, which 'rotate' cannot do (it only re-wraps the data key
and leaves the content as it is). Each object is read, decrypted and
authenticated, encrypted again and written over itself; the new object is
committed only after the old one authenticated in full, and only if the
object did not change meanwhile (the write is conditional on its ETag).
User metadata, content type and the other headers, tags, SSE settings and
storage class are kept; the ACL is not. An object under Object Lock
retention or a legal hold fails: it cannot be rewritten in place.

  s3ec reencrypt --kms-key alias/data --policy allow s3://bucket/logs/
  s3ec reencrypt --aes-key-file old.key --policy allow \
    --legacy-unauthenticated --allow-unauthenticated-source \
    --to-kms-key alias/data s3://bucket/old/
  s3ec reencrypt --kms-discovery --kms-allow KEY-ARN --to-kms-key alias/new \
    --manifest s3://inventory/bucket/config/2026-12-01T00-00Z/manifest.json \
    --report s3://reports/reencrypt.csv --shard 0/8 --resume

The reading keyring is the keyring that decrypts the objects (V2 objects
need --policy allow, V1 AES-CBC objects also --legacy-unauthenticated, and
legacy wrap algorithms --legacy-wrapping). The writing keyring, the --to-
flags, wraps the new data keys; without one, the reading keyring does.
Objects already in the V3 format under the writing key are skipped
(--force rewrites them too), as are objects that are not encrypted (see
'adopt') and instruction files, so a run can be repeated and writes
nothing the second time.

AES-CBC content (V1 objects) carries no authentication tag: nothing tells
whether it was altered, and its re-encryption would authenticate whatever
it holds now. Such objects fail unless --allow-unauthenticated-source is
given; with it they are reported as "reencrypted-unauthenticated", in the
summary and in the report.

The objects are an address (one object, or with a trailing "/" every
object under the prefix) or --manifest. A line per object goes to stdout
(not with --quiet), each failure to stderr, and a summary line to stderr at
the end. See 's3ec --help' for reports, shards, --resume and the exit
codes.`,
	define: defineReencrypt,
}

func defineReencrypt(fs *flagSet) func(context.Context, *env, []string) error {
	var (
		f         clientFlags
		to        keyringFlags
		toContext map[string]string
		b         bulkFlags
		recursive bool
		force     bool
		cache     bool
		allowCBC  bool
	)
	fs.boolVar(&recursive, "recursive", "treat the address as a key prefix, even without a trailing /")
	fs.alias("r", "recursive")
	fs.boolVar(&force, "force", "rewrite objects already in the V3 format under the writing key too")
	fs.boolVar(&allowCBC, "allow-unauthenticated-source", "CBC (V1) objects carry no authentication tag: re-encrypting them authenticates whatever they hold now; use only for objects you trust")
	b.register(fs, "re-encrypt", "re-encrypt `N` objects at once")
	cacheFlag(fs, &cache)
	registerWriting(fs, &to)
	fs.funcVar("to-context", "bind the new data keys to the encryption context entry `KEY=VALUE` (repeatable; KMS only; default: keep each object's context)", pairFlag(&toContext))
	f.keyring.title = "Reading keyring: the keyring that decrypts the objects (exactly one)"
	f.keyring.role = keyDecrypt
	f.register(fs, cryptoPolicy|cryptoLegacyUnauth)

	return func(ctx context.Context, e *env, args []string) error {
		src, err := parseSource("reencrypt", args, b.manifest, recursive)
		if err != nil {
			return err
		}
		if err := b.check(src); err != nil {
			return err
		}
		sameKeyring := !to.given()
		switch {
		case sameKeyring && f.keyring.kmsDiscovery:
			return usagef("--kms-discovery only decrypts: name the keyring that writes the new data keys (--to-kms-key, --to-aes-key-file or --to-rsa-public-key)")
		case len(toContext) > 0 && !(to.isKMS() || sameKeyring && f.keyring.isKMS()):
			return usagef("--to-context needs a KMS writing keyring: local keys cannot bind an encryption context")
		}
		if !sameKeyring {
			if err := to.check(keyEncrypt); err != nil {
				return err
			}
			if kind := to.local(); kind != "" && kind == f.keyring.local() && maps.Equal(to.matDesc, f.keyring.matDesc) && !sameKeyFile(&to, &f.keyring) {
				return usagef("the writing %s key needs a material description of its own: give --to-material-description KEY=VALUE (readers choose a local key by it)", kind)
			}
		}
		f.keyring.kmsOpts = b.kmsOptions()
		c, err := f.connect(ctx, nil, keyDecrypt)
		if err != nil {
			return err
		}
		var writing materials.Keyring // nil: the reading keyring
		if !sameKeyring {
			to.kmsEndpoint = f.keyring.kmsEndpoint
			to.kms = f.keyring.kmsClient(c.cfg)
			if writing, err = to.keyring(c.cfg, false); err != nil {
				return err
			}
		}
		if cache {
			if writing == nil {
				writing = c.keyring
			}
			var release func()
			if writing, release, err = cached(writing, true); err != nil {
				return err
			}
			defer release()
		}
		newContext := toContext // nil keeps each object's context
		if (!sameKeyring && !to.isKMS()) || (sameKeyring && !f.keyring.isKMS()) {
			newContext = map[string]string{}
		}
		op := bulk.ReEncrypt(c.enc, bulk.ReEncryptParams{
			Keyring: writing, EncryptionContext: newContext, DryRun: b.dryRun, Force: force,
			AllowUnauthenticatedSource: allowCBC,
		})
		ctx = f.crypto.withContext(ctx)
		defer cleanups.add("a re-encryption of an object over the multipart threshold may leave a multipart upload behind; list them with: aws s3api list-multipart-uploads --bucket BUCKET")()
		j := &job{e: e, name: "reencrypt", op: op, flags: &b, src: src, plain: c.plain, single: src.object != nil && !b.bulkMode()}
		return j.run(ctx)
	}
}

// registerWriting registers the flags of a second, writing keyring: the
// --to- flags of reencrypt (rotate has its own wording).
func registerWriting(fs *flagSet, k *keyringFlags) {
	k.prefix = "to-"
	fs.group("Writing keyring: wraps the new data keys (default: the reading keyring)")
	fs.stringVar(&k.kmsKey, "to-kms-key", "wrap the new data keys with the AWS KMS key `ID` (key id, key ARN, alias/NAME or alias ARN)")
	fs.stringVar(&k.aesKeyFile, "to-aes-key-file", "wrap the new data keys with the local AES key in `FILE`")
	fs.stringVar(&k.rsaPublic, "to-rsa-public-key", "wrap the new data keys with the RSA public key in `FILE`")
	fs.funcVar("to-material-description", "with a local writing key, the entry `KEY=VALUE` of its material description, by which readers choose their key (repeatable)", pairFlag(&k.matDesc))
}

// given reports whether any keyring flag was given.
func (k *keyringFlags) given() bool {
	return k.kmsKey != "" || k.kmsDiscovery || k.aesKeyFile != "" || k.rsaPrivate != "" || k.rsaPublic != ""
}

// sameKeyFile reports whether two local keyrings name the same key file.
func sameKeyFile(a, b *keyringFlags) bool {
	return a.aesKeyFile != "" && a.aesKeyFile == b.aesKeyFile
}
