package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/envelope"
)

var cpCommand = &command{
	name:     "cp",
	synopsis: "s3ec cp [flags] SRC DST",
	summary:  "copy a file to S3, encrypting it, or from S3, decrypting it",
	help: `
Copy a local file to S3 (encrypting it) or an object from S3 to a local file
(decrypting it). One of SRC and DST is an s3://bucket/key address, the other
a local path or - for stdin or stdout.

  s3ec cp report.pdf s3://bucket/docs/          upload as docs/report.pdf
  s3ec cp s3://bucket/docs/report.pdf .         download to ./report.pdf
  s3ec cp -r photos/ s3://bucket/photos/        upload a directory
  s3ec cp -r s3://bucket/photos/ photos/        download a prefix
  s3ec cp s3://bucket/notes.txt - | less        decrypt to stdout

A download to a file is written to a temporary file beside it and renamed
only after the whole object was authenticated: a damaged or altered object
never replaces the file. New files are created readable by you only (0600);
an existing file keeps its permissions.

A download to stdout is authenticated before the first byte is written, in
memory, for objects up to 64 MiB. --stream writes larger objects as they
arrive: a damaged object is then only detected at its end (exit code 3),
after some of it was written, and whatever read the output must discard it.

Large files, and stdin, are uploaded in parts (8 MiB, --concurrency at
once), and large objects downloaded to files with parallel ranged reads.

A recursive copy goes on after a failure, reports each one, and exits with
the code of the first. Instruction files are not copied as objects, nor are
folder markers (keys ending with /). A recursive download writes only below
its destination directory: a key that does not name a file of its own there
(empty, "." or ".." elements, a leading or doubled /, NUL) is refused and
counted as a failure (exit code 5), and so is one whose path runs through a
symbolic link leading out of the destination.`,
	define: defineCp,
}

func defineCp(fs *flagSet) func(context.Context, *env, []string) error {
	var (
		f           clientFlags
		recursive   bool
		quiet       bool
		concurrency = encryptionclient.DefaultConcurrency
	)
	fs.boolVar(&recursive, "recursive", "copy a directory to a prefix, or every object under a prefix to a directory")
	fs.alias("r", "recursive")
	fs.intVar(&concurrency, "concurrency", "transfer `N` parts of a large object at once")
	fs.boolVar(&f.crypto.stream, "stream", "to stdout: write plaintext before the object is authenticated (see above)")
	fs.boolVar(&quiet, "quiet", "show no progress bars (they are shown only when stderr is a terminal)")
	fs.alias("q", "quiet")
	f.register(fs, cryptoPolicy|cryptoWrite|cryptoLegacyUnauth)

	return func(ctx context.Context, e *env, args []string) error {
		if len(args) != 2 {
			return usagef("cp needs SRC and DST (see 's3ec cp --help')")
		}
		src, dst := args[0], args[1]
		switch {
		case src == "" || dst == "":
			return usagef("cp: an empty SRC or DST names no file (use . for the current directory, - for stdin or stdout)")
		case isS3URL(src) && isS3URL(dst):
			return usagef("cp copies between S3 and local files; both SRC and DST are s3:// addresses")
		case !isS3URL(src) && !isS3URL(dst):
			return usagef("cp needs one s3://bucket/key address, as SRC or DST")
		case recursive && (src == "-" || dst == "-"):
			return usagef("--recursive copies directories; it cannot use stdin or stdout")
		}
		if concurrency < 1 {
			return usagef("--concurrency %d: want at least 1", concurrency)
		}
		use := keyEncrypt
		if isS3URL(src) {
			use = keyDecrypt
		}
		// Check the addresses before connecting.
		var obj s3URL
		var err error
		if isS3URL(src) {
			obj, err = parseS3URL(src)
		} else {
			obj, err = parseS3URL(dst)
		}
		if err != nil {
			return err
		}
		p := newProgress(e, quiet)
		c, err := f.connect(ctx, p, use)
		if err != nil {
			return err
		}
		cp := &copier{e: e, c: c, p: p, suffix: f.crypto.suffix, concurrency: concurrency}
		ctx = f.crypto.withContext(ctx)
		switch {
		case use == keyEncrypt && recursive:
			return cp.uploadDir(ctx, src, obj)
		case use == keyEncrypt:
			return cp.uploadOne(ctx, src, obj)
		case recursive:
			return cp.downloadPrefix(ctx, obj, dst)
		case dst == "-":
			if err := checkObject(obj); err != nil {
				return err
			}
			return cp.toWriter(ctx, obj, e.stdout, f.crypto.stream)
		default:
			return cp.downloadOne(ctx, obj, dst)
		}
	}
}

// copier runs the transfers of one cp or cat command.
type copier struct {
	e           *env
	c           *clients
	p           *progress
	suffix      string // instruction-file suffix
	concurrency int    // parts transferred at once
}

// upload encrypts body, of size bytes (-1 when unknown), to dst. The
// client's Upload sends it with one PutObject when it is small, and with a
// parallel multipart upload otherwise; a seekable file is read in constant
// memory, a pipe in parts.
func (cp *copier) upload(ctx context.Context, body io.Reader, size int64, name string, dst s3URL) error {
	in := &s3.PutObjectInput{Bucket: aws.String(dst.bucket), Key: aws.String(dst.key), Body: body}
	wire := int64(-1) // bytes sent: the ciphertext and its tag
	if size >= 0 {
		wire = size + envelope.TagSize
	}
	b := cp.p.start(wire, name)
	forget := cleanups.add(fmt.Sprintf("%s: its multipart upload may be left behind; list it with: aws s3api list-multipart-uploads --bucket %s --prefix %s",
		dst, shellQuote(dst.bucket), shellQuote(dst.key)))
	_, err := cp.c.enc.Upload(withBar(ctx, b), in, func(o *encryptionclient.UploadOptions) {
		o.Concurrency = cp.concurrency
	})
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
	return err
}

// uploadOne uploads a file, or stdin for "-".
func (cp *copier) uploadOne(ctx context.Context, src string, dst s3URL) error {
	if dst.key == "" || strings.HasSuffix(dst.key, "/") {
		if src == "-" {
			return usagef("name the object to write from stdin: s3://bucket/key")
		}
		dst.key += filepath.Base(src)
	}
	if src == "-" {
		return cp.uploadStdin(ctx, dst)
	}
	st, err := os.Stat(src)
	if err != nil {
		return err
	}
	if st.IsDir() {
		return usagef("%s is a directory; pass --recursive to copy it", src)
	}
	return cp.uploadFile(ctx, src, st, dst)
}

// uploadStdin uploads stdin: seekable, in one request, when it is a file.
func (cp *copier) uploadStdin(ctx context.Context, dst s3URL) error {
	if f, ok := cp.e.stdin.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
			pos, err := f.Seek(0, io.SeekCurrent)
			if err == nil {
				return cp.upload(ctx, f, st.Size()-pos, "stdin", dst)
			}
		}
	}
	return cp.upload(ctx, cp.e.stdin, -1, "stdin", dst)
}

// uploadFile uploads the file at path, of which st is the os.Stat.
func (cp *copier) uploadFile(ctx context.Context, path string, st fs.FileInfo, dst s3URL) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	size := st.Size()
	if !st.Mode().IsRegular() {
		size = -1 // a pipe or a device: its length is not known
	}
	// A regular *os.File is seekable: the client reads it in constant
	// memory and can rewind it for signing and retries.
	return cp.upload(ctx, f, size, path, dst)
}

// uploadDir uploads every regular file under root to dst's prefix, keyed
// by its path relative to root.
func (cp *copier) uploadDir(ctx context.Context, root string, dst s3URL) error {
	st, err := os.Stat(root)
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return usagef("--recursive: %s is not a directory", root)
	}
	prefix := dst.prefix()
	var fails failures
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			fails.add(cp.e, err)
			return nil
		}
		if d.IsDir() {
			return nil
		}
		st, err := os.Stat(p) // follows symbolic links
		if err != nil {
			fails.add(cp.e, err)
			return nil
		}
		if !st.Mode().IsRegular() {
			fmt.Fprintf(cp.e.stderr, "s3ec: skipping %s: not a regular file\n", p)
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		fails.total++
		if err := cp.uploadFile(ctx, p, st, s3URL{bucket: dst.bucket, key: prefix + filepath.ToSlash(rel)}); err != nil {
			if ctx.Err() != nil {
				return err
			}
			fails.add(cp.e, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return fails.err("files")
}

// downloadOne downloads one object to a file, or into a directory.
func (cp *copier) downloadOne(ctx context.Context, src s3URL, dst string) error {
	if err := checkObject(src); err != nil {
		return err
	}
	dir, name := filepath.Dir(dst), filepath.Base(dst)
	st, err := os.Stat(dst)
	if isDir := err == nil && st.IsDir(); isDir || endsWithSeparator(dst) {
		// Named after the key's last element, which must be a file name.
		dir, name = dst, path.Base(src.key)
		if _, err := localPath(name); err != nil {
			return usagef("%s: cannot name a file after the key (%v); give the file name", src, err)
		}
		if !isDir {
			if err := os.MkdirAll(dst, 0o755); err != nil {
				return err
			}
		}
	} else if _, err := localPath(name); err != nil {
		return usagef("%s: %v: name the file to write", dst, err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	return cp.downloadFile(ctx, src, root, name)
}

// localPath maps a key, or the part of it below a recursive download's
// prefix, to a relative path below the destination directory. It refuses
// every key that would not name a file of its own there: empty elements
// (a leading, trailing or doubled "/"), "." and "..", NUL, and anything the
// platform does not take as one plain file name (a "\" or a drive on
// Windows, its reserved names). Two keys never map to one path.
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
// whole object authenticated. On any failure the file is left as it was.
// An existing file keeps its permissions; a new one is created readable by
// its owner only. Every file and directory is opened through root, which
// refuses any path, symbolic links included, that leads out of it: nothing,
// not even the temporary file, is written outside root.
func (cp *copier) downloadFile(ctx context.Context, src s3URL, root *os.Root, name string) (err error) {
	dirRel, base := filepath.Split(name)
	dirRel = filepath.Clean(dirRel) // "." for root itself
	if dirRel != "." {
		// Create the directories one by one, each inside root.
		elems := strings.Split(filepath.ToSlash(dirRel), "/")
		for i := range elems {
			if err := root.Mkdir(filepath.Join(elems[:i+1]...), 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
				return &objectErr{url: src, err: err}
			}
		}
	}
	dir, err := root.OpenRoot(dirRel)
	if err != nil {
		return &objectErr{url: src, err: err}
	}
	defer dir.Close()
	dirPath := filepath.Join(root.Name(), dirRel)

	var perm fs.FileMode
	if st, err := dir.Lstat(base); err == nil {
		switch {
		case st.Mode().IsRegular():
			perm = st.Mode().Perm()
		case st.IsDir():
			return &objectErr{url: src, err: fmt.Errorf("%s is a directory", filepath.Join(dirPath, base))}
		}
		// A symbolic link is replaced, not followed.
	}

	var b *bar
	if cp.p.enabled() {
		head, err := cp.c.enc.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(src.bucket), Key: aws.String(src.key)})
		if err != nil {
			return err
		}
		b = cp.p.start(aws.ToInt64(head.ContentLength), src.key)
	}
	f, tmp, err := createTemp(dir, base)
	if err != nil {
		return &objectErr{url: src, err: err}
	}
	defer func() {
		if err != nil {
			f.Close()
			dir.Remove(tmp)
		}
	}()
	_, err = cp.c.enc.Download(ctx, f, &s3.GetObjectInput{Bucket: aws.String(src.bucket), Key: aws.String(src.key)},
		func(o *encryptionclient.DownloadOptions) {
			o.Concurrency = cp.concurrency
			if b != nil {
				o.Progress = b.set
			}
		})
	b.done(err)
	if err != nil {
		return err
	}
	if perm != 0 {
		if err = f.Chmod(perm); err != nil {
			return err
		}
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = renameIn(dir, dirPath, tmp, base); err != nil {
		return err
	}
	// Make the rename durable too; not every platform can sync a directory.
	if d, derr := dir.Open("."); derr == nil {
		d.Sync()
		d.Close()
	}
	return nil
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
	out, err := cp.c.enc.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(src.bucket), Key: aws.String(src.key)})
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

// downloadPrefix downloads every object under src's prefix into dir, at its
// key relative to the prefix.
func (cp *copier) downloadPrefix(ctx context.Context, src s3URL, dir string) error {
	prefix := src.prefix()
	keys, err := listObjects(ctx, cp.c, src.bucket, prefix, cp.suffix)
	if err != nil {
		return err
	}
	if len(keys) == 0 {
		return &codedError{code: exitNotFound, err: fmt.Errorf("no objects under %s", s3URL{bucket: src.bucket, key: prefix})}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	// Every file is written through root: no key, and no symbolic link
	// in the destination, can lead a write out of it.
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	var fails failures
	for _, key := range keys {
		obj := s3URL{bucket: src.bucket, key: key}
		fails.total++
		name, err := localPath(strings.TrimPrefix(key, prefix))
		if err != nil {
			fails.add(cp.e, &objectErr{url: obj, err: fmt.Errorf("%v: it does not name a file of its own below %s; skipped", err, dir)})
			continue
		}
		if err := cp.downloadFile(ctx, obj, root, name); err != nil {
			if ctx.Err() != nil {
				return err
			}
			fails.add(cp.e, err)
		}
	}
	return fails.err("objects")
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

// listObjects returns the keys under prefix, except folder markers (keys
// ending with "/") and the instruction files of listed objects. A key that
// only looks like an instruction file (its name ends in the suffix, but it
// is an object of its own: encryptionclient.Client.IsInstructionFile) is
// listed.
func listObjects(ctx context.Context, c *clients, bucket, prefix, suffix string) ([]string, error) {
	in := &s3.ListObjectsV2Input{Bucket: aws.String(bucket)}
	if prefix != "" {
		in.Prefix = aws.String(prefix)
	}
	var keys []string
	pages := s3.NewListObjectsV2Paginator(c.plain, in)
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, &objectErr{url: s3URL{bucket: bucket, key: prefix}, err: err}
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	listed := make(map[string]bool, len(keys))
	for _, k := range keys {
		listed[k] = true
	}
	out := keys[:0]
	for _, k := range keys {
		if strings.HasSuffix(k, "/") {
			continue
		}
		if strings.HasSuffix(k, suffix) && listed[strings.TrimSuffix(k, suffix)] {
			instr, err := c.enc.IsInstructionFile(encryptionclient.WithInstructionFileSuffix(ctx, suffix), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(k)})
			if err != nil {
				return nil, &objectErr{url: s3URL{bucket: bucket, key: k}, err: err}
			}
			if instr {
				continue
			}
		}
		out = append(out, k)
	}
	return out, nil
}

// endsWithSeparator reports whether the local path p ends with a path
// separator: it names a directory, existing or not.
func endsWithSeparator(p string) bool {
	return p != "" && os.IsPathSeparator(p[len(p)-1])
}
