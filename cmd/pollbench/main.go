//go:build linux

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/pollnet/pollnet/pollrt"
)

func main() {
	if name := os.Getenv(envServe); name != "" {
		os.Exit(serveChild(name, os.Getenv(envMode)))
	}
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		if errors.Is(err, context.Canceled) {
			fmt.Fprintln(os.Stderr, "pollbench: interrupted")
			os.Exit(130)
		}
		fmt.Fprintln(os.Stderr, "pollbench:", err)
		os.Exit(1)
	}
}

var allWorkloads = []string{"rtt", "stream", "churn", "idle", "http"}

// echoWorkloads are those that need nothing but an echo server's address,
// the only ones -addr can run.
var echoWorkloads = []string{"rtt", "stream", "churn"}

type config struct {
	workloads   []string
	conns       []int // rtt connection counts
	streamConns []int
	idleConns   int
	duration    time.Duration
	warmup      time.Duration
	rounds      int
	pin         bool
	aa          bool
	client      string
	dial        dialFunc
	addr        string
	jsonPath    string
	plotPath    string
	profDir     string // -cpuprofile
	mode        string // "quick", "default" or "full", for the record
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("pollbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	workloads := fs.String("workloads", strings.Join(allWorkloads, ","), "comma-separated workloads to run: "+strings.Join(allWorkloads, ", "))
	conns := fs.String("conns", "1,16,256,1000", "comma-separated connection counts for rtt")
	fs.DurationVar(&cfg.duration, "duration", time.Second, "measured time of each measurement")
	fs.DurationVar(&cfg.warmup, "warmup", 250*time.Millisecond, "discarded warm-up before each measurement")
	fs.IntVar(&cfg.rounds, "rounds", 3, "rounds; implementations alternate order each round and medians are reported")
	fs.IntVar(&cfg.idleConns, "idle", 5000, "connections held open by the idle workload")
	fs.BoolVar(&cfg.pin, "pin", false, "also measure rtt at every -conns count with client and server pinned to one CPU (GOMAXPROCS=1 in the server): every figure is then CPU cost")
	fs.BoolVar(&cfg.aa, "aa", false, "also run a second, identical copy of net (as \"net#2\"): its ratio to net is the noise floor of the ratio column")
	fs.StringVar(&cfg.client, "client", "net", "library of the parent's goroutine-based client paths (stream, churn, idle); rtt always uses raw epoll")
	fs.StringVar(&cfg.addr, "addr", "", "HOST:PORT of an already running echo server to measure instead of spawning servers (rtt, stream, churn only)")
	fs.StringVar(&cfg.jsonPath, "json", "", "write every raw figure of every round to this JSON file")
	fs.StringVar(&cfg.plotPath, "plot", "", "draw rtt latency percentiles to this .svg, .png or .pdf file")
	fs.StringVar(&cfg.profDir, "cpuprofile", "", "write each server child's CPU profile (its whole life) to a file in this directory, for go tool pprof")
	quick := fs.Bool("quick", false, "a few seconds in all: smoke test of every code path, figures not meaningful")
	full := fs.Bool("full", false, "longer measurements and more rounds")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: pollbench [flags]\n\nCompares echo and http servers built on each registered listener (%s) over loopback.\n\n", implNames())
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments %q", fs.Args())
	}

	// A preset changes only what the user did not set explicitly.
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	preset := func(name string, apply func()) {
		if !set[name] {
			apply()
		}
	}
	cfg.mode = "default"
	cfg.streamConns = []int{1, 16}
	switch {
	case *quick && *full:
		return cfg, errors.New("-quick and -full exclude each other")
	case *quick:
		cfg.mode = "quick"
		preset("conns", func() { *conns = "1,16" })
		preset("duration", func() { cfg.duration = 100 * time.Millisecond })
		preset("warmup", func() { cfg.warmup = 25 * time.Millisecond })
		preset("rounds", func() { cfg.rounds = 1 })
		preset("idle", func() { cfg.idleConns = 200 })
		cfg.streamConns = []int{1}
	case *full:
		cfg.mode = "full"
		preset("duration", func() { cfg.duration = 5 * time.Second })
		preset("warmup", func() { cfg.warmup = time.Second })
		preset("rounds", func() { cfg.rounds = 5 })
	}

	var err error
	if cfg.conns, err = parseConns(*conns); err != nil {
		return cfg, fmt.Errorf("-conns: %w", err)
	}
	for w := range strings.SplitSeq(*workloads, ",") {
		w = strings.TrimSpace(w)
		if w == "" {
			continue
		}
		if !slices.Contains(allWorkloads, w) {
			return cfg, fmt.Errorf("-workloads: unknown workload %q (have %s)", w, strings.Join(allWorkloads, ", "))
		}
		if !slices.Contains(cfg.workloads, w) {
			cfg.workloads = append(cfg.workloads, w)
		}
	}
	if len(cfg.workloads) == 0 {
		return cfg, errors.New("-workloads: none selected")
	}
	if cfg.duration <= 0 || cfg.duration > time.Hour {
		return cfg, fmt.Errorf("-duration %v out of range", cfg.duration)
	}
	if cfg.warmup < 0 || cfg.warmup > time.Hour {
		return cfg, fmt.Errorf("-warmup %v out of range", cfg.warmup)
	}
	if cfg.rounds < 1 || cfg.rounds > 1000 {
		return cfg, fmt.Errorf("-rounds %d out of range 1..1000", cfg.rounds)
	}
	if cfg.idleConns < 1 || cfg.idleConns > 100000 {
		return cfg, fmt.Errorf("-idle %d out of range 1..100000", cfg.idleConns)
	}
	im, ok := findImpl(cfg.client)
	if !ok {
		return cfg, fmt.Errorf("-client %q: no such impl (have %s)", cfg.client, implNames())
	}
	if im.dial == nil {
		return cfg, fmt.Errorf("-client %q: impl has no dial function in impls.go", cfg.client)
	}
	cfg.dial = im.dial
	return cfg, nil
}

func implNames() string {
	var names []string
	for _, im := range impls {
		names = append(names, im.name)
	}
	return strings.Join(names, ", ")
}

// target is one server being compared: a registered impl that pollbench
// spawns, or with -addr an external server known only by its address.
type target struct {
	name string
	im   *impl
}

// runs reports whether tg is measured in workload w. An external server
// runs whatever -addr allows.
func (tg target) runs(w string) bool {
	return tg.im == nil || tg.im.serves(w)
}

// targetsOf are the targets measured in workload w, in the order given.
func targetsOf(targets []target, w string) []target {
	var out []target
	for _, t := range targets {
		if t.runs(w) {
			out = append(out, t)
		}
	}
	return out
}

// item is one measurement configuration, run once per target per round.
type item struct {
	workload string
	conns    int
	pinned   bool
}

func (it item) label() string {
	switch it.workload {
	case "churn":
		return fmt.Sprintf("churn w=%d", churnWorkers)
	case "http":
		return "http c=64"
	}
	s := fmt.Sprintf("%s c=%d", it.workload, it.conns)
	if it.pinned {
		s += " pin"
	}
	return s
}

// result is one measurement: one item, one target, one round.
type result struct {
	Item     string             `json:"item"`
	Workload string             `json:"workload"`
	Conns    int                `json:"conns,omitempty"`
	Pinned   bool               `json:"pinned,omitempty"`
	Impl     string             `json:"impl"`
	Round    int                `json:"round"`
	Order    int                `json:"order"` // position of Impl within this item in this round
	Start    time.Time          `json:"start"`
	Seconds  float64            `json:"seconds"` // wall time, child start-up included
	Figures  map[string]float64 `json:"figures,omitempty"`
	// Pollrt is the server's pollrt.Stats at the end of the measured
	// window, for servers built on pollrt; its derived figures are in
	// Figures as pollrt_*.
	Pollrt *pollrt.Stats `json:"pollrt,omitempty"`
	Note   string        `json:"note,omitempty"`
	Error  string        `json:"error,omitempty"`
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Children are started with this context: returning for any reason,
	// an interrupt included, kills whatever is still running.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	raiseNoFile()
	if cfg.profDir != "" {
		dir, err := filepath.Abs(cfg.profDir)
		if err == nil {
			err = os.MkdirAll(dir, 0o755)
		}
		if err != nil {
			return fmt.Errorf("-cpuprofile: %w", err)
		}
		os.Setenv(envProf, dir) // inherited by every server child
		defer os.Unsetenv(envProf)
	}

	var notes []string
	var targets []target
	if cfg.addr != "" {
		targets = []target{{name: cfg.addr}}
		var kept []string
		for _, w := range cfg.workloads {
			if slices.Contains(echoWorkloads, w) {
				kept = append(kept, w)
			} else {
				notes = append(notes, w+": skipped (-addr gives only an echo server's address)")
			}
		}
		cfg.workloads = kept
		if cfg.pin {
			notes = append(notes, "-pin: ignored with -addr (the server is not ours to pin)")
			cfg.pin = false
		}
		if cfg.aa {
			notes = append(notes, "-aa: ignored with -addr")
			cfg.aa = false
		}
	} else {
		for i := range impls {
			targets = append(targets, target{name: impls[i].name, im: &impls[i]})
		}
		if cfg.aa {
			// An A/A comparison: same server, same binary, measured as if
			// it were another impl. Whatever its ratio to net is, is noise.
			base, ok := findImpl("net")
			if !ok {
				return errors.New("-aa: no impl named net")
			}
			targets = append(targets, target{name: "net#2", im: &base})
		}
	}
	pinCPU := -1
	if cfg.pin {
		if pinCPU, err = firstCPU(); err != nil {
			return fmt.Errorf("-pin: %w", err)
		}
	}

	var items []item
	for _, w := range cfg.workloads {
		switch w {
		case "rtt":
			for _, c := range cfg.conns {
				items = append(items, item{workload: w, conns: c})
				if cfg.pin {
					items = append(items, item{workload: w, conns: c, pinned: true})
				}
			}
		case "stream":
			for _, c := range cfg.streamConns {
				items = append(items, item{workload: w, conns: c})
			}
		case "churn":
			items = append(items, item{workload: w})
		case "idle":
			items = append(items, item{workload: w, conns: cfg.idleConns})
		case "http":
			if _, err := exec.LookPath("wrk"); err != nil {
				notes = append(notes, "http: skipped (wrk not installed; apt-get install wrk)")
				continue
			}
			items = append(items, item{workload: w})
		}
	}

	started := time.Now()
	total := 0
	for _, it := range items {
		total += cfg.rounds * len(targetsOf(targets, it.workload))
	}
	prog := &progress{w: stderr, total: total, start: started}
	var results []result
	var failures int

	// Global warm-up: the first server start and the first seconds of load
	// on an idle VM (page cache, CPU frequency, the host's scheduler) are
	// slower than everything after; let no measured target pay for it.
	// A variant measured in some workloads only gets no warm-up: by its
	// turn the machine is warm.
	wu := item{workload: "rtt", conns: 16}
	for _, tg := range targetsOf(targets, wu.workload) {
		if len(items) == 0 {
			break
		}
		prog.show("warm-up " + tg.name)
		c := cfg
		c.warmup, c.duration = 0, max(2*cfg.warmup, 50*time.Millisecond)
		if _, err := measure(ctx, c, wu, tg, -1, stderr); err != nil {
			if ctx.Err() != nil {
				prog.clear()
				return ctx.Err()
			}
			notes = append(notes, fmt.Sprintf("warm-up against %s failed: %v", tg.name, err))
		}
	}

	for round := range cfg.rounds {
		// Alternate the order each round so neither impl always runs first
		// (right after the other's server exits) or always second.
		for _, it := range items {
			order := targetsOf(targets, it.workload)
			if round%2 == 1 {
				slices.Reverse(order)
			}
			for pos, tg := range order {
				prog.done++
				prog.show(fmt.Sprintf("round %d/%d  %s  %s", round+1, cfg.rounds, it.label(), tg.name))
				cpu := -1
				if it.pinned {
					cpu = pinCPU
				}
				t0 := time.Now()
				m, err := measure(ctx, cfg, it, tg, cpu, stderr)
				if ctx.Err() != nil {
					prog.clear()
					return ctx.Err()
				}
				r := result{
					Item: it.label(), Workload: it.workload, Conns: it.conns, Pinned: it.pinned,
					Impl: tg.name, Round: round, Order: pos, Start: t0,
					Seconds: time.Since(t0).Seconds(), Figures: m.figures, Pollrt: m.stats, Note: m.note,
				}
				if err != nil {
					failures++
					r.Error = err.Error()
					prog.clear()
					fmt.Fprintf(stderr, "pollbench: %s %s round %d: %v\n", it.label(), tg.name, round+1, err)
				}
				results = append(results, r)
			}
		}
	}
	prog.clear()
	elapsed := time.Since(started)

	sum := summarize(items, targets, results, cfg.rounds)
	statsSum := summarizePollrt(items, targets, results, cfg.rounds)
	for _, r := range results {
		if r.Note != "" {
			notes = append(notes, fmt.Sprintf("%s %s round %d: %s", r.Item, r.Impl, r.Round+1, r.Note))
		}
	}
	printTable(stdout, cfg, targets, sum, notes, elapsed)
	printPollrtStats(stdout, cfg, targets, statsSum)
	printGoals(stdout, "pollnet", baseline(targets), sum)
	if cfg.jsonPath != "" {
		if err := writeJSON(cfg.jsonPath, cfg, targets, results, sum, statsSum, notes, started, elapsed); err != nil {
			return err
		}
	}
	if cfg.plotPath != "" {
		if err := writePlot(cfg.plotPath, cfg, targets, sum); err != nil {
			return fmt.Errorf("-plot: %w", err)
		}
	}
	if failures > 0 {
		return fmt.Errorf("%d of %d measurements failed", failures, len(results))
	}
	return nil
}

// measurement is what measure returns for one item and target.
type measurement struct {
	figures map[string]float64
	stats   *pollrt.Stats // nil unless the server is built on pollrt
	note    string
}

// measure runs one item against one target, on a server child of its own
// so no measurement inherits another's goroutines, heap or socket state.
//
// A pollrt server's Stats are read once, as the measured window closes and
// before the client tears its conns down: asking during the window would
// put the child's answer into what is measured, and asking after teardown
// would count a racing number of wake-ups for the closes. They cover the
// child's life up to then: start-up, connection set-up and warm-up
// included, as the child is this measurement's alone.
func measure(ctx context.Context, cfg config, it item, tg target, cpu int, stderr io.Writer) (measurement, error) {
	var m measurement
	addr := cfg.addr
	pid := 0
	var statsErr error
	snap := func() {}
	if tg.im != nil {
		mode := "echo"
		if it.workload == "http" {
			mode = "http"
		}
		ch, err := startChild(ctx, *tg.im, mode, cpu, stderr)
		if err != nil {
			return m, err
		}
		defer ch.stop()
		addr, pid = ch.addr, ch.pid
		if tg.im.pollrt {
			snap = func() { m.stats, statsErr = ch.stats(ctx) }
		}
	}
	figs := map[string]float64{}
	// The server's CPU time over the measured window, per unit of work, is
	// a cost figure that noise from other tenants moves less than rates
	// and latency. markServer is called as the window opens and closes.
	var srvMarks []time.Duration
	markServer := func() {
		if pid != 0 {
			if d, err := processCPU(pid); err == nil {
				srvMarks = append(srvMarks, d)
			}
		}
	}
	perUnit := func(key string, units float64) {
		if len(srvMarks) == 2 && units > 0 {
			figs[key] = float64((srvMarks[1] - srvMarks[0]).Microseconds()) / units
		}
	}
	switch it.workload {
	case "rtt":
		// The client thread's CPU time too: a client near 100% means the
		// figures are the client's limit.
		var marks []time.Duration
		mark := func() {
			marks = append(marks, threadCPU())
			markServer()
			if len(marks) == 2 { // the window has closed
				snap()
			}
		}
		h, rate, err := runRTT(ctx, addr, it.conns, cfg.warmup, cfg.duration, cpu, mark)
		if err != nil {
			return m, err
		}
		if len(marks) == 2 {
			figs["client_cpu_frac"] = (marks[1] - marks[0]).Seconds() / cfg.duration.Seconds()
		}
		if len(srvMarks) == 2 {
			figs["server_cpu_frac"] = (srvMarks[1] - srvMarks[0]).Seconds() / cfg.duration.Seconds()
		}
		perUnit("server_cpu_us_per_rt", float64(h.TotalCount()))
		if h.TotalCount() == 0 {
			return m, errors.New("rtt: no round trip completed in the window")
		}
		for _, p := range rttPercentiles {
			figs[percentileKey(p)] = float64(h.ValueAtQuantile(p)) / 1e3
		}
		figs["max_us"] = float64(h.Max()) / 1e3
		figs["rt_per_s"] = rate
		figs["samples"] = float64(h.TotalCount())
	case "stream":
		mark := func() {
			markServer()
			if len(srvMarks) == 2 {
				snap()
			}
		}
		mbps, err := runStream(ctx, cfg.dial, addr, it.conns, cfg.warmup, cfg.duration, mark)
		if err != nil {
			return m, err
		}
		figs["mb_per_s"] = mbps
		perUnit("server_cpu_us_per_mb", mbps*cfg.duration.Seconds())
	case "churn":
		rate, failed, first, err := runChurn(ctx, cfg.dial, addr, cfg.warmup, cfg.duration, markServer)
		if err != nil {
			return m, err
		}
		snap() // every conn is closed already: churn has no teardown
		figs["conn_per_s"] = rate
		perUnit("server_cpu_us_per_conn", rate*cfg.duration.Seconds())
		figs["failed"] = float64(failed)
		if failed > 0 {
			m.note = fmt.Sprintf("%d failed connection attempts, first: %v", failed, first)
		}
	case "idle":
		r, err := runIdle(ctx, cfg.dial, addr, pid, it.conns, snap)
		if err != nil {
			return m, err
		}
		figs["rss_per_conn_bytes"] = r.perConnBytes
		figs["rss_before_kib"] = float64(r.beforeKiB)
		figs["rss_after_kib"] = float64(r.afterKiB)
	case "http":
		markServer()
		r, err := runWrk(ctx, "http://"+addr+"/", cfg.duration)
		if err != nil {
			return m, err
		}
		markServer() // wrk's window is its whole run
		perUnit("server_cpu_us_per_req", r.reqPerSec*r.seconds)
		// wrk has exited and closed its 64 conns: a few wake-ups for
		// those closes may or may not be counted.
		snap()
		figs["req_per_s"] = r.reqPerSec
		figs["p50_us"] = r.p50us
		figs["p99_us"] = r.p99us
		figs["errors"] = float64(r.errors)
		if r.errors > 0 {
			m.note = fmt.Sprintf("wrk counted %d errors", r.errors)
		}
	default:
		return m, fmt.Errorf("unknown workload %q", it.workload)
	}
	if m.stats != nil {
		addPollrtFigures(figs, m.stats)
	}
	if statsErr != nil {
		// The workload's own figures stand; only the statistics are lost.
		m.note = strings.TrimPrefix(m.note+"; "+statsErr.Error(), "; ")
	}
	m.figures = figs
	return m, nil
}

// progress is the one \r-rewritten status line on stderr.
type progress struct {
	w     io.Writer
	total int
	done  int
	start time.Time
	width int
}

func (p *progress) show(what string) {
	s := fmt.Sprintf("[%d/%d %3.0fs] %s", p.done, p.total, time.Since(p.start).Seconds(), what)
	pad := max(p.width-len(s), 0)
	p.width = len(s)
	fmt.Fprintf(p.w, "\r%s%s", s, strings.Repeat(" ", pad))
}

func (p *progress) clear() {
	if p.width > 0 {
		fmt.Fprintf(p.w, "\r%s\r", strings.Repeat(" ", p.width))
		p.width = 0
	}
}

// env describes the machine for the report header.
func env() string {
	return fmt.Sprintf("%s %s/%s, %d CPUs", runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU())
}
