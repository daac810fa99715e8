//go:build unix

package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/s3ec/s3ec-go/encryptionclient"
)

// awsV3 is the baseline: the AWS S3 Encryption Client for Go v3.1.0 and the
// plain client measured with it, on this machine kind and versitygw/MinIO
// (seconds, peak RSS MiB). Only ratios taken in one run compare; these are
// for reference.
type awsV3 struct {
	plainPut, plainGet, put, get float64
	rssPlain, rssPut, rssGet     int
}

var baseline = map[int64]awsV3{
	8 << 20:   {0.050, 0.025, 0.091, 0.056, 15, 40, 32},
	64 << 20:  {0.398, 0.178, 0.627, 0.297, 15, 238, 174},
	512 << 20: {3.99, 1.21, 9.55, 2.52, 15, 1755, 1240},
}

// row is one line of the table: one size, one operation, both clients.
type row struct {
	Size      int64   `json:"size"`
	Op        string  `json:"op"`
	PlainTask string  `json:"plain_task"`
	OursTask  string  `json:"ours_task"`
	PlainS    float64 `json:"plain_s"` // median wall time
	OursS     float64 `json:"ours_s"`
	Ratio     float64 `json:"ours_over_plain"` // OursS / PlainS
	// PairedRatio is the median of the per-run ratios (run i of ours over
	// run i of plain, measured back to back); PairedMin/Max their range.
	PairedRatio float64 `json:"paired_ratio_median"`
	PairedMin   float64 `json:"paired_ratio_min"`
	PairedMax   float64 `json:"paired_ratio_max"`
	PlainMiBs   float64 `json:"plain_mib_s"` // median throughput
	OursMiBs    float64 `json:"ours_mib_s"`
	PlainRSS    float64 `json:"plain_rss_mib"` // max peak RSS over the runs
	OursRSS     float64 `json:"ours_rss_mib"`

	RefS     *float64 `json:"aws_v3_s,omitempty"`
	RefRatio *float64 `json:"aws_v3_over_plain,omitempty"`
	RefRSS   *int     `json:"aws_v3_rss_mib,omitempty"`
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func buildRows(c *config, samples map[measureKey][]sample) []row {
	var rows []row
	for _, size := range c.sizes {
		pairs := [][3]string{{"put", "put/plain/-", "put/ours/-"}}
		if size <= encryptionclient.DefaultBufferSize {
			pairs = append(pairs, [3]string{"get (default)", "get/plain/-", "get/ours/default"})
		}
		pairs = append(pairs, [3]string{"get (delayed auth)", "get/plain/-", "get/ours/delayed"},
			[3]string{"get (spool)", "get/plain/-", "get/ours/spool"},
			[3]string{"get (default, warm)", "getwarm/plain/-", "getwarm/ours/default"})
		for _, p := range pairs {
			ps, ours := samples[measureKey{size, p[1]}], samples[measureKey{size, p[2]}]
			if len(ps) == 0 || len(ours) == 0 {
				continue
			}
			r := row{Size: size, Op: p[0], PlainTask: p[1], OursTask: p[2]}
			var pt, ot, pm, om, ratios []float64
			mib := float64(size) / (1 << 20)
			for i, s := range ps {
				pt = append(pt, s.Seconds)
				pm = append(pm, mib/s.Seconds)
				r.PlainRSS = max(r.PlainRSS, float64(s.MaxRSS)/(1<<20))
				if i < len(ours) {
					ratios = append(ratios, ours[i].Seconds/s.Seconds)
				}
			}
			for _, s := range ours {
				ot = append(ot, s.Seconds)
				om = append(om, mib/s.Seconds)
				r.OursRSS = max(r.OursRSS, float64(s.MaxRSS)/(1<<20))
			}
			r.PlainS, r.OursS = median(pt), median(ot)
			r.Ratio = r.OursS / r.PlainS
			r.PairedRatio, r.PairedMin, r.PairedMax = median(ratios), slices.Min(ratios), slices.Max(ratios)
			r.PlainMiBs, r.OursMiBs = median(pm), median(om)
			if b, ok := baseline[size]; ok {
				s, ratio, rss := b.put, b.put/b.plainPut, b.rssPut
				if strings.HasPrefix(p[0], "get") {
					s, ratio, rss = b.get, b.get/b.plainGet, b.rssGet
				}
				r.RefS, r.RefRatio, r.RefRSS = &s, &ratio, &rss
			}
			rows = append(rows, r)
		}
	}
	return rows
}

func printTable(w io.Writer, rep *report) {
	rows := rep.Rows
	mode := "signed payload (SDK default over http)"
	if rep.Unsigned {
		mode = "UNSIGNED-PAYLOAD"
	}
	procs := "GOMAXPROCS ?"
	if rep.GOMAXPROCS > 0 {
		procs = fmt.Sprintf("GOMAXPROCS %d", rep.GOMAXPROCS)
	}
	fmt.Fprintf(w, "s3ecbench: %s, %d runs each (medians; RSS = max peak), %s, %s, %s\n\n",
		rep.Endpoint, rep.Runs, mode, procs, rep.GoVersion)
	fmt.Fprintln(w, "| size | op | plain s | ours s | ours/plain | paired ratio (min–max) | plain MiB/s | ours MiB/s | plain RSS MiB | ours RSS MiB | AWS v3 s (ref) | AWS v3/plain (ref) | AWS v3 RSS MiB (ref) |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range rows {
		ref := "— | — | —"
		if r.RefS != nil {
			ref = fmt.Sprintf("%.3f | %.2f | %d", *r.RefS, *r.RefRatio, *r.RefRSS)
		}
		fmt.Fprintf(w, "| %s | %s | %.3f | %.3f | %.2f | %.2f (%.2f–%.2f) | %.0f | %.0f | %.0f | %.0f | %s |\n",
			fmtSize(r.Size), r.Op, r.PlainS, r.OursS, r.Ratio, r.PairedRatio, r.PairedMin, r.PairedMax,
			r.PlainMiBs, r.OursMiBs, r.PlainRSS, r.OursRSS, ref)
	}
	fmt.Fprintln(w)
	for _, t := range targets(rows) {
		fmt.Fprintln(w, "- "+t)
	}
}

// targets checks the project's performance targets against the rows that
// were measured. Met only when both the ratio of the medians and the
// median of the back-to-back ratios are within the target; BORDERLINE when
// one is.
func targets(rows []row) []string {
	var out []string
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "MISSED"
	}
	ratio := func(r row, limit float64, what string) {
		v := verdict(r.Ratio <= limit && r.PairedRatio <= limit)
		if (r.Ratio <= limit) != (r.PairedRatio <= limit) {
			v = "BORDERLINE"
		}
		out = append(out, fmt.Sprintf("%s %s: ours/plain %.2f (paired %.2f) ≤ %.2f%s: %s", fmtSize(r.Size), r.Op, r.Ratio, r.PairedRatio, limit, what, v))
	}
	rss := func(r row, limit float64, what string) {
		out = append(out, fmt.Sprintf("%s %s: peak RSS %.0f MiB ≤ %.0f MiB%s: %s", fmtSize(r.Size), r.Op, r.OursRSS, limit, what, verdict(r.OursRSS <= limit)))
	}
	for _, r := range rows {
		mib := float64(r.Size) / (1 << 20)
		switch {
		case r.Op == "get (default)" && r.Size == 64<<20:
			ratio(r, 1.3, " (fresh process)")
		case r.Op == "get (default, warm)" && r.Size == 64<<20:
			ratio(r, 1.05, " (warm process)")
			rss(r, mib+16, " (object + 16 MiB, repeated GETs)")
		case r.Op == "get (spool)":
			rss(r, 64, " (constant memory)")
		case r.Size != 64<<20 && r.Size != 512<<20:
		case r.Op == "put" || r.Op == "get (delayed auth)":
			ratio(r, 1.15, "")
			if r.Size == 512<<20 {
				rss(r, 64, "")
			}
		}
	}
	return out
}

// series is the raw samples of one measurement.
type series struct {
	Size    int64    `json:"size"`
	Task    string   `json:"task"`
	Samples []sample `json:"samples"`
}

// report is a run's results, as written with -json and read with -from-json.
type report struct {
	Time       time.Time `json:"time"`
	Endpoint   string    `json:"endpoint"`
	Unsigned   bool      `json:"unsigned"`
	Runs       int       `json:"runs"`
	GoVersion  string    `json:"go_version"`
	GOMAXPROCS int       `json:"gomaxprocs,omitempty"`
	Rows       []row     `json:"rows"`
	Targets    []string  `json:"targets"`
	Raw        []series  `json:"raw"`
}

func newReport(c *config, rows []row, samples map[measureKey][]sample) *report {
	var raw []series
	for _, size := range c.sizes {
		for k, s := range samples {
			if k.Size == size {
				raw = append(raw, series{size, k.Task, s})
			}
		}
	}
	slices.SortStableFunc(raw, func(a, b series) int {
		if a.Size != b.Size {
			return cmp.Compare(a.Size, b.Size)
		}
		return strings.Compare(a.Task, b.Task)
	})
	return &report{
		Time: time.Now().UTC(), Endpoint: c.endpoint, Unsigned: c.unsigned, Runs: c.runs,
		GoVersion: runtime.Version(), GOMAXPROCS: runtime.GOMAXPROCS(0),
		Rows: rows, Targets: targets(rows), Raw: raw,
	}
}

func writeJSON(path string, rep *report) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// readJSON reads what writeJSON wrote.
func readJSON(path string) (*report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var rep report
	if err := json.Unmarshal(b, &rep); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(rep.Rows) == 0 {
		return nil, fmt.Errorf("%s: no rows: not the JSON of an s3ecbench run", path)
	}
	return &rep, nil
}
