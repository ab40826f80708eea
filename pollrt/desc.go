package pollrt

import (
	"sync"
	"sync/atomic"
	"time"
)

// Mode selects the direction an operation applies to.
type Mode int

// Directions, with the runtime's values ('r', 'w', 'r'+'w').
const (
	Read      Mode = 'r'
	Write     Mode = 'w'
	ReadWrite Mode = 'r' + 'w'
)

// info bits: what netpollcheckerr needs, published atomically so waits read
// it without the lock. Closing and the expired bits mirror fields kept under
// pd.mu; eventErr is maintained only by the poller.
const (
	infoOpen    uint32 = 1 << iota // Open made pd (see prepErr)
	infoClosing                    // Evict or Close was called
	infoReadExpired
	infoWriteExpired
	infoEventErr
	infoHangup         // the peer hung up (EPOLLRDHUP or EPOLLHUP seen)
	infoReadInterrupt  // Interrupt(Read) is pending for WaitOnce
	infoWriteInterrupt // Interrupt(Write) is pending for WaitOnce
)

// PollDesc is a poll descriptor: one open file descriptor registered with the
// poller, with a read and a write semaphore and a deadline per direction.
//
// PollDescs live in a slot table whose slots are reused after Close (each
// Open makes a new PollDesc); epoll events carry the slot index and fdseq,
// so an event for an fd that was closed is recognised and dropped even if
// the slot already serves a new fd.
type PollDesc struct {
	fd    int
	slot  uint32
	p     *poller
	fdseq atomic.Uint32 // bumped on Open and Close; tags this fd's events
	info  atomic.Uint32 // info bits

	rs, ws sema // the runtime's rg and wg

	// mu guards the fields below. Code that changes closing or a deadline
	// publishes info before it unblocks a waiter (see sema).
	mu           sync.Mutex
	open         bool
	closing      bool
	rd, wd       int64  // deadline in nanotime units: 0 none, <0 expired
	rseq, wseq   uint32 // bumped on every deadline change and Evict
	rtseq, wtseq uint32 // the seq each timer was armed with
	rt, wt       *time.Timer
	hangup       bool          // peer hung up; see hangup.go
	done         chan struct{} // made by Done, closed on hangup or Evict
	doneClosed   bool
	rintr, wintr bool // Interrupt pending, per direction
}

func newPollDesc(slot uint32) *PollDesc {
	pd := &PollDesc{slot: slot}
	pd.rs.w.ch = make(chan struct{}, 1)
	pd.ws.w.ch = make(chan struct{}, 1)
	return pd
}

// Open registers the non-blocking file descriptor fd with the poller and
// returns its descriptor. It returns ErrNotPollable for a descriptor epoll
// refuses (a regular file or directory) and for the poller's own
// descriptors, ErrNotSupported where there is no backend, and an
// *os.SyscallError otherwise. Open does not take ownership of fd: the caller
// closes it after Close.
func Open(fd int) (*PollDesc, error) { return open(fd, false) }

// OpenLong is Open for a descriptor whose waits are long and rare, such as
// a listening socket's. Such descriptors share an epoll set of their own:
// a goroutine parked for long in a set polls it, so the other waiters in
// that set are woken through the poller goroutine instead of directly by
// the runtime (see park.go), and a listener should not do that to
// the conns that happen to share its set.
func OpenLong(fd int) (*PollDesc, error) { return open(fd, true) }

func open(fd int, long bool) (*PollDesc, error) {
	p, err := pollerFor(fd, long)
	if err != nil {
		return nil, err
	}
	if isPollDescriptor(fd) {
		return nil, ErrNotPollable
	}
	return openOn(p, fd)
}

func openOn(p *poller, fd int) (*PollDesc, error) {
	pd := slots.alloc()
	pd.mu.Lock()
	pd.fd, pd.p, pd.open = fd, p, true
	pd.publishInfo()
	seq := pd.fdseq.Add(1)
	pd.mu.Unlock()

	if err := p.netpollopen(fd, pd.slot, seq); err != nil {
		pd.mu.Lock()
		pd.open = false
		pd.publishInfo()
		pd.fdseq.Add(1)
		pd.mu.Unlock()
		slots.release(pd)
		return nil, err
	}
	return pd, nil
}

// checkerr is the runtime's netpollcheckerr: what a wait that is about to
// block returns instead.
func (pd *PollDesc) checkerr(mode Mode) int {
	code := pd.prepErr(mode)
	// An error event fails only reads: a write will report the precise error
	// from its own syscall.
	if code == pollNoError && mode == Read && pd.info.Load()&infoEventErr != 0 {
		return pollErrNotPollable
	}
	return code
}

// prepErr is checkerr without the error event, which fails a read only once
// the read itself found nothing (see Prepare).
func (pd *PollDesc) prepErr(mode Mode) int {
	info := pd.info.Load()
	// A PollDesc that Open did not make (a zero value) is as good as
	// closed: it has no fd, no poller and no channels to park on.
	if info&(infoOpen|infoClosing) != infoOpen {
		return pollErrClosing
	}
	if (mode == Read && info&infoReadExpired != 0) || (mode == Write && info&infoWriteExpired != 0) {
		return pollErrTimeout
	}
	return pollNoError
}

// publishInfo stores the lock-protected state into info, keeping eventErr.
// Call with pd.mu held.
func (pd *PollDesc) publishInfo() {
	var bits uint32
	if pd.open {
		bits |= infoOpen
	}
	if pd.closing {
		bits |= infoClosing
	}
	if pd.rd < 0 {
		bits |= infoReadExpired
	}
	if pd.wd < 0 {
		bits |= infoWriteExpired
	}
	if pd.hangup {
		bits |= infoHangup
	}
	if pd.rintr {
		bits |= infoReadInterrupt
	}
	if pd.wintr {
		bits |= infoWriteInterrupt
	}
	for {
		old := pd.info.Load()
		if pd.info.CompareAndSwap(old, old&infoEventErr|bits) {
			return
		}
	}
}

// setEventErr records whether the last event for the fd tagged seq was an
// error alone. It changes nothing once the descriptor moved on to a new fd.
func (pd *PollDesc) setEventErr(on bool, seq uint32) {
	for {
		old := pd.info.Load()
		if (old&infoEventErr != 0) == on || pd.fdseq.Load() != seq {
			return
		}
		if pd.info.CompareAndSwap(old, old^infoEventErr) {
			return
		}
	}
}

func (pd *PollDesc) sema(mode Mode) *sema {
	if mode == Read {
		return &pd.rs
	}
	return &pd.ws
}

// Prepare readies pd for an I/O attempt in mode: it returns ErrClosing or
// ErrTimeout if a wait would, or clears the direction's pending
// notification. Call it before the syscall whose EAGAIN leads to Wait; it
// is the runtime's pollReset, except that an error event (ErrNotPollable)
// is left to the wait. A socket that was reset reports EPOLLERR alone for
// a moment (the kernel sets the error before it marks the socket closed),
// and the events after it are drained only when someone next polls the
// set: the read, not the event, must tell ECONNRESET or EOF then.
//
// It returns ErrBadMode for a mode other than Read, Write and ReadWrite,
// and ErrBusy, clearing nothing in that direction, while another goroutine
// waits in it.
func (pd *PollDesc) Prepare(mode Mode) error {
	if pd == nil {
		return ErrClosing
	}
	if mode != Read && mode != Write && mode != ReadWrite {
		return ErrBadMode
	}
	if code := pd.prepErr(mode); code != pollNoError {
		return errorOf(code)
	}
	if mode != Write && !pd.rs.reset() {
		return ErrBusy
	}
	if mode != Read && !pd.ws.reset() {
		return ErrBusy
	}
	return nil
}

// Wait parks the calling goroutine until the fd is ready in mode (Read or
// Write), the direction's deadline passes (ErrTimeout), or pd is evicted
// (ErrClosing). A readiness notification that arrived since the last
// Prepare returns at once. It allocates nothing. It returns ErrBadMode for
// any other mode, and ErrBusy if another goroutine waits in mode.
func (pd *PollDesc) Wait(mode Mode) error { return pd.do(mode, nil) }

// An Attempt is one try of a non-blocking I/O operation, for Do.
type Attempt interface {
	// Try performs the operation once and reports whether it finished
	// (with a result or an error it keeps); false means it would block
	// (EAGAIN) and must wait for readiness.
	Try() bool
}

// Do performs a, waiting in mode while it would block: it is the loop
// "try; on EAGAIN Wait; try again", except that a goroutine that will poll
// its set itself tries inside the wait, after it has asked the runtime to
// watch the set, and so needs no epoll_wait of its own to learn that its
// fd is ready (park.go). Call Prepare first, as for Wait.
// It returns nil once a finished, or Wait's error. Passing a pointer that
// is reused (a field of the caller's fd) allocates nothing.
func (pd *PollDesc) Do(mode Mode, a Attempt) error { return pd.do(mode, a) }

func (pd *PollDesc) do(mode Mode, a Attempt) error {
	if pd == nil {
		return ErrClosing
	}
	if mode != Read && mode != Write {
		return ErrBadMode
	}
	s := pd.sema(mode)
	if s.waiting() {
		// Fail before a tries or s.waited is read: block would find
		// the waiter too, but only after both.
		return ErrBusy
	}
	waited, ready := false, false
	for {
		// Try first, as Wait's callers do, when the last Do found its
		// data at once (it likely is there again: a stream, a fresh
		// connection's request), when this wait would follow a leader
		// that drains, since it then delivers the readiness that comes
		// after, and after a wakeup.
		// Try before failing on an error event too: only a read that
		// finds nothing makes it this read's error (see Prepare).
		tried := false
		if a != nil && (ready || !s.waited && !waited || pd.p.delivers() ||
			mode == Read && pd.info.Load()&infoEventErr != 0) {
			// Not woken by readiness: a passed deadline or Evict ends
			// the Do with no retry, as the runtime's pollWait returns
			// without one.
			if !ready {
				if code := pd.prepErr(mode); code != pollNoError {
					return errorOf(code)
				}
			}
			if a.Try() {
				s.waited = waited
				return nil
			}
			tried = true
		}
		if code := pd.checkerr(mode); code != pollNoError {
			return errorOf(code)
		}
		waited = true
		var done bool
		var err error
		if ready, done, err = pd.block(mode, false, a, tried); err != nil {
			return err
		}
		if done {
			s.waited = s.w.slept
			return nil
		}
		if ready && a == nil {
			return nil
		}
		// Ready: try again (next round). Not ready: an expired deadline
		// was moved or cleared before we looked; wait again.
	}
}

// WaitOnce is Wait that also returns nil, without readiness, when Interrupt
// is called for mode before or during the wait, and after any wakeup; the
// caller rechecks what it waits for. It clears the pending Interrupt. It
// returns Wait's errors.
func (pd *PollDesc) WaitOnce(mode Mode) error {
	if pd == nil {
		return ErrClosing
	}
	if mode != Read && mode != Write {
		return ErrBadMode
	}
	if code := pd.checkerr(mode); code != pollNoError {
		return errorOf(code)
	}
	ready, _, err := pd.block(mode, true, nil, false)
	if err != nil {
		return err
	}
	if !ready {
		if code := pd.checkerr(mode); code != pollNoError {
			return errorOf(code)
		}
	}
	pd.setInterrupt(mode, false)
	return nil
}

// Interrupt makes the current or next WaitOnce in mode (Read or Write)
// return, as a context's cancellation needs. It does not affect Wait. It
// returns ErrBadMode for another mode and ErrClosing, doing nothing, once
// pd is evicted.
func (pd *PollDesc) Interrupt(mode Mode) error {
	return pd.setInterrupt(mode, true)
}

// ClearInterrupt withdraws an Interrupt that no WaitOnce consumed. It
// returns Interrupt's errors.
func (pd *PollDesc) ClearInterrupt(mode Mode) error {
	return pd.setInterrupt(mode, false)
}

func (pd *PollDesc) setInterrupt(mode Mode, on bool) error {
	if pd == nil {
		return ErrClosing
	}
	if mode != Read && mode != Write {
		return ErrBadMode
	}
	pd.mu.Lock()
	if !pd.open || pd.closing {
		pd.mu.Unlock()
		return ErrClosing
	}
	var w *waiter
	if mode == Read {
		pd.rintr = on
	} else {
		pd.wintr = on
	}
	pd.publishInfo()
	if on {
		w = pd.sema(mode).unblock(false)
	}
	p := pd.p
	pd.mu.Unlock()
	countWake(&rtStats.wakeInterrupt, w, nil)
	p.wake(w)
	return nil
}

// countWake counts the waiters among ws (nil ones are not waiters) in c.
func countWake(c *atomic.Uint64, ws ...*waiter) {
	for _, w := range ws {
		if w != nil {
			c.Add(1)
		}
	}
}

// interrupted reports whether an Interrupt is pending for mode.
func (pd *PollDesc) interrupted(mode Mode) bool {
	bit := infoReadInterrupt
	if mode == Write {
		bit = infoWriteInterrupt
	}
	return pd.info.Load()&bit != 0
}

// block is the runtime's netpollblock: it reports whether I/O is ready, or
// false after a timeout, close or (if interruptible) Interrupt; see the
// table at sema.
//
// With a non-nil Attempt a (Do), the parked goroutine tries a before it
// blocks (unless tried, and it follows) and, leading, after each wakeup of
// its set; done reports that a finished, the semaphore then left as the
// withdrawal found it. It returns ErrBusy, changing nothing, if another
// goroutine waits in mode.
func (pd *PollDesc) block(mode Mode, interruptible bool, a Attempt, tried bool) (ready, done bool, err error) {
	s := pd.sema(mode)
	switch s.begin() {
	case beginReady:
		return true, false, nil
	case beginBusy:
		return false, false, ErrBusy
	}
	hook(hookBlockBegun)
	if pd.checkerr(mode) == pollNoError && !(interruptible && pd.interrupted(mode)) && s.commit() {
		rtStats.waits.Add(1)
		if pd.p.park(s, a, tried) {
			return false, true, nil
		}
		s.w.woke()
	}
	return s.finish(), false, nil
}

// Evict marks pd closing and wakes every waiter with ErrClosing; every later
// Prepare and Wait fails with ErrClosing. It is safe to call more than once
// and from any goroutine (it is the runtime's pollUnblock).
func (pd *PollDesc) Evict() {
	if pd == nil {
		return
	}
	pd.mu.Lock()
	if !pd.open || pd.closing {
		pd.mu.Unlock()
		return
	}
	pd.closing = true
	pd.rseq++
	pd.wseq++
	pd.publishInfo()
	pd.closeDone()
	rw := pd.rs.unblock(false)
	ww := pd.ws.unblock(false)
	pd.stopTimers()
	p := pd.p
	pd.mu.Unlock()
	countWake(&rtStats.wakeClose, rw, ww)
	p.wake(rw)
	p.wake(ww)
}

// Close evicts pd if that was not done and deregisters the fd from the
// poller; pd stays closed, every later call failing with ErrClosing. Close
// does not close the fd itself: do that after Close, once every Wait, Do
// and WaitOnce on pd has returned, because a Do's Attempt may run until
// then.
//
// If a goroutine waits in pd, Close wakes it with ErrClosing but returns
// ErrBusy and leaves the fd registered: call Close again once the waits
// returned. A second Close returns ErrClosing.
func (pd *PollDesc) Close() error {
	if pd == nil {
		return ErrClosing
	}
	busy := pd.rs.waiting() || pd.ws.waiting() // before Evict swaps them out
	pd.Evict()
	pd.mu.Lock()
	if !pd.open {
		pd.mu.Unlock()
		return ErrClosing
	}
	if busy || pd.rs.waiting() || pd.ws.waiting() {
		pd.mu.Unlock()
		return ErrBusy
	}
	pd.open = false
	pd.fdseq.Add(1) // from here on, events still in flight for fd are stale
	pd.mu.Unlock()
	// ENOENT or EBADF mean the fd left the epoll set already; nothing to do.
	_ = pd.p.netpollclose(pd.fd)
	slots.release(pd)
	return nil
}
