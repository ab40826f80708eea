//go:build linux

package stress

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pollnet/pollnet"
	"go.uber.org/goleak"
)

// TestSoak runs the suite's workloads side by side for -soak=<duration>
// (it is skipped when the flag is 0, the default): echo cycles with every
// closing mode, the fd-reuse cross-talk check, close storms of every kind,
// SHA-256-verified duplex transfers, and resets mid-write. It reports
// throughput, outcomes and errors by kind, open fds, goroutines and
// pollrt's counters at regular intervals, and requires at the end that
// nothing failed and that fds, goroutines and pollrt descriptors are back
// to where they started.
//
//	go test ./stress -run Soak -soak=10m -v
func TestSoak(t *testing.T) {
	if *soakFlag <= 0 {
		t.Skip("soak mode is off; run with -soak=10m (say)")
	}
	warmUp(t)
	fds0, goroutines0, before := openFDs(t), runtime.NumGoroutine(), stats()
	start := time.Now()
	until := start.Add(*soakFlag)
	interval := min(max(*soakFlag/20, time.Second), time.Minute)

	ss := &soakState{}
	stop := make(chan struct{})
	reported := make(chan struct{})
	go func() {
		defer close(reported)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		prev, prevStats, prevAt := ss.snapshot(), before, start
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			now, st := ss.snapshot(), stats()
			secs := time.Since(prevAt).Seconds()
			t.Logf("soak %v/%v: %s | fds %d, goroutines %d | pollrt open %d, slots %d, %.0f polls/s, %.0f events/s, %.0f timeouts/s",
				time.Since(start).Round(time.Second), *soakFlag, now.rates(prev, secs), openFDs(t), runtime.NumGoroutine(),
				st.Open, st.Slots, float64(st.Polls-prevStats.Polls)/secs, float64(st.Events-prevStats.Events)/secs,
				float64(st.Timeouts-prevStats.Timeouts)/secs)
			prev, prevStats, prevAt = now, st, time.Now()
		}
	}()

	// The workloads run side by side in goroutines (not parallel subtests:
	// -parallel defaults to GOMAXPROCS, which may be smaller than their
	// number).
	var wg sync.WaitGroup
	for _, w := range soakWorkloads {
		c := ss.counter(w.name)
		r := fork(newRand(t))
		wg.Add(1)
		go func() {
			defer wg.Done()
			gt := goroutineTB{t}
			wd := startWatchdog(t, "soak "+w.name, func() int64 { return c.ops.Load() + c.bytes.Load() })
			defer wd.Stop()
			for time.Now().Before(until) && ss.fail.count() == 0 {
				w.round(gt, ss, c, fork(r))
				c.rounds.Add(1)
				wd.tick()
			}
		}()
	}
	wg.Wait()
	close(stop)
	<-reported

	final := ss.snapshot()
	t.Logf("soak done in %s: %s", elapsed(start), final.totals(time.Since(start).Seconds()))
	t.Logf("outcomes by kind: %s", ss.kinds.String())
	ss.fail.report(t)
	goleak.VerifyNone(t, goleak.IgnoreAnyFunction(pollerFunc))
	if fds := openFDs(t); fds != fds0 {
		t.Errorf("open fds: %d before the soak, %d after", fds0, fds)
	}
	if st := stats(); st.Open != before.Open {
		t.Errorf("pollrt descriptors open: %d before the soak, %d after", before.Open, st.Open)
	}
	t.Logf("goroutines %d before, %d after", goroutines0, runtime.NumGoroutine())
}

// goroutineTB lets helpers that call Fatal run on a goroutine other than
// the test's: Fatal records the failure and ends that goroutine only.
type goroutineTB struct{ testing.TB }

func (g goroutineTB) Fatal(args ...any) {
	g.TB.Helper()
	g.TB.Error(args...)
	runtime.Goexit()
}

func (g goroutineTB) Fatalf(format string, args ...any) {
	g.TB.Helper()
	g.TB.Errorf(format, args...)
	runtime.Goexit()
}

func (g goroutineTB) FailNow() {
	g.TB.Fail()
	runtime.Goexit()
}

// soakState is what the workloads share: counters, outcome kinds, failures.
type soakState struct {
	mu       sync.Mutex
	counters map[string]*soakCounter
	kinds    kindCounts
	fail     failures
}

type soakCounter struct {
	rounds, ops, bytes atomic.Int64
}

func (ss *soakState) counter(name string) *soakCounter {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.counters == nil {
		ss.counters = make(map[string]*soakCounter)
	}
	c := ss.counters[name]
	if c == nil {
		c = &soakCounter{}
		ss.counters[name] = c
	}
	return c
}

type soakSnapshot map[string][3]int64 // rounds, ops, bytes

func (ss *soakState) snapshot() soakSnapshot {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s := soakSnapshot{}
	for name, c := range ss.counters {
		s[name] = [3]int64{c.rounds.Load(), c.ops.Load(), c.bytes.Load()}
	}
	return s
}

func (s soakSnapshot) names() []string {
	names := make([]string, 0, len(s))
	for name := range s {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

func (s soakSnapshot) rates(prev soakSnapshot, secs float64) string {
	var parts []string
	for _, name := range s.names() {
		now, was := s[name], prev[name]
		parts = append(parts, fmt.Sprintf("%s %.0f ops/s %.1f MiB/s", name,
			float64(now[1]-was[1])/secs, float64(now[2]-was[2])/secs/(1<<20)))
	}
	return strings.Join(parts, ", ")
}

func (s soakSnapshot) totals(secs float64) string {
	var parts []string
	for _, name := range s.names() {
		v := s[name]
		parts = append(parts, fmt.Sprintf("%s: %d rounds, %d ops (%.0f/s), %d MiB", name, v[0], v[1], float64(v[1])/secs, v[2]>>20))
	}
	return strings.Join(parts, "; ")
}

var soakWorkloads = []struct {
	name  string
	round func(t testing.TB, ss *soakState, c *soakCounter, r *rand.Rand)
}{
	{"echo-cycles", soakEcho},
	{"cross-talk", soakCrossTalk},
	{"close-storms", soakStorms},
	{"transfers", soakTransfers},
	{"resets", soakResets},
}

// soakEcho: 1,000 echo cycles, 4 at a time, rotating through the closing
// modes.
func soakEcho(t testing.TB, ss *soakState, c *soakCounter, r *rand.Rand) {
	e := newEchoServer(t, []string{"tcp", "unix"})
	defer e.close(t)
	var wg sync.WaitGroup
	var next atomic.Int64
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1); i <= 1000; i = next.Add(1) {
				err := e.cycle(uint64(i), int(i))
				c.ops.Add(1)
				c.bytes.Add(2 * echoSize)
				if err != nil {
					ss.kinds.add("echo:error")
					ss.fail.add("echo cycle: %v", err)
					return
				}
				ss.kinds.add("echo:ok")
			}
		}()
	}
	awaitProgress(t, &wg, next.Load, "soak echo cycles")
}

// soakCrossTalk: 200 pairs, 16 at a time, per network.
func soakCrossTalk(t testing.TB, ss *soakState, c *soakCounter, r *rand.Rand) {
	for _, network := range streamNetworks {
		ln, release, err := openListener(network)
		if err != nil {
			t.Fatal(err)
		}
		ct := newCrossTalk(ln, r.Uint64())
		ct.run(t, 200, 16)
		release()
		s := ct.summary()
		c.ops.Add(s.conns)
		c.bytes.Add(s.frames * frameSize)
		ct.kinds.addTo(&ss.kinds, "crosstalk:")
		if ct.fail.count() > 0 {
			ct.fail.report(t)
			ss.fail.add("cross-talk over %s failed (see above)", network)
		}
	}
}

// soakStorms: 50 iterations of every close storm, per network.
func soakStorms(t testing.TB, ss *soakState, c *soakCounter, r *rand.Rand) {
	for _, network := range streamNetworks {
		for _, op := range stormOps {
			s := newStorm(t, network, op.name == "dial", &ss.kinds, &ss.fail)
			for range 50 {
				op.run(s, r)
				c.ops.Add(1)
			}
			s.close()
		}
	}
}

// soakTransfers: a 4 MiB duplex transfer per network, SHA-256 verified.
func soakTransfers(t testing.TB, ss *soakState, c *soakCounter, r *rand.Rand) {
	const size = 4 << 20
	wd := startWatchdog(t, "soak transfer", nil)
	defer wd.Stop()
	for _, network := range streamNetworks {
		ln, release, err := openListener(network)
		if err != nil {
			t.Fatal(err)
		}
		client, server, err := connect(ln)
		release()
		if err != nil {
			t.Fatal(err)
		}
		type res struct {
			n   int64
			sum [32]byte
			err error
		}
		results := make(chan [2]res, 2)
		for _, dir := range [][2]*pollnet.Conn{{client, server}, {server, client}} {
			wr, rr := fork(r), fork(r)
			go func() {
				var out [2]res
				var wg sync.WaitGroup
				wg.Add(1)
				go func() {
					defer wg.Done()
					out[0].n, out[0].sum, out[0].err = writeStream(dir[0], size, wr, wd, true)
				}()
				out[1].n, out[1].sum, out[1].err = readStream(dir[1], rr, wd)
				wg.Wait()
				results <- out
			}()
		}
		for range 2 {
			out := <-results
			c.ops.Add(1)
			c.bytes.Add(out[1].n)
			if out[0].err != nil || out[1].err != nil || out[0].n != out[1].n || out[0].sum != out[1].sum {
				ss.kinds.add("transfer:error")
				ss.fail.add("transfer over %s: wrote %d (%v), read %d (%v), sums equal %v",
					network, out[0].n, out[0].err, out[1].n, out[1].err, out[0].sum == out[1].sum)
				continue
			}
			ss.kinds.add("transfer:ok")
		}
		client.Close()
		server.Close()
	}
}

// soakResets: 10 resets mid-write per network.
func soakResets(t testing.TB, ss *soakState, c *soakCounter, r *rand.Rand) {
	for _, network := range streamNetworks {
		ln, release, err := openListener(network)
		if err != nil {
			t.Fatal(err)
		}
		for range 10 {
			peer, ours, err := connect(ln)
			if err != nil {
				release()
				ss.fail.add("connect: %v", err)
				return
			}
			var wk, rk kindCounts
			err = resetMidWrite(peer, ours, network, &wk, &rk)
			ours.Close()
			peer.Close()
			c.ops.Add(1)
			wk.addTo(&ss.kinds, "reset-write:")
			rk.addTo(&ss.kinds, "reset-read:")
			if err != nil {
				ss.fail.add("reset mid-write over %s: %v", network, err)
			}
		}
		release()
	}
}
