package pollrt

import "sync/atomic"

// The semaphore of one direction of a PollDesc: the runtime's rg or wg
// (runtime/netpoll.go), and the waiter it parks. Which goroutine polls the
// set while the waiter is parked, and how it is woken, is park.go's.

// waiter is a goroutine parked on a semaphore. It blocks receiving from ch
// and is woken by exactly one send, made by whoever swapped it out of the
// semaphore; ch has room for one value, so the waker never blocks. Each
// direction embeds its only waiter (the caller serialises waits per
// direction), so parking and waking allocate nothing.
type waiter struct {
	ch      chan struct{}
	readyAt atomic.Int64 // nanotime of the wake, for Stats.WakeLatency
	mode    atomic.Int32 // how it parked (park.go)
	p       *poller      // the set it parks in (park.go)
	a       Attempt      // the parked Do's attempt, nil for Wait
	done    bool         // a finished while w led its set
	tried   bool         // a was tried in this lead
	slept   bool         // a finished only after a wait (the next Do's hint)
}

// Sentinel states of a semaphore. pdNil is the nil pointer.
var (
	pdReady = &waiter{}
	pdWait  = &waiter{}
)

// sema is one direction's binary semaphore (the runtime's rg or wg). Its state
// is one of
//
//	nil (pdNil)  nothing pending
//	pdReady      an I/O readiness notification is pending
//	pdWait       a goroutine is about to park (it has not committed yet)
//	&s.w         a goroutine is parked on s.w.ch
//
// Every transition is a compare-and-swap:
//
//	state   | block (begin)       | block (commit) | unblock, I/O ready     | unblock, timeout/close
//	--------+---------------------+----------------+------------------------+------------------------
//	pdNil   | -> pdWait           |                | -> pdReady             | pdNil (no change)
//	pdReady | -> pdNil, ready     |                | pdReady (no change)    | pdReady (no change)
//	pdWait  | no change, ErrBusy  | -> &s.w, park  | -> pdReady, no signal  | -> pdNil, no signal
//	&s.w    | no change, ErrBusy  |                | -> pdReady, signal s.w | -> pdNil, signal s.w
//
//	reset (Prepare): pdReady -> pdNil; pdWait and &s.w: no change, ErrBusy.
//	withdraw (a parked Do's attempt finished): &s.w -> pdNil.
//
// Between begin and commit the waiter rechecks the error state (closing,
// deadline), because Evict and SetDeadline publish that state first and only
// then unblock; the commit CAS fails if an unblock got in between, and the
// waiter then does not park. After waking, or after a failed commit, the
// waiter swaps the state to pdNil and reports readiness iff it found pdReady,
// so no readiness notification is lost. The unblocker that swaps &s.w out
// is the only one that signals it, exactly once (poller.wake).
type sema struct {
	state atomic.Pointer[waiter]
	w     waiter
	// waited: the last Do in this direction had to wait, so the next one
	// tries inside its wait first (see do). Only the waiting goroutine
	// uses it, and the caller serialises waits per direction.
	waited bool
}

// unblock moves the semaphore to pdReady (ioready) or pdNil and returns the
// parked waiter the caller must wake, if there is one.
func (s *sema) unblock(ioready bool) *waiter {
	for {
		old := s.state.Load()
		if old == pdReady || (old == nil && !ioready) {
			return nil
		}
		var next *waiter
		if ioready {
			next = pdReady
		}
		if s.state.CompareAndSwap(old, next) {
			if old == pdWait {
				return nil // not parked yet: its commit CAS will fail
			}
			return old
		}
	}
}

// withdraw takes s's waiter, whose attempt finished while it was parked,
// back out of s. It fails if an unblock swapped the waiter out first; that
// waker's send is then on its way and the waiter must receive it.
func (s *sema) withdraw() bool { return s.state.CompareAndSwap(&s.w, nil) }

// takeBack takes s's waiter, whose attempt finished while it was parked,
// out of s; if a waker swapped it out first, it receives that waker's
// send, which is on its way.
func (s *sema) takeBack() {
	if !s.withdraw() {
		<-s.w.ch
	}
}

// What begin did.
const (
	beginReady = iota // consumed a pending notification
	beginWait         // announced a waiter
	beginBusy         // nothing: another goroutine waits
)

// begin consumes a pending notification (pdReady -> pdNil) or announces a
// waiter (pdNil -> pdWait); it changes nothing while another goroutine
// waits, a caller's misuse.
func (s *sema) begin() int {
	for {
		if s.state.CompareAndSwap(pdReady, nil) {
			return beginReady
		}
		if s.state.CompareAndSwap(nil, pdWait) {
			return beginWait
		}
		if v := s.state.Load(); v != pdReady && v != nil {
			return beginBusy
		}
	}
}

// reset is Prepare's transition: a pending notification is dropped
// (pdReady -> pdNil). It fails, changing nothing, while a goroutine waits:
// storing pdNil over its pdWait or &s.w would lose its wakeup.
func (s *sema) reset() bool {
	for {
		switch s.state.Load() {
		case nil:
			return true
		case pdReady:
			if s.state.CompareAndSwap(pdReady, nil) {
				return true
			}
		default:
			return false
		}
	}
}

// waiting reports whether a goroutine is between begin and finish.
func (s *sema) waiting() bool {
	w := s.state.Load()
	return w == pdWait || w == &s.w
}

// commit parks the announced waiter (pdWait -> &s.w); it fails if an
// unblock came first.
func (s *sema) commit() bool { return s.state.CompareAndSwap(pdWait, &s.w) }

// finish ends a wait, reporting whether a notification arrived meanwhile.
func (s *sema) finish() bool { return s.state.Swap(nil) == pdReady }
