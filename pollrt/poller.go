package pollrt

import (
	"sync"
	"sync/atomic"
)

// pollerStats are written only by the goroutine running the poller (and
// Breaks by netpollBreak), so counting costs an uncontended atomic add.
type pollerStats struct {
	polls, events, stale, wakeups, breaks atomic.Uint64
}

func (ps *pollerStats) addTo(s *Stats) {
	s.Polls += ps.polls.Load()
	s.Events += ps.events.Load()
	s.Stale += ps.stale.Load()
	s.Wakeups += ps.wakeups.Load()
	s.Breaks += ps.breaks.Load()
}

var (
	startOnce sync.Once
	started   atomic.Pointer[poller]
	startErr  error
)

// defaultPoller starts the process's poller on first use.
func defaultPoller() (*poller, error) {
	startOnce.Do(func() {
		p, err := newPoller()
		if err != nil {
			startErr = err
			return
		}
		started.Store(p)
		go p.run()
	})
	return started.Load(), startErr
}

// netpollready delivers one event for the descriptor in slot tagged seq
// (the runtime's netpollready): it sets the semaphores of the directions in
// mode to pdReady and wakes their waiters. It reports whether the event was
// stale (its fd closed since) and dropped.
func (p *poller) netpollready(slot, seq uint32, mode Mode, errOnly bool) {
	pd := slots.lookup(slot, seq)
	if pd == nil {
		p.stats.stale.Add(1)
		return
	}
	p.stats.events.Add(1)
	pd.setEventErr(errOnly, seq)
	var rw, ww *waiter
	if mode == Read || mode == ReadWrite {
		rw = pd.rs.unblock(true)
	}
	if mode == Write || mode == ReadWrite {
		ww = pd.ws.unblock(true)
	}
	if rw != nil {
		p.stats.wakeups.Add(1)
		rw.wake()
	}
	if ww != nil {
		p.stats.wakeups.Add(1)
		ww.wake()
	}
}
