package encryptionclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/internal/engine/streamio"
	"github.com/s3ec/s3ec-go/internal/objectcrypto"
)

const (
	// downloadChunk is the unit in which a range is read, decrypted and
	// written: small enough to stay in cache, large enough for few calls.
	downloadChunk = 128 << 10

	// downloadChunks is the number of chunk buffers of each worker: one
	// goroutine reads the body into them while the worker decrypts, so the
	// connection keeps flowing.
	downloadChunks = 4

	// downloadResumes is how many times a range whose body failed mid-way
	// is requested again from where it stopped.
	downloadResumes = 3
)

// DownloadOptions configure one Download. The zero value of every field is
// its default.
type DownloadOptions struct {
	// PartSize is the size of each ranged GET: a positive multiple of 16
	// bytes. Default DefaultDownloadPartSize (8 MiB).
	PartSize int64

	// Concurrency is the number of ranges downloaded at once. Each worker
	// streams its range through 512 KiB of buffers, so memory stays well
	// under Concurrency × PartSize. Default DefaultConcurrency (4); at
	// most 10,000.
	Concurrency int

	// Progress, when set, is called with the number of plaintext bytes
	// written so far. Calls do not overlap and the count never decreases.
	// The bytes are authenticated only when Download returns nil. It must
	// return quickly.
	Progress func(done int64)

	// ClientOptions are applied to every S3 request of the download.
	ClientOptions []func(*s3.Options)
}

func (o *DownloadOptions) resolve() error {
	if o.PartSize == 0 {
		o.PartSize = DefaultDownloadPartSize
	}
	if o.Concurrency == 0 {
		o.Concurrency = DefaultConcurrency
	}
	switch {
	case o.PartSize < 0 || o.PartSize%16 != 0:
		return invalid("PartSize %d: want a positive multiple of 16", o.PartSize)
	case checkConcurrency(o.Concurrency) != nil:
		return checkConcurrency(o.Concurrency)
	}
	return nil
}

// Download reads an encrypted object with parallel ranged GETs, decrypts
// it into w and authenticates it: each range is decrypted at its offset
// and hashed, and the hashes are combined into the object's one GCM tag,
// which is checked before Download returns. It returns the plaintext size.
// Memory stays constant whatever the object's size.
//
// Plaintext is written to w before the whole object is authenticated. If
// Download returns an error, everything written to w must be discarded:
// the object was altered (ErrAuthentication), changed during the download
// (the ranges ask for the ETag the HeadObject saw), or a request failed.
// DownloadFile does this for files.
//
// The object's size and envelope come from HeadObject (and the instruction
// file when there is one). The input's conditional headers, VersionId,
// SSE-C key, ExpectedBucketOwner and RequestPayer are honoured; Range and
// PartNumber are refused (use GetObject for a range). Legacy AES-CBC
// objects, when Options.EnableLegacyUnauthenticatedModes allows them, are
// read with one sequential GET: they cannot be authenticated. The
// encryption context expected is taken from WithEncryptionContext.
func (c *Client) Download(ctx context.Context, w io.WriterAt, in *s3.GetObjectInput, optFns ...func(*DownloadOptions)) (int64, error) {
	if in == nil {
		return 0, invalid("nil GetObjectInput")
	}
	if w == nil {
		return 0, objectError("Download", in.Bucket, in.Key, invalid("nil io.WriterAt"))
	}
	var o DownloadOptions
	applyOptions(&o, optFns)
	n, err := c.download(ctx, w, in, &o)
	return n, objectError("Download", in.Bucket, in.Key, err)
}

// DownloadFile downloads an encrypted object into the file at path, as
// Download does. The plaintext goes to a temporary file in the same
// directory, which is synced and renamed to path only after the object was
// authenticated; on any failure it is removed and path is left as it was.
// The file is created with permissions 0600. It returns the plaintext size.
func (c *Client) DownloadFile(ctx context.Context, path string, in *s3.GetObjectInput, optFns ...func(*DownloadOptions)) (int64, error) {
	if in == nil {
		return 0, invalid("nil GetObjectInput")
	}
	var o DownloadOptions
	applyOptions(&o, optFns)
	n, err := c.downloadFile(ctx, path, in, &o)
	return n, objectError("DownloadFile", in.Bucket, in.Key, err)
}

func (c *Client) downloadFile(ctx context.Context, path string, in *s3.GetObjectInput, o *DownloadOptions) (n int64, err error) {
	if path == "" {
		return 0, invalid("empty path")
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".*.s3ec-tmp")
	if err != nil {
		return 0, err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if n, err = c.download(ctx, f, in, o); err != nil {
		return 0, err
	}
	if err = f.Sync(); err != nil {
		return 0, err
	}
	if err = f.Close(); err != nil {
		return 0, err
	}
	if err = os.Rename(tmp, path); err != nil {
		return 0, err
	}
	// Make the rename durable too; not every platform can sync a directory.
	if d, derr := os.Open(dir); derr == nil {
		d.Sync()
		d.Close()
	}
	return n, nil
}

func (c *Client) download(ctx context.Context, w io.WriterAt, in *s3.GetObjectInput, o *DownloadOptions) (int64, error) {
	if err := o.resolve(); err != nil {
		return 0, err
	}
	if aws.ToString(in.Bucket) == "" || aws.ToString(in.Key) == "" {
		return 0, invalid("bucket and key are required")
	}
	if in.Range != nil || in.PartNumber != nil {
		return 0, invalid("Download reads whole objects: Range and PartNumber are not supported (use GetObject)")
	}
	if err := checkSSEC(c.s3, in.SSECustomerKey); err != nil {
		return 0, err
	}
	optFns := withSafety(o.ClientOptions)
	head, err := c.s3.HeadObject(ctx, headInput(in), optFns...)
	if err != nil {
		return 0, err
	}
	op, err := c.open(ctx, refForGet(in), head.Metadata, optFns)
	if err != nil {
		return 0, err
	}
	defer op.Close()

	// Every GET reads the object HeadObject described.
	req := *in
	req.IfNoneMatch, req.IfModifiedSince, req.IfUnmodifiedSince = nil, nil, nil
	if head.ETag != nil {
		req.IfMatch = head.ETag
	}
	if req.VersionId == nil {
		req.VersionId = head.VersionId
	}
	prog := &progress{fn: o.Progress}
	// The object's size comes from the server: it is checked against the
	// format (the GCM limit, the CBC block size and recorded length)
	// before anything is sized from it.
	ctLen := int64(-1)
	if head.ContentLength != nil {
		ctLen = *head.ContentLength
		if err := envelope.CheckBodyLength(op.Envelope.Suite, ctLen, op.Envelope.PlaintextLength); err != nil {
			return 0, err
		}
	}
	parts, ok := op.Parts()
	if !ok {
		return c.downloadSequential(ctx, w, &req, op, ctLen, optFns, prog)
	}
	if ctLen < 0 {
		return 0, fmt.Errorf("%w: HeadObject returned no object size", ErrBadResponse)
	}
	d := &downloader{
		c: c, w: w, req: &req, optFns: optFns, parts: parts,
		size: ctLen - envelope.TagSize, partSize: o.PartSize, prog: prog,
	}
	return d.run(ctx, o.Concurrency)
}

// downloader runs the ranges of one Download.
type downloader struct {
	c        *Client
	w        io.WriterAt
	req      *s3.GetObjectInput
	optFns   []func(*s3.Options)
	parts    *objectcrypto.Parts
	size     int64 // plaintext
	partSize int64
	prog     *progress

	tag [envelope.TagSize]byte // read by the last range's worker
}

func (d *downloader) run(ctx context.Context, concurrency int) (int64, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	// A range larger than the object is the whole object: the size is
	// bounded by the format, PartSize is not (a huge one overflowed the
	// sums below and panicked in a worker).
	d.partSize = min(d.partSize, max(16, (d.size+15)&^15))
	parts := max(1, (d.size+d.partSize-1)/d.partSize)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(int64(concurrency), parts) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			free := make(chan []byte, downloadChunks)
			for range downloadChunks {
				free <- make([]byte, min(downloadChunk, d.partSize+envelope.TagSize))
			}
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				if i >= parts {
					return
				}
				if err := d.part(ctx, i, i == parts-1, free); err != nil {
					cancel(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return 0, err
	}
	// Every range took its bytes from the network: the part table grew
	// with them, never from the count the announced size implies.
	if err := d.parts.Verify(d.tag[:], int(parts)); err != nil {
		return 0, err
	}
	return d.size, nil
}

// part downloads, decrypts and writes range i, and records its sum. A body
// that fails mid-way is requested again from where it stopped.
func (d *downloader) part(ctx context.Context, i int64, last bool, free chan []byte) error {
	start := i * d.partSize
	end := min(start+d.partSize, d.size) // plaintext end
	ctEnd := end                         // ciphertext end: the tag follows the last range
	if last {
		ctEnd += envelope.TagSize
	}
	p, err := d.parts.OpenPart(int(i)+1, start)
	if err != nil {
		return err
	}
	pos := start
	for attempt := 0; ; attempt++ {
		req := *d.req
		req.Range = aws.String(fmt.Sprintf("bytes=%d-%d", pos, ctEnd-1))
		out, err := d.c.s3.GetObject(ctx, &req, d.optFns...)
		if err != nil {
			// Every range is pinned to the ETag and version HeadObject
			// saw: a 412 or 404 means the object was replaced or deleted.
			return changedError("ranged read", err)
		}
		var readErr error
		pos, readErr, err = d.consume(out, p, pos, end, ctEnd, free)
		switch {
		case err != nil:
			return err
		case readErr == nil:
			p.Done()
			return nil
		case errors.Is(readErr, ErrTooLarge):
			return readErr // more bytes than the range: a lie, not a cut
		case pos == ctEnd:
			// Every byte of the range arrived; only the body's end was
			// not seen. Nothing is left to ask (an empty range is not a
			// request any server answers with bytes), and the tag
			// authenticates what arrived.
			p.Done()
			return nil
		case ctx.Err() != nil:
			return context.Cause(ctx)
		case attempt == downloadResumes:
			return fmt.Errorf("read bytes %d-%d: %w", pos, ctEnd-1, readErr)
		}
	}
}

// consume decrypts a GET response for ciphertext [pos, ctEnd) into w and
// returns the new position; it closes the body. readErr is a failure of
// the body, worth resuming; err any other. The body is read on another
// goroutine into the buffers of free, while this one decrypts.
func (d *downloader) consume(out *s3.GetObjectOutput, p *objectcrypto.OpenPart, pos, end, ctEnd int64, free chan []byte) (_ int64, readErr, err error) {
	if err := checkRangeResponse(out, pos, ctEnd-1, d.size+envelope.TagSize); err != nil {
		out.Body.Close()
		return pos, nil, err
	}
	chunks := make(chan chunk, downloadChunks)
	stop := make(chan struct{})
	go readChunks(newExactBody(out.Body, ctEnd-pos), ctEnd-pos, free, chunks, stop)
	defer func() {
		// Stop the reader and wait for it to hand back its buffers.
		close(stop)
		out.Body.Close()
		for c := range chunks {
			free <- c.buf
		}
	}()
	for c := range chunks {
		b := c.buf[:c.n]
		if k := min(int64(len(b)), end-pos); k > 0 {
			p.Decrypt(b[:k], b[:k])
			if _, werr := d.w.WriteAt(b[:k], pos); werr != nil {
				free <- c.buf
				return pos, nil, werr
			}
			pos += k
			d.prog.add(k)
			b = b[k:]
		}
		if len(b) > 0 { // the tag, after the last range's plaintext
			pos += int64(copy(d.tag[pos-end:], b))
		}
		free <- c.buf
		if c.err != nil {
			return pos, c.err, nil
		}
	}
	return pos, nil, nil
}

// chunk is a piece of a body read by readChunks.
type chunk struct {
	buf []byte
	n   int
	err error // the body failed after buf[:n]
}

// readChunks reads n bytes of body into buffers from free and sends them
// on out, which it closes when done: after n bytes and the end of the body,
// a failure, or stop. body is an exactBody of n bytes: a body that goes on
// after them ends in a chunk with its error.
func readChunks(body io.Reader, n int64, free chan []byte, out chan<- chunk, stop <-chan struct{}) {
	defer close(out)
	for {
		var buf []byte
		select {
		case buf = <-free:
		case <-stop:
			return
		}
		var k int
		var err error
		if n > 0 {
			k, err = io.ReadFull(body, buf[:min(int64(len(buf)), n)])
			n -= int64(k)
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
		} else if _, err = body.Read(buf[:1]); err == io.EOF {
			// The range is complete and the body ends with it.
			free <- buf
			return
		}
		select {
		case out <- chunk{buf: buf, n: k, err: err}:
		case <-stop:
			free <- buf
			return
		}
		if err != nil {
			return
		}
	}
}

// downloadSequential reads a CBC object, which has no tag to combine, with
// one GET. CBC has no integrity: what protects the download is the length
// of the body (its Content-Length, which must be the size HeadObject saw,
// ctLen, when known), the plaintext length the envelope records, and the
// padding. A body that ends early is an error, never the end of the
// object.
func (c *Client) downloadSequential(ctx context.Context, w io.WriterAt, req *s3.GetObjectInput, op *objectcrypto.Opener, ctLen int64, optFns []func(*s3.Options), prog *progress) (int64, error) {
	out, err := c.s3.GetObject(ctx, req, optFns...)
	if err != nil {
		return 0, changedError("read", err)
	}
	defer out.Body.Close()
	if err := checkWholeResponse(out, ctLen); err != nil {
		return 0, err
	}
	var body io.Reader = out.Body
	n := ctLen // the size HeadObject saw, when the GET says none
	if out.ContentLength != nil {
		if err := envelope.CheckBodyLength(op.Envelope.Suite, *out.ContentLength, op.Envelope.PlaintextLength); err != nil {
			return 0, err
		}
		n = *out.ContentLength
	}
	if err := checkCBCLength(op, n); err != nil {
		return 0, err
	}
	if n >= 0 {
		body = newExactBody(out.Body, n)
	}
	r, err := op.UnverifiedReader(body)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	buf := make([]byte, downloadChunk)
	var off int64
	for {
		// Only io.EOF ends the object: the decrypter returns it after the
		// padding and the recorded length checked.
		n, rerr := streamio.ReadFull(r, buf)
		if n > 0 {
			if _, err := w.WriteAt(buf[:n], off); err != nil {
				return 0, err
			}
			off += int64(n)
			prog.add(int64(n))
		}
		if rerr == io.EOF {
			return off, nil
		}
		if rerr != nil {
			return 0, rerr
		}
	}
}
