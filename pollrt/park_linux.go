//go:build linux

package pollrt

// Parking: who polls an epoll set, and how a parked goroutine is woken.
//
// A goroutine that must wait (its semaphore holds &s.w) polls the set
// itself when nobody else does: it becomes the set's leader and parks in
// the runtime's poller on the epoll fd (poller.rc.Read). When its own fd
// turns ready, the runtime wakes it directly, with no goroutine in between;
// that saves the hop through a poller goroutine and the extra thread wakeup
// a channel send makes (see DESIGN.md, "scheduler"). While it leads it also
// delivers the set's other events. A goroutine that finds the set led parks
// on its channel as a follower; the leader's delivery wakes it.
//
// When a leader is done (its own semaphore was unblocked) and followers
// remain, it hands the set to the poller goroutine (a send on kick), which
// leads until no follower is left. So at most one goroutine polls a set at
// a time, the only drainer of its events and its break descriptor.
//
// waiter.mode, per park:
//
//	state        | set by                        | a waker that swaps it out
//	-------------+-------------------------------+--------------------------------
//	parkNone     | the waiter, after it resumes  | only sends (the waiter has not
//	             |                               | parked yet: it will find the send)
//	parkFollower | park, under mu, set led       | sends, drops poller.followers
//	parkLeader   | park, under mu, set unled     | sends, then netpollBreak, unless
//	             |                               | the leader is the waker itself
//	parkWoken    | the waker (Swap)              | -
//
// Why the leader cannot miss its wake: the waker sends before it breaks,
// and the leader tries a receive after every drain. A break is written
// whenever no break is pending, and a pending break stays readable until
// the leader (the set's only drainer while it leads) drains it, so a leader
// whose receive ran before the send is woken by the break and then sees
// the send. A waker whose break coalesced into a pending one made its send
// before that break was consumed, hence before the leader's next receive.

const (
	parkNone int32 = iota
	parkFollower
	parkLeader
	parkWoken
)

// park blocks the goroutine whose semaphore holds w until a waker signals
// w (see wake). p is nil only for descriptors never opened on a poller
// (the model tests); those wait on the channel alone.
func (p *poller) park(w *waiter) {
	if p == nil {
		<-w.ch
		return
	}
	w.p = p // for the waker, which sees it once it sees the mode below
	p.mu.Lock()
	role := parkLeader
	if p.leading {
		role = parkFollower
		p.followers.Add(1)
	}
	switch {
	case !w.mode.CompareAndSwap(parkNone, role):
		// Woken already, and its waker did not count it as a follower.
		if role == parkFollower {
			p.followers.Add(-1)
		}
		role = parkNone
	case role == parkLeader:
		p.leading = true
	}
	p.mu.Unlock()

	if role != parkLeader {
		<-w.ch
		w.mode.Store(parkNone)
		return
	}
	p.stats.leads.Add(1)
	if p.rc.Read(w.leadFn) != nil {
		// The epoll file is closed only when a test discards its poller;
		// the wake still comes, on the channel.
		<-w.ch
	}
	w.mode.Store(parkNone)
	p.unlead()
}

// unlead ends the caller's lead of the set, passing it to the poller
// goroutine if the set still needs polling.
func (p *poller) unlead() {
	p.mu.Lock()
	if p.needed() {
		p.stats.handoffs.Add(1)
		p.kick <- struct{}{} // leading passes to the poller goroutine
	} else {
		p.leading = false
	}
	p.mu.Unlock()
}

// needed reports whether the set must be polled even with no leader
// waiting: followers wait for events, or a Done channel waits for a hangup.
func (p *poller) needed() bool { return p.followers.Load() > 0 || p.watchers.Load() > 0 }

// watch notes a Done channel to be closed on hangup: the set is polled
// continuously from now on, by the poller goroutine when nobody leads.
func (p *poller) watch() {
	p.watchers.Add(1)
	p.mu.Lock()
	if !p.leading {
		p.leading = true
		p.kick <- struct{}{}
	}
	p.mu.Unlock()
}

// unwatch withdraws a watch once its Done channel is closed.
func (p *poller) unwatch() { p.watchers.Add(-1) }

// pollIfIdle delivers the set's pending events now if nobody polls it, so
// that event state read without waiting (PeerClosed) is current. When the
// set is led, the leader keeps that state current and this does nothing.
func (p *poller) pollIfIdle() {
	if p == nil {
		return
	}
	p.mu.Lock()
	if p.leading {
		p.mu.Unlock()
		return
	}
	p.leading = true
	p.mu.Unlock()
	p.drain(nil)
	p.unlead()
}

// leadPoll is the leader w's poll step, run by the runtime's poller each
// time the epoll fd reports events: drain the set, then report whether w
// was woken.
func (w *waiter) leadPoll(uintptr) bool {
	w.p.drain(w)
	select {
	case <-w.ch:
		return true
	default:
		return false
	}
}

// wake signals w, which an unblock just swapped out of its semaphore.
// self is the leader delivering events, if the waker is one.
func (p *poller) wake(w *waiter) { p.wakeFrom(w, nil) }

func (p *poller) wakeFrom(w, self *waiter) {
	if w == nil {
		return
	}
	w.readyAt.Store(nanotime())
	old := w.mode.Swap(parkWoken)
	// w's set is w.p, not p: p is the waker's poller, which for an event
	// read just before w's descriptor was closed and reopened is not w's
	// set. Read it before the send, after which w may park again.
	var wp *poller
	if old == parkFollower || old == parkLeader {
		wp = w.p
	}
	w.ch <- struct{}{}
	switch {
	case old == parkFollower:
		wp.followers.Add(-1)
	case old == parkLeader && w != self:
		wp.netpollBreak()
	}
}

// drain delivers every event pending in the set without blocking. Only the
// set's leader calls it.
func (p *poller) drain(self *waiter) {
	for p.pollEvents(0, self) == len(p.events) {
	}
}

// run is the poller goroutine: it leads the set each time it is handed the
// lead, until the set is no longer needed.
func (p *poller) run() {
	for range p.kick {
		for {
			if p.rc.Read(p.runFn) != nil {
				return // the epoll file was closed: a test discarded p
			}
			p.mu.Lock()
			if !p.needed() {
				p.leading = false
				p.mu.Unlock()
				break
			}
			p.mu.Unlock()
		}
	}
}

// runPoll is the poller goroutine's poll step: it stops polling once the
// set is no longer needed (run confirms that under mu).
func (p *poller) runPoll(uintptr) bool {
	p.drain(nil)
	return !p.needed()
}
