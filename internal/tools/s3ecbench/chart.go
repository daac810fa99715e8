//go:build unix

package main

import (
	"fmt"
	"image/color"
	"math"
	"os"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// The charts are PNGs 1000 px wide at 96 dpi (vg lengths are points).
const (
	chartDPI    = 96
	chartWidth  = 1000 * vg.Inch / chartDPI
	panelHeight = 640 * vg.Inch / chartDPI
)

// A chart series: one bar per group at most, one colour, one legend entry.
type chartSeries struct {
	name  string
	color color.Color
	ref   bool // reference figures: dashed outline
}

const (
	serPlain = iota
	serOurs
	serOursDelayed
	serRef
)

var chartSeriesList = []chartSeries{
	serPlain:       {name: "plain aws-sdk-go-v2 client (this run)", color: color.RGBA{150, 150, 150, 255}},
	serOurs:        {name: "s3ec-go (this run; get: default mode, authenticated before any byte is returned)", color: color.RGBA{31, 96, 180, 255}},
	serOursDelayed: {name: "s3ec-go, get with delayed authentication (this run)", color: color.RGBA{110, 180, 235, 255}},
	serRef:         {name: "AWS S3 Encryption Client for Go v3.1.0: REFERENCE figures, measured separately on the same machine kind", color: color.RGBA{230, 140, 40, 255}, ref: true},
}

// chartBar is one bar: its value and the small text printed above it.
type chartBar struct {
	series int
	value  float64
	label  string
}

// chartGroup is one size and operation.
type chartGroup struct {
	name string
	bars []chartBar
}

// chartGroups turns the table's rows into groups "SIZE put" and "SIZE get",
// the get group holding both ways of reading where both were measured.
// With rss the bars are peak RSS (MiB), else seconds.
func chartGroups(rows []row, rss bool) []chartGroup {
	var groups []chartGroup
	find := func(name string) *chartGroup {
		for i := range groups {
			if groups[i].name == name {
				return &groups[i]
			}
		}
		groups = append(groups, chartGroup{name: name})
		return &groups[len(groups)-1]
	}
	has := func(g *chartGroup, s int) bool {
		for _, b := range g.bars {
			if b.series == s {
				return true
			}
		}
		return false
	}
	secs := func(v float64) string {
		if v < 1 {
			return strconv.FormatFloat(v, 'f', 3, 64)
		}
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	ratio := func(v float64) string { return "×" + strconv.FormatFloat(v, 'f', 2, 64) }
	for _, r := range rows {
		if strings.Contains(r.Op, "warm") || strings.Contains(r.Op, "spool") {
			continue // the charts show the fresh-process figures of the two read modes
		}
		op, ours := "put", serOurs
		if strings.HasPrefix(r.Op, "get") {
			op = "get"
			if strings.Contains(r.Op, "delayed") {
				ours = serOursDelayed
			}
		}
		g := find(chartSize(r.Size) + " " + op)
		if !has(g, serPlain) {
			b := chartBar{series: serPlain, value: r.PlainS, label: secs(r.PlainS)}
			if rss {
				b.value, b.label = r.PlainRSS, fmt.Sprintf("%.0f", r.PlainRSS)
			}
			g.bars = append(g.bars, b)
		}
		b := chartBar{series: ours, value: r.OursS, label: secs(r.OursS) + "\n" + ratio(r.Ratio)}
		if rss {
			b.value, b.label = r.OursRSS, fmt.Sprintf("%.0f", r.OursRSS)
		}
		g.bars = append(g.bars, b)
	}
	// The reference bar goes last in each group.
	for i := range groups {
		g := &groups[i]
		ref, ok := refFor(rows, g.name)
		if !ok {
			continue
		}
		b := chartBar{series: serRef, value: ref.s, label: secs(ref.s) + "\n" + ratio(ref.ratio)}
		if rss {
			b.value, b.label = float64(ref.rss), fmt.Sprintf("%d", ref.rss)
		}
		g.bars = append(g.bars, b)
	}
	// Keep the series order within a group: plain, ours, delayed, reference.
	for i := range groups {
		bars := groups[i].bars
		for a := 1; a < len(bars); a++ {
			for b := a; b > 0 && bars[b].series < bars[b-1].series; b-- {
				bars[b], bars[b-1] = bars[b-1], bars[b]
			}
		}
	}
	return groups
}

// chartSize is fmtSize with a space before the unit: "8 MiB".
func chartSize(n int64) string {
	s := fmtSize(n)
	i := strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' })
	return s[:i] + " " + s[i:]
}

type refFigures struct {
	s, ratio float64
	rss      int
}

// refFor returns the AWS v3 reference figures of a group: those the JSON
// rows carry, or else the built-in baseline.
func refFor(rows []row, group string) (refFigures, bool) {
	for _, r := range rows {
		op := "put"
		if strings.HasPrefix(r.Op, "get") {
			op = "get"
		}
		if chartSize(r.Size)+" "+op != group {
			continue
		}
		if r.RefS != nil && r.RefRatio != nil && r.RefRSS != nil {
			return refFigures{*r.RefS, *r.RefRatio, *r.RefRSS}, true
		}
		b, ok := baseline[r.Size]
		if !ok {
			return refFigures{}, false
		}
		if op == "get" {
			return refFigures{b.get, b.get / b.plainGet, b.rssGet}, true
		}
		return refFigures{b.put, b.put / b.plainPut, b.rssPut}, true
	}
	return refFigures{}, false
}

// panel is one chart: a header (title lines, then the legend) above a
// gonum plot.
type panel struct {
	title  []string // the first line is the title, the others notes
	legend plot.Legend
	plot   *plot.Plot
}

// newPanel draws the groups as grouped bars on a log value axis. Each bar is
// a gonum BarChart of one value stacked on an undrawn base at the axis floor,
// since a log axis has no zero to start bars from.
func newPanel(groups []chartGroup, title []string, ylabel string) (*panel, error) {
	p := plot.New()
	p.Y.Label.Text = ylabel
	p.X.Label.Text = "object size and operation"
	p.X.Label.TextStyle.Font.Size = vg.Points(12)
	p.Y.Label.TextStyle.Font.Size = vg.Points(12)
	p.Y.Tick.Label.Font.Size = vg.Points(11)
	p.X.Tick.Label.Font.Size = vg.Points(12)
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = logTicks{}
	grid := plotter.NewGrid()
	grid.Vertical.Color = nil // horizontal lines only, behind the bars
	p.Add(grid)

	lo, hi := math.Inf(1), math.Inf(-1)
	maxBars := 1
	for _, g := range groups {
		maxBars = max(maxBars, len(g.bars))
		for _, b := range g.bars {
			if b.value > 0 {
				lo, hi = min(lo, b.value), max(hi, b.value)
			}
		}
	}
	if math.IsInf(lo, 0) {
		return nil, fmt.Errorf("chart %q: no positive values", title[0])
	}
	floor := math.Pow(10, math.Floor(math.Log10(lo/1.5)))

	// Bars fill about 85 % of a group's share of the (roughly 680 pt wide)
	// data area, 30 pt at most.
	slot := min(vg.Points(30), vg.Points(680)/vg.Length(len(groups))*0.85/vg.Length(maxBars))
	gap := slot / 8
	barW := slot - gap
	var ticks []plot.Tick
	legendBar := map[int]*plotter.BarChart{}
	for gi, g := range groups {
		ticks = append(ticks, plot.Tick{Value: float64(gi), Label: g.name[:strings.LastIndex(g.name, " ")] + "\n" + g.name[strings.LastIndex(g.name, " ")+1:]})
		n := len(g.bars)
		for bi, b := range g.bars {
			if b.value <= 0 {
				continue
			}
			base := &plotter.BarChart{Values: plotter.Values{floor}, XMin: float64(gi)}
			bar, err := plotter.NewBarChart(plotter.Values{b.value - floor}, barW)
			if err != nil {
				return nil, err
			}
			bar.StackOn(base)
			bar.Offset = slot*vg.Length(bi) - slot*vg.Length(n-1)/2
			s := chartSeriesList[b.series]
			bar.Color = s.color
			bar.LineStyle.Width = vg.Points(0.8)
			bar.LineStyle.Color = color.RGBA{60, 60, 60, 255}
			if s.ref {
				bar.LineStyle.Color = color.RGBA{140, 70, 0, 255}
				bar.LineStyle.Width = vg.Points(1.5)
				bar.LineStyle.Dashes = []vg.Length{vg.Points(4), vg.Points(2)}
			}
			p.Add(bar)
			if legendBar[b.series] == nil {
				legendBar[b.series] = bar
			}

			lab, err := plotter.NewLabels(plotter.XYLabels{
				XYs:    plotter.XYs{{X: float64(gi), Y: b.value}},
				Labels: []string{b.label},
			})
			if err != nil {
				return nil, err
			}
			lab.TextStyle[0].Font.Size = vg.Points(8.5)
			lab.TextStyle[0].XAlign = draw.XCenter
			lab.TextStyle[0].YAlign = draw.YBottom
			lab.Offset = vg.Point{X: bar.Offset, Y: vg.Points(2)}
			p.Add(lab)
		}
	}
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	p.X.Min, p.X.Max = -0.5, float64(len(groups))-0.5
	// The axis ends at the 1, 2 or 5 tick over the tallest bar, so its top
	// is labelled; the plot pads the data area for the bars' labels.
	p.Y.Min, p.Y.Max = floor, niceAbove(hi)

	pn := &panel{title: title, legend: plot.NewLegend(), plot: p}
	pn.legend.Top, pn.legend.Left = true, true
	pn.legend.TextStyle.Font.Size = vg.Points(11)
	pn.legend.ThumbnailWidth = vg.Points(22)
	pn.legend.Padding = vg.Points(4)
	for s := range chartSeriesList {
		if b := legendBar[s]; b != nil {
			pn.legend.Add(chartSeriesList[s].name, b)
		}
	}
	return pn, nil
}

// niceAbove returns the least 1, 2 or 5 times a power of ten ≥ v.
func niceAbove(v float64) float64 {
	d := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if d*m >= v*(1-1e-9) {
			return d * m
		}
	}
	return 10 * d
}

// logTicks labels 1, 2 and 5 of each decade, with minor ticks between.
type logTicks struct{}

func (logTicks) Ticks(lo, hi float64) []plot.Tick {
	var ticks []plot.Tick
	for d := math.Pow(10, math.Floor(math.Log10(lo))); d <= hi; d *= 10 {
		for i := 1; i < 10; i++ {
			v := d * float64(i)
			if v < lo*(1-1e-9) || v > hi*(1+1e-9) {
				continue
			}
			t := plot.Tick{Value: v}
			if i == 1 || i == 2 || i == 5 {
				t.Label = strconv.FormatFloat(v, 'g', -1, 64)
			}
			ticks = append(ticks, t)
		}
	}
	return ticks
}

// runNote describes the run on a chart.
func runNote(rep *report) string {
	mode := "signed payload"
	if rep.Unsigned {
		mode = "UNSIGNED-PAYLOAD"
	}
	s := fmt.Sprintf("%s, %s", mode, rep.GoVersion)
	if rep.GOMAXPROCS > 0 {
		s += fmt.Sprintf(", GOMAXPROCS %d", rep.GOMAXPROCS)
	}
	if !rep.Time.IsZero() {
		s += ", " + rep.Time.Format("2006-01-02")
	}
	return s
}

func runs(n int) string {
	if n == 1 {
		return "1 run"
	}
	return fmt.Sprintf("%d runs", n)
}

func timePanel(rep *report) (*panel, error) {
	return newPanel(chartGroups(rep.Rows, false), []string{
		"S3 PutObject / GetObject wall time: s3ec-go vs plain aws-sdk-go-v2 (lower is better)",
		fmt.Sprintf("median of %s, one request per process, %s", runs(rep.Runs), runNote(rep)),
		"above each bar: seconds, and ×N = that time ÷ the plain client's time in the same run (AWS v3: in its own reference run)",
	}, "seconds (log scale)")
}

func rssPanel(rep *report) (*panel, error) {
	return newPanel(chartGroups(rep.Rows, true), []string{
		"Peak RSS of the process making one request (lower is better)",
		fmt.Sprintf("highest of %s, %s", runs(rep.Runs), runNote(rep)),
	}, "peak RSS, MiB (log scale)")
}

// writeCharts writes the time chart to path and the RSS chart to rssPath;
// with rssPath empty, the RSS chart is a second panel under the time chart.
func writeCharts(rep *report, path, rssPath string) error {
	tp, err := timePanel(rep)
	if err != nil {
		return err
	}
	rp, err := rssPanel(rep)
	if err != nil {
		return err
	}
	if path != "" {
		panels := []*panel{tp}
		if rssPath == "" {
			panels = append(panels, rp)
		}
		if err := savePNG(path, panels...); err != nil {
			return err
		}
	}
	if rssPath != "" {
		return savePNG(rssPath, rp)
	}
	return nil
}

// savePNG draws the panels one above the other into a PNG file.
func savePNG(path string, panels ...*panel) error {
	img := vgimg.NewWith(vgimg.UseWH(chartWidth, panelHeight*vg.Length(len(panels))),
		vgimg.UseDPI(chartDPI), vgimg.UseBackgroundColor(color.White))
	dc := draw.Crop(draw.New(img), vg.Points(6), -vg.Points(12), vg.Points(4), -vg.Points(8))
	tiles := draw.Tiles{Rows: len(panels), Cols: 1, PadY: vg.Points(24)}
	var plots [][]*plot.Plot
	for _, pn := range panels {
		plots = append(plots, []*plot.Plot{pn.plot})
	}
	// Align lines up the data areas; each panel's header is then cut off
	// the top of its canvas.
	for i, cs := range plot.Align(plots, tiles, dc) {
		pn, c := panels[i], cs[0]
		left := pn.plot.DataCanvas(c).Min.X
		y := c.Max.Y
		for j, line := range pn.title {
			sty := pn.plot.Title.TextStyle
			sty.Font.Size = vg.Points(11)
			if j == 0 {
				sty.Font.Size = vg.Points(14)
			}
			sty.YAlign = draw.YBottom
			y -= sty.Height(line)
			c.FillText(sty, vg.Point{X: (dc.Min.X + dc.Max.X) / 2, Y: y}, line)
			y -= vg.Points(3)
		}
		y -= vg.Points(6)
		lc := c
		lc.Min.X, lc.Max.Y = left, y
		pn.legend.Draw(lc)
		y -= pn.legend.Rectangle(lc).Size().Y + vg.Points(10)
		c.Max.Y = y
		pn.plot.Draw(c)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}
