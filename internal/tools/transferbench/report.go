//go:build unix

package main

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
)

// Targets (issue 14 §5): throughput at least 0.95 of each plain baseline,
// client CPU of a put at most +25 % over the plain SDK's on HTTP and +15 %
// on HTTPS, peak RSS within workers × part size + 32 MiB.
const (
	minRatio       = 0.95
	maxPutCPUHTTP  = 1.25
	maxPutCPUHTTPS = 1.15
	rssSlackMiB    = 32
)

// runEnv describes the machine during the run.
type runEnv struct {
	Load    string  // load averages at the start → at the end
	Minutes float64 // wall time of the whole run
}

// stat is a median and the range of a list.
type stat struct{ Med, Min, Max float64 }

func stats(xs []float64) stat {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	med := s[n/2]
	if n%2 == 0 {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return stat{Med: med, Min: s[0], Max: s[n-1]}
}

func (s stat) String() string { return fmt.Sprintf("%.2f (%.2f–%.2f)", s.Med, s.Min, s.Max) }

// speedRatios are the pairs' ours/baseline throughput ratios.
func (c *cell) speedRatios() []float64 {
	var out []float64
	for _, p := range c.Pairs {
		out = append(out, p.Base.Seconds/p.Ours.Seconds)
	}
	return out
}

// cpuRatios are the pairs' ours/baseline client CPU ratios.
func (c *cell) cpuRatios() []float64 {
	var out []float64
	for _, p := range c.Pairs {
		out = append(out, p.Ours.CPU/p.Base.CPU)
	}
	return out
}

// orderEffect is the median time ratio of the implementation that ran
// first to the one that ran second, over the pairs where each order ran:
// the ratio ours/base when ours went first over the same when it went
// second. 1 means no order effect; the alternation cancels one either way.
func (c *cell) orderEffect() float64 {
	var first, second []float64
	for _, p := range c.Pairs {
		r := p.Ours.Seconds / p.Base.Seconds
		if p.OursFirst {
			first = append(first, r)
		} else {
			second = append(second, r)
		}
	}
	if len(first) == 0 || len(second) == 0 {
		return 1
	}
	return stats(first).Med / stats(second).Med
}

type runs []result

func (rs runs) mibps(size int64) float64 {
	var xs []float64
	for _, r := range rs {
		xs = append(xs, mibps(size, r.Seconds))
	}
	return stats(xs).Med
}

func (rs runs) cpu() float64 {
	var xs []float64
	for _, r := range rs {
		xs = append(xs, r.CPU)
	}
	return stats(xs).Med
}

func (rs runs) peakMiB() int64 {
	var m int64
	for _, r := range rs {
		m = max(m, r.RSSKiB)
	}
	return (m + 1023) >> 10
}

func (c *cell) ours() runs {
	var rs runs
	for _, p := range c.Pairs {
		rs = append(rs, p.Ours)
	}
	return rs
}

func (c *cell) base() runs {
	var rs runs
	for _, p := range c.Pairs {
		rs = append(rs, p.Base)
	}
	return rs
}

func mibps(size int64, seconds float64) float64 { return float64(size) / (1 << 20) / seconds }

func human(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d B", n)
}

var baseNames = map[string]string{implSDK: "SDK PutObject", implManager: "manager", implTM: "transfermanager"}

// report prints the tables and checks the targets.
func report(cfg config, env runEnv, cells []*cell) {
	scheme := "HTTP (payload signed)"
	tls := strings.HasPrefix(cfg.endpoint, "https://")
	if tls {
		scheme = "HTTPS (unsigned payload, trailing checksum)"
	}
	fmt.Printf("%s, %s objects, %s parts, checksum %s; %d CPUs, load average %s, %.0f min; per cell 1 warm-up pair and %d measured pairs in alternating order; ratios are per-pair ours/plain, median (range); CPU is the client process's user+system time; RSS the largest of the runs.\n\n",
		scheme, human(cfg.size), human(cfg.partSize), cmp(string(cfg.checksum), "none"), runtime.NumCPU(), env.Load, env.Minutes, cfg.pairs)
	var notes, order []string
	byKey := map[string]*cell{}
	for _, c := range cells {
		byKey[fmt.Sprintf("%s %s %d", c.Op, c.Base, c.Conc)] = c
	}

	if c := byKey["put sdk 1"]; c != nil {
		limit := maxPutCPUHTTP
		if tls {
			limit = maxPutCPUHTTPS
		}
		fmt.Println("| put | ours MiB/s | SDK MiB/s | ours/SDK speed | ours CPU s | SDK CPU s | ours/SDK CPU | CPU target | peak RSS ours / SDK MiB |")
		fmt.Println("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
		cpu := stats(c.cpuRatios())
		fmt.Printf("| %s PutObject | %.0f | %.0f | %s | %.2f | %.2f | %s | ≤ %.2f | %d / %d |\n\n",
			human(cfg.size), c.ours().mibps(cfg.size), c.base().mibps(cfg.size), stats(c.speedRatios()),
			c.ours().cpu(), c.base().cpu(), cpu, limit, c.ours().peakMiB(), c.base().peakMiB())
		if cpu.Med > limit {
			notes = append(notes, fmt.Sprintf("put: client CPU ours/SDK %.2f > %.2f", cpu.Med, limit))
		}
	}

	var bases []string
	for _, b := range cfg.baselines {
		bases = append(bases, baseNames[b])
	}
	header := "| operation | workers | ours MiB/s |"
	align := "|---|---:|---:|"
	for _, b := range bases {
		header += fmt.Sprintf(" %s MiB/s | ours/%s |", b, b)
		align += "---:|---:|"
	}
	header += " CPU s ours / " + strings.Join(bases, " / ") + " | peak RSS MiB ours / " + strings.Join(bases, " / ") + " | ours RSS budget MiB |"
	align += "---:|---:|---:|"
	printed := false
	for _, op := range []string{"upload", "download"} {
		for _, conc := range cfg.concurrency {
			var row []*cell
			for _, b := range cfg.baselines {
				if c := byKey[fmt.Sprintf("%s %s %d", op, b, conc)]; c != nil {
					row = append(row, c)
				}
			}
			if len(row) == 0 {
				continue
			}
			if !printed {
				fmt.Println(header)
				fmt.Println(align)
				printed = true
			}
			var ours runs
			for _, c := range row {
				ours = append(ours, c.ours()...)
			}
			line := fmt.Sprintf("| %s | %d | %.0f |", op, conc, ours.mibps(cfg.size))
			cpus := []string{fmt.Sprintf("%.2f", ours.cpu())}
			rss := []string{fmt.Sprint(ours.peakMiB())}
			for _, c := range row {
				r := stats(c.speedRatios())
				line += fmt.Sprintf(" %.0f | %s |", c.base().mibps(cfg.size), r)
				cpus = append(cpus, fmt.Sprintf("%.2f", c.base().cpu()))
				rss = append(rss, fmt.Sprint(c.base().peakMiB()))
				if r.Med < minRatio {
					notes = append(notes, fmt.Sprintf("%s ×%d: ours/%s %.2f < %.2f", op, conc, baseNames[c.Base], r.Med, minRatio))
				}
				if e := c.orderEffect(); e > 1.15 || e < 1/1.15 {
					order = append(order, fmt.Sprintf("%s ×%d against %s: %.2f", op, conc, baseNames[c.Base], e))
				}
			}
			budget := int64(conc)*cfg.partSize>>20 + rssSlackMiB
			peak := ours.peakMiB()
			line += fmt.Sprintf(" %s | %s | %d (%d%% used) |", strings.Join(cpus, " / "), strings.Join(rss, " / "), budget, peak*100/budget)
			fmt.Println(line)
			if peak > budget {
				notes = append(notes, fmt.Sprintf("%s ×%d: peak RSS %d MiB > %d MiB", op, conc, peak, budget))
			}
		}
	}
	if len(order) > 0 {
		fmt.Println("\nOrder effect (ours/baseline time when ours ran first, over the same when it ran second; the alternation cancels it in the medians):\n- " + strings.Join(order, "\n- "))
	}
	if len(notes) == 0 {
		fmt.Println("\nAll targets met.")
	} else {
		fmt.Println("\nTargets missed:\n- " + strings.Join(notes, "\n- "))
	}
}

// loadAverage returns the 1, 5 and 15-minute load averages (Linux), to
// tell a quiet machine from a busy one.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "unknown"
}
