//go:build linux

package main

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// wrkResult is what pollbench takes from wrk's report.
type wrkResult struct {
	reqPerSec float64
	p50us     float64
	p99us     float64
	errors    int     // socket errors plus non-2xx/3xx responses
	seconds   float64 // how long wrk loaded the server
}

// runWrk loads url with wrk, one thread and 64 connections as the project's
// reference http figure, for dur rounded up to whole seconds (wrk's unit).
func runWrk(ctx context.Context, url string, dur time.Duration) (wrkResult, error) {
	secs := max(int(math.Ceil(dur.Seconds())), 1)
	ctx, cancel := context.WithTimeout(ctx, time.Duration(secs)*time.Second+15*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "wrk", "-t1", "-c64", fmt.Sprintf("-d%ds", secs), "--latency", url).CombinedOutput()
	if err != nil {
		return wrkResult{}, fmt.Errorf("wrk: %w: %s", err, strings.TrimSpace(string(out)))
	}
	r, err := parseWrk(string(out))
	r.seconds = float64(secs)
	return r, err
}

// parseWrk reads Requests/sec, the 50% and 99% lines of the --latency
// distribution, and the error lines from wrk's text report.
func parseWrk(out string) (wrkResult, error) {
	var r wrkResult
	haveRate := false
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		switch {
		case f[0] == "Requests/sec:" && len(f) == 2:
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				return r, fmt.Errorf("wrk: bad Requests/sec %q", f[1])
			}
			r.reqPerSec, haveRate = v, true
		case (f[0] == "50%" || f[0] == "99%") && len(f) == 2:
			us, err := parseWrkDuration(f[1])
			if err != nil {
				return r, err
			}
			if f[0] == "50%" {
				r.p50us = us
			} else {
				r.p99us = us
			}
		case f[0] == "Socket" && len(f) > 2 && f[1] == "errors:":
			// "Socket errors: connect 0, read 0, write 0, timeout 0"
			for i := 3; i < len(f); i += 2 {
				n, _ := strconv.Atoi(strings.TrimSuffix(f[i], ","))
				r.errors += n
			}
		case strings.HasPrefix(sc.Text(), "  Non-2xx or 3xx responses:") || f[0] == "Non-2xx":
			n, _ := strconv.Atoi(f[len(f)-1])
			r.errors += n
		}
	}
	if !haveRate {
		return r, fmt.Errorf("wrk: no Requests/sec in output: %q", out)
	}
	return r, nil
}

// parseWrkDuration turns wrk's "612.00us", "1.20ms", "2.00s" or "1.00m"
// into microseconds.
func parseWrkDuration(s string) (float64, error) {
	units := []struct {
		suffix string
		us     float64
	}{{"us", 1}, {"ms", 1e3}, {"s", 1e6}, {"m", 60e6}, {"h", 3600e6}}
	for _, u := range units {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				break
			}
			return f * u.us, nil
		}
	}
	return 0, fmt.Errorf("wrk: bad duration %q", s)
}
