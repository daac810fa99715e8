package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// fakeClock is a clock that moves only when told.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time       { return c.t }
func (c *fakeClock) step(d time.Duration) { c.t = c.t.Add(d) }
func newFakeProgress(width int) (*progress, *fakeClock, *bytes.Buffer) {
	clk := &fakeClock{t: time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)}
	var buf bytes.Buffer
	return &progress{w: &buf, now: clk.now, width: func() int { return width }}, clk, &buf
}

// frames splits what a bar wrote into the frames drawn ("\r" + line +
// erase to the end of the line), without the erasures.
func frames(out string) []string {
	var fs []string
	for _, f := range strings.Split(out, "\r") {
		f = strings.TrimSuffix(f, "\x1b[K")
		if f != "" {
			fs = append(fs, f)
		}
	}
	return fs
}

// TestProgressWidth renders bars at 20, 50 and 80 columns with a long
// file name (issue 13 #2: at 50 columns the bar shrank to "||", wrapped
// and scrolled a line per redraw): every frame fits in width-1 columns,
// holds no newline, never an empty bar, and keeps the counts.
func TestProgressWidth(t *testing.T) {
	for _, width := range []int{20, 50, 80} {
		p, clk, buf := newFakeProgress(width)
		name := "photos/2026/holidays/a-very-long-file-name-that-never-fits.jpg"
		b := p.start(300<<20, name)
		for i := 0; i < 30; i++ {
			clk.step(200 * time.Millisecond)
			b.add(10 << 20)
		}
		b.done(nil)
		out := buf.String()
		if strings.ContainsAny(out, "\n") {
			t.Errorf("width %d: a newline in the bar's output: %q", width, out)
		}
		fs := frames(out)
		if len(fs) == 0 {
			t.Fatalf("width %d: nothing drawn", width)
		}
		for _, f := range fs {
			if n := utf8.RuneCountInString(f); n > width-1 {
				t.Errorf("width %d: a frame of %d columns: %q", width, n, f)
			}
			if strings.Contains(f, "||") || strings.Contains(f, "[]") {
				t.Errorf("width %d: an empty bar: %q", width, f)
			}
		}
		last := fs[len(fs)-1]
		if !strings.Contains(last, "100%") {
			t.Errorf("width %d: the last frame lacks 100%%: %q", width, last)
		}
		if width >= 50 && !strings.Contains(last, "300.0 MiB/300.0 MiB") {
			t.Errorf("width %d: the last frame lacks the counts: %q", width, last)
		}
		if width == 80 && (!strings.Contains(last, "[") || !strings.Contains(last, "…")) {
			t.Errorf("width 80: want a bar and the name cut at its start: %q", last)
		}
		if !strings.HasSuffix(out, "\r\x1b[K") {
			t.Errorf("width %d: the bar is not erased at the end: %q", width, out[max(0, len(out)-20):])
		}
	}
}

// TestProgressRate checks the rate: none in the first half second (issue
// 13 #2: the first frame of an upload said 8.7 GiB/s, the bytes having
// gone into buffers), then the average, then a smoothed one that follows
// a change of speed without jumping to it.
func TestProgressRate(t *testing.T) {
	p, clk, buf := newFakeProgress(120)
	b := p.start(1<<30, "big")
	// A burst: 32 MiB "sent" at once, as buffers fill.
	b.add(32 << 20)
	clk.step(100 * time.Millisecond)
	b.add(1 << 20)
	if strings.Contains(buf.String(), "/s") {
		t.Fatalf("a rate within the first half second: %q", buf.String())
	}
	// Then 10 MiB/s for a while: the rate settles near it.
	for range 40 {
		clk.step(100 * time.Millisecond)
		b.add(1 << 20)
	}
	fs := frames(buf.String())
	last := fs[len(fs)-1]
	if !strings.Contains(last, " MiB/s") {
		t.Fatalf("no rate after 4 seconds: %q", last)
	}
	if b.rate < 9<<20 || b.rate > 12<<20 {
		t.Errorf("rate %.1f MiB/s after 4 s at 10 MiB/s", b.rate/(1<<20))
	}
	// A stall halves it within a second or two, not at once.
	before := b.rate
	clk.step(600 * time.Millisecond)
	b.add(1)
	if b.rate <= 0 || b.rate >= before {
		t.Errorf("rate %.1f after a stall, from %.1f: want lower, above zero", b.rate, before)
	}
}

// TestProgressThrottle draws at most one frame per redrawEvery, and the
// final one always.
func TestProgressThrottle(t *testing.T) {
	p, clk, buf := newFakeProgress(80)
	b := p.start(1000, "f")
	for range 100 {
		clk.step(time.Millisecond)
		b.add(1)
	}
	if n := len(frames(buf.String())); n > 2 {
		t.Errorf("%d frames in 100 ms", n)
	}
	b.done(nil)
	fs := frames(buf.String())
	if !strings.Contains(fs[len(fs)-1], "100%") {
		t.Errorf("no final frame: %q", fs)
	}
}

// TestProgressUnknownAndCount renders bars of unknown size and object
// counts within the width.
func TestProgressUnknownAndCount(t *testing.T) {
	for _, width := range []int{20, 50, 80} {
		p, clk, buf := newFakeProgress(width)
		b := p.start(-1, "stdin")
		c := p.startCount("verify: 10 done, 0 skipped, 0 failed")
		for range 10 {
			clk.step(300 * time.Millisecond)
			b.add(5 << 20)
			c.add(1)
		}
		for _, f := range frames(buf.String()) {
			if utf8.RuneCountInString(f) > width-1 {
				t.Errorf("width %d: %q", width, f)
			}
		}
		if width == 80 && !strings.Contains(buf.String(), "10 objects") {
			t.Errorf("no object count: %q", buf.String())
		}
	}
}

// TestProgressFailure erases the bar of a failed transfer without a final
// frame.
func TestProgressFailure(t *testing.T) {
	p, _, buf := newFakeProgress(80)
	b := p.start(100, "f")
	b.add(10)
	b.done(errNoKeyring)
	if out := buf.String(); strings.Contains(out, "100%") || !strings.HasSuffix(out, "\r\x1b[K") {
		t.Errorf("failed bar: %q", out)
	}
	var nilBar *bar
	nilBar.add(1)
	nilBar.done(nil) // a nil bar is silent
}

func TestFormatBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 3 << 20: "3.0 MiB", 5 << 40: "5.0 TiB"} {
		if got := formatBytes(n); got != want {
			t.Errorf("formatBytes(%d) = %q, want %q", n, got, want)
		}
	}
}
