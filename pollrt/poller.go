package pollrt

import (
	"sync"
	"sync/atomic"
)

// pollerStats are written by whoever polls (one goroutine at a time), by
// netpollBreak and by lead hand-offs, so counting costs an atomic add off
// the waiters' path.
type pollerStats struct {
	polls, events, stale, wakeups, breaks, handoffs atomic.Uint64
}

func (ps *pollerStats) addTo(s *Stats) {
	s.Polls += ps.polls.Load()
	s.Events += ps.events.Load()
	s.Stale += ps.stale.Load()
	s.WakeReady += ps.wakeups.Load()
	s.Breaks += ps.breaks.Load()
	s.Handoffs += ps.handoffs.Load()
}

// Who polls the epoll set (poller.lead). Polling means being parked in the
// Go runtime's poller on the epoll fd and delivering its events on wakeup.
//
// A goroutine about to park in Wait takes the lead if nobody has it and
// polls until its own wait ends: the runtime then wakes it directly for its
// own events, with no goroutine in between, as package net's waiters are.
// Otherwise it parks on its channel, counted in parked. Channel-parked
// waiters need someone polling: a leader that steps down while parked > 0
// hands the lead to the poller goroutine, which keeps it until parked drops
// to 0 (ensurePolling).
const (
	leadNone   int32 = iota // nobody polls; the next goroutine to park leads
	leadWaiter              // a waiting goroutine polls as leader
	leadPoller              // the poller goroutine polls for channel-parked waiters
)

// leadership is the poller's lead state, shared by every backend.
type leadership struct {
	lead     atomic.Int32
	parked   atomic.Int32  // waiters parked on their channels and not yet woken
	watchers atomic.Int32  // open Done channels: they need someone polling too
	kick     chan struct{} // hands the lead to the poller goroutine
	leader   *waiter       // the waiter polling; nil when the poller goroutine does
}

// needed reports whether someone must poll: waiters parked on channels, or
// Done channels waiting for a hangup.
func (l *leadership) needed() bool { return l.parked.Load() > 0 || l.watchers.Load() > 0 }

// wake signals the waiter an unblock swapped out of a semaphore. self is
// the leader delivering events, if the caller is one: waking itself needs
// no break, and it is running already.
func (p *poller) wake(w, self *waiter) {
	switch {
	case w == nil:
	case w == self:
		w.signal.Store(true)
	case w.lead:
		w.readyAt.Store(nanotime())
		w.signal.Store(true)
		if p != nil {
			p.netpollBreak() // the leader is parked in the runtime's poller
		}
	default:
		w.readyAt.Store(nanotime())
		if p != nil {
			p.parked.Add(-1)
		}
		w.ch <- struct{}{}
	}
}

// woke records the wake-up latency of w, which just resumed.
func (w *waiter) woke() {
	if t := w.readyAt.Swap(0); t != 0 {
		recordWakeLatency(nanotime() - t)
	}
}

// stepDown ends a waiter's turn as leader.
func (p *poller) stepDown() {
	p.lead.Store(leadNone)
	p.ensurePolling()
}

// ensurePolling hands the lead to the poller goroutine when someone needs
// polling (waiters parked on channels, Done channels) and nobody polls. A
// waiter about to park adds itself to parked (Done adds a watcher) before
// calling it; a leader clears lead before calling it; so whichever of the
// two runs second sees the other's write, and a parked waiter is never left
// without a poller.
func (p *poller) ensurePolling() {
	if p.needed() && p.lead.Load() == leadNone && p.lead.CompareAndSwap(leadNone, leadPoller) {
		p.stats.handoffs.Add(1)
		p.kick <- struct{}{}
	}
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
// mode to pdReady and wakes their waiters, and records a hangup. An event
// whose fd was closed since (stale seq) is dropped.
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
		p.wake(rw, self)
	}
	if ww != nil {
		p.stats.wakeups.Add(1)
		p.wake(ww, self)
	}
}
