//go:build linux

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pollnet/pollnet/pollrt"
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
	"stream": {{"mb_per_s", "MB/s echoed"}, {"server_cpu_us_per_mb", "server CPU µs/MB"}},
	"churn":  {{"conn_per_s", "conns/s"}, {"server_cpu_us_per_conn", "server CPU µs/conn"}},
	"idle":   {{"rss_per_conn_bytes", "RSS B/conn"}},
	"http": {{"req_per_s", "req/s"}, {"p50_us", "p50 µs"}, {"p99_us", "p99 µs"},
		{"server_cpu_us_per_req", "server CPU µs/req"}},
}

// pollrtFigures are the figures taken from a pollrt server's Stats, shown
// per server after the table (see addPollrtFigures).
var pollrtFigures = []figure{
	{"pollrt_waits", "waits"}, {"pollrt_leads", "led"},
	{"pollrt_wake_ready", "ready"}, {"pollrt_wake_timeout", "timeout"},
	{"pollrt_wake_close", "close"}, {"pollrt_wake_interrupt", "intr"},
	{"pollrt_events_per_poll", "ev/poll"}, {"pollrt_breaks", "breaks"},
	{"pollrt_wake_p50_us", "p50 µs"}, {"pollrt_wake_p99_us", "p99 µs"},
}

// pollrtCounts are the pollrtFigures that count something.
var pollrtCounts = map[string]bool{
	"pollrt_waits": true, "pollrt_leads": true, "pollrt_wake_ready": true, "pollrt_wake_timeout": true,
	"pollrt_wake_close": true, "pollrt_wake_interrupt": true, "pollrt_breaks": true,
}

// addPollrtFigures adds st's pollrtFigures to figs. Events per poll is left
// out when nothing was polled rather than shown as a 0 that reads as a
// measurement; the latency quantiles are the upper edges of power-of-two
// histogram buckets, so they move in steps of 2x.
func addPollrtFigures(figs map[string]float64, st *pollrt.Stats) {
	figs["pollrt_waits"] = float64(st.Waits)
	figs["pollrt_leads"] = float64(st.Leads)
	figs["pollrt_wake_ready"] = float64(st.WakeReady)
	figs["pollrt_wake_timeout"] = float64(st.WakeTimeout)
	figs["pollrt_wake_close"] = float64(st.WakeClose)
	figs["pollrt_wake_interrupt"] = float64(st.WakeInterrupt)
	figs["pollrt_breaks"] = float64(st.Breaks)
	if st.Polls > 0 {
		figs["pollrt_events_per_poll"] = float64(st.Events) / float64(st.Polls)
	}
	var samples uint64
	for _, n := range st.WakeLatency {
		samples += n
	}
	if samples > 0 {
		figs["pollrt_wake_p50_us"] = float64(st.LatencyQuantile(0.5)) / 1e3
		figs["pollrt_wake_p99_us"] = float64(st.LatencyQuantile(0.99)) / 1e3
	}
}

// row is one figure of one item, summarised over rounds.
type row struct {
	Item   string             `json:"item"`
	Figure string             `json:"figure"`
	Label  string             `json:"label"`
	Median map[string]float64 `json:"median"`          // impl → median over rounds
	Ratio  map[string]float64 `json:"ratio,omitempty"` // impl → median over rounds of impl/base
	Rounds map[string]int     `json:"rounds"`          // impl → rounds that produced the figure; only impls measured in the item
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

// summarize makes the table's rows: one per item and figure of its
// workload, over the targets measured in that workload.
func summarize(items []item, targets []target, results []result, rounds int) []row {
	return summarizeFigures(items, targets, results, rounds, func(w string) []figure { return figures[w] })
}

// summarizePollrt makes the rows of printPollrtStats: pollrtFigures for
// every item.
func summarizePollrt(items []item, targets []target, results []result, rounds int) []row {
	return summarizeFigures(items, targets, results, rounds, func(string) []figure { return pollrtFigures })
}

// summarizeFigures makes one row per item and figure that figs gives for
// the item's workload, over the targets measured in that workload.
func summarizeFigures(items []item, targets []target, results []result, rounds int, figs func(workload string) []figure) []row {
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
		for _, f := range figs(it.workload) {
			rw := row{Item: it.label(), Figure: f.key, Label: f.label,
				Median: map[string]float64{}, Ratio: map[string]float64{}, Rounds: map[string]int{}}
			baseVals := values[rw.Item][base][f.key]
			for _, t := range targetsOf(targets, it.workload) {
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

// printTable prints the header line, the table and the notes. Rows whose
// items were measured on different sets of targets (a variant measured in
// one workload only) go to tables of their own, so no table carries a
// column that is empty in most of its rows.
func printTable(w io.Writer, cfg config, targets []target, rows []row, notes []string, elapsed time.Duration) {
	base := baseline(targets)
	fmt.Fprintf(w, "pollbench: %s; %s mode, %d round(s) of %v (+%v warm-up) each; client %s, rtt client raw epoll; took %.1fs\n",
		env(), cfg.mode, cfg.rounds, cfg.duration, cfg.warmup, cfg.client, elapsed.Seconds())
	type group struct {
		targets []target
		rows    []row
	}
	var groups []*group
	byKey := map[string]*group{}
	for _, r := range rows {
		var ts []string
		var gt []target
		for _, t := range targets {
			if _, ok := r.Rounds[t.name]; ok {
				ts = append(ts, t.name)
				gt = append(gt, t)
			}
		}
		key := strings.Join(ts, "\x00")
		g := byKey[key]
		if g == nil {
			g = &group{targets: gt}
			byKey[key] = g
			groups = append(groups, g)
		}
		g.rows = append(g.rows, r)
	}
	anyRatio := false
	for i, g := range groups {
		if i > 0 {
			fmt.Fprintln(w)
		}
		header := []string{"workload", "figure"}
		for _, t := range g.targets {
			header = append(header, t.name)
		}
		var others []string
		for _, t := range g.targets {
			if t.name != base {
				others = append(others, t.name)
				header = append(header, t.name+"/"+base)
			}
		}
		anyRatio = anyRatio || len(others) > 0
		table := [][]string{header}
		for _, r := range g.rows {
			line := []string{r.Item, r.Label}
			for _, t := range g.targets {
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
	}
	if anyRatio {
		fmt.Fprintf(w, "ratio: median over rounds of the per-round ratio; below 1 is better for latency and RSS, above 1 for rates.\n")
	}
	for _, n := range notes {
		fmt.Fprintln(w, n)
	}
}

// printPollrtStats prints, per server built on pollrt, one line of
// pollrtFigures per item it was measured in. It prints nothing when no
// server reported statistics (-addr, or no pollrt server selected).
func printPollrtStats(w io.Writer, cfg config, targets []target, rows []row) {
	byItem := map[string]map[string]row{}
	var items []string
	for _, r := range rows {
		if byItem[r.Item] == nil {
			byItem[r.Item] = map[string]row{}
			items = append(items, r.Item)
		}
		byItem[r.Item][r.Figure] = r
	}
	printed := false
	for _, t := range targets {
		table := [][]string{{"item"}}
		for _, f := range pollrtFigures {
			table[0] = append(table[0], f.label)
		}
		for _, it := range items {
			if byItem[it][pollrtFigures[0].key].Rounds[t.name] == 0 {
				continue
			}
			line := []string{it}
			for _, f := range pollrtFigures {
				v, ok := byItem[it][f.key].Median[t.name]
				if ok && pollrtCounts[f.key] {
					// A count is exact; three significant digits would
					// print 0 as "0.00" and hide a small one's digits.
					line = append(line, strconv.FormatFloat(math.Round(v), 'f', 0, 64))
				} else {
					line = append(line, cell(v, ok))
				}
			}
			table = append(table, line)
		}
		if len(table) == 1 {
			continue
		}
		fmt.Fprintf(w, "\npollrt stats (%s server)\n", t.name)
		writeAligned(w, table, 1)
		printed = true
	}
	if printed {
		fmt.Fprintf(w, "pollrt stats: each server's life up to the end of its measured window (start-up and warm-up included), median of %d round(s);\n", cfg.rounds)
		fmt.Fprintln(w, "waits: goroutines parked; led: of those, parked polling their own epoll set (woken directly by the runtime); ready/timeout/close/intr: what woke them; ev/poll: events per epoll_wait; p50/p99: wake-up latency, bucket upper bounds.")
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
	// PollrtSummary summarises the pollrt_* figures of the servers that
	// report pollrt.Stats; the raw Stats are in each result.
	PollrtSummary []row    `json:"pollrt_summary,omitempty"`
	Notes         []string `json:"notes,omitempty"`
}

func writeJSON(path string, cfg config, targets []target, results []result, rows, statsRows []row, notes []string, started time.Time, elapsed time.Duration) error {
	rep := jsonReport{
		Env: env(), Started: started, Seconds: elapsed.Seconds(),
		Config: jsonConfig{
			Mode: cfg.mode, Workloads: cfg.workloads, Conns: cfg.conns, StreamConns: cfg.streamConns,
			IdleConns: cfg.idleConns, Duration: cfg.duration.String(), Warmup: cfg.warmup.String(),
			Rounds: cfg.rounds, Pin: cfg.pin, AA: cfg.aa, Client: cfg.client, Addr: cfg.addr,
		},
		Baseline: baseline(targets), Results: results, Summary: rows, Notes: notes,
	}
	for _, r := range statsRows {
		if len(r.Median) > 0 {
			rep.PollrtSummary = append(rep.PollrtSummary, r)
		}
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
