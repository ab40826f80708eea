//go:build linux

package main

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgpdf"
	"gonum.org/v1/plot/vg/vgsvg"
)

// The format packages register themselves with draw.NewFormattedCanvas;
// naming them keeps that dependency explicit.
var _ = []any{vgimg.PngCanvas{}, vgpdf.Canvas{}, vgsvg.Canvas{}}

// writePlot draws one panel per rtt connection count: latency (µs, log
// scale) against percentile (on a "nines" axis), one line per impl, from
// the medians over rounds. Panels rather than one crowded chart because
// latencies at c=1 and c=1000 differ by orders of magnitude, and within a
// panel the two impls are what the eye should compare.
func writePlot(path string, cfg config, targets []target, rows []row) error {
	format := strings.TrimPrefix(strings.ToLower(filepath.Ext(path)), ".")
	if format != "svg" && format != "png" && format != "pdf" {
		return fmt.Errorf("%s: want a .svg, .png or .pdf file", path)
	}
	var panels []*plot.Plot
	byItem := map[string]map[string]row{}
	var order []string
	for _, r := range rows {
		if !strings.HasPrefix(r.Item, "rtt ") {
			continue
		}
		if byItem[r.Item] == nil {
			byItem[r.Item] = map[string]row{}
			order = append(order, r.Item)
		}
		byItem[r.Item][r.Figure] = r
	}
	for _, it := range order {
		p := plot.New()
		p.Title.Text = fmt.Sprintf("%s (median of %d rounds)", it, cfg.rounds)
		if cfg.rounds == 1 {
			p.Title.Text = it + " (1 round)"
		}
		p.X.Label.Text = "percentile"
		p.Y.Label.Text = "round-trip latency (µs)"
		p.X.Min, p.X.Max = nines(rttPercentiles[0])-0.15, nines(rttPercentiles[len(rttPercentiles)-1])+0.15
		var ticks plot.ConstantTicks
		for _, q := range rttPercentiles {
			ticks = append(ticks, plot.Tick{Value: nines(q), Label: strconv.FormatFloat(q, 'f', -1, 64)})
		}
		p.X.Tick.Marker = ticks
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = logTicks{}
		p.Legend.Top = true
		p.Legend.Left = true
		var args []any
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, t := range targets {
			var pts plotter.XYs
			for _, q := range rttPercentiles {
				if v, ok := byItem[it][percentileKey(q)].Median[t.name]; ok && v > 0 {
					pts = append(pts, plotter.XY{X: nines(q), Y: v})
					lo, hi = math.Min(lo, v), math.Max(hi, v)
				}
			}
			if len(pts) > 0 {
				args = append(args, t.name, pts)
			}
		}
		if len(args) == 0 {
			continue
		}
		if err := plotutil.AddLinePoints(p, args...); err != nil {
			return err
		}
		// Headroom for the legend, and at least a factor of 2 of range, so a flat line
		// does not sit on the frame and the log ticks have something to show.
		p.Y.Min, p.Y.Max = lo/1.3, math.Max(hi*1.8, lo*2)
		panels = append(panels, p)
	}
	if len(panels) == 0 {
		return errors.New("no rtt results to plot")
	}
	cols := min(2, len(panels))
	nrows := (len(panels) + cols - 1) / cols
	grid := make([][]*plot.Plot, nrows)
	for i := range grid {
		grid[i] = make([]*plot.Plot, cols)
		for j := range cols {
			if k := i*cols + j; k < len(panels) {
				grid[i][j] = panels[k]
			}
		}
	}
	w, h := vg.Length(cols)*12*vg.Centimeter, vg.Length(nrows)*9*vg.Centimeter
	c, err := draw.NewFormattedCanvas(w, h, format)
	if err != nil {
		return err
	}
	tiles := draw.Tiles{Rows: nrows, Cols: cols, PadX: vg.Centimeter, PadY: vg.Centimeter,
		PadTop: vg.Millimeter * 3, PadBottom: vg.Millimeter * 3, PadLeft: vg.Millimeter * 3, PadRight: vg.Millimeter * 3}
	canvases := plot.Align(grid, tiles, draw.New(c))
	for i := range grid {
		for j, p := range grid[i] {
			if p != nil {
				p.Draw(canvases[i][j])
			}
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := c.WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// logTicks labels 1, 2 and 5 times each power of ten. gonum's LogTicks
// labels only the powers themselves, which leaves a panel spanning, say,
// 20–60 µs with no labelled tick at all.
type logTicks struct{}

func (logTicks) Ticks(lo, hi float64) []plot.Tick {
	var ticks []plot.Tick
	labelled := 0
	for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
		p := math.Pow(10, e)
		for m := 1; m < 10; m++ {
			v := float64(m) * p
			if v < lo || v > hi {
				continue
			}
			t := plot.Tick{Value: v}
			if m == 1 || m == 2 || m == 5 {
				t.Label = strconv.FormatFloat(v, 'f', -1, 64)
				labelled++
			}
			ticks = append(ticks, t)
		}
	}
	// A narrow range (one panel spans less than a factor of 2.5) may hold
	// one 1-2-5 value or none: then label every tick.
	if labelled < 2 {
		for i := range ticks {
			ticks[i].Label = strconv.FormatFloat(ticks[i].Value, 'f', -1, 64)
		}
	}
	return ticks
}
