//go:build linux

package main

import (
	"fmt"
	"io"
	"strings"
)

// A goal is a bound that one figure's ratio to the baseline must keep in
// the items of a workload at the given connection counts (pinned and
// unpinned alike). These are the scale targets pollnet is held to against
// package net; the line printGoals writes says which of them a run met.
type goal struct {
	workload string
	conns    []int // nil: the workload's only item
	figure   string
	atLeast  bool // the ratio must be >= bound; otherwise <= bound
	bound    float64
}

var goals = []goal{
	{"rtt", []int{256, 1000}, "rt_per_s", true, 0.97},
	{"rtt", []int{256, 1000}, "server_cpu_us_per_rt", false, 1.03},
	{"rtt", []int{16, 256, 1000}, "p99_us", false, 1.05},
	{"rtt", []int{256, 1000}, "p99.9_us", false, 1.20},
	{"http", nil, "req_per_s", true, 0.97},
}

// printGoals prints one line: of the goals this run measured for impl,
// which held and which missed, with the ratios. It prints nothing when the
// run measured none (impl or the baseline absent, other workloads).
func printGoals(w io.Writer, impl, base string, rows []row) {
	var held, missed []string
	for _, r := range rows {
		g, ok := goalFor(r)
		if !ok {
			continue
		}
		ratio, ok := r.Ratio[impl]
		if !ok {
			continue
		}
		met := ratio <= g.bound
		op := "<="
		if g.atLeast {
			met, op = ratio >= g.bound, ">="
		}
		// Three decimals: a ratio of 1.052 against a bound of 1.05 must not
		// read as "1.05 (want <= 1.05)".
		s := fmt.Sprintf("%s %s %.3f", r.Item, r.Label, ratio)
		if met {
			held = append(held, s)
		} else {
			missed = append(missed, fmt.Sprintf("%s (want %s %.2f)", s, op, g.bound))
		}
	}
	if len(held)+len(missed) == 0 {
		return
	}
	fmt.Fprintf(w, "\ntargets, %s/%s: %d of %d held", impl, base, len(held), len(held)+len(missed))
	if len(missed) > 0 {
		fmt.Fprintf(w, "; missed: %s", strings.Join(missed, ", "))
	}
	if len(held) > 0 {
		fmt.Fprintf(w, "; held: %s", strings.Join(held, ", "))
	}
	fmt.Fprintln(w)
}

// goalFor returns the goal that applies to row r, if any.
func goalFor(r row) (goal, bool) {
	for _, g := range goals {
		if g.figure != r.Figure {
			continue
		}
		if g.conns == nil {
			if strings.HasPrefix(r.Item, g.workload+" ") {
				return g, true
			}
			continue
		}
		for _, c := range g.conns {
			it := fmt.Sprintf("%s c=%d", g.workload, c)
			if r.Item == it || r.Item == it+" pin" {
				return g, true
			}
		}
	}
	return goal{}, false
}
