//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pollnet/pollnet"
	"github.com/pollnet/pollnet/pollrt"
)

// TestMain lets the test binary play the server child: run re-executes
// os.Executable(), which under go test is this binary.
func TestMain(m *testing.M) {
	if name := os.Getenv(envServe); name != "" {
		os.Exit(serveChild(name, os.Getenv(envMode)))
	}
	os.Exit(m.Run())
}

// TestQuick runs the whole tool in -quick mode end to end, children and
// all, and checks the shape of what it reports, never its timings.
func TestQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns servers and loads them for a few seconds")
	}
	dir := t.TempDir()
	jsonPath, plotPath := filepath.Join(dir, "out.json"), filepath.Join(dir, "out.svg")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	start := time.Now()
	err := run(ctx, []string{"-quick", "-pin", "-json", jsonPath, "-plot", plotPath}, &stdout, &stderr)
	t.Logf("took %v\n%s", time.Since(start), stdout.String())
	if err != nil {
		t.Fatalf("run: %v\nstderr:\n%s", err, stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{"rtt c=1 ", "rtt c=16", "rtt c=1 pin", "p99.9 µs", "round trips/s", "stream c=1", "churn", "idle c=200", "RSS B/conn",
		"pollnet+waitread/net", "pollrt stats (pollnet server)", "pollrt stats (pollnet+waitread server)"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q", want)
		}
	}

	b, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var rep jsonReport
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("json: %v", err)
	}
	if len(rep.Results) == 0 || len(rep.Summary) == 0 || len(rep.PollrtSummary) == 0 {
		t.Fatalf("json has %d results, %d summary rows, %d pollrt summary rows", len(rep.Results), len(rep.Summary), len(rep.PollrtSummary))
	}
	for _, r := range rep.Results {
		if r.Error != "" {
			t.Errorf("%s %s: %s", r.Item, r.Impl, r.Error)
		}
		if r.Workload == "rtt" && r.Figures["samples"] < 1 {
			t.Errorf("%s %s: no rtt samples", r.Item, r.Impl)
		}
		// Every pollnet server opened its listener and the client's conns
		// through pollrt; a net server reports nothing.
		if strings.HasPrefix(r.Impl, "pollnet") {
			if r.Pollrt == nil || r.Pollrt.Opened == 0 || r.Figures["pollrt_waits"] != float64(r.Pollrt.Waits) {
				t.Errorf("%s %s: pollrt stats %+v, figures %v", r.Item, r.Impl, r.Pollrt, r.Figures)
			}
		} else if r.Pollrt != nil {
			t.Errorf("%s %s: pollrt stats from a server not built on pollrt", r.Item, r.Impl)
		}
		if r.Impl == "pollnet+waitread" && r.Workload != "idle" {
			t.Errorf("%s: the waitread variant is measured in idle only", r.Item)
		}
	}

	svg, err := os.ReadFile(plotPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(svg, []byte("<svg")) {
		t.Errorf("plot is not an SVG: %.100q", svg)
	}
}

// TestServeHTTP covers the http server variant, which the quick run only
// exercises where wrk is installed.
func TestServeHTTP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go serveHTTP(ln)
	c := &http.Client{Timeout: 5 * time.Second}
	for range 3 { // more than one request, over a kept-alive connection
		resp, err := c.Get("http://" + ln.Addr().String() + "/")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !bytes.Equal(body, helloBody) {
			t.Fatalf("GET: %d %q", resp.StatusCode, body)
		}
	}
}

// TestEchoAgainstAddr checks the -addr path and the echo server on its own:
// an in-process echo server measured through its address.
func TestEchoAgainstAddr(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go serveEcho(ln, echo)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	args := []string{"-addr", ln.Addr().String(), "-workloads", "rtt,stream,churn,idle", "-conns", "3",
		"-duration", "50ms", "-warmup", "10ms", "-rounds", "2"}
	if err := run(ctx, args, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	out := stdout.String()
	if !strings.Contains(out, ln.Addr().String()) || !strings.Contains(out, "rtt c=3") || !strings.Contains(out, "idle: skipped") {
		t.Errorf("unexpected output:\n%s", out)
	}
	if strings.Contains(out, "pollrt stats") {
		t.Errorf("an external server has no pollrt stats to print:\n%s", out)
	}
}

// TestIdleWaitReadAndStats runs the idle workload, where the WaitRead
// variant joins net and pollnet, and churn, where it does not, and checks
// which servers each table and each pollrt stats section shows. It also
// asks for the servers' CPU profiles: one per server child and impl.
func TestIdleWaitReadAndStats(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns servers")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	profDir := filepath.Join(t.TempDir(), "prof")
	if err := run(ctx, []string{"-quick", "-workloads", "churn,idle", "-cpuprofile", profDir}, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	for _, impl := range []string{"net", "pollnet", "pollnet-waitread"} {
		files, err := filepath.Glob(filepath.Join(profDir, impl+"-echo-*.pprof"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no CPU profile of a %s server in %s (%v)", impl, profDir, err)
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil || len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
				t.Errorf("%s: not a finished (gzipped) profile: %d bytes, %v", f, len(b), err)
			}
		}
	}
	out := stdout.String()
	t.Log("\n" + out)
	lines := strings.Split(out, "\n")
	// find returns the fields of the first line at or after from whose
	// first fields are prefix, and its index.
	find := func(from int, prefix ...string) ([]string, int) {
		for i := from; i < len(lines); i++ {
			f := strings.Fields(lines[i])
			if len(f) >= len(prefix) && slices.Equal(f[:len(prefix)], prefix) {
				return f, i
			}
		}
		t.Fatalf("no line starting %q after line %d in:\n%s", prefix, from, out)
		return nil, 0
	}

	churn, _ := find(0, "churn", "w=8")
	if len(churn) != 2+1+2+1 { // "churn w=8", "conns/s", net, pollnet, ratio
		t.Errorf("churn row %q: want net, pollnet and their ratio only", churn)
	}
	header, i := find(0, "workload", "figure", "net", "pollnet", "pollnet+waitread")
	if !slices.Contains(header, "pollnet+waitread/net") {
		t.Errorf("idle header %q lacks the variant's ratio", header)
	}
	idle, _ := find(i, "idle", "c=200")
	// "idle c=200", "RSS B/conn", 3 impls, 2 ratios. A ratio may be "-"
	// (a noisy zero RSS growth of net's), a measured impl's median not.
	if len(idle) != 2+2+3+2 || slices.Contains(idle[4:7], "-") {
		t.Errorf("idle row %q: want a figure for every impl", idle)
	}

	_, i = find(0, "pollrt", "stats", "(pollnet", "server)")
	find(i, "churn", "w=8")
	find(i, "idle", "c=200")
	_, i = find(i, "pollrt", "stats", "(pollnet+waitread", "server)")
	f, _ := find(i, "idle", "c=200")
	if len(f) != 2+len(pollrtFigures) {
		t.Errorf("stats row %q: want %d figures", f, len(pollrtFigures))
	}
	if strings.Contains(strings.Join(lines[i:], "\n"), "churn") {
		t.Error("the waitread variant has stats for churn, where it is not measured")
	}
	if strings.Contains(out, "(net server)") {
		t.Error("stats printed for the net server")
	}
}

// TestEchoWaitRead checks the variant's handler echoes like echo, message
// after message, and closes the conn when the peer does.
func TestEchoWaitRead(t *testing.T) {
	ln, err := pollnet.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go serveEcho(ln, echoWaitRead)
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	for _, msg := range []string{"x", "hello", strings.Repeat("z", 10000)} {
		if _, err := c.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(c, got); err != nil || string(got) != msg {
			t.Fatalf("echo of %d bytes: %v, got %.20q", len(msg), err, got)
		}
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Errorf("after CloseWrite: %d, %v; want the server to close", n, err)
	}
}

// TestChildStats drives a child's request loop as the parent does.
func TestChildStats(t *testing.T) {
	in := strings.NewReader(reqStats + "\nbogus\n")
	var out bytes.Buffer
	answer(in, &out)
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("want one line per request, got %q", out.String())
	}
	var st pollrt.Stats
	if err := json.Unmarshal([]byte(lines[0]), &st); err != nil {
		t.Errorf("stats answer %q: %v", lines[0], err)
	}
	if !strings.HasPrefix(lines[1], "error: ") {
		t.Errorf("unknown request answered %q", lines[1])
	}
}
