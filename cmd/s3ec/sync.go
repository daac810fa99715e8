package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3ec/s3ec-go/encryptionclient"
)

var syncCommand = &command{
	name:     "sync",
	args:     []string{"SRC", "DST"},
	synopsis: "s3ec sync [flags] DIR s3://bucket/prefix/ | s3://bucket/prefix/ DIR",
	summary:  "make a prefix hold a directory's files (encrypting), or the other way round",
	help: `
Copy the files of a directory that are new or changed to a prefix
(encrypting them), or the objects of a prefix that are new or changed to a
directory (decrypting them), as 'aws s3 sync' does:

  s3ec sync photos/ s3://bucket/photos/
  s3ec sync s3://bucket/photos/ photos/ --delete

A file and the object at its key are compared by their plaintext size (the
object's is read from its envelope: one HEAD request for each object whose
stored size could hold the file's; see 's3ec ls --help') and their times:
  - upload: copied if the sizes differ, or the file was modified after the
    object (LastModified; times compare to the second);
  - download: copied if the sizes differ, or the object is newer than the
    file. A downloaded file takes the object's LastModified as its
    modification time, so that the next sync finds them equal. (The aws
    CLI instead re-downloads a same-sized file when the local file is
    newer; s3ec keeps a newer local file, and replaces an older one.)
  --size-only compares sizes only; --exact-timestamps (downloads) copies a
  same-sized object unless its time is exactly the file's.
A file or object missing on the other side is copied. Nothing stores the
source's modification time in the object (neither does the aws CLI).

--delete also deletes what the destination holds and the source does not:
objects (with their instruction files), or files, that the filters select;
excluded paths are never deleted. Deletes run after the copies.

Downloads are written as by cp: through the destination directory only,
each key checked to name a file of its own there, each file renamed into
place only after its object was authenticated. Each file is reported on
stdout ("upload: ...", "download: ...", "delete: ..."), then a summary;
--dryrun reports and does nothing. An object under the prefix that cannot
be compared, or a key refused as a file name, counts as a failure and the
others go on.
` + filterHelp,
	define: defineSync,
}

// syncFlags are sync's own flags.
type syncFlags struct {
	delete, exactTimestamps, sizeOnly bool
}

func defineSync(fs *flagSet) func(context.Context, *env, []string) error {
	var (
		t  transferFlags
		sf syncFlags
	)
	t.concurrency = encryptionclient.DefaultConcurrency
	fs.boolVar(&sf.delete, "delete", "delete what the destination holds and the source does not (that the filters select)")
	fs.boolVar(&sf.exactTimestamps, "exact-timestamps", "downloads: copy a same-sized object unless its time equals the file's exactly")
	fs.boolVar(&sf.sizeOnly, "size-only", "compare sizes only, not times")
	fs.intVar(&t.concurrency, "concurrency", "transfer `N` parts of a large object at once")
	registerCaseConflict(fs, &t.caseConflict)
	t.out.register(fs)
	t.filt.register(fs)
	t.obj.register(fs)
	t.client.register(fs, cryptoPolicy|cryptoWrite|cryptoLegacyUnauth)

	return func(ctx context.Context, e *env, args []string) error {
		if len(args) != 2 {
			return usagef("sync needs SRC and DST, got %d argument(s) (see 's3ec sync --help')", len(args))
		}
		src, dst := args[0], args[1]
		switch {
		case src == "" || dst == "":
			return usagef("sync: an empty SRC or DST names no directory (use . for the current directory)")
		case src == "-" || dst == "-":
			return usagef("sync syncs directories and prefixes; it cannot use stdin or stdout")
		case isS3URL(src) && isS3URL(dst):
			return usagef("sync copies between a directory and a prefix; for S3 to S3, use 'cp --recursive'")
		case !isS3URL(src) && !isS3URL(dst):
			return usagef("sync needs one s3://bucket/prefix/ address, as SRC or DST")
		case checkConcurrency(t.concurrency) != nil:
			return checkConcurrency(t.concurrency)
		case sf.sizeOnly && sf.exactTimestamps:
			return usagef("--size-only compares no times; --exact-timestamps compares them exactly: give one of them")
		case sf.exactTimestamps && !isS3URL(src):
			return usagef("--exact-timestamps is for downloads (s3://... to DIR)")
		}
		if err := t.obj.check(); err != nil {
			return err
		}
		if !isS3URL(dst) && t.obj.settings() {
			return usagef("--content-type, --metadata, --cache-control, --sse, --storage-class set how objects are stored: they apply to uploads")
		}
		if t.obj.expectedSize != "" {
			return usagef("--expected-size is for uploads from stdin (cp - s3://...)")
		}
		remote := dst
		if isS3URL(src) {
			remote = src
		}
		u, err := parseS3URL(remote)
		if err != nil {
			return err
		}
		if !isS3URL(src) {
			st, err := os.Stat(src)
			if err != nil {
				return err
			}
			if !st.IsDir() {
				return usagef("sync: %s is not a directory (copy a file with cp)", src)
			}
		}
		use := keyEncrypt
		if isS3URL(src) {
			use = keyDecrypt
		}
		p := t.out.progress(e)
		c, err := t.client.connect(ctx, p, use)
		if err != nil {
			return err
		}
		if err := t.obj.checkEndpoint(c.plain); err != nil {
			return err
		}
		x := &transfer{e: e, f: &t, cp: &copier{e: e, c: c, p: p, suffix: t.client.crypto.suffix, concurrency: t.concurrency, obj: &t.obj}}
		s := &syncer{x: x, f: sf, sz: &sizer{c: c, bucket: u.bucket, suffix: t.client.crypto.suffix, concurrency: listConcurrency, sse: &t.obj}}
		ctx = t.client.crypto.withContext(ctx)
		var copies, deletes []op
		if use == keyEncrypt {
			copies, deletes, err = s.planUpload(ctx, src, u)
		} else {
			copies, deletes, err = s.planDownload(ctx, u, dst)
		}
		if err != nil {
			return err
		}
		r := &runner{e: e, out: &t.out, many: true}
		r.t.total = len(copies) + len(deletes)
		if err := r.phase(ctx, copies, 1); err != nil {
			return err
		}
		if err := r.phase(ctx, deletes, listConcurrency); err != nil {
			return err
		}
		return r.finish()
	}
}

// listConcurrency is the number of HEAD and DELETE requests that sync runs
// at once.
const listConcurrency = 16

// syncer plans one sync.
type syncer struct {
	x  *transfer
	f  syncFlags
	sz *sizer
}

// side is what one side of a sync holds at a relative path: its
// plaintext size (unknownSize if it cannot be told) and its time.
type side struct {
	size int64
	mod  time.Time
}

// needsHead reports whether the plaintext size of an object stored in
// stored bytes must be read to compare it with a file of size bytes: an
// unencrypted object holds as many bytes as its plaintext, a GCM object
// 16 more, a CBC one 1 to 16 more; any other stored size differs from the
// file's whatever the object is.
func needsHead(stored, size int64) bool { return stored >= size && stored <= size+16 }

// changed reports whether a sync copies src over dst, download telling
// the direction.
func (s *syncer) changed(src, dst side, download bool) bool {
	if src.size == unknownSize || dst.size == unknownSize || src.size != dst.size {
		return true
	}
	if s.f.sizeOnly {
		return false
	}
	if download {
		file := dst.mod.Truncate(time.Second)
		if s.f.exactTimestamps {
			return !src.mod.Truncate(time.Second).Equal(file)
		}
		return src.mod.Truncate(time.Second).After(file)
	}
	return src.mod.Truncate(time.Second).After(dst.mod.Truncate(time.Second))
}

// sizes fills in the plaintext sizes of the objects that need a HEAD to be
// compared, and returns the errors of those that could not be read.
func (s *syncer) sizes(ctx context.Context, objs []s3Object, local map[string]int64, rel func(string) string, sides map[string]*side) map[string]error {
	var ask []s3Object
	for _, o := range objs {
		r := rel(o.key)
		size, ok := local[r]
		if !ok {
			continue
		}
		if needsHead(o.size, size) {
			ask = append(ask, o)
		} else {
			// Differs from the file's size, whatever the object is.
			sides[o.key].size = o.size
		}
	}
	sizes, errs := s.sz.sizes(ctx, ask)
	bad := map[string]error{}
	for i, o := range ask {
		sides[o.key].size = sizes[i]
		if errs[i] != nil {
			bad[o.key] = errs[i]
		}
	}
	return bad
}

// planUpload plans a sync from the directory root to the prefix of dst.
func (s *syncer) planUpload(ctx context.Context, root string, dst s3URL) (copies, deletes []op, err error) {
	x := s.x
	prefix := dst.prefix()
	files, skipped, err := walkFiles(x.e, root)
	if err != nil {
		return nil, nil, err
	}
	objs, err := listPrefix(ctx, x.cp.c, dst.bucket, prefix, x.cp.suffix, false)
	if err != nil {
		return nil, nil, err
	}
	rel := func(k string) string { return strings.TrimPrefix(k, prefix) }
	local := map[string]int64{}
	for _, f := range files {
		if f.err == nil && x.f.filt.includes(f.rel) {
			local[f.rel] = f.st.Size()
		}
	}
	sides := map[string]*side{}
	byRel := map[string]s3Object{}
	for _, o := range objs {
		sides[o.key] = &side{mod: o.modified}
		byRel[rel(o.key)] = o
	}
	bad := s.sizes(ctx, objs, local, rel, sides)
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	for _, f := range files {
		if f.err != nil {
			copies = append(copies, op{err: f.err})
			continue
		}
		if !x.f.filt.includes(f.rel) {
			continue
		}
		target := s3URL{bucket: dst.bucket, key: prefix + f.rel}
		if o, ok := byRel[f.rel]; ok {
			if e := bad[o.key]; e != nil {
				copies = append(copies, op{err: e})
				continue
			}
			if !s.changed(side{size: f.st.Size(), mod: f.st.ModTime()}, *sides[o.key], false) {
				continue
			}
		}
		copies = append(copies, x.uploadOp(filepath.Join(root, filepath.FromSlash(f.rel)), f.st, target))
	}
	if s.f.delete {
		seen := map[string]bool{}
		// Paths that could not be read, or were skipped (a link to a
		// directory: its files are there, only not walked): not known
		// absent.
		unread := slices.Clone(skipped)
		for _, f := range files {
			if f.err == nil {
				seen[f.rel] = true
			} else {
				unread = append(unread, f.rel)
			}
		}
		for _, o := range objs {
			r := rel(o.key)
			if seen[r] || !x.f.filt.includes(r) || below(r, unread) {
				continue
			}
			obj := s3URL{bucket: dst.bucket, key: o.key}
			deletes = append(deletes, op{verb: "delete", from: obj.String(), run: func(ctx context.Context) (int64, error) {
				_, err := x.cp.c.enc.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(obj.bucket), Key: aws.String(obj.key)})
				return 0, err
			}})
		}
	}
	return copies, deletes, nil
}

// below reports whether the relative path r is one of paths, or lies
// below one of them ("." is the whole directory).
func below(r string, paths []string) bool {
	for _, p := range paths {
		if p == "." || r == p || strings.HasPrefix(r, p+"/") {
			return true
		}
	}
	return false
}

// planDownload plans a sync from the prefix of src to the directory dir.
func (s *syncer) planDownload(ctx context.Context, src s3URL, dir string) (copies, deletes []op, err error) {
	x := s.x
	prefix := src.prefix()
	objs, err := listPrefix(ctx, x.cp.c, src.bucket, prefix, x.cp.suffix, false)
	if err != nil {
		return nil, nil, err
	}
	var files []localFile
	if st, err := os.Stat(dir); err == nil {
		if !st.IsDir() {
			return nil, nil, usagef("sync: %s is not a directory", dir)
		}
		// (The destination's other files are none of sync's business.)
		if files, _, err = walkFiles(nil, dir); err != nil {
			return nil, nil, err
		}
	} else if !os.IsNotExist(err) {
		return nil, nil, err
	}
	localSt := map[string]os.FileInfo{}
	local := map[string]int64{}
	for _, f := range files {
		if f.err == nil {
			localSt[f.rel] = f.st
			local[f.rel] = f.st.Size()
		}
	}
	// The local path of each key, checked as cp -r checks it; keys that
	// name no file of their own fail.
	names := map[string]string{} // key -> local path (OS separators)
	refused := map[string]error{}
	for _, o := range objs {
		r := strings.TrimPrefix(o.key, prefix)
		if !x.f.filt.includes(r) {
			continue
		}
		name, err := localPath(r)
		if err != nil {
			refused[o.key] = &objectErr{url: s3URL{bucket: src.bucket, key: o.key}, err: fmt.Errorf("%v: it does not name a file of its own below %s; skipped", err, dir)}
			continue
		}
		names[o.key] = name
	}
	rel := func(k string) string {
		if n, ok := names[k]; ok {
			return filepath.ToSlash(n)
		}
		return "\x00" // matches no file
	}
	sides := map[string]*side{}
	for _, o := range objs {
		sides[o.key] = &side{mod: o.modified}
	}
	bad := s.sizes(ctx, objs, local, rel, sides)
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	root := &lazyRoot{dir: dir}
	cc := newCaseChecker(x.cp.e, x.f.caseConflict, dir)
	for _, o := range objs {
		obj := s3URL{bucket: src.bucket, key: o.key}
		if e := refused[o.key]; e != nil {
			copies = append(copies, op{err: e})
			continue
		}
		name, ok := names[o.key]
		if !ok {
			continue // filtered out
		}
		if ok, err := cc.check(obj, name); err != nil {
			return nil, nil, err
		} else if !ok {
			continue
		}
		if st, ok := localSt[filepath.ToSlash(name)]; ok {
			if e := bad[o.key]; e != nil {
				copies = append(copies, op{err: e})
				continue
			}
			if !s.changed(*sides[o.key], side{size: st.Size(), mod: st.ModTime()}, true) {
				continue
			}
		}
		// S3 gives times to the second (HEAD, and the listings of AWS);
		// the file takes the same.
		mod := o.modified.Truncate(time.Second)
		copies = append(copies, op{verb: "download", from: obj.String(), to: displayLocal(filepath.Join(dir, name)), run: func(ctx context.Context) (int64, error) {
			r, err := root.open()
			if err != nil {
				return 0, err
			}
			return x.cp.downloadFile(ctx, obj, r, name, mod, nil)
		}})
	}
	if s.f.delete {
		want := map[string]bool{}
		for _, n := range names {
			want[filepath.ToSlash(n)] = true
		}
		for _, f := range files {
			if f.err != nil || want[f.rel] || !x.f.filt.includes(f.rel) || cc.keeps(f.rel) {
				// (A file whose name folds to an object's is that
				// object's file on a case-insensitive file system.)
				continue
			}
			name := filepath.FromSlash(f.rel)
			deletes = append(deletes, op{verb: "delete", from: displayLocal(filepath.Join(dir, name)), run: func(ctx context.Context) (int64, error) {
				r, err := root.open()
				if err != nil {
					return 0, err
				}
				// Through the root: a symbolic link in the way is
				// removed itself, never followed out of the directory.
				return 0, r.Remove(name)
			}})
		}
	}
	return copies, deletes, nil
}

// lazyRoot opens a destination directory, creating it, on first use.
type lazyRoot struct {
	dir string
	r   *os.Root
}

func (l *lazyRoot) open() (*os.Root, error) {
	if l.r != nil {
		return l.r, nil
	}
	if err := os.MkdirAll(l.dir, 0o755); err != nil {
		return nil, err
	}
	r, err := os.OpenRoot(l.dir)
	if err != nil {
		return nil, err
	}
	l.r = r
	return r, nil
}
