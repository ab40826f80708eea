package pollrt

import (
	"errors"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
)

// pollerStats are written by whoever polls the set (Breaks by
// netpollBreak): one goroutine at a time, so each count is an uncontended
// atomic add (BenchmarkStatsPerWake).
type pollerStats struct {
	polls, events, stale, wakeups, breaks, leads, handoffs atomic.Uint64
}

func (ps *pollerStats) addTo(s *Stats) {
	s.Polls += ps.polls.Load()
	s.Events += ps.events.Load()
	s.Stale += ps.stale.Load()
	s.WakeReady += ps.wakeups.Load()
	s.Breaks += ps.breaks.Load()
	s.Leads += ps.leads.Load()
	s.Handoffs += ps.handoffs.Load()
}

// woke records the wake-up latency of w, which just resumed.
func (w *waiter) woke() {
	if t := w.readyAt.Swap(0); t != 0 {
		recordWakeLatency(nanotime() - t)
	}
}

// The process's pollers: each an epoll set with its own poller goroutine.
// A descriptor opened with Open belongs to pollers[fd % n], n the count
// SetPollers chooses; the last poller, pollers[n], holds the descriptors
// opened with OpenLong. Several sets spread
// the delivery work over goroutines that the scheduler can run on several
// Ps; the price is an epoll fd per set and smaller batches per poll.
var (
	startOnce   sync.Once
	pollerCount atomic.Int32 // set by SetPollers before first use
	pollers     atomic.Pointer[[]*poller]
	startErr    error
)

// DefaultPollers is the number of pollers when neither SetPollers nor the
// POLLNET_POLLERS environment variable chooses one. Up to that many
// connections each wait in a set of their own, the cheapest way to wait
// (park.go); an idle set costs two fds and a parked goroutine.
const DefaultPollers = 16

// SetPollers sets the number of pollers (epoll sets), from 1 to 1024. It
// must be called before the first Open, and returns an error after it or
// for a count out of range. The POLLNET_POLLERS environment variable sets
// the same when SetPollers is not called.
func SetPollers(n int) error {
	if n < 1 || n > 1024 {
		return errors.New("pollrt: SetPollers: count out of range [1, 1024]")
	}
	if pollers.Load() != nil {
		return errors.New("pollrt: SetPollers called after the pollers started")
	}
	pollerCount.Store(int32(n))
	return nil
}

// pollersFor returns the number of pollers to start.
func pollersFor() int {
	if n := pollerCount.Load(); n > 0 {
		return int(n)
	}
	if n, err := strconv.Atoi(os.Getenv("POLLNET_POLLERS")); err == nil && n >= 1 && n <= 1024 {
		return n
	}
	return DefaultPollers
}

// startPollers starts the pollers on first use.
func startPollers() ([]*poller, error) {
	startOnce.Do(func() {
		ps := make([]*poller, pollersFor()+1)
		for i := range ps {
			p, err := newPoller()
			if err != nil {
				for _, q := range ps[:i] {
					q.close()
				}
				startErr = err
				return
			}
			ps[i] = p
			go p.run()
		}
		pollers.Store(&ps)
	})
	if startErr != nil {
		return nil, startErr
	}
	return *pollers.Load(), nil
}

// pollerFor returns the poller that serves fd, or the long waits' poller.
func pollerFor(fd int, long bool) (*poller, error) {
	ps, err := startPollers()
	if err != nil {
		return nil, err
	}
	n := len(ps) - 1
	switch {
	case long:
		return ps[n], nil
	case fd < 0:
		return ps[0], nil
	}
	return ps[fd%n], nil
}

// isPollDescriptor reports whether fd is one of the pollers' own.
func isPollDescriptor(fd int) bool {
	ps := pollers.Load()
	if ps == nil {
		return false
	}
	for _, p := range *ps {
		if p.netpollIsPollDescriptor(fd) {
			return true
		}
	}
	return false
}

// netpollready delivers one event for the descriptor in slot tagged seq
// (the runtime's netpollready): it sets the semaphores of the directions in
// mode to pdReady and wakes their waiters, and records a hangup. An event
// whose fd was closed since (stale seq) is dropped.
// self is the leader delivering the event, if a waiter is.
func (p *poller) netpollready(slot, seq uint32, mode Mode, errOnly, hangup bool, self *waiter) {
	pd := slots.lookup(slot, seq)
	if pd == nil {
		p.stats.stale.Add(1)
		return
	}
	p.stats.events.Add(1)
	pd.setEventErr(errOnly, seq)
	if hangup && pd.info.Load()&infoHangup == 0 {
		pd.setHangup(seq)
	}
	var rw, ww *waiter
	if mode == Read || mode == ReadWrite {
		rw = pd.rs.unblock(true)
	}
	if mode == Write || mode == ReadWrite {
		ww = pd.ws.unblock(true)
	}
	if rw != nil {
		p.stats.wakeups.Add(1)
		p.wakeFrom(rw, self)
	}
	if ww != nil {
		p.stats.wakeups.Add(1)
		p.wakeFrom(ww, self)
	}
}
