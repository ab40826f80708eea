//go:build linux

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"time"
	"unicode/utf8"
)

type figure struct{ key, label string }

// figures lists, per workload, the figures the table shows and their order.
// The JSON file has these and any extra raw figures a workload records.
var figures = map[string][]figure{
	"rtt": {
		{"p50_us", "p50 µs"}, {"p90_us", "p90 µs"}, {"p99_us", "p99 µs"}, {"p99.9_us", "p99.9 µs"},
		{"max_us", "max µs"}, {"rt_per_s", "round trips/s"},
		{"server_cpu_us_per_rt", "server CPU µs/rt"}, {"client_cpu_frac", "client CPU"},
	},
	"stream": {{"mb_per_s", "MB/s echoed"}},
	"churn":  {{"conn_per_s", "conns/s"}},
	"idle":   {{"rss_per_conn_bytes", "RSS B/conn"}},
	"http":   {{"req_per_s", "req/s"}, {"p50_us", "p50 µs"}, {"p99_us", "p99 µs"}},
}

// row is one figure of one item, summarised over rounds.
type row struct {
	Item   string             `json:"item"`
	Figure string             `json:"figure"`
	Label  string             `json:"label"`
	Median map[string]float64 `json:"median"`          // impl → median over rounds
	Ratio  map[string]float64 `json:"ratio,omitempty"` // impl → median over rounds of impl/base
	Rounds map[string]int     `json:"rounds"`          // impl → rounds that produced the figure
}

// baseline is the target ratios are taken against: "net" when present.
func baseline(targets []target) string {
	for _, t := range targets {
		if t.name == "net" {
			return t.name
		}
	}
	return targets[0].name
}

func summarize(items []item, targets []target, results []result, rounds int) []row {
	base := baseline(targets)
	// values[item][impl][figure] is indexed by round; NaN marks a round that
	// failed, so per-round ratios pair up the right measurements.
	values := map[string]map[string]map[string][]float64{}
	for _, r := range results {
		if r.Figures == nil {
			continue
		}
		byImpl := values[r.Item]
		if byImpl == nil {
			byImpl = map[string]map[string][]float64{}
			values[r.Item] = byImpl
		}
		byFig := byImpl[r.Impl]
		if byFig == nil {
			byFig = map[string][]float64{}
			byImpl[r.Impl] = byFig
		}
		for k, v := range r.Figures {
			s := byFig[k]
			if s == nil {
				s = make([]float64, rounds)
				for i := range s {
					s[i] = math.NaN()
				}
				byFig[k] = s
			}
			s[r.Round] = v
		}
	}
	var rows []row
	for _, it := range items {
		for _, f := range figures[it.workload] {
			rw := row{Item: it.label(), Figure: f.key, Label: f.label,
				Median: map[string]float64{}, Ratio: map[string]float64{}, Rounds: map[string]int{}}
			baseVals := values[rw.Item][base][f.key]
			for _, t := range targets {
				v := values[rw.Item][t.name][f.key]
				n := 0
				for _, x := range v {
					if !math.IsNaN(x) {
						n++
					}
				}
				rw.Rounds[t.name] = n
				if m := median(v); !math.IsNaN(m) {
					rw.Median[t.name] = m
				}
				if t.name != base && baseVals != nil && v != nil {
					if m := median(ratios(v, baseVals)); !math.IsNaN(m) {
						rw.Ratio[t.name] = m
					}
				}
			}
			rows = append(rows, rw)
		}
	}
	return rows
}

func printTable(w io.Writer, cfg config, targets []target, rows []row, notes []string, elapsed time.Duration) {
	base := baseline(targets)
	fmt.Fprintf(w, "pollbench: %s; %s mode, %d round(s) of %v (+%v warm-up) each; client %s, rtt client raw epoll; took %.1fs\n",
		env(), cfg.mode, cfg.rounds, cfg.duration, cfg.warmup, cfg.client, elapsed.Seconds())
	header := []string{"workload", "figure"}
	for _, t := range targets {
		header = append(header, t.name)
	}
	var others []string
	for _, t := range targets {
		if t.name != base {
			others = append(others, t.name)
			header = append(header, t.name+"/"+base)
		}
	}
	table := [][]string{header}
	for _, r := range rows {
		line := []string{r.Item, r.Label}
		for _, t := range targets {
			v, ok := r.Median[t.name]
			line = append(line, cell(v, ok))
		}
		for _, o := range others {
			v, ok := r.Ratio[o]
			line = append(line, cell(v, ok))
		}
		table = append(table, line)
	}
	writeAligned(w, table, 2)
	if len(others) > 0 {
		fmt.Fprintf(w, "ratio: median over rounds of the per-round ratio; below 1 is better for latency and RSS, above 1 for rates.\n")
	}
	for _, n := range notes {
		fmt.Fprintln(w, n)
	}
}

func cell(v float64, ok bool) string {
	if !ok {
		return "-"
	}
	return formatFigure(v)
}

// writeAligned prints rows as columns separated by two spaces, the first
// leftCols columns left-aligned (labels) and the rest right-aligned
// (numbers). Widths count runes, since labels hold "µ".
func writeAligned(w io.Writer, rows [][]string, leftCols int) {
	var widths []int
	for _, r := range rows {
		for i, c := range r {
			if i >= len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	for _, r := range rows {
		var b strings.Builder
		for i, c := range r {
			pad := strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c))
			if i > 0 {
				b.WriteString("  ")
			}
			if i < leftCols {
				b.WriteString(c + pad)
			} else {
				b.WriteString(pad + c)
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
}

type jsonConfig struct {
	Mode        string   `json:"mode"`
	Workloads   []string `json:"workloads"`
	Conns       []int    `json:"conns"`
	StreamConns []int    `json:"stream_conns"`
	IdleConns   int      `json:"idle_conns"`
	Duration    string   `json:"duration"`
	Warmup      string   `json:"warmup"`
	Rounds      int      `json:"rounds"`
	Pin         bool     `json:"pin"`
	AA          bool     `json:"aa,omitempty"`
	Client      string   `json:"client"`
	Addr        string   `json:"addr,omitempty"`
}

type jsonReport struct {
	Env      string     `json:"env"`
	Started  time.Time  `json:"started"`
	Seconds  float64    `json:"seconds"`
	Config   jsonConfig `json:"config"`
	Impls    []string   `json:"impls"`
	Baseline string     `json:"baseline"`
	Results  []result   `json:"results"`
	Summary  []row      `json:"summary"`
	Notes    []string   `json:"notes,omitempty"`
}

func writeJSON(path string, cfg config, targets []target, results []result, rows []row, notes []string, started time.Time, elapsed time.Duration) error {
	rep := jsonReport{
		Env: env(), Started: started, Seconds: elapsed.Seconds(),
		Config: jsonConfig{
			Mode: cfg.mode, Workloads: cfg.workloads, Conns: cfg.conns, StreamConns: cfg.streamConns,
			IdleConns: cfg.idleConns, Duration: cfg.duration.String(), Warmup: cfg.warmup.String(),
			Rounds: cfg.rounds, Pin: cfg.pin, AA: cfg.aa, Client: cfg.client, Addr: cfg.addr,
		},
		Baseline: baseline(targets), Results: results, Summary: rows, Notes: notes,
	}
	for _, t := range targets {
		rep.Impls = append(rep.Impls, t.name)
	}
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return fmt.Errorf("-json: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("-json: %w", err)
	}
	return nil
}
