package pollrt

import (
	"fmt"
	"math/rand"
	"testing"
	"time"
)

// The semaphore model test drives one direction of a real PollDesc through
// a sequence of operations, interleaving the waiter's steps (begin, commit,
// park, finish) with readiness, deadline and close operations at every
// point, and checks each step against a reference model: the transition
// table of sema written as a plain switch over an enum, with no atomics.

type mstate int

const (
	mNil mstate = iota
	mReady
	mWait
	mParked
)

func (m mstate) String() string { return [...]string{"pdNil", "pdReady", "pdWait", "waiter"}[m] }

// waiter phases of one Wait call (the loop in PollDesc.Wait).
type phase int

const (
	idle      phase = iota // no wait in progress
	announced              // begin moved pdNil -> pdWait
	failed                 // commit did not park; finish next
	parked                 // committed, blocked on the channel
	woken                  // signalled; receive and finish next
)

// semModel is the reference model.
type semModel struct {
	state   mstate
	phase   phase
	expired bool
	closed  bool
	signals int // sends on the waiter's channel not yet received
}

func (m *semModel) errCode() int {
	switch {
	case m.closed:
		return pollErrClosing
	case m.expired:
		return pollErrTimeout
	}
	return pollNoError
}

// ready is an I/O readiness event.
func (m *semModel) ready() {
	switch m.state {
	case mNil, mWait:
		m.state = mReady
	case mParked:
		m.state, m.phase = mReady, woken
		m.signals++
	}
}

// unblock is a timeout or close.
func (m *semModel) unblock() {
	switch m.state {
	case mWait:
		m.state = mNil
	case mParked:
		m.state, m.phase = mNil, woken
		m.signals++
	}
}

// semHarness runs the real code next to the model.
type semHarness struct {
	t  testing.TB
	pd *PollDesc
	s  *sema
	m  semModel

	waits, readies, timeouts, closings int // outcomes of completed Waits
}

func newSemHarness(t testing.TB) *semHarness {
	pd := openedForTest()
	return &semHarness{t: t, pd: pd, s: &pd.rs}
}

func (h *semHarness) real() mstate {
	switch h.s.state.Load() {
	case nil:
		return mNil
	case pdReady:
		return mReady
	case pdWait:
		return mWait
	case &h.s.w:
		return mParked
	}
	h.t.Fatalf("semaphore holds an unknown waiter")
	return 0
}

// endWait applies Wait's loop: a wait that saw readiness returns nil, one
// that did not returns the error state, or waits again if there is none.
func (h *semHarness) endWait(ready bool) {
	if ready {
		h.m.phase = idle
		h.waits++
		h.readies++
		return
	}
	switch h.m.errCode() {
	case pollErrClosing:
		h.m.phase = idle
		h.waits++
		h.closings++
	case pollErrTimeout:
		h.m.phase = idle
		h.waits++
		h.timeouts++
	default:
		h.m.phase = idle // spurious wakeup: Wait loops; the next step begins again
	}
}

// step advances the waiter by one step, as the goroutine in Wait would.
func (h *semHarness) step() string {
	switch h.m.phase {
	case idle:
		if h.m.errCode() != pollNoError {
			h.endWait(false) // Wait checks errors before blocking
			return "wait: error before blocking"
		}
		got := h.s.begin() == beginReady
		want := h.m.state == mReady
		if got != want {
			h.t.Fatalf("begin reported ready=%v, model %v", got, want)
		}
		if want {
			h.m.state = mNil
			h.endWait(true)
			return "begin: consumed pdReady"
		}
		h.m.state, h.m.phase = mWait, announced
		return "begin: announced"
	case announced:
		ok := h.pd.checkerr(Read) == pollNoError && h.s.commit()
		want := h.m.errCode() == pollNoError && h.m.state == mWait
		if ok != want {
			h.t.Fatalf("commit parked=%v, model %v", ok, want)
		}
		if ok {
			h.m.state, h.m.phase = mParked, parked
			return "commit: parked"
		}
		h.m.phase = failed
		return "commit: did not park"
	case failed, woken:
		if h.m.phase == woken {
			select {
			case <-h.s.w.ch:
			default:
				h.t.Fatalf("woken waiter has no signal")
			}
			h.m.signals--
		}
		got := h.s.finish()
		want := h.m.state == mReady
		if got != want {
			h.t.Fatalf("finish reported ready=%v, model %v", got, want)
		}
		h.m.state = mNil
		h.endWait(got)
		return "finish"
	}
	return "waiter parked: nothing to do"
}

func (h *semHarness) apply(op byte) string {
	pd := h.pd
	switch op % 7 {
	case 0, 1:
		return h.step()
	case 2:
		pd.slotReady()
		h.m.ready()
		return "ready"
	case 3:
		pd.SetDeadline(time.Now().Add(-time.Second), Read)
		if !h.m.closed {
			h.m.expired = true
			h.m.unblock()
		}
		return "deadline in the past"
	case 4:
		pd.SetDeadline(time.Time{}, Read)
		if !h.m.closed {
			h.m.expired = false
		}
		return "deadline cleared"
	case 5:
		pd.SetDeadline(time.Now().Add(time.Hour), Read)
		if !h.m.closed {
			h.m.expired = false
		}
		return "deadline in the future"
	default:
		if op%2 == 0 && h.m.phase == idle {
			err := pd.Prepare(Read)
			if want := errorOf(h.m.errCode()); err != want {
				h.t.Fatalf("Prepare = %v, model %v", err, want)
			}
			if err == nil {
				h.m.state = mNil
			}
			return "prepare"
		}
		pd.Evict()
		if !h.m.closed {
			h.m.closed = true
			h.m.unblock()
		}
		return "evict"
	}
}

func (h *semHarness) check(trace []string) {
	if got := h.real(); got != h.m.state {
		h.t.Fatalf("state %v, model %v after\n%v", got, h.m.state, trace)
	}
	if got := len(h.s.w.ch); got != h.m.signals || got > 1 {
		h.t.Fatalf("%d signals pending, model %d after\n%v", got, h.m.signals, trace)
	}
	if got := h.pd.checkerr(Read); got != h.m.errCode() {
		h.t.Fatalf("checkerr %d, model %d after\n%v", got, h.m.errCode(), trace)
	}
}

// run applies ops, then lets the waiter finish: a parked waiter must have
// been, or must now be, woken by a close.
func (h *semHarness) run(ops []byte) {
	var trace []string
	for _, op := range ops {
		trace = append(trace, h.apply(op))
		h.check(trace)
	}
	h.apply(6) // evict (or prepare, then evict below)
	h.pd.Evict()
	h.m.closed = true
	h.m.unblock()
	for i := 0; h.m.phase != idle; i++ {
		if i > 10 {
			h.t.Fatalf("waiter did not finish after close: phase %d\n%v", h.m.phase, trace)
		}
		trace = append(trace, h.step())
		h.check(trace)
	}
	h.pd.stopTimers()
}

func TestSemaphoreModel(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	var waits, readies, timeouts, closings int
	for i := 0; i < 3000; i++ {
		ops := make([]byte, 1+rng.Intn(40))
		rng.Read(ops)
		h := newSemHarness(t)
		h.run(ops)
		waits += h.waits
		readies += h.readies
		timeouts += h.timeouts
		closings += h.closings
	}
	// The random sequences must reach every outcome, or the model test
	// proves little.
	for name, n := range map[string]int{"ready": readies, "timeout": timeouts, "closing": closings} {
		if n == 0 {
			t.Errorf("no wait ended with %s in %d waits", name, waits)
		}
	}
	t.Log(fmt.Sprintf("waits %d: ready %d, timeout %d, closing %d", waits, readies, timeouts, closings))
}

// FuzzSemaphore explores operation sequences beyond the random ones.
func FuzzSemaphore(f *testing.F) {
	for _, seed := range [][]byte{
		{0, 0, 2, 0},          // announce, commit, ready, finish
		{0, 2, 0, 0},          // ready between announce and commit
		{0, 3, 0, 0},          // deadline passes between announce and commit
		{0, 0, 3, 4, 0, 0, 0}, // parked, timeout, cleared before the waiter looks
		{0, 0, 6},             // parked, evicted
		{2, 2, 13, 0, 0},      // ready twice, prepare, block
		{5, 0, 0, 3, 0, 5},    // future deadline, parked, expired, moved
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) > 256 {
			ops = ops[:256]
		}
		newSemHarness(t).run(ops)
	})
}

// openedForTest returns a descriptor that is open on no poller: its
// waits park on their channels alone (see park).
func openedForTest() *PollDesc {
	pd := newPollDesc(0)
	pd.mu.Lock()
	pd.open = true
	pd.publishInfo()
	pd.mu.Unlock()
	return pd
}

// slotReady delivers a read-readiness event straight to pd, as the poller
// does for an event whose tag is current.
func (pd *PollDesc) slotReady() { pd.p.wake(pd.rs.unblock(true)) }
