// Package pollstats serves pollrt's runtime statistics over HTTP as JSON
// and publishes them to expvar. It is separate from pollrt so the poll
// runtime itself does not import net/http.
//
//	http.Handle("/debug/pollnet", pollstats.Handler())
//	pollstats.Publish("pollnet") // in /debug/vars
package pollstats

import (
	"encoding/json"
	"expvar"
	"net/http"

	"github.com/pollnet/pollnet/pollrt"
)

// Snapshot is pollrt.Stats with the wake-up latency quantiles worked out.
type Snapshot struct {
	pollrt.Stats
	WakeLatencyP50Nanos  int64
	WakeLatencyP99Nanos  int64
	WakeLatencyP999Nanos int64
}

// Read returns the current statistics.
func Read() Snapshot {
	var s Snapshot
	pollrt.ReadStats(&s.Stats)
	s.WakeLatencyP50Nanos = int64(s.LatencyQuantile(0.5))
	s.WakeLatencyP99Nanos = int64(s.LatencyQuantile(0.99))
	s.WakeLatencyP999Nanos = int64(s.LatencyQuantile(0.999))
	return s
}

// Handler serves Read as JSON.
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(Read())
	})
}

// Publish exports the statistics as the expvar variable name. Like
// expvar.Publish, it panics if name is already published.
func Publish(name string) {
	expvar.Publish(name, expvar.Func(func() any { return Read() }))
}
