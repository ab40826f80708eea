//go:build linux

package main

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// median of the finite values in xs, NaN if there are none. The median,
// not the mean, summarises rounds because on a shared 2-core box one round
// is routinely disturbed by something else and the mean would follow it.
func median(xs []float64) float64 {
	v := make([]float64, 0, len(xs))
	for _, x := range xs {
		if !math.IsNaN(x) && !math.IsInf(x, 0) {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return math.NaN()
	}
	slices.Sort(v)
	m := len(v) / 2
	if len(v)%2 == 1 {
		return v[m]
	}
	return (v[m-1] + v[m]) / 2
}

// ratios returns x[i]/base[i] per round, NaN where either is missing or the
// base is zero. Ratios are taken within a round, where both impls ran back
// to back under the same conditions, and only then summarised, so that
// round-to-round drift of the machine cancels out.
func ratios(x, base []float64) []float64 {
	r := make([]float64, len(x))
	for i := range x {
		r[i] = math.NaN()
		if i < len(base) && base[i] != 0 && !math.IsNaN(base[i]) && !math.IsNaN(x[i]) {
			r[i] = x[i] / base[i]
		}
	}
	return r
}

// rttPercentiles are the latency quantiles reported for rtt, in percent.
var rttPercentiles = []float64{50, 90, 99, 99.9}

// nines maps a percentile to its "number of nines", -log10(1-p/100):
// 50→0.3, 90→1, 99→2, 99.9→3. Plotting against it spreads the tail out
// evenly, which a linear percentile axis crushes into its right edge.
func nines(p float64) float64 {
	return -math.Log10(1 - p/100)
}

// percentileKey is the figure name of percentile p, e.g. "p99.9_us".
func percentileKey(p float64) string {
	return "p" + strconv.FormatFloat(p, 'f', -1, 64) + "_us"
}

// parseConns parses a -conns list such as "1,16,256,1000".
func parseConns(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("bad connection count %q", f)
		}
		if n < 1 || n > 60000 {
			return nil, fmt.Errorf("connection count %d out of range 1..60000", n)
		}
		if slices.Contains(out, n) {
			return nil, fmt.Errorf("connection count %d given twice", n)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("empty connection list %q", s)
	}
	return out, nil
}

// formatFigure prints v with about three significant digits, enough to read
// differences that survive the noise and no more.
func formatFigure(v float64) string {
	switch a := math.Abs(v); {
	case math.IsNaN(v):
		return "-"
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
}
