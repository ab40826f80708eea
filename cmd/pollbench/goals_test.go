//go:build linux

package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestPrintGoals(t *testing.T) {
	mk := func(item, fig, label string, ratio float64) row {
		return row{Item: item, Figure: fig, Label: label, Ratio: map[string]float64{"pollnet": ratio}}
	}
	tests := []struct {
		name string
		rows []row
		want string // "" means no line at all
	}{
		{"none measured", []row{mk("rtt c=1", "rt_per_s", "round trips/s", 0.5)}, ""},
		{"held and missed, pinned counts",
			[]row{
				mk("rtt c=256", "rt_per_s", "round trips/s", 0.98),
				mk("rtt c=1000 pin", "rt_per_s", "round trips/s", 0.9),
				mk("rtt c=256 pin", "server_cpu_us_per_rt", "server CPU µs/rt", 1.1),
				mk("rtt c=16", "p99_us", "p99 µs", 1.05),
				mk("rtt c=16", "p99.9_us", "p99.9 µs", 9), // no goal at c=16
				mk("http c=64", "req_per_s", "req/s", 0.97),
			},
			"targets, pollnet/net: 3 of 5 held; missed: rtt c=1000 pin round trips/s 0.900 (want >= 0.97), " +
				"rtt c=256 pin server CPU µs/rt 1.100 (want <= 1.03); held: rtt c=256 round trips/s 0.980, " +
				"rtt c=16 p99 µs 1.050, http c=64 req/s 0.970"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			printGoals(&b, "pollnet", "net", tt.rows)
			if got := strings.TrimSpace(b.String()); got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}
