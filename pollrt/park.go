package pollrt

import (
	"sync"
	"sync/atomic"
)

// Parking: who polls a set, and how a parked goroutine is woken. Nothing
// here knows epoll: the backend (epoll_linux.go; poll_other.go where there
// is none) provides the set and these methods of poller, its seam:
//
//	pollSet.init, pollSet.close     make and release the set
//	netpollopen, netpollclose       add (edge-triggered, tagged) and remove an fd
//	netpollIsPollDescriptor(fd)     whether fd is one of the set's own
//	waitSet(f)                      park in the runtime's poller until the set
//	                                is readable, calling f each time, until f
//	                                reports true (a RawConn's Read); the set
//	                                turns readable on every new event, even
//	                                with earlier ones undrained
//	poll(self, lead) (more bool)    deliver the pending events without blocking
//	                                (netpollready); lead takes a pending break
//	netpollBreak, takeBreak,        make, consume and see a pending break, which
//	breakPending                    makes the set readable
//
// A goroutine that must wait (its semaphore holds &s.w) polls the set
// itself when nobody else does: it becomes the set's leader and parks in
// the runtime's poller on the set's descriptor (waitSet). When its own fd
// turns ready, the runtime wakes it directly, with no goroutine in between;
// that saves the hop through a poller goroutine and the extra thread wakeup
// a channel send makes. While it leads it also delivers the set's other
// events. A goroutine that finds the set led parks on its channel as a
// follower; the leader's delivery wakes it.
//
// A leader parked by Do (pollnet's Read, Write, Accept) whose set nobody
// else needs tries its own I/O each time it is woken, and drains nothing:
// its wait then costs the syscalls package net's does (see leadPoll). Any
// other leader drains the set on each wake.
//
// When a leader is done (its own semaphore was unblocked) and followers
// remain, it hands the set to the poller goroutine (a send on kick), which
// leads until no follower is left. So at most one goroutine polls a set at
// a time, the only consumer of its break descriptor (a pass for PeerClosed
// may drain events too, but leaves breaks; drainMu orders the drainers).
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
// and the leader tries a receive after every drain (after taking a pending
// break, when it tries instead of draining). A break is written
// whenever no break is pending, and a pending break stays readable until
// the leader (the set's only drainer while it leads) drains it, so a leader
// whose receive ran before the send is woken by the break and then sees
// the send. A waker whose break coalesced into a pending one made its send
// before that break was consumed, hence before the leader's next receive.

// poller is one set with its parking state, polled by a parked waiter or
// by its poller goroutine.
type poller struct {
	pollSet // the backend's set
	stats   pollerStats

	// drainMu is held by whoever drains the set: its leader, or pass.
	drainMu sync.Mutex
	// undrained: events may sit in the set undelivered. A leader that
	// tries its own I/O instead of draining sets it (leadPoll); it stays
	// set after that leader leaves, until the next drain.
	undrained atomic.Bool

	// mu orders the changes of leading; followers only grows under it.
	mu        sync.Mutex
	leading   atomic.Bool   // a waiter or the poller goroutine polls the set; stored under mu
	followers atomic.Int32  // waiters parked on their channels, not yet woken
	watchers  atomic.Int32  // Done channels not yet closed (see watch)
	kick      chan struct{} // hands leading to the poller goroutine
	leader    *waiter       // the waiter leading the set, nil for the poller goroutine
	leadFn    func(uintptr) bool
	runFn     func(uintptr) bool
}

// newPoller is netpollinit: a new set, not yet polled (see run).
func newPoller() (*poller, error) {
	p := &poller{kick: make(chan struct{}, 1)}
	if err := p.pollSet.init(); err != nil {
		return nil, err
	}
	p.runFn, p.leadFn = p.runPoll, p.leadPoll // made once: a method value allocates
	return p, nil
}

const (
	parkNone int32 = iota
	parkFollower
	parkLeader
	parkWoken
)

// park blocks the goroutine whose semaphore s holds &s.w until a waker
// signals it (see wake), or, for a Do (a non-nil), until a, tried while
// parked, finishes: it then reports true, s withdrawn. A follower skips
// the try if the caller has just tried (the leader delivers what comes
// after); a leader always tries inside its wait, the only place where no
// readiness can slip past it. p is nil only for descriptors never opened
// on a poller (the model tests); those wait on the channel alone.
func (p *poller) park(s *sema, a Attempt, tried bool) (done bool) {
	w := &s.w
	w.slept = false
	if p == nil {
		if a != nil && !tried && a.Try() {
			s.takeBack()
			return true
		}
		<-w.ch
		return false
	}
	w.p = p // for the waker, which sees it once it sees the mode below
	hook(hookParkEnter)
	p.mu.Lock()
	role := parkLeader
	if p.leading.Load() {
		role = parkFollower
		p.followers.Add(1)
	}
	hook(hookParkChosen)
	switch {
	case !w.mode.CompareAndSwap(parkNone, role):
		// Woken already, and its waker did not count it as a follower.
		if role == parkFollower {
			p.followers.Add(-1)
		}
		role = parkNone
	case role == parkLeader:
		p.leading.Store(true)
	}
	p.mu.Unlock()
	hook(hookParkRole)

	switch role {
	case parkFollower:
		if p.undrained.Load() {
			// The leader may be trying its own I/O without draining.
			// It drains once it sees this follower counted, which it
			// checks on every event of the set, but events already in
			// the set make no new wakeup. A Do tries now that it is
			// counted: what it misses comes later, as a new event that
			// wakes the leader. A Wait cannot try: the leader must
			// drain for it at once (leadPoll).
			if a == nil {
				p.netpollBreak()
			} else {
				tried = false
			}
		}
		if a != nil && !tried && a.Try() {
			hook(hookFollowerTried)
			if s.withdraw() {
				p.followers.Add(-1) // no waker will
			} else {
				<-w.ch
			}
			w.mode.Store(parkNone)
			return true
		}
		fallthrough
	case parkNone:
		hook(hookFollowerRecv)
		<-w.ch
		hook(hookFollowerWoken)
		w.mode.Store(parkNone)
		return false
	}
	p.stats.leads.Add(1)
	w.a, w.done, w.tried = a, false, false
	p.leader = w
	hook(hookLeadWait)
	if p.waitSet(p.leadFn) != nil {
		// The set is closed only when a test discards its poller;
		// the wake still comes, on the channel.
		<-w.ch
	}
	hook(hookLeadDone)
	done, w.a, p.leader = w.done, nil, nil
	if done {
		hook(hookTakeBack)
		s.takeBack()
	}
	w.mode.Store(parkNone)
	p.unlead()
	return done
}

// delivers reports whether the set is led by a goroutine that drains it: a
// waiter parking now would follow, and the leader would deliver what comes
// after a try made before parking. It is a hint, read without mu.
func (p *poller) delivers() bool { return p != nil && p.leading.Load() && !p.undrained.Load() }

// unlead ends the caller's lead of the set, passing it to the poller
// goroutine if the set still needs polling.
func (p *poller) unlead() {
	hook(hookUnlead)
	p.mu.Lock()
	if p.needed() {
		p.stats.handoffs.Add(1)
		p.kick <- struct{}{} // leading passes to the poller goroutine
	} else {
		p.leading.Store(false)
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
	if !p.leading.Load() {
		p.leading.Store(true)
		p.kick <- struct{}{}
	} else if p.undrained.Load() {
		p.netpollBreak() // the leader must drain from now on (leadPoll)
	}
	p.mu.Unlock()
}

// unwatch withdraws a watch once its Done channel is closed.
func (p *poller) unwatch() { p.watchers.Add(-1) }

// pollIfIdle delivers the set's pending events now if nobody drains it, so
// that event state read without waiting (PeerClosed) is current. A leader
// that drains keeps that state current, and then this does nothing.
func (p *poller) pollIfIdle() {
	if p == nil {
		return
	}
	p.mu.Lock()
	if p.leading.Load() {
		p.mu.Unlock()
		if p.undrained.Load() {
			p.pass()
		}
		return
	}
	p.leading.Store(true)
	p.mu.Unlock()
	p.drain(nil)
	p.unlead()
}

// leadPoll is the leader w's poll step, run first when w starts to lead and
// then each time the runtime reports the set readable.
//
// A leader that waits in Do with the set to itself (no followers, no
// watchers) tries its own I/O instead of draining: the runtime reports the
// set readable on every new event in it, including every new readiness of
// w's fd, whether or not earlier events were drained (waitSet promises
// that), and w tries only after the runtime has started watching. That
// wait costs the syscalls package net's does (the failed and the
// successful attempt), and no poll of the set. Events then stay in the set
// (undrained is set). A watcher or
// a Wait follower that arrives breaks the leader, which drains from then
// on; a Do follower tries its I/O once it is counted, and the leader drains
// on the set's next event, which the readiness the try missed makes.
// undrained is stored before needed is loaded here, and followers and watchers
// are added before undrained is loaded there, so one of the two sides sees the
// other.
func (p *poller) leadPoll(uintptr) bool {
	hook(hookLeadPollEnter)
	w := p.leader
	if w.a != nil {
		p.undrained.Store(true)
		if p.breakPending() {
			// Taken before needed and the channel are read: a waker
			// whose break coalesced into this one sent (or added its
			// follower) before the break was taken.
			p.takeBreak()
		}
		if !p.needed() {
			hook(hookLeadTryRecv)
			select {
			case <-w.ch:
				return true
			default:
			}
			return w.try()
		}
	}
	p.drain(w)
	hook(hookLeadDrained)
	select {
	case <-w.ch:
		return true
	default:
	}
	if w.a != nil && !w.tried {
		// The caller has not tried since Prepare cleared its
		// readiness, so no event may come for what is already there.
		return w.try()
	}
	hook(hookLeadPollBlock)
	return false
}

// try is the leader's attempt; once made, later readiness makes new events.
func (w *waiter) try() bool {
	w.slept = w.tried // an earlier try failed: the lead waited since
	w.tried = true
	w.done = w.a.Try()
	if !w.done {
		hook(hookLeadPollBlock)
	}
	return w.done
}

// wake signals w, which an unblock just swapped out of its semaphore.
// self is the leader delivering events, if the waker is one.
func (p *poller) wake(w *waiter) { p.wakeFrom(w, nil) }

func (p *poller) wakeFrom(w, self *waiter) {
	if w == nil {
		return
	}
	hook(hookWakeEnter)
	w.readyAt.Store(nanotime())
	old := w.mode.Swap(parkWoken)
	// w's set is w.p, which need not be p, the waker's poller (a test
	// delivers an event through another set). Read it before the send,
	// after which w may park again.
	var wp *poller
	if old == parkFollower || old == parkLeader {
		wp = w.p
	}
	w.ch <- struct{}{}
	hook(hookWakeSent)
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
	p.undrained.Store(false) // before the poll: whatever it misses makes an edge
	hook(hookDrainEnter)
	p.drainMu.Lock()
	for p.poll(self, true) {
	}
	p.drainMu.Unlock()
}

// pass delivers the set's pending events for a goroutine that does not lead
// it, while the leader does not drain (pollIfIdle). Breaks are the
// leader's: a pass leaves them.
func (p *poller) pass() {
	p.drainMu.Lock()
	for p.poll(nil, false) {
	}
	p.drainMu.Unlock()
}

// run is the poller goroutine: it leads the set each time it is handed the
// lead, until the set is no longer needed.
func (p *poller) run() {
	for range p.kick {
		for {
			if p.waitSet(p.runFn) != nil {
				return // the set was closed: a test discarded p
			}
			p.mu.Lock()
			if !p.needed() {
				p.leading.Store(false)
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
	hook(hookRunPollEnter)
	p.drain(nil)
	hook(hookRunPollExit)
	return !p.needed()
}
