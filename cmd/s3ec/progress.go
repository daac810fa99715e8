package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/term"
)

// progress draws transfer progress bars on stderr when it is a terminal
// and neither --quiet nor --no-progress is given. A nil *progress draws
// nothing.
//
// A bar is one line, redrawn in place ("\r", the line, erase to its end)
// at most every redrawEvery. It never holds more than the terminal's width
// less one column (the last column would wrap on some terminals): fields
// are dropped or cut to fit, the description first, so that it never
// wraps or scrolls. A rate is shown only once a transfer has run for
// three quarters of a second, and is smoothed: the first bytes of a
// transfer go into buffers at memory speed, and a rate of them means
// nothing, so the rate is measured from a first sample taken after them.
type progress struct {
	w io.Writer
	// width returns the terminal's width in columns (0: unknown).
	width func() int
	// now is the clock (a fake one in tests).
	now func() time.Time
}

const (
	redrawEvery  = 100 * time.Millisecond
	rateBase     = 250 * time.Millisecond // the first sample, after the initial burst
	rateEvery    = 500 * time.Millisecond // between samples: no rate before rateBase+rateEvery
	rateSmooth   = 0.3                    // weight of a new sample
	defaultWidth = 80
)

// newProgress returns a progress reporter for e, or nil when bars are off.
func newProgress(e *env, quiet bool) *progress {
	if quiet || !e.stderrTTY {
		return nil
	}
	p := &progress{w: e.stderr, now: time.Now, width: func() int { return 0 }}
	if f, ok := e.stderr.(*os.File); ok {
		fd := int(f.Fd())
		p.width = func() int {
			w, _, err := term.GetSize(fd)
			if err != nil {
				return 0
			}
			return w
		}
	}
	return p
}

func (p *progress) enabled() bool { return p != nil }

// bar is one transfer's bar. A nil *bar is a valid, silent bar.
type bar struct {
	p     *progress
	mu    sync.Mutex
	desc  string
	total int64 // -1: unknown
	n     int64
	count bool // counts objects rather than bytes
	start time.Time
	last  time.Time // of the last frame
	drawn bool      // a frame is on the screen
	ended bool
	// rate is the smoothed rate per second, valid once rated is set;
	// sampleAt and sampleN are the last sample, valid once based is set.
	rate     float64
	rated    bool
	based    bool
	sampleAt time.Time
	sampleN  int64
}

// start returns a bar for a transfer of size bytes (-1 if unknown), or nil
// when p is nil.
func (p *progress) start(size int64, desc string) *bar {
	if p == nil {
		return nil
	}
	return &bar{p: p, desc: visible(desc), total: size, start: p.now()}
}

// startCount returns a bar that counts the objects of a bulk run, whose
// number is not known in advance, or nil when p is nil.
func (p *progress) startCount(desc string) *bar {
	if p == nil {
		return nil
	}
	return &bar{p: p, desc: visible(desc), total: -1, count: true, start: p.now()}
}

func (b *bar) add(n int) {
	if b == nil || n <= 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.n += int64(n)
	b.update(false)
}

// set moves the bar to n bytes done.
func (b *bar) set(n int64) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.n = n
	b.update(false)
}

// describe changes the bar's description.
func (b *bar) describe(desc string) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.desc = desc
}

// clear erases the bar, so that a line can be printed; the next update
// draws it again.
func (b *bar) clear() {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.erase()
}

// done ends the bar. On success its last frame is drawn (the whole size),
// and then, as after a failure, it is erased: the line that reports the
// transfer, or its error, takes its place.
func (b *bar) done(err error) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ended {
		return
	}
	if err == nil {
		if b.total >= 0 && b.n < b.total {
			b.n = b.total
		}
		b.update(true)
	}
	b.erase()
	b.ended = true
}

// update samples the rate and draws a frame, at most every redrawEvery
// unless force is set.
func (b *bar) update(force bool) {
	if b.ended {
		return
	}
	now := b.p.now()
	b.sample(now)
	if !force && b.drawn && now.Sub(b.last) < redrawEvery {
		return
	}
	b.last = now
	b.drawn = true
	io.WriteString(b.p.w, "\r"+b.render(b.p.width())+"\x1b[K")
}

func (b *bar) erase() {
	if b.drawn {
		io.WriteString(b.p.w, "\r\x1b[K")
		b.drawn = false
	}
}

// sample updates the smoothed rate: a first sample once the transfer has
// run for rateBase (what went before is the burst into buffers), then
// every rateEvery the rate of the last interval: the first one as it is,
// the next ones as a weighted step towards it.
func (b *bar) sample(now time.Time) {
	if !b.based {
		if now.Sub(b.start) >= rateBase {
			b.based, b.sampleAt, b.sampleN = true, now, b.n
		}
		return
	}
	dt := now.Sub(b.sampleAt)
	if dt < rateEvery {
		return
	}
	inst := float64(b.n-b.sampleN) / dt.Seconds()
	if b.rated {
		inst = (1-rateSmooth)*b.rate + rateSmooth*inst
	}
	b.rate, b.rated = inst, true
	b.sampleAt, b.sampleN = now, b.n
}

// render returns the frame for a terminal of width columns (0: unknown),
// at most width-1 characters long:
//
//	desc [=========>         ]  45% 12.3 MiB/300.0 MiB 8.7 MiB/s
//
// When it does not fit, the bar goes first, then the description (cut at
// its start: the end of a file name tells more), then the rate; the counts
// are cut last.
func (b *bar) render(width int) string {
	if width <= 0 {
		width = defaultWidth
	}
	avail := width - 1
	if avail < 1 {
		return ""
	}
	// The counts and the rate, longest first: the first that fits is
	// shown, cut to the width only when none does.
	var tails []string
	switch {
	case b.count:
		counts := fmt.Sprintf("%d objects", b.n)
		if b.rated {
			tails = append(tails, fmt.Sprintf("%s %.1f objects/s", counts, b.rate))
		}
		tails = append(tails, counts, fmt.Sprint(b.n))
	case b.total >= 0:
		pct := 100
		if b.total > 0 {
			pct = int(min(b.n, b.total) * 100 / b.total)
		}
		counts := fmt.Sprintf("%3d%% %s/%s", pct, formatBytes(b.n), formatBytes(b.total))
		if b.rated {
			tails = append(tails, counts+" "+formatBytes(int64(b.rate))+"/s")
		}
		tails = append(tails, counts, fmt.Sprintf("%3d%% %s", pct, formatBytes(b.n)), fmt.Sprintf("%d%%", pct))
	default:
		if b.rated {
			tails = append(tails, formatBytes(b.n)+" "+formatBytes(int64(b.rate))+"/s")
		}
		tails = append(tails, formatBytes(b.n))
	}
	tail := tails[len(tails)-1]
	for _, t := range tails {
		if len(t) <= avail {
			tail = t
			break
		}
	}
	if len(tail) >= avail {
		return tail[:avail]
	}
	room := avail - len(tail) - 1 // for the description and the bar, with a space
	desc := b.desc
	cells := 0
	if !b.count && b.total >= 0 {
		// The bar takes what the description leaves, 10 to 30 cells.
		cells = min(30, room-utf8.RuneCountInString(desc)-3)
		if cells < 10 {
			cells = min(30, room/2-3)
		}
		if cells < 5 {
			cells = 0
		}
	}
	descRoom := room
	if cells > 0 {
		descRoom = room - cells - 3
	}
	desc = cutStart(desc, descRoom)
	var sb strings.Builder
	if desc != "" {
		sb.WriteString(desc)
		sb.WriteByte(' ')
	}
	if cells > 0 {
		filled := cells
		if b.total > 0 {
			filled = int(min(b.n, b.total) * int64(cells) / b.total)
		}
		sb.WriteByte('[')
		sb.WriteString(strings.Repeat("=", filled))
		if filled < cells {
			sb.WriteByte('>')
			sb.WriteString(strings.Repeat(" ", cells-filled-1))
		}
		sb.WriteString("] ")
	}
	sb.WriteString(tail)
	return sb.String()
}

// cutStart shortens s to at most n characters by cutting its start,
// marking the cut with "…".
func cutStart(s string, n int) string {
	if n <= 0 {
		return ""
	}
	c := utf8.RuneCountInString(s)
	if c <= n {
		return s
	}
	if n == 1 {
		return "…"
	}
	r := []rune(s)
	return "…" + string(r[c-(n-1):])
}

// formatBytes renders n bytes in IEC units: "512 B", "1.5 KiB", "3.0 MiB".
func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v := float64(n)
	i := 0
	for v >= unit && i < 6 {
		v /= unit
		i++
	}
	return fmt.Sprintf("%.1f %ciB", v, "KMGTPE"[i-1])
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
