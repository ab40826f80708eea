//go:build linux

package peers

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pollnet/pollnet/conformance"
)

// Environment of a child process (see TestKit).
const (
	childEnv    = "PEERS_CHILD"    // set: this process is a child
	networksEnv = "PEERS_NETWORKS" // comma-separated Impl.Networks for the child
)

// themes are the kit's themes, in its run order.
var themes = []string{"NetTest", "Interop", "Deadline", "Close", "HalfClose", "Errors", "Addr", "HTTP"}

// shortThemes are the themes a -short run covers, over tcp4 only.
var shortThemes = []string{"NetTest", "Deadline", "Close", "Errors"}

// TestKit runs the kit on every peer. It runs only in a child process
// started by TestPeers, which picks one peer and one theme with -test.run.
func TestKit(t *testing.T) {
	if os.Getenv(childEnv) == "" {
		t.Skip("run by TestPeers in a child process")
	}
	var networks []string
	if s := os.Getenv(networksEnv); s != "" {
		networks = strings.Split(s, ",")
	}
	for _, p := range Peers() {
		impl := p.Impl
		if networks != nil {
			impl.Networks = networks
		}
		t.Run(impl.Name, func(t *testing.T) { conformance.Run(t, impl) })
	}
}

// config is what one TestPeers run covers.
type config struct {
	themes   []string
	networks string        // for networksEnv; empty: each peer's own
	watchdog time.Duration // per child: one peer, one theme
	parallel int           // children of other peers at once
}

// TestPeers runs each (peer, theme) in a child process under a watchdog,
// reads its go test -json events and tallies the cases per theme. It fails
// only if package net or pollnet fails a case or a child produced no result:
// other peers' failures are what the table reports. With PEERS_TABLE=path it
// writes the table as Markdown.
func TestPeers(t *testing.T) {
	if os.Getenv(childEnv) != "" {
		t.Skip("in a child process")
	}
	cfg := config{themes: themes, watchdog: 5 * time.Minute, parallel: 12}
	if testing.Short() {
		cfg = config{themes: shortThemes, networks: "tcp4", watchdog: 30 * time.Second, parallel: 8}
	}
	gobin, err := goCommand()
	if err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	peers := Peers()
	results := make([][]themeResult, len(peers))
	for i := range results {
		results[i] = make([]themeResult, len(cfg.themes))
	}
	// net and pollnet first, two at a time, so that the reference rows
	// are not timed on a machine busy with the others; then the rest.
	for _, phase := range []struct {
		peers    []int
		parallel int
	}{{[]int{0, 1}, 2}, {seq(2, len(peers)), cfg.parallel}} {
		var wg sync.WaitGroup
		sem := make(chan struct{}, phase.parallel)
		for _, pi := range phase.peers {
			for ti, theme := range cfg.themes {
				wg.Add(1)
				sem <- struct{}{}
				go func() {
					defer wg.Done()
					defer func() { <-sem }()
					results[pi][ti] = runChild(gobin, self, peers[pi].Impl.Name, theme, cfg)
				}()
			}
		}
		wg.Wait()
	}

	table := markdown(peers, cfg, results)
	t.Log("\n" + table)
	if path := os.Getenv("PEERS_TABLE"); path != "" {
		if err := os.WriteFile(path, []byte(table), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for pi, p := range peers {
		for ti, r := range results[pi] {
			if r.total() == 0 {
				t.Errorf("%s/%s: no case reported (%s)", p.Impl.Name, cfg.themes[ti], r.note)
			}
			if pi < 2 && (r.failed > 0 || r.note != "") {
				t.Errorf("%s/%s must pass: %d failed, first: %s %s", p.Impl.Name, cfg.themes[ti], r.failed, r.first, r.note)
			}
		}
	}
}

func seq(from, to int) []int {
	var s []int
	for i := from; i < to; i++ {
		s = append(s, i)
	}
	return s
}

// goCommand finds the go command, for go tool test2json.
func goCommand() (string, error) {
	if p, err := exec.LookPath("go"); err == nil {
		return p, nil
	}
	p := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("go command not found in PATH or GOROOT: %v", err)
	}
	return p, nil
}

// themeResult tallies the leaf cases of one theme of one peer.
type themeResult struct {
	passed, failed, skipped int
	first                   string // the first failed case and its first message
	note                    string // why the child ended early, if it did
}

func (r themeResult) total() int { return r.passed + r.failed + r.skipped }

// event is a go test -json (test2json) event.
type event struct {
	Action string
	Test   string
	Output string
}

// runChild runs one theme of one peer in a child process group, killed
// with its children when the watchdog fires, and tallies its events.
func runChild(gobin, self, peer, theme string, cfg config) themeResult {
	ctx, cancel := context.WithTimeout(context.Background(), cfg.watchdog)
	defer cancel()
	prefix := "TestKit/" + peer + "/" + theme
	run := "^TestKit$/^" + regexp.QuoteMeta(peer) + "$/^" + theme + "$"
	cmd := exec.CommandContext(ctx, gobin, "tool", "test2json", "-t", self,
		"-test.v=test2json", "-test.count=1", "-test.run="+run,
		// The child's own timeout is past the watchdog: the watchdog
		// decides, and the child's panic would lose the events.
		"-test.timeout="+(cfg.watchdog+time.Minute).String())
	cmd.Env = append(os.Environ(), childEnv+"=1", networksEnv+"="+cfg.networks)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return themeResult{note: err.Error()}
	}
	if err := cmd.Start(); err != nil {
		return themeResult{note: err.Error()}
	}
	r := tally(out, prefix)
	werr := cmd.Wait()
	switch {
	case ctx.Err() != nil:
		r.note = fmt.Sprintf("watchdog killed the child after %v", cfg.watchdog)
	case r.note != "":
	case werr != nil && r.failed == 0:
		r.note = fmt.Sprintf("child: %v %s", werr, firstLine(stderr.String()))
	}
	return r
}

// tally reads test2json events and counts the leaf tests under prefix: those
// that started no subtest. A leaf still running when the stream ends (the
// child hung or died) counts as failed.
func tally(out io.Reader, prefix string) themeResult {
	var (
		order    []string // tests under prefix in start order
		state    = map[string]string{}
		parent   = map[string]bool{}
		msgs     = map[string]string{} // first message of each test
		failSeq  []string              // leaves in the order they failed
		panicked string
	)
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var e event
		if json.Unmarshal(sc.Bytes(), &e) != nil {
			continue
		}
		if e.Test != prefix && !strings.HasPrefix(e.Test, prefix+"/") {
			continue
		}
		switch e.Action {
		case "run":
			order = append(order, e.Test)
			state[e.Test] = "run"
		case "pass", "fail", "skip":
			state[e.Test] = e.Action
			if e.Action == "fail" {
				failSeq = append(failSeq, e.Test)
			}
		case "output":
			line := strings.TrimSpace(e.Output)
			if strings.HasPrefix(line, "panic:") && panicked == "" {
				panicked = line
			}
			if msgs[e.Test] == "" && line != "" && !strings.HasPrefix(line, "===") && !strings.HasPrefix(line, "---") {
				msgs[e.Test] = line
			}
		}
	}
	// A subtest's name may hold a slash ("read/extended"), so the parent
	// is not the name up to the last slash: it is any test whose name and
	// a slash begin another's.
	for _, name := range order {
		for _, other := range order {
			if strings.HasPrefix(other, name+"/") {
				parent[name] = true
				break
			}
		}
	}
	var r themeResult
	for _, name := range order {
		if parent[name] {
			continue
		}
		switch state[name] {
		case "pass":
			r.passed++
		case "skip":
			r.skipped++
		case "fail":
			r.failed++
		default: // never finished
			r.failed++
			failSeq = append(failSeq, name)
			msgs[name] = strings.TrimSuffix("did not finish; "+msgs[name], "; ")
		}
	}
	for _, name := range failSeq {
		if parent[name] {
			continue
		}
		r.first = strings.TrimPrefix(name, prefix+"/") + ": " + shorten(msgs[name], 140)
		break
	}
	if panicked != "" {
		r.note = "the child panicked: " + shorten(panicked, 140)
	}
	return r
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return shorten(s, 140)
}

// markdown renders the counts table and the first failures.
func markdown(peers []Peer, cfg config, results [][]themeResult) string {
	var b strings.Builder
	b.WriteString("| implementation |")
	for _, th := range cfg.themes {
		b.WriteString(" " + th + " |")
	}
	b.WriteString(" total |\n|---|")
	b.WriteString(strings.Repeat("---|", len(cfg.themes)+1) + "\n")
	for pi, p := range peers {
		var sum themeResult
		fmt.Fprintf(&b, "| %s |", p.Impl.Name)
		for _, r := range results[pi] {
			sum.passed += r.passed
			sum.failed += r.failed
			sum.skipped += r.skipped
			mark := ""
			if r.note != "" {
				mark = " ⚠"
			}
			fmt.Fprintf(&b, " %d / %d / %d%s |", r.passed, r.failed, r.skipped, mark)
		}
		fmt.Fprintf(&b, " %d / %d / %d |\n", sum.passed, sum.failed, sum.skipped)
	}
	b.WriteString("\nCells: passed / failed / skipped cases; ⚠: the child did not end on its own (see below).\n")
	b.WriteString("\nFirst failure of each theme:\n\n| implementation | theme | first failed case: message |\n|---|---|---|\n")
	for pi, p := range peers {
		for ti, r := range results[pi] {
			if r.first == "" && r.note == "" {
				continue
			}
			cell := r.first
			if r.note != "" {
				cell = strings.TrimSpace(cell + " (" + r.note + ")")
			}
			fmt.Fprintf(&b, "| %s | %s | %s |\n", p.Impl.Name, cfg.themes[ti], escape(cell))
		}
	}
	b.WriteString("\nWiring:\n\n")
	for _, p := range peers {
		fmt.Fprintf(&b, "- %s: %s\n", p.Impl.Name, p.Note)
	}
	return b.String()
}

// escape keeps a cell on one Markdown table row.
func escape(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ", "`", "'").Replace(s)
}
