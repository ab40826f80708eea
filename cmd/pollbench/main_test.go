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
	"strings"
	"testing"
	"time"
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
	for _, want := range []string{"rtt c=1 ", "rtt c=16", "rtt c=1 pin", "p99.9 µs", "round trips/s", "stream c=1", "churn", "idle c=200", "RSS B/conn"} {
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
	if len(rep.Results) == 0 || len(rep.Summary) == 0 {
		t.Fatalf("json has %d results, %d summary rows", len(rep.Results), len(rep.Summary))
	}
	for _, r := range rep.Results {
		if r.Error != "" {
			t.Errorf("%s %s: %s", r.Item, r.Impl, r.Error)
		}
		if r.Workload == "rtt" && r.Figures["samples"] < 1 {
			t.Errorf("%s %s: no rtt samples", r.Item, r.Impl)
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
	go serveEcho(ln)
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
}
