package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/materials"
)

var cpCommand = &command{
	name:     "cp",
	args:     []string{"SRC", "DST"},
	synopsis: "s3ec cp [flags] SRC DST",
	summary:  "copy files to S3 (encrypting), from S3 (decrypting), or within S3",
	help: `
Copy a local file to S3 (encrypting it), an object from S3 to a local file
(decrypting it), or an object to another place in S3. SRC and DST are
s3://bucket/key addresses or local paths (- for stdin or stdout).

  s3ec cp report.pdf s3://bucket/docs/          upload as docs/report.pdf
  s3ec cp s3://bucket/docs/report.pdf .         download to ./report.pdf
  s3ec cp -r photos/ s3://bucket/photos/        upload a directory
  s3ec cp -r s3://bucket/photos/ photos/        download a prefix
  s3ec cp s3://bucket/notes.txt - | less        decrypt to stdout
  s3ec cp s3://a/k s3://b/k                     copy within S3

Each file is reported on stdout as it is done, as by the aws CLI
("upload: ./a to s3://b/a"), and a recursive copy ends with a summary; an
interrupted one says how far it got ("20 of 30 files: 20 uploaded
(12.3 MiB), 1 interrupted, 9 not started"; exit 130).

A download to a file is written to a temporary file beside it and renamed
only after the whole object was authenticated: a damaged or altered object
never replaces the file. Missing parent directories are created. New files
are created readable by you only (0600); an existing file keeps its
permissions.

A download to stdout is authenticated before the first byte is written: in
memory up to 64 MiB, and larger objects through a temporary file that holds
only their ciphertext (in --spool-dir; it needs as much free space as the
object). --stream writes objects as they arrive, in constant memory and
without the file: a damaged object is then only detected at its end (exit
code 3), after some of it was written, and whatever read the output must
discard it.

Large files, and stdin, are uploaded in parts (8 MiB, --concurrency at
once), and large objects downloaded to files with parallel ranged reads.
Every upload gets a Content-Type: --content-type, or the type of the file
name's extension, or binary/octet-stream.

An S3 copy is a server-side copy (CopyObject, up to 5 GiB): the content is
not decrypted, and the envelope and the instruction file travel with it, so
the copy reads with the same key. It needs no keyring, unless the copy is
re-wrapped for another key: with --to-kms-key, --to-aes-key-file or
--to-rsa-public-key (and the current keyring, to unwrap the data key), the
copy's data key is re-wrapped in place once it is copied (as 's3ec rotate'
does), and the copy is removed again if that fails.

A recursive copy goes on after a failure, reports each one, and exits with
the code of the first. Instruction files are not copied as objects, nor are
folder markers (keys ending with /); no file or object is written over the
instruction file of another object (KEY + suffix): it fails instead. A
recursive download writes only below its destination directory: a key that
does not name a file of its own there (empty, "." or ".." elements, a
leading or doubled /, NUL) is refused and counted as a failure (exit code
5), and so is one whose path runs through a symbolic link leading out of
the destination.
` + resumeHelp + filterHelp,
	define: func(fs *flagSet) func(context.Context, *env, []string) error {
		return defineTransfer(fs, "cp")
	},
}

// transferFlags are the flags of cp and mv.
type transferFlags struct {
	client      clientFlags
	to          keyringFlags // a re-wrap of S3 copies
	recursive   bool
	concurrency int
	out         outputFlags
	filt        filters
	obj         objectFlags
	noResume    bool   // cp: failed uploads are aborted, no token kept
	resumeDir   string // cp: the token directory ("": the default)
	// caseConflict is --case-conflict (caseconflict.go).
	caseConflict string
}

func (t *transferFlags) register(fs *flagSet, name string) {
	t.concurrency = encryptionclient.DefaultConcurrency
	what := "copy"
	if name == "mv" {
		what = "move"
	}
	fs.boolVar(&t.recursive, "recursive", what+" a directory to a prefix, or every object under a prefix to a directory or prefix")
	fs.alias("r", "recursive")
	fs.intVar(&t.concurrency, "concurrency", "transfer `N` parts of a large object at once")
	registerCaseConflict(fs, &t.caseConflict)
	if name == "cp" {
		fs.boolVar(&t.noResume, "no-resume", "abort an interrupted or failed upload instead of keeping it to resume (see above)")
		fs.stringVar(&t.resumeDir, "resume-dir", "keep the resume tokens of uploads in `DIR` (default: $XDG_STATE_HOME/s3ec/uploads)")
		fs.boolVar(&t.client.crypto.stream, "stream", "to stdout: write plaintext before the object is authenticated (see above)")
	}
	t.out.register(fs)
	t.filt.register(fs)
	t.obj.register(fs)
	t.client.keyring.title = "Keyring (exactly one; none for S3 copies that are not re-wrapped)"
	which := cryptoPolicy | cryptoWrite | cryptoLegacyUnauth
	if name == "cp" {
		which |= cryptoSpool // downloads to stdout
	}
	t.client.register(fs, which)
	// (Its group says "exactly one": for cp and mv, give one only to
	// re-wrap S3 copies.)
	t.to.registerTarget(fs, "Re-wrap of S3 copies (at most one): the key that wraps the copy's data key")
}

func defineTransfer(fs *flagSet, name string) func(context.Context, *env, []string) error {
	var t transferFlags
	t.register(fs, name)
	return func(ctx context.Context, e *env, args []string) error {
		if len(args) != 2 {
			return usagef("%s needs SRC and DST, got %d argument(s) (see 's3ec %s --help')", name, len(args), name)
		}
		return t.run(ctx, e, name, args[0], args[1])
	}
}

// run checks the arguments of cp or mv and runs the transfer.
func (t *transferFlags) run(ctx context.Context, e *env, name, src, dst string) error {
	move := name == "mv"
	switch {
	case src == "" || dst == "":
		return usagef("%s: an empty SRC or DST names no file (use . for the current directory, - for stdin or stdout)", name)
	case !isS3URL(src) && !isS3URL(dst):
		return usagef("%s needs an s3://bucket/key address, as SRC or DST (or both)", name)
	case t.recursive && (src == "-" || dst == "-"):
		return usagef("--recursive copies directories; it cannot use stdin or stdout")
	case move && (src == "-" || dst == "-"):
		return usagef("mv moves files and objects; it cannot use stdin or stdout")
	case checkConcurrency(t.concurrency) != nil:
		return checkConcurrency(t.concurrency)
	case t.filt.active() && !t.recursive:
		return usagef("--exclude and --include select files of a recursive %s; add --recursive", name)
	case t.noResume && t.resumeDir != "":
		return usagef("--resume-dir keeps resume tokens, which --no-resume turns off")
	}
	if err := t.obj.check(); err != nil {
		return err
	}
	var srcURL, dstURL s3URL
	var err error
	if isS3URL(src) {
		if srcURL, err = parseS3URL(src); err != nil {
			return err
		}
	}
	if isS3URL(dst) {
		if dstURL, err = parseS3URL(dst); err != nil {
			return err
		}
	}
	toSet := t.to.kmsKey != "" || t.to.aesKeyFile != "" || t.to.rsaPublic != "" || len(t.to.matDesc) > 0
	s3copy := isS3URL(src) && isS3URL(dst)
	switch {
	case toSet && !s3copy:
		return usagef("--to-kms-key, --to-aes-key-file and --to-rsa-public-key re-wrap S3 copies (s3://... to s3://...)")
	case !isS3URL(dst) && t.obj.settings():
		return usagef("--content-type, --metadata, --cache-control, --sse, --storage-class and --expected-size set how objects are stored: they apply to uploads and S3 copies")
	case t.obj.expectedSize != "" && src != "-":
		return usagef("--expected-size is for uploads from stdin (-)")
	case s3copy && t.obj.sseC != "":
		return usagef("--sse-c is not supported for S3 copies")
	case !t.recursive && s3copy && srcURL.bucket == dstURL.bucket && srcURL.key == dstURL.key && !t.obj.settings():
		return usagef("%s: %s onto itself changes nothing", name, srcURL)
	}

	x := &transfer{e: e, f: t, move: move}
	p := t.out.progress(e)
	var c *clients
	switch {
	case s3copy && !toSet && !t.keyringSet():
		c, err = connectKeyless(ctx, &t.client.aws, p, t.client.crypto.suffix)
	case s3copy:
		c, err = x.connectRewrap(ctx, p)
	case isS3URL(src):
		c, err = t.client.connect(ctx, p, keyDecrypt)
	default:
		c, err = t.client.connect(ctx, p, keyEncrypt)
	}
	if err != nil {
		return err
	}
	if err := t.obj.checkEndpoint(c.plain); err != nil {
		return err
	}
	x.cp = &copier{e: e, c: c, p: p, suffix: t.client.crypto.suffix, concurrency: t.concurrency, obj: &t.obj}
	if name == "cp" && !t.noResume && isS3URL(dst) && !s3copy {
		if x.cp.resume, err = newResumeStore(t.resumeDir, endpointOf(&t.client.aws)); err != nil {
			return err
		}
	}
	ctx = t.client.crypto.withContext(ctx)

	var ops []op
	switch {
	case s3copy && t.recursive:
		ops, err = x.copyPrefix(ctx, srcURL, dstURL)
	case s3copy:
		ops, err = x.copyOne(ctx, srcURL, dstURL)
	case isS3URL(dst) && t.recursive:
		ops, err = x.uploadDir(src, dstURL)
	case isS3URL(dst):
		ops, err = x.uploadOne(src, dstURL)
	case t.recursive:
		ops, err = x.downloadPrefix(ctx, srcURL, dst)
	case dst == "-":
		if err := checkObject(srcURL); err != nil {
			return err
		}
		if t.out.dryRun {
			return nil
		}
		return x.cp.toWriter(ctx, srcURL, e.stdout, t.client.crypto.stream)
	default:
		ops, err = x.downloadOne(srcURL, dst)
	}
	if err != nil {
		return err
	}
	return (&runner{e: e, out: &t.out, many: t.recursive}).run(ctx, ops)
}

// keyringSet reports whether a keyring flag was given.
func (t *transferFlags) keyringSet() bool {
	k := &t.client.keyring
	return k.kmsKey != "" || k.kmsDiscovery || k.aesKeyFile != "" || k.rsaPrivate != "" || k.rsaPublic != ""
}

// transfer plans the ops of one cp or mv.
type transfer struct {
	e    *env
	f    *transferFlags
	cp   *copier
	move bool
	// newKeyring, when set, re-wraps S3 copies; newContext is the
	// context to bind (nil: the current one).
	newKeyring materials.Keyring
	newContext map[string]string
}

// verb is what the op is called in the output.
func (x *transfer) verb(v string) string {
	if x.move {
		return "move"
	}
	return v
}

// connectRewrap connects for an S3 copy with a keyring: the current one,
// and the new one of --to-*, if given.
func (x *transfer) connectRewrap(ctx context.Context, p *progress) (*clients, error) {
	t := x.f
	toSet := t.to.kmsKey != "" || t.to.aesKeyFile != "" || t.to.rsaPublic != "" || len(t.to.matDesc) > 0
	if toSet {
		if err := t.to.check(keyEncrypt); err != nil {
			return nil, err
		}
		if kind := t.to.local(); kind != "" && kind == t.client.keyring.local() && equalMaps(t.to.matDesc, t.client.keyring.matDesc) {
			return nil, usagef("the new %s key needs a material description of its own: give --to-material-description KEY=VALUE (and --material-description to name the current key's, if it has one)", kind)
		}
	}
	c, err := t.client.connect(ctx, p, keyDecrypt)
	if err != nil {
		return nil, err
	}
	if toSet {
		t.to.kmsEndpoint = t.client.keyring.kmsEndpoint
		t.to.kms = t.client.keyring.kmsClient(c.cfg)
		if x.newKeyring, err = t.to.keyring(c.cfg, false); err != nil {
			return nil, err
		}
		if !t.to.isKMS() {
			x.newContext = map[string]string{} // local keys bind no context
		}
	}
	return c, nil
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// uploadOne plans the upload of a file, or of stdin for "-".
func (x *transfer) uploadOne(src string, dst s3URL) ([]op, error) {
	if dst.key == "" || strings.HasSuffix(dst.key, "/") {
		if src == "-" {
			return nil, usagef("name the object to write from stdin: s3://bucket/key")
		}
		dst.key += filepath.Base(src)
	}
	if src == "-" {
		return []op{{verb: "upload", from: "-", to: dst.String(), quiet: true, run: func(ctx context.Context) (int64, error) {
			return x.cp.uploadStdin(ctx, dst)
		}, dryCheck: x.cp.dryCheck(dst)}}, nil
	}
	st, err := os.Stat(src)
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return nil, usagef("%s is a directory; pass --recursive to copy it", src)
	}
	return []op{x.uploadOp(src, st, dst)}, nil
}

// uploadOp is the op that uploads the file at p (st its os.Stat) to dst,
// and for mv removes the file once the object is stored and checked.
func (x *transfer) uploadOp(p string, st fs.FileInfo, dst s3URL) op {
	return op{verb: x.verb("upload"), from: displayLocal(p), to: dst.String(), run: func(ctx context.Context) (int64, error) {
		out, err := x.cp.uploadFile(ctx, p, st, dst)
		if err != nil || !x.move {
			return st.Size(), err
		}
		return st.Size(), x.removeUploaded(ctx, p, st, dst, out)
	}, dryCheck: x.cp.dryCheck(dst)}
}

// uploadDir plans the upload of every regular file under root (that the
// filters select) to dst's prefix, keyed by its path relative to root.
func (x *transfer) uploadDir(root string, dst s3URL) ([]op, error) {
	st, err := os.Stat(root)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return nil, usagef("--recursive: %s is not a directory", root)
	}
	prefix := dst.prefix()
	files, _, err := walkFiles(x.e, root)
	if err != nil {
		return nil, err
	}
	var ops []op
	for _, f := range files {
		if f.err != nil {
			ops = append(ops, op{err: f.err})
			continue
		}
		if !x.f.filt.includes(f.rel) {
			continue
		}
		ops = append(ops, x.uploadOp(filepath.Join(root, filepath.FromSlash(f.rel)), f.st, s3URL{bucket: dst.bucket, key: prefix + f.rel}))
	}
	return ops, nil
}

// localFile is a file found under a directory: its path relative to the
// directory, with "/" separators, and its os.Stat; or the error that kept
// it (or, for a directory, what it holds) from being listed, with the
// path it happened at in rel ("." for the directory itself).
type localFile struct {
	rel string
	st  fs.FileInfo
	err error
}

// walkFiles lists the regular files under root (following symbolic links
// to files, not to directories), in lexical order. Other files are
// skipped, with a note on stderr when e is not nil.
//
// skipped lists the relative paths of what is there but was skipped (a
// link to a directory, a device, a FIFO): not absent, so that sync
// --delete keeps the objects at and below them.
func walkFiles(e *env, root string) (files []localFile, skipped []string, err error) {
	relOf := func(p string) string {
		if rel, err := filepath.Rel(root, p); err == nil {
			return filepath.ToSlash(rel)
		}
		return "."
	}
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			files = append(files, localFile{rel: relOf(p), err: err})
			return nil
		}
		if d.IsDir() {
			return nil
		}
		st, err := os.Stat(p) // follows symbolic links
		if err != nil {
			files = append(files, localFile{rel: relOf(p), err: err})
			return nil
		}
		if !st.Mode().IsRegular() {
			if e != nil {
				fmt.Fprintf(e.stderr, "s3ec: skipping %s: not a regular file\n", p)
			}
			skipped = append(skipped, relOf(p))
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		files = append(files, localFile{rel: filepath.ToSlash(rel), st: st})
		return nil
	})
	return files, skipped, err
}

// removeUploaded removes the file a move uploaded, once the object is
// checked: it reads back as an encrypted object of the file's length with
// the ETag the upload returned, and the file did not change meanwhile.
func (x *transfer) removeUploaded(ctx context.Context, p string, before fs.FileInfo, dst s3URL, out *encryptionclient.UploadOutput) error {
	head, err := x.cp.head(ctx, dst)
	if err != nil {
		// (Not the error's own class: the move failed its check.)
		return &codedError{code: exitOther, err: fmt.Errorf("%s was uploaded, but cannot be checked; %s was kept: %v", dst, p, err)}
	}
	switch {
	case aws.ToInt64(head.ContentLength) != before.Size():
		return &objectErr{url: dst, err: fmt.Errorf("holds %d bytes, but %s has %d; %s was kept", aws.ToInt64(head.ContentLength), p, before.Size(), p)}
	case out != nil && out.ETag != nil && head.ETag != nil && aws.ToString(out.ETag) != aws.ToString(head.ETag):
		return &objectErr{url: dst, err: fmt.Errorf("changed after the upload (ETag %s, uploaded %s); %s was kept", aws.ToString(head.ETag), aws.ToString(out.ETag), p)}
	}
	after, err := os.Stat(p)
	if err != nil {
		return err
	}
	if !os.SameFile(before, after) || after.Size() != before.Size() || !after.ModTime().Equal(before.ModTime()) {
		return fmt.Errorf("%s changed while it was uploaded to %s; it was kept", p, dst)
	}
	return os.Remove(p)
}

// downloadOne plans the download of one object to a file, or into a
// directory. Missing parent directories are created, as by the aws CLI.
func (x *transfer) downloadOne(src s3URL, dst string) ([]op, error) {
	if err := checkObject(src); err != nil {
		return nil, err
	}
	dir, name := filepath.Dir(dst), filepath.Base(dst)
	st, err := os.Stat(dst)
	isDir := err == nil && st.IsDir()
	if isDir || endsWithSeparator(dst) {
		// Named after the key's last element, which must be a file name.
		dir, name = dst, path.Base(src.key)
		if _, err := localPath(name); err != nil {
			return nil, usagef("%s: cannot name a file after the key (%v); give the file name", src, err)
		}
	} else if _, err := localPath(name); err != nil {
		return nil, usagef("%s: %v: name the file to write", dst, err)
	}
	shown := filepath.Join(dir, name)
	if !isDir && !endsWithSeparator(dst) {
		shown = dst
	}
	return []op{{verb: x.verb("download"), from: src.String(), to: displayLocal(shown), run: func(ctx context.Context) (int64, error) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return 0, err
		}
		root, err := os.OpenRoot(dir)
		if err != nil {
			return 0, err
		}
		defer root.Close()
		return x.downloadOrMove(ctx, src, root, name)
	}}}, nil
}

// downloadOrMove downloads src into name below root; a move then deletes
// the source, but only the object downloaded: the download is pinned to
// the ETag of a HeadObject made first, and the delete is conditional on it,
// so an object a writer stores at the key meanwhile (downloaded by no one)
// is kept, and the move fails.
func (x *transfer) downloadOrMove(ctx context.Context, src s3URL, root *os.Root, name string) (int64, error) {
	if !x.move {
		return x.cp.downloadFile(ctx, src, root, name, time.Time{}, nil)
	}
	h, err := x.cp.head(ctx, src)
	if err != nil {
		return 0, err
	}
	n, err := x.cp.downloadFile(ctx, src, root, name, time.Time{}, h.ETag)
	if err == nil {
		err = x.cp.deleteSource(ctx, src, h.ETag)
	}
	return n, err
}

// downloadPrefix plans the download of every object under src's prefix
// (that the filters select) into dir, at its key relative to the prefix.
func (x *transfer) downloadPrefix(ctx context.Context, src s3URL, dir string) ([]op, error) {
	prefix := src.prefix()
	objs, err := listPrefix(ctx, x.cp.c, src.bucket, prefix, x.cp.suffix, false)
	if err != nil {
		return nil, err
	}
	if len(objs) == 0 {
		return nil, &codedError{code: exitNotFound, err: fmt.Errorf("no objects under %s", s3URL{bucket: src.bucket, key: prefix})}
	}
	var ops []op
	// Every file is written through root: no key, and no symbolic link in
	// the destination, can lead a write out of it.
	root := &lazyRoot{dir: dir}
	cc := newCaseChecker(x.cp.e, x.f.caseConflict, dir)
	for _, o := range objs {
		obj := s3URL{bucket: src.bucket, key: o.key}
		rel := strings.TrimPrefix(o.key, prefix)
		if !x.f.filt.includes(rel) {
			continue
		}
		name, err := localPath(rel)
		if err != nil {
			ops = append(ops, op{err: &objectErr{url: obj, err: fmt.Errorf("%v: it does not name a file of its own below %s; skipped", err, dir)}})
			continue
		}
		if ok, err := cc.check(obj, name); err != nil {
			return nil, err
		} else if !ok {
			continue
		}
		ops = append(ops, op{verb: x.verb("download"), from: obj.String(), to: displayLocal(filepath.Join(dir, name)), run: func(ctx context.Context) (int64, error) {
			r, err := root.open()
			if err != nil {
				return 0, err
			}
			return x.downloadOrMove(ctx, obj, r, name)
		}})
	}
	return ops, nil
}

// copyOne plans an S3 copy of one object. A destination that ends with
// "/" (or is the bucket) is a prefix: the key's last element is added.
func (x *transfer) copyOne(ctx context.Context, src, dst s3URL) ([]op, error) {
	if err := checkObject(src); err != nil {
		return nil, err
	}
	if dst.key == "" || strings.HasSuffix(dst.key, "/") {
		dst.key += path.Base(src.key)
	}
	if x.move && src == dst {
		return nil, usagef("mv: %s onto itself would delete the object it copied in place (use cp to change its settings)", src)
	}
	return []op{x.copyOp(src, dst)}, nil
}

// copyPrefix plans S3 copies of every object under src's prefix (that the
// filters select) to dst's prefix.
func (x *transfer) copyPrefix(ctx context.Context, src, dst s3URL) ([]op, error) {
	prefix, dstPrefix := src.prefix(), dst.prefix()
	if src.bucket == dst.bucket && (strings.HasPrefix(dstPrefix, prefix) || strings.HasPrefix(prefix, dstPrefix)) && !(x.f.obj.settings() && prefix == dstPrefix) {
		return nil, usagef("%s and %s overlap: a recursive copy would copy its own copies or overwrite its sources", s3URL{bucket: src.bucket, key: prefix}, s3URL{bucket: dst.bucket, key: dstPrefix})
	}
	if x.move && src.bucket == dst.bucket && prefix == dstPrefix {
		return nil, usagef("mv: %s onto itself would delete the objects it copied in place (use cp to change their settings)", s3URL{bucket: src.bucket, key: prefix})
	}
	objs, err := listPrefix(ctx, x.cp.c, src.bucket, prefix, x.cp.suffix, false)
	if err != nil {
		return nil, err
	}
	if len(objs) == 0 {
		return nil, &codedError{code: exitNotFound, err: fmt.Errorf("no objects under %s", s3URL{bucket: src.bucket, key: prefix})}
	}
	var ops []op
	for _, o := range objs {
		rel := strings.TrimPrefix(o.key, prefix)
		if !x.f.filt.includes(rel) {
			continue
		}
		ops = append(ops, x.copyOp(s3URL{bucket: src.bucket, key: o.key}, s3URL{bucket: dst.bucket, key: dstPrefix + rel}))
	}
	return ops, nil
}

// copyOp is the op of one S3 copy: CopyObject (the envelope and the
// instruction file travel), the re-wrap of the copy if asked, and for mv
// the check of the copy and the delete of the source.
func (x *transfer) copyOp(src, dst s3URL) op {
	return op{verb: x.verb("copy"), from: src.String(), to: dst.String(), run: func(ctx context.Context) (int64, error) {
		return x.copy(ctx, src, dst)
	}, dryCheck: x.cp.dryCheck(dst)}
}

func (x *transfer) copy(ctx context.Context, src, dst s3URL) (int64, error) {
	c := x.cp.c
	var srcHead *s3.HeadObjectOutput
	if x.move {
		// The source's plaintext length, to check the copy by.
		var err error
		if srcHead, err = x.cp.head(ctx, src); err != nil {
			return 0, err
		}
	}
	if err := x.cp.notInstructionFile(ctx, dst); err != nil {
		return 0, err
	}
	if x.newKeyring != nil {
		// The re-wrap's reads and checks, on the source, before anything
		// is copied: a key the keyring may not re-wrap from, or an
		// envelope it refuses, fails here with nothing written.
		_, err := c.enc.Rewrap(ctx, &encryptionclient.RewrapInput{
			Bucket: aws.String(src.bucket), Key: aws.String(src.key),
			Keyring: x.newKeyring, EncryptionContext: x.newContext, DryRun: true,
		})
		if err != nil && !errors.Is(err, encryptionclient.ErrSameWrappingKey) {
			return 0, fmt.Errorf("the copy could not be re-wrapped (nothing was copied): %w", err)
		}
	}
	in := &s3.CopyObjectInput{Bucket: aws.String(dst.bucket), Key: aws.String(dst.key), CopySource: aws.String(copySource(src))}
	x.cp.obj.copyIn(in, dst.key)
	if srcHead != nil {
		// A move copies (and then deletes) exactly the object checked.
		in.CopySourceIfMatch = srcHead.ETag
	}
	copied, err := c.enc.CopyObject(ctx, in)
	if err != nil {
		return 0, err
	}
	if x.newKeyring != nil {
		_, err := c.enc.Rewrap(ctx, &encryptionclient.RewrapInput{
			Bucket: aws.String(dst.bucket), Key: aws.String(dst.key),
			Keyring: x.newKeyring, EncryptionContext: x.newContext,
		})
		if err != nil && !errors.Is(err, encryptionclient.ErrSameWrappingKey) {
			// The copy must not stay readable under the old key alone.
			return 0, fmt.Errorf("re-wrap of the copy failed (%s): %w", x.cp.removeCopy(context.WithoutCancel(ctx), in, copied), err)
		}
	}
	if !x.move || src == dst {
		// (A move in place is refused before it starts: the source is
		// the copy, never deleted.)
		return 0, nil
	}
	head, err := x.cp.head(ctx, dst)
	if err != nil {
		return 0, &codedError{code: exitOther, err: fmt.Errorf("%s was copied, but cannot be checked; %s was kept: %v", dst, src, err)}
	}
	if n, m := aws.ToInt64(head.ContentLength), aws.ToInt64(srcHead.ContentLength); n != m {
		return 0, &objectErr{url: dst, err: fmt.Errorf("holds %d bytes, but the source %d; %s was kept", n, m, src)}
	}
	return aws.ToInt64(head.ContentLength), x.cp.deleteSource(ctx, src, srcHead.ETag)
}

// removeCopy removes the object a CopyObject (in, answered with out)
// created, and says what it did. It removes only what a HeadObject shows to be
// that copy (its ETag): in a versioned bucket exactly the version the copy
// created, so that the version current before becomes current again
// (deleting the key would hide it behind a delete marker and keep the
// copy); in an unversioned one the object, conditional on that ETag, so
// that an object stored meanwhile stays.
func (cp *copier) removeCopy(ctx context.Context, in *s3.CopyObjectInput, out *s3.CopyObjectOutput) string {
	c := cp.c
	var etag *string
	if out.CopyObjectResult != nil {
		etag = out.CopyObjectResult.ETag
	}
	version := aws.ToString(out.VersionId)
	if version == "null" {
		version = ""
	}
	head := &s3.HeadObjectInput{
		Bucket: in.Bucket, Key: in.Key,
		SSECustomerAlgorithm: in.SSECustomerAlgorithm, SSECustomerKey: in.SSECustomerKey, SSECustomerKeyMD5: in.SSECustomerKeyMD5,
	}
	del := &s3.DeleteObjectInput{Bucket: in.Bucket, Key: in.Key}
	if version != "" {
		head.VersionId, del.VersionId = aws.String(version), aws.String(version)
	}
	h, err := c.plain.HeadObject(ctx, head)
	switch {
	case err != nil:
		return "the copy, still under the source's key, could not be checked, and was kept: " + err.Error()
	case aws.ToString(etag) == "" || strings.Trim(aws.ToString(h.ETag), `"`) != strings.Trim(aws.ToString(etag), `"`):
		return "the object now at the destination is not the copy, and was kept"
	}
	if version == "" {
		del.IfMatch = h.ETag
	}
	if _, err := c.enc.DeleteObject(ctx, del); err != nil {
		return "the copy, still under the source's key, could not be removed: " + err.Error()
	}
	return "the copy was removed"
}

// copySource renders an object as CopyObject's x-amz-copy-source: the key
// URL-encoded element by element, '+' too (some servers read a bare '+' as
// a space).
func copySource(u s3URL) string {
	parts := strings.Split(u.key, "/")
	for i, p := range parts {
		parts[i] = strings.ReplaceAll(url.PathEscape(p), "+", "%2B")
	}
	return u.bucket + "/" + strings.Join(parts, "/")
}

// copier runs the transfers of one cp, mv, sync or cat command.
type copier struct {
	e           *env
	c           *clients
	p           *progress
	suffix      string       // instruction-file suffix
	concurrency int          // parts transferred at once
	obj         *objectFlags // object settings and the SSE-C key; nil: none
	resume      *resumeStore // the resume tokens of file uploads; nil: none
}

// upload encrypts body, of size bytes (-1 when unknown), to dst. The
// client's Upload sends it with one PutObject when it is small, and with a
// parallel multipart upload otherwise; a seekable file is read in constant
// memory, a pipe in parts. name is the file's name, for the Content-Type
// ("" for stdin). With job, the upload is resumable (see resumeHelp): a
// token the job holds is resumed, and an upload left open says so.
func (cp *copier) upload(ctx context.Context, body io.Reader, size int64, name string, dst s3URL, job *resumeJob) (*encryptionclient.UploadOutput, error) {
	if err := cp.notInstructionFile(ctx, dst); err != nil {
		return nil, err
	}
	in := &s3.PutObjectInput{Bucket: aws.String(dst.bucket), Key: aws.String(dst.key), Body: body}
	obj := cp.obj
	if obj == nil {
		obj = &objectFlags{}
	}
	obj.put(in, name)
	wire := int64(-1) // bytes sent: the ciphertext and its tag
	if size >= 0 {
		wire = size + envelope.TagSize
	}
	desc := name
	if desc == "" {
		desc = "stdin"
	}
	b := cp.p.start(wire, desc)
	pending := fmt.Sprintf("%s: its multipart upload may be left behind; list it with: aws s3api list-multipart-uploads --bucket %s --prefix %s",
		dst, shellQuote(dst.bucket), shellQuote(dst.key))
	if job != nil {
		pending = job.pendingLine()
	}
	forget := cleanups.add(pending)
	out, err := cp.uploadOnce(withBar(ctx, b), in, job)
	forget()
	b.done(err)
	switch {
	case err == nil && ctx.Err() != nil:
		// Interrupted while the upload was being completed: Upload
		// waited for the answer, and the object is stored.
		fmt.Fprintf(cp.e.stderr, "s3ec: interrupted, but the upload had finished: %s is stored\n", dst)
	case err != nil && ctx.Err() != nil && size >= 0 && size < encryptionclient.DefaultUploadPartSize:
		// One PutObject, cancelled in flight: the server may have
		// stored the object before the connection closed.
		var ua *encryptionclient.UploadAbortError
		if !errors.As(err, &ua) {
			err = &interruptedErr{err: err, note: fmt.Sprintf("%s may have been stored before the interrupt; check with 's3ec verify %s'", dst, dst)}
		}
	}
	return out, err
}

// notInstructionFile refuses to write an object at dst when dst is the
// instruction file of another object (KEY + suffix, as the library's
// IsInstructionFile tells it): that file holds KEY's wrapped data key, and
// an object written over it would leave KEY unreadable for good. (A file
// named so is found in a tree mirrored with the aws CLI, which downloads
// instruction files as files.)
func (cp *copier) notInstructionFile(ctx context.Context, dst s3URL) error {
	base, ok := strings.CutSuffix(dst.key, cp.suffix)
	if !ok || base == "" {
		return nil
	}
	in := &s3.HeadObjectInput{Bucket: aws.String(dst.bucket), Key: aws.String(dst.key)}
	if cp.obj != nil {
		cp.obj.head(in)
	}
	instr, err := cp.c.enc.IsInstructionFile(encryptionclient.WithInstructionFileSuffix(ctx, cp.suffix), in)
	switch {
	case err != nil:
		return &objectErr{url: dst, err: fmt.Errorf("cannot tell whether it is the instruction file of %s, so nothing was written: %w", s3URL{bucket: dst.bucket, key: base}, err)}
	case instr:
		return &objectErr{url: dst, err: fmt.Errorf("is the instruction file of %s, which would not read again if an object replaced it: skipped (name the object otherwise)", s3URL{bucket: dst.bucket, key: base})}
	}
	return nil
}

// dryCheck is the check of a write to dst that a dry run makes: the
// destination is not another object's instruction file.
func (cp *copier) dryCheck(dst s3URL) func(context.Context) error {
	return func(ctx context.Context) error { return cp.notInstructionFile(ctx, dst) }
}

// uploadStdin uploads stdin: seekable, in one request, when it is a file.
func (cp *copier) uploadStdin(ctx context.Context, dst s3URL) (int64, error) {
	if f, ok := cp.e.stdin.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
			pos, err := f.Seek(0, io.SeekCurrent)
			if err == nil {
				out, err := cp.upload(ctx, f, st.Size()-pos, "", dst, nil)
				return uploaded(out), err
			}
		}
	}
	out, err := cp.upload(ctx, cp.e.stdin, -1, "", dst, nil)
	return uploaded(out), err
}

func uploaded(out *encryptionclient.UploadOutput) int64 {
	if out == nil {
		return 0
	}
	return out.Size
}

// uploadFile uploads the file at path, of which st is the os.Stat.
func (cp *copier) uploadFile(ctx context.Context, path string, st fs.FileInfo, dst s3URL) (*encryptionclient.UploadOutput, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size := st.Size()
	if !st.Mode().IsRegular() {
		size = -1 // a pipe or a device: its length is not known
	}
	// A regular *os.File is seekable: the client reads it in constant
	// memory and can rewind it for signing and retries. One that goes in
	// parts is resumable.
	var job *resumeJob
	if cp.resume != nil && size >= encryptionclient.DefaultUploadPartSize {
		if job, err = cp.resume.job(path, dst); err != nil {
			return nil, err
		}
	}
	return cp.upload(ctx, f, size, path, dst, job)
}

// uploadOnce runs the Upload of in: resumable with job, from the token it
// holds, and anew when the token is refused for a reason that starting
// over cures (cp.restart). The body must be seekable when job is set.
func (cp *copier) uploadOnce(ctx context.Context, in *s3.PutObjectInput, job *resumeJob) (*encryptionclient.UploadOutput, error) {
	opts := func(tok []byte) func(*encryptionclient.UploadOptions) {
		return func(o *encryptionclient.UploadOptions) {
			o.Concurrency = cp.concurrency
			if job != nil {
				o.OnResumeToken, o.ResumeToken = job.save, tok
			}
		}
	}
	if job == nil {
		return cp.c.enc.Upload(ctx, in, opts(nil))
	}
	tok, err := job.load()
	if err != nil {
		return nil, err
	}
	out, err := cp.c.enc.Upload(ctx, in, opts(tok))
	if err != nil && tok != nil && ctx.Err() == nil {
		again, rerr := cp.restart(ctx, job, err)
		switch {
		case rerr != nil && isKeyringRefusal(rerr):
			return nil, &tokenRefusedErr{path: job.path, err: rerr}
		case rerr != nil:
			return nil, rerr
		case again:
			if _, serr := in.Body.(io.Seeker).Seek(0, io.SeekStart); serr != nil {
				return nil, serr
			}
			out, err = cp.c.enc.Upload(ctx, in, opts(nil))
		}
	}
	var ie *encryptionclient.UploadInterruptedError
	switch {
	case err == nil:
		if rerr := job.remove(); rerr != nil {
			fmt.Fprintf(cp.e.stderr, "s3ec: %s is stored, but %v\n", job.dst, rerr)
		}
	case errors.As(err, &ie):
		// The token file stays, for the same command to resume it.
		err = &resumableErr{display: job.display, dst: job.dst, id: ie.UploadID, cause: &objectErr{url: job.dst, err: ie.Err}, err: err}
	}
	return out, err
}

// head returns the metadata of an encrypted object, its ContentLength the
// plaintext length (its envelope read, instruction file included).
func (cp *copier) head(ctx context.Context, u s3URL) (*s3.HeadObjectOutput, error) {
	in := &s3.HeadObjectInput{Bucket: aws.String(u.bucket), Key: aws.String(u.key)}
	if cp.obj != nil {
		cp.obj.head(in)
	}
	return cp.c.enc.HeadObject(ctx, in)
}

// deleteSource deletes the source of a move, with its instruction file,
// conditional on etag, the ETag of the object moved: an object stored at
// the key since is kept (412), and the move fails. A server without
// conditional deletes (501 NotImplemented) gets the delete without the
// condition once a HeadObject shows the object moved still there.
func (cp *copier) deleteSource(ctx context.Context, u s3URL, etag *string) error {
	if aws.ToString(etag) == "" {
		return fmt.Errorf("%s was copied, but kept: the server gave it no ETag to delete it by", u)
	}
	in := &s3.DeleteObjectInput{Bucket: aws.String(u.bucket), Key: aws.String(u.key), IfMatch: etag}
	_, err := cp.c.enc.DeleteObject(ctx, in)
	if notImplemented(err) {
		var h *s3.HeadObjectOutput
		if h, err = cp.head(ctx, u); err == nil {
			if strings.Trim(aws.ToString(h.ETag), `"`) != strings.Trim(*etag, `"`) {
				return fmt.Errorf("%s was copied, but kept: it was replaced since", u)
			}
			in.IfMatch = nil
			_, err = cp.c.enc.DeleteObject(ctx, in)
		}
	}
	if isPreconditionFailed(err) {
		return fmt.Errorf("%s was copied, but kept: it was replaced since", u)
	}
	if err != nil {
		return fmt.Errorf("%s was copied, but its delete failed: %w", u, err)
	}
	return nil
}

// localPath maps a key, or the part of it below a recursive download's
// prefix, to a relative path below the destination directory. It refuses
// every key that would not name a file of its own there: empty elements
// (a leading, trailing or doubled "/"), "." and "..", NUL, and anything the
// platform does not take as one plain file name (a "\" or a drive on
// Windows, its reserved names). Two keys never map to one path on a
// case-sensitive file system; caseconflict.go checks the others.
func localPath(rel string) (string, error) {
	if rel == "" {
		return "", errors.New("the key names the prefix itself")
	}
	elems := strings.Split(rel, "/")
	for _, e := range elems {
		switch {
		case e == "":
			return "", errors.New("the key has an empty path element (a leading, trailing or doubled /)")
		case e == "." || e == "..":
			return "", fmt.Errorf("the key has a %q path element", e)
		case strings.ContainsRune(e, 0):
			return "", errors.New("the key holds a NUL character")
		case !filepath.IsLocal(e) || filepath.Base(e) != e || filepath.VolumeName(e) != "":
			return "", fmt.Errorf("%q is not a plain file name here", e)
		}
	}
	return filepath.Join(elems...), nil
}

// checkObject refuses an address that names no object.
func checkObject(u s3URL) error {
	if u.key == "" || strings.HasSuffix(u.key, "/") {
		return usagef("%s names no object (want s3://bucket/key, or --recursive for a prefix)", u)
	}
	return nil
}

// downloadFile downloads src to the file name (a path checked by
// localPath) below root, with the client's Download: parallel ranged reads
// into a new temporary file beside it, renamed to name only after the
// whole object authenticated, and returns the bytes written. On any
// failure the file is left as it was. An existing file keeps its
// permissions; a new one is created readable by its owner only. Every file
// and directory is opened through root, which refuses any path, symbolic
// links included, that leads out of it: nothing, not even the temporary
// file, is written outside root. Errors name the destination, never the
// temporary file. A non-zero mtime becomes the file's modification time
// (sync's downloads take the object's LastModified).
// pin, when set, is the ETag the object downloaded must have.
func (cp *copier) downloadFile(ctx context.Context, src s3URL, root *os.Root, name string, mtime time.Time, pin *string) (n int64, err error) {
	dirRel, base := filepath.Split(name)
	dirRel = filepath.Clean(dirRel) // "." for root itself
	dest := filepath.Join(root.Name(), name)
	if dirRel != "." {
		// Create the directories one by one, each inside root.
		elems := strings.Split(filepath.ToSlash(dirRel), "/")
		for i := range elems {
			if err := root.Mkdir(filepath.Join(elems[:i+1]...), 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
				return 0, &objectErr{url: src, err: err}
			}
		}
	}
	dir, err := root.OpenRoot(dirRel)
	if err != nil {
		return 0, &objectErr{url: src, err: err}
	}
	defer dir.Close()
	dirPath := filepath.Join(root.Name(), dirRel)

	var perm fs.FileMode
	if st, err := dir.Lstat(base); err == nil {
		switch {
		case st.Mode().IsRegular():
			perm = st.Mode().Perm()
		case st.IsDir():
			return 0, &objectErr{url: src, err: fmt.Errorf("%s is a directory", dest)}
		}
		// A symbolic link is replaced, not followed.
	}

	get := &s3.GetObjectInput{Bucket: aws.String(src.bucket), Key: aws.String(src.key), IfMatch: pin}
	if cp.obj != nil {
		cp.obj.get(get)
	}
	var b *bar
	if cp.p.enabled() {
		head, err := cp.head(ctx, src)
		if err != nil {
			return 0, err
		}
		b = cp.p.start(aws.ToInt64(head.ContentLength), src.key)
	}
	f, tmp, err := createTemp(dir, base)
	if err != nil {
		return 0, &objectErr{url: src, err: hideTemp(err, dest)}
	}
	defer func() {
		if err != nil {
			f.Close()
			dir.Remove(tmp)
			err = hideTemp(err, dest)
		}
	}()
	n, err = cp.c.enc.Download(ctx, f, get,
		func(o *encryptionclient.DownloadOptions) {
			o.Concurrency = cp.concurrency
			if b != nil {
				o.Progress = b.set
			}
		})
	b.done(err)
	if err != nil {
		return 0, err
	}
	if perm != 0 {
		if err = f.Chmod(perm); err != nil {
			return 0, err
		}
	}
	if err = f.Sync(); err != nil {
		return 0, err
	}
	if err = f.Close(); err != nil {
		return 0, err
	}
	if !mtime.IsZero() {
		if err = chtimesIn(dir, tmp, mtime); err != nil {
			return 0, err
		}
	}
	if err = renameIn(dir, dirPath, tmp, base); err != nil {
		return 0, err
	}
	// Make the rename durable too; not every platform can sync a directory.
	if d, derr := dir.Open("."); derr == nil {
		d.Sync()
		d.Close()
	}
	return n, nil
}

// hideTemp makes the file errors of a download name its destination
// instead of the temporary file: the temporary name means nothing to the
// user, and the file is gone.
func hideTemp(err error, dest string) error {
	var pe *fs.PathError
	var le *os.LinkError
	switch {
	case errors.As(err, &le):
		return &fs.PathError{Op: "rename", Path: dest, Err: le.Err}
	case errors.As(err, &pe) && strings.HasSuffix(pe.Path, ".s3ec-tmp"):
		pe.Path = dest
	}
	return err
}

// createTemp creates a new file, readable by its owner only, in dir for a
// download to the file base.
func createTemp(dir *os.Root, base string) (*os.File, string, error) {
	// Room for the suffix within the 255 bytes of a file name.
	if len(base) > 200 {
		base = strings.ToValidUTF8(base[:200], "")
	}
	var rnd [6]byte
	for range 100 {
		rand.Read(rnd[:])
		name := "." + base + "." + hex.EncodeToString(rnd[:]) + ".s3ec-tmp"
		f, err := dir.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		return f, name, err
	}
	return nil, "", errors.New("cannot create a temporary file")
}

// toWriter decrypts src to w. Unless stream is set (delayed
// authentication), the client authenticates the whole object before it
// returns, and nothing unauthenticated is written.
func (cp *copier) toWriter(ctx context.Context, src s3URL, w io.Writer, stream bool) error {
	get := &s3.GetObjectInput{Bucket: aws.String(src.bucket), Key: aws.String(src.key)}
	if cp.obj != nil {
		cp.obj.get(get)
	}
	out, err := cp.c.enc.GetObject(ctx, get)
	if err != nil {
		return err
	}
	defer out.Body.Close()
	var b *bar
	if stream {
		size := int64(-1)
		if out.ContentLength != nil {
			size = *out.ContentLength
		}
		b = cp.p.start(size, src.key)
	}
	_, err = io.Copy(w, b.reader(out.Body))
	b.done(err)
	if err != nil {
		if stream && exitCode(err) == exitAuth {
			return &objectErr{url: src, err: fmt.Errorf("%w: the output already written is not authentic, discard it", err)}
		}
		return &objectErr{url: src, err: err}
	}
	return nil
}

// failures collects the failures of a recursive command, each reported as
// it happens.
type failures struct {
	first error
	n     int
	total int
}

func (f *failures) add(e *env, err error) {
	fmt.Fprintln(e.stderr, errorLine(err))
	if f.first == nil {
		f.first = err
	}
	f.n++
}

// err summarizes the failures; its exit code is the first failure's.
func (f *failures) err(what string) error {
	if f.first == nil {
		return nil
	}
	return &codedError{code: exitCode(f.first), err: fmt.Errorf("%d of %d %s failed", f.n, f.total, what)}
}

// endsWithSeparator reports whether the local path p ends with a path
// separator: it names a directory, existing or not.
func endsWithSeparator(p string) bool {
	return p != "" && os.IsPathSeparator(p[len(p)-1])
}
