//go:build linux

package main

import (
	"bytes"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestMedian(t *testing.T) {
	nan := math.NaN()
	for _, tc := range []struct {
		in   []float64
		want float64
	}{
		{[]float64{3}, 3},
		{[]float64{3, 1, 2}, 2},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{nan, 5, 1, nan, 3}, 3}, // failed rounds do not count
		{[]float64{1, 1000, 2}, 2},        // one disturbed round does not move it
		{[]float64{math.Inf(1), 2, 4}, 3}, // nor does a division by zero
	} {
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
	if got := median(nil); !math.IsNaN(got) {
		t.Errorf("median(nil) = %v, want NaN", got)
	}
	in := []float64{3, 1, 2}
	median(in)
	if !slices.Equal(in, []float64{3, 1, 2}) {
		t.Errorf("median reordered its input: %v", in)
	}
}

func TestRatiosArePairedPerRound(t *testing.T) {
	nan := math.NaN()
	x := []float64{10, 30, nan, 8}
	base := []float64{20, 30, 5, 0}
	got := ratios(x, base)
	want := []float64{0.5, 1, nan, nan}
	for i := range want {
		if math.IsNaN(want[i]) != math.IsNaN(got[i]) || (!math.IsNaN(want[i]) && got[i] != want[i]) {
			t.Fatalf("ratios = %v, want %v", got, want)
		}
	}
	// The median of per-round ratios is not the ratio of medians: with a
	// machine that slows down round by round both impls slow together and
	// the per-round ratio stays put.
	x, base = []float64{10, 20, 40}, []float64{20, 40, 80}
	if r := median(ratios(x, base)); r != 0.5 {
		t.Errorf("median ratio = %v, want 0.5", r)
	}
}

func TestNines(t *testing.T) {
	for p, want := range map[float64]float64{50: math.Log10(2), 90: 1, 99: 2, 99.9: 3} {
		if got := nines(p); math.Abs(got-want) > 1e-9 {
			t.Errorf("nines(%v) = %v, want %v", p, got, want)
		}
	}
	if percentileKey(99.9) != "p99.9_us" || percentileKey(50) != "p50_us" {
		t.Errorf("percentileKey: %q %q", percentileKey(99.9), percentileKey(50))
	}
}

func TestHistogramPercentiles(t *testing.T) {
	h := newLatencyHist()
	for i := int64(1); i <= 1000; i++ {
		h.RecordValue(i * int64(time.Microsecond))
	}
	for _, tc := range []struct {
		q    float64
		want float64 // µs
	}{{50, 500}, {90, 900}, {99, 990}, {99.9, 999}, {100, 1000}} {
		got := float64(h.ValueAtQuantile(tc.q)) / 1e3
		if math.Abs(got-tc.want)/tc.want > 0.001 { // three significant digits
			t.Errorf("p%v = %vµs, want %vµs", tc.q, got, tc.want)
		}
	}
	if h.Max() < int64(time.Millisecond) {
		t.Errorf("max %d < 1ms", h.Max())
	}
}

func TestParseConns(t *testing.T) {
	got, err := parseConns(" 1, 16,256 ,1000,")
	if err != nil || !slices.Equal(got, []int{1, 16, 256, 1000}) {
		t.Fatalf("parseConns = %v, %v", got, err)
	}
	for _, bad := range []string{"", ",", "0", "-1", "1,x", "1,1", "60001", "1.5"} {
		if got, err := parseConns(bad); err == nil {
			t.Errorf("parseConns(%q) = %v, want error", bad, got)
		}
	}
}

func TestParseFlagsPresets(t *testing.T) {
	var stderr bytes.Buffer
	cfg, err := parseFlags([]string{"-quick"}, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.conns, []int{1, 16}) || cfg.rounds != 1 || cfg.duration != 100*time.Millisecond {
		t.Errorf("-quick preset: conns %v rounds %d duration %v", cfg.conns, cfg.rounds, cfg.duration)
	}
	// An explicit flag beats the preset, in either order.
	cfg, err = parseFlags([]string{"-conns", "4", "-quick", "-rounds", "2"}, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.conns, []int{4}) || cfg.rounds != 2 || cfg.duration != 100*time.Millisecond {
		t.Errorf("-quick with overrides: conns %v rounds %d duration %v", cfg.conns, cfg.rounds, cfg.duration)
	}
	cfg, err = parseFlags(nil, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.conns, []int{1, 16, 256, 1000}) || cfg.rounds != 3 || len(cfg.workloads) != len(allWorkloads) {
		t.Errorf("defaults: conns %v rounds %d workloads %v", cfg.conns, cfg.rounds, cfg.workloads)
	}
	for _, bad := range [][]string{
		{"-quick", "-full"}, {"-conns", "0"}, {"-workloads", "rtt,bogus"}, {"-client", "nosuch"},
		{"-rounds", "0"}, {"extra"},
	} {
		if _, err := parseFlags(bad, &stderr); err == nil {
			t.Errorf("parseFlags(%q) succeeded, want error", bad)
		}
	}
}

func TestParseWrk(t *testing.T) {
	out := `Running 5s test @ http://127.0.0.1:40000/
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   610.45us  234.12us   5.00ms   80.00%
    Req/Sec   100.00k     5.00k  110.00k    70.00%
  Latency Distribution
     50%  580.00us
     75%  700.00us
     90%  850.00us
     99%    1.20ms
  500000 requests in 5.00s, 60.00MB read
  Socket errors: connect 1, read 2, write 0, timeout 3
  Non-2xx or 3xx responses: 4
Requests/sec: 100012.34
Transfer/sec:     12.00MB
`
	r, err := parseWrk(out)
	if err != nil {
		t.Fatal(err)
	}
	if r.reqPerSec != 100012.34 || r.p50us != 580 || r.p99us != 1200 || r.errors != 10 {
		t.Errorf("parseWrk = %+v", r)
	}
	if _, err := parseWrk("garbage"); err == nil {
		t.Error("parseWrk(garbage) succeeded")
	}
	for s, want := range map[string]float64{"12us": 12, "1.5ms": 1500, "2.00s": 2e6, "1.00m": 60e6} {
		if got, err := parseWrkDuration(s); err != nil || got != want {
			t.Errorf("parseWrkDuration(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
	if _, err := parseWrkDuration("12xs"); err == nil {
		t.Error("parseWrkDuration(12xs) succeeded")
	}
}

func TestSummarize(t *testing.T) {
	targets := []target{{name: "net"}, {name: "other"}}
	items := []item{{workload: "churn"}}
	label := items[0].label()
	var results []result
	add := func(impl string, round int, v float64) {
		results = append(results, result{Item: label, Impl: impl, Round: round, Figures: map[string]float64{"conn_per_s": v}})
	}
	add("net", 0, 100)
	add("other", 0, 150)
	add("net", 1, 200)
	add("other", 1, 200)
	add("net", 2, 50)
	results = append(results, result{Item: label, Impl: "other", Round: 2, Error: "boom"})
	rows := summarize(items, targets, results, 3)
	if len(rows) != len(figures["churn"]) || rows[0].Figure != "conn_per_s" {
		t.Fatalf("rows = %+v", rows)
	}
	// A figure no round produced has a row with no medians, not zeros.
	if len(rows[1].Median) != 0 {
		t.Errorf("%s: medians %v from no measurement", rows[1].Figure, rows[1].Median)
	}
	r := rows[0]
	if r.Median["net"] != 100 || r.Median["other"] != 175 || r.Rounds["other"] != 2 {
		t.Errorf("medians %v rounds %v", r.Median, r.Rounds)
	}
	if r.Ratio["other"] != 1.25 { // rounds 0 and 1 only: median(1.5, 1)
		t.Errorf("ratio %v, want 1.25", r.Ratio["other"])
	}
	if _, ok := r.Ratio["net"]; ok {
		t.Error("baseline has a ratio to itself")
	}
}

func TestWriteAligned(t *testing.T) {
	var b bytes.Buffer
	writeAligned(&b, [][]string{{"a", "p50 µs", "1"}, {"bbb", "x", "100"}}, 2)
	want := "a    p50 µs    1\nbbb  x       100\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
	if !strings.Contains(formatFigure(math.NaN()), "-") || formatFigure(1234.4) != "1234" || formatFigure(12.34) != "12.3" || formatFigure(0.934) != "0.93" {
		t.Errorf("formatFigure: %q %q %q", formatFigure(1234.4), formatFigure(12.34), formatFigure(0.934))
	}
}
