package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/schollz/progressbar/v3"
)

// progress draws transfer progress bars on stderr when it is a terminal and
// --quiet is not given. A nil *progress draws nothing.
type progress struct {
	w io.Writer
}

// newProgress returns a progress reporter for e, or nil when bars are off.
func newProgress(e *env, quiet bool) *progress {
	if quiet || !e.stderrTTY {
		return nil
	}
	return &progress{w: e.stderr}
}

func (p *progress) enabled() bool { return p != nil }

// bar is one transfer's bar. A nil *bar is a valid, silent bar.
type bar struct {
	pb *progressbar.ProgressBar
	w  *barWriter
}

// barWriter is a bar's output, which done can cut off.
type barWriter struct {
	w   io.Writer
	off atomic.Bool
}

func (b *barWriter) Write(p []byte) (int, error) {
	if b.off.Load() {
		return len(p), nil
	}
	return b.w.Write(p)
}

// start returns a bar for a transfer of size bytes (-1 if unknown), or nil
// when p is nil.
func (p *progress) start(size int64, desc string) *bar {
	if p == nil {
		return nil
	}
	w := &barWriter{w: p.w}
	return &bar{w: w, pb: progressbar.NewOptions64(size,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionShowBytes(true),
		progressbar.OptionShowTotalBytes(true),
		progressbar.OptionSetWidth(20),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionShowCount(),
		progressbar.OptionSpinnerType(14),
		progressbar.OptionFullWidth(),
		progressbar.OptionUseIECUnits(true),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }),
	)}
}

func (b *bar) add(n int) {
	if b != nil && n > 0 {
		b.pb.Add(n)
	}
}

// set moves the bar to n bytes done.
func (b *bar) set(n int64) {
	if b != nil {
		b.pb.Set64(n)
	}
}

// done ends the bar: filled on success, erased on failure so that the error
// line stands alone.
func (b *bar) done(err error) {
	if b == nil {
		return
	}
	if err != nil {
		b.pb.Clear()
		b.w.off.Store(true)
	}
	b.pb.Finish() // also stops the spinner of a bar of unknown size
}

// reader counts what is read from r on the bar.
func (b *bar) reader(r io.Reader) io.Reader {
	if b == nil {
		return r
	}
	return &countingReader{r: r, bar: b}
}

type countingReader struct {
	r   io.Reader
	bar *bar
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.bar.add(n)
	return n, err
}

// Uploads are counted as they go out on the wire, in the HTTP client: the
// SDK may read a seekable body once to sign it before it sends it, so
// counting what is read from the file would fill the bar twice.

type barKey struct{}

// withBar returns a context whose S3 requests count their bodies on b.
func withBar(ctx context.Context, b *bar) context.Context {
	if b == nil {
		return ctx
	}
	return context.WithValue(ctx, barKey{}, b)
}

// countingHTTPClient counts the request bodies of requests made with
// withBar.
type countingHTTPClient struct {
	base s3.HTTPClient
}

func (c *countingHTTPClient) Do(req *http.Request) (*http.Response, error) {
	if b, ok := req.Context().Value(barKey{}).(*bar); ok && req.Body != nil && req.Body != http.NoBody {
		req.Body = &countingBody{ReadCloser: req.Body, bar: b}
	}
	return c.base.Do(req)
}

type countingBody struct {
	io.ReadCloser
	bar *bar
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.bar.add(n)
	return n, err
}

// startCount returns a bar that counts the objects of a bulk run, whose
// number is not known in advance, or nil when p is nil.
func (p *progress) startCount(desc string) *bar {
	if p == nil {
		return nil
	}
	w := &barWriter{w: p.w}
	return &bar{w: w, pb: progressbar.NewOptions64(-1,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("objects"),
		progressbar.OptionSpinnerType(14),
		progressbar.OptionFullWidth(),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }),
	)}
}

// describe changes the bar's description.
func (b *bar) describe(desc string) {
	if b != nil {
		b.pb.Describe(desc)
	}
}

// clear erases the bar, so that a line can be printed; the next update
// draws it again.
func (b *bar) clear() {
	if b != nil {
		b.pb.Clear()
	}
}
