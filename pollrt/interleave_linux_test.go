//go:build linux

package pollrt

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The interleaving test runs the real wake protocol (park, lead, wake,
// drain, hand-off, Evict, deadline expiry) with its goroutines stopped at
// every hookPoint, and lets them past one at a time in an order chosen by
// a seeded random generator. Readiness (a byte written to a socket pair's
// peer), an expired deadline, Evict, Interrupt (of a WaitOnce) and the
// arrival of each waiter are steps of that order too; the set's poller
// goroutine is one of the goroutines stopped. Each run checks that every waiter returns with
// a result one of its delivered causes explains, that nothing is left
// parked (a watchdog fails the run, printing the order and every
// goroutine's stack), and that the set ends unled with no follower.
//
// A failing run prints its seed; POLLRT_INTERLEAVE_SEED=<seed> with -run
// naming its scenario replays it alone. The order of the steps the
// scheduler chooses is the seed's; only the moments at which a goroutine
// parked in the runtime (on the epoll fd, a channel or a mutex) comes back
// depend on the kernel and the runtime, and the scheduler takes each as it
// comes, so a replay follows the same choices as far as those arrivals
// allow.

// ilPointNames name the hook points in traces.
var ilPointNames = [numHookPoints]string{
	hookBlockBegun:    "blockBegun",
	hookParkEnter:     "parkEnter",
	hookParkChosen:    "parkChosen",
	hookParkRole:      "parkRole",
	hookFollowerTried: "followerTried",
	hookFollowerRecv:  "followerRecv",
	hookFollowerWoken: "followerWoken",
	hookLeadWait:      "leadWait",
	hookLeadPollEnter: "leadPollEnter",
	hookLeadTryRecv:   "leadTryRecv",
	hookLeadDrained:   "leadDrained",
	hookLeadPollBlock: "leadPollBlock",
	hookLeadDone:      "leadDone",
	hookTakeBack:      "takeBack",
	hookUnlead:        "unlead",
	hookWakeEnter:     "wakeEnter",
	hookWakeSent:      "wakeSent",
	hookDrainEnter:    "drainEnter",
	hookRunPollEnter:  "runPollEnter",
	hookRunPollExit:   "runPollExit",
}

// Where a goroutine let past a point may block before it reaches the
// next, the scheduler must not wait for it. It decides from the state of
// the set, with every actor stopped, free (see below) or done:
//
//	parkEnter, unlead    p.mu, if another actor holds it or waits for it
//	                     (only parkChosen stops inside p.mu)
//	drainEnter           p.drainMu, likewise (wakeEnter and wakeSent stop
//	                     inside it while a drain delivers)
//	followerRecv         w.ch, if nothing was sent on it
//	followerTried,       w.ch, if a waker swapped the waiter out of its
//	takeBack             semaphore and has not sent yet
//	leadPollBlock,       the runtime's poller (and p.mu and kick for the
//	runPollExit          poller goroutine): always
//
// An actor that may block is left free: it comes back on its own. While
// a free actor is certain to come back soon (its receive has a value, or
// the mutex it waits for was released) the scheduler waits for it too, so
// that the order is the seed's; only a goroutine parked in the runtime's
// poller comes back when the kernel and the runtime say.

// ilWatchdog bounds every wait of the scheduler: a goroutine that should
// come back and does not within it is parked for good.
const ilWatchdog = 10 * time.Second

// Actor states.
const (
	ilRunning = iota // let go, expected at its next point soon
	ilStopped        // at a point, waiting to be let past it
	ilFree           // let past a point after which it may block
	ilDone
)

var ilStateNames = [...]string{"running", "stopped", "free", "done"}

// ilActor is a goroutine the scheduler controls.
type ilActor struct {
	name  string
	gid   uint64
	grant chan struct{}
	state int
	at    hookPoint // where it stopped last, if ever
	ever  bool      // it stopped at some point
	s     *sema     // a waiter's semaphore, nil for other actors

	// Blocking that the scheduler follows (see letPast and comesBack):
	inMu      bool // let past parkEnter, not yet past parkChosen
	inDrain   bool // let past drainEnter, not yet back from the drain
	waitMu    bool // free, perhaps blocked on p.mu
	waitDrain bool // free, perhaps blocked on p.drainMu
	waitCh    bool // free, perhaps blocked on s.w.ch
}

// ilSched stops registered goroutines at hook points and lets them past
// one at a time.
type ilSched struct {
	mu       sync.Mutex
	byGID    map[uint64]*ilActor
	actors   []*ilActor
	released bool          // after a failure: nobody is stopped any more
	ev       chan struct{} // a change of some actor's state
	trace    []string
	seen     *ilSeen
}

// ilSeen is what the runs exercised.
type ilSeen struct {
	points   [numHookPoints]int // how often each point was let past
	handoffs uint64             // leaders that left followers to the poller goroutine
}

func newILSched() *ilSched {
	return &ilSched{byGID: map[uint64]*ilActor{}, ev: make(chan struct{}, 1)}
}

func (s *ilSched) signal() {
	select {
	case s.ev <- struct{}{}:
	default:
	}
}

// goid is the calling goroutine's id, from its stack header.
func goid() uint64 {
	var buf [64]byte
	n := runtime.Stack(buf[:], false)
	b := buf[len("goroutine "):n]
	var id uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			break
		}
		id = id*10 + uint64(c-'0')
	}
	return id
}

// hook is the interleaveHook: a registered goroutine stops until let past.
// Others (other tests' pollers) pass.
func (s *ilSched) hook(pt hookPoint) {
	id := goid()
	s.mu.Lock()
	a := s.byGID[id]
	if a == nil || s.released {
		s.mu.Unlock()
		return
	}
	a.state, a.at, a.ever = ilStopped, pt, true
	a.waitMu, a.waitDrain, a.waitCh = false, false, false
	if pt == hookLeadDrained || pt == hookRunPollExit {
		a.inDrain = false
	}
	s.mu.Unlock()
	s.signal()
	<-a.grant
}

// spawn runs f as a new actor, running until its first point; sm is the
// semaphore it waits on, if it is a waiter.
func (s *ilSched) spawn(name string, sm *sema, free bool, f func()) *ilActor {
	a := &ilActor{name: name, grant: make(chan struct{}, 1), state: ilRunning, s: sm}
	if free {
		a.state = ilFree
	}
	s.mu.Lock()
	s.actors = append(s.actors, a)
	s.mu.Unlock()
	registered := make(chan struct{})
	go func() {
		id := goid()
		s.mu.Lock()
		a.gid = id
		s.byGID[id] = a
		s.mu.Unlock()
		close(registered)
		f()
		s.mu.Lock()
		a.state = ilDone
		delete(s.byGID, id)
		s.mu.Unlock()
		s.signal()
	}()
	<-registered
	return a
}

// await waits for a change of state, reporting false after the watchdog.
func (s *ilSched) await(timer *time.Timer) bool {
	select {
	case <-s.ev:
		return true
	case <-timer.C:
		return false
	}
}

// settle returns the actors at a point, in the order they were spawned,
// once no actor is running or certain to come back; false if one still
// runs at the watchdog.
func (s *ilSched) settle(timer *time.Timer) ([]*ilActor, bool) {
	for {
		s.mu.Lock()
		running := false
		var stopped []*ilActor
		for _, a := range s.actors {
			switch a.state {
			case ilRunning:
				running = true
			case ilStopped:
				stopped = append(stopped, a)
			case ilFree:
				running = running || s.comesBack(a)
			}
		}
		s.mu.Unlock()
		if !running {
			return stopped, true
		}
		if !s.await(timer) {
			return nil, false
		}
	}
}

// muBusy reports whether an actor other than a holds p.mu or waits for
// it; drainBusy likewise for p.drainMu. Call with s.mu held.
func (s *ilSched) muBusy(a *ilActor) bool {
	for _, b := range s.actors {
		if b != a && b.state != ilDone && b.inMu {
			return true
		}
	}
	return false
}

func (s *ilSched) drainBusy(a *ilActor) bool {
	for _, b := range s.actors {
		if b != a && b.state != ilDone && b.inDrain {
			return true
		}
	}
	return false
}

// swappedUnsent reports whether a waker swapped a's waiter out of its
// semaphore and has not sent on its channel yet.
func swappedUnsent(a *ilActor) bool {
	return a.s.state.Load() != &a.s.w && len(a.s.w.ch) == 0
}

// comesBack reports whether the free actor a is certain to reach a point
// (or finish) soon: what it may be blocked on was released. Call with
// s.mu held, no actor running.
func (s *ilSched) comesBack(a *ilActor) bool {
	switch {
	case a.waitCh:
		// Every waker sends right after it swaps the mode.
		return a.s.w.mode.Load() == parkWoken || len(a.s.w.ch) > 0
	case a.waitMu:
		for _, b := range s.actors {
			if b != a && b.state == ilStopped && b.at == hookParkChosen {
				return false
			}
		}
		return true
	case a.waitDrain:
		for _, b := range s.actors {
			if b != a && b.state == ilStopped && b.inDrain {
				return false
			}
		}
		return true
	}
	return false
}

// letPast lets a past its point.
func (s *ilSched) letPast(a *ilActor) {
	s.mu.Lock()
	s.trace = append(s.trace, a.name+"@"+ilPointNames[a.at])
	s.seen.points[a.at]++
	free := false
	switch a.at {
	case hookParkEnter, hookUnlead:
		a.waitMu = s.muBusy(a)
		a.inMu = a.at == hookParkEnter
		free = a.waitMu
	case hookParkChosen:
		a.inMu = false // it unlocks without stopping
	case hookDrainEnter:
		a.waitDrain = s.drainBusy(a)
		a.inDrain = true
		free = a.waitDrain
	case hookFollowerRecv:
		a.waitCh = len(a.s.w.ch) == 0
		free = a.waitCh
	case hookFollowerTried, hookTakeBack:
		a.waitCh = swappedUnsent(a)
		free = a.waitCh
	case hookLeadPollBlock, hookRunPollExit:
		free = true
	}
	if free {
		a.state = ilFree
	} else {
		a.state = ilRunning
	}
	s.mu.Unlock()
	a.grant <- struct{}{}
}

// release lets every actor run free from now on, after a failure, so
// that nothing stays stopped.
func (s *ilSched) release() {
	s.mu.Lock()
	s.released = true
	for _, a := range s.actors {
		if a.state == ilStopped {
			a.state = ilFree
			a.grant <- struct{}{}
		}
	}
	s.mu.Unlock()
}

// report describes the run for a failure: its order and every actor's
// state, then every goroutine's stack.
func (s *ilSched) report() string {
	s.mu.Lock()
	var b strings.Builder
	fmt.Fprintf(&b, "order (%d steps): %s\nactors:", len(s.trace), strings.Join(s.trace, " "))
	for _, a := range s.actors {
		fmt.Fprintf(&b, " %s=%s", a.name, ilStateNames[a.state])
		if a.ever && a.state != ilDone {
			fmt.Fprintf(&b, "(after %s)", ilPointNames[a.at])
		}
	}
	s.mu.Unlock()
	buf := make([]byte, 1<<20)
	fmt.Fprintf(&b, "\ngoroutines:\n%s", buf[:runtime.Stack(buf, true)])
	return b.String()
}

// Causes that end a waiter's wait.
const (
	ilData      = 1 << iota // a byte written to the peer: the read returns it
	ilDeadline              // the read deadline set in the past: ErrTimeout
	ilEvict                 // Evict: ErrClosing
	ilInterrupt             // Interrupt: a WaitOnce returns (errILInterrupted)
)

// errILInterrupted is a WaitOnce waiter's result when Interrupt, not
// data, ended its wait.
var errILInterrupted = errors.New("interrupted")

// ilStyle is how a waiter waits: Wait after its own EAGAIN, or Do, which
// tries inside the wait (waited set, as after a Do that had to wait) or
// first (a Do whose last Do found its data), chosen at random; or
// WaitOnce, for a waiter that Interrupt may end.
type ilStyle int

const (
	ilWait ilStyle = iota
	ilDo
	ilDoFirst
	numILStyles // the styles chosen at random
	ilWaitOnce  = numILStyles
)

var ilStyleNames = [...]string{"Wait", "Do", "DoFirst", "WaitOnce"}

// ilScenario is a set of waiters in one set, each with its causes.
type ilScenario struct {
	name   string
	causes []int // per waiter
}

var ilScenarios = []ilScenario{
	{"one-data", []int{ilData}},
	{"one-deadline", []int{ilDeadline}},
	{"one-evict", []int{ilEvict}},
	{"one-data&deadline", []int{ilData | ilDeadline}},
	{"two-data,data", []int{ilData, ilData}},
	{"two-data,deadline", []int{ilData, ilDeadline}},
	{"two-evict,data", []int{ilEvict, ilData}},
	{"two-deadline,evict", []int{ilDeadline, ilEvict}},
	{"two-data&deadline,data&evict", []int{ilData | ilDeadline, ilData | ilEvict}},
	{"three-data,data,data", []int{ilData, ilData, ilData}},
	{"three-data,deadline,evict", []int{ilData, ilDeadline, ilEvict}},
	{"one-interrupt", []int{ilInterrupt}},
	{"two-interrupt,data", []int{ilInterrupt, ilData}},
	{"two-data&interrupt,evict", []int{ilData | ilInterrupt, ilEvict}},
	{"three-interrupt,data,deadline", []int{ilInterrupt, ilData, ilDeadline}},
}

// ilEnd is one waiter's socket pair and descriptor.
type ilEnd struct {
	pd          *PollDesc
	a, b        int
	interrupted *atomic.Bool // set before Interrupt is called
}

func ilPair(t *testing.T, p *poller) ilEnd {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.SetNonblock(fds[0], true); err != nil {
		t.Fatal(err)
	}
	pd, err := openOn(p, fds[0])
	if err != nil {
		t.Fatal(err)
	}
	return ilEnd{pd, fds[0], fds[1], new(atomic.Bool)}
}

func (e ilEnd) close() {
	e.pd.Close()
	unix.Close(e.a)
	unix.Close(e.b)
}

// ilWaiterRun is one waiter's read of one byte, in style.
func ilWaiterRun(e ilEnd, style ilStyle) error {
	if style == ilWait || style == ilWaitOnce {
		if err := e.pd.Prepare(Read); err != nil {
			return err
		}
		var buf [1]byte
		for {
			if _, err := unix.Read(e.a, buf[:]); err != unix.EAGAIN {
				return err
			}
			if style == ilWait {
				if err := e.pd.Wait(Read); err != nil {
					return err
				}
				continue
			}
			if err := e.pd.WaitOnce(Read); err != nil {
				return err
			}
			if _, err := unix.Read(e.a, buf[:]); err != unix.EAGAIN {
				return err
			}
			if e.interrupted.Load() {
				return errILInterrupted
			}
		}
	}
	e.pd.rs.waited = style == ilDo
	if err := e.pd.Prepare(Read); err != nil {
		return err
	}
	op := &fdOp{fd: e.a, mode: Read, buf: make([]byte, 1)}
	if err := e.pd.Do(Read, op); err != nil {
		return err
	}
	return op.err
}

// ilStep is a step the scheduler may take while it is pending.
type ilStep struct {
	name  string
	start bool // a waiter's arrival, not a cause
	run   func()
}

// ilRun runs sc once in the order seed chooses, adding the points it let
// goroutines past to seen; it returns a description of what went wrong,
// or "".
func ilRun(t *testing.T, sc ilScenario, seed uint64, seen *ilSeen) string {
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	p, err := newPoller()
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	defer func() { seen.handoffs += p.stats.handoffs.Load() }()
	n := len(sc.causes)
	ends := make([]ilEnd, n)
	for i := range ends {
		ends[i] = ilPair(t, p)
	}
	defer func() {
		for _, e := range ends {
			e.close()
		}
	}()

	s := newILSched()
	s.seen = seen
	h := s.hook
	interleaveHook.Store(&h)
	defer interleaveHook.Store(nil)

	timer := time.NewTimer(ilWatchdog)
	defer timer.Stop()
	rearm := func() { timer.Reset(ilWatchdog) }

	// The poller goroutine waits on kick without reaching a point.
	pollerActor := s.spawn("poller", nil, true, p.run)

	type result struct {
		err     error
		started bool
		caused  int // causes delivered (begun) before the waiter returned
	}
	results := make([]result, n)
	delivered := make([]int, n) // causes begun so far, under s.mu
	waiters := make([]*ilActor, n)
	var steps []ilStep
	styles := make([]ilStyle, n)
	for i, c := range sc.causes {
		styles[i] = ilStyle(rng.IntN(int(numILStyles)))
		if c&ilInterrupt != 0 {
			styles[i] = ilWaitOnce
		}
		name := fmt.Sprintf("W%d", i+1)
		e := ends[i]
		steps = append(steps, ilStep{"start " + name + "(" + ilStyleNames[styles[i]] + ")", true, func() {
			waiters[i] = s.spawn(name, &e.pd.rs, false, func() {
				err := ilWaiterRun(e, styles[i])
				s.mu.Lock()
				results[i] = result{err, true, delivered[i]}
				s.mu.Unlock()
			})
		}})
		ext := func(cause int, what string, f func()) {
			steps = append(steps, ilStep{what + " " + name, false, func() {
				s.mu.Lock()
				delivered[i] |= cause
				s.mu.Unlock()
				s.spawn(what+name, nil, false, f)
			}})
		}
		if c&ilData != 0 {
			ext(ilData, "data", func() { unix.Write(e.b, []byte("x")) })
		}
		if c&ilDeadline != 0 {
			ext(ilDeadline, "deadline", func() { e.pd.SetDeadline(time.Now().Add(-time.Second), Read) })
		}
		if c&ilEvict != 0 {
			ext(ilEvict, "evict", func() { e.pd.Evict() })
		}
		if c&ilInterrupt != 0 {
			ext(ilInterrupt, "interrupt", func() {
				e.interrupted.Store(true)
				e.pd.Interrupt(Read)
			})
		}
	}

	fail := func(format string, args ...any) string {
		msg := fmt.Sprintf(format, args...)
		rep := s.report()
		s.release()
		return fmt.Sprintf("%s\nseed %d (replay: POLLRT_INTERLEAVE_SEED=%d go test -race -run 'TestInterleave/^%s$' ./pollrt)\n%s",
			msg, seed, seed, sc.name, rep)
	}

	// Run until every step was taken and every waiter and step returned.
	// How eagerly steps are taken while goroutines are stopped: waiters
	// arrive early, so that they meet in the set; causes come early (they
	// mostly find the waiters not parked yet) or late (parked), by run.
	eager := [...]float64{0.5, 0.2, 0.05}[rng.IntN(3)]
	pick := func(stopped []*ilActor) (a *ilActor, st int) {
		var starts, causes []int
		for i, st := range steps {
			if st.start {
				starts = append(starts, i)
			} else {
				causes = append(causes, i)
			}
		}
		switch {
		case len(starts) > 0 && (len(stopped) == 0 || rng.IntN(2) == 0):
			return nil, starts[rng.IntN(len(starts))]
		case len(causes) > 0 && (len(stopped) == 0 || rng.Float64() < eager):
			return nil, causes[rng.IntN(len(causes))]
		}
		return stopped[rng.IntN(len(stopped))], -1
	}
	var pokedAt time.Time
	for {
		rearm()
		stopped, ok := s.settle(timer)
		if !ok {
			return fail("an actor let past a point never reached the next")
		}
		if len(stopped)+len(steps) > 0 {
			if a, c := pick(stopped); a != nil {
				s.letPast(a)
			} else {
				st := steps[c]
				steps = slices.Delete(steps, c, c+1)
				s.mu.Lock()
				s.trace = append(s.trace, "["+st.name+"]")
				s.mu.Unlock()
				st.run()
			}
			continue
		}
		s.mu.Lock()
		busy := false
		for _, a := range s.actors {
			if a != pollerActor && a.state != ilDone {
				busy = true
			}
		}
		s.mu.Unlock()
		if busy {
			// Somebody is parked and nothing is left to wake it
			// but what was already delivered: it must come back.
			if !s.await(timer) {
				return fail("lost wakeup: a goroutine stays parked after every cause was delivered")
			}
			continue
		}
		// Every waiter returned. The set must be let go: at once,
		// or by the poller goroutine the next time it looks.
		if !p.isLeading() {
			break
		}
		if pokedAt.IsZero() {
			pokedAt = time.Now()
			s.mu.Lock()
			s.trace = append(s.trace, "[poke]")
			s.mu.Unlock()
			p.netpollBreak()
		} else if time.Since(pokedAt) > ilWatchdog {
			return fail("the set stays led with every waiter gone (%d followers counted)", p.followers.Load())
		}
		// The poller goroutine lets the set go without reaching a
		// point after its last.
		runtime.Gosched()
	}

	for i, r := range results {
		name := fmt.Sprintf("W%d(%s)", i+1, ilStyleNames[styles[i]])
		var want int
		switch {
		case r.err == nil:
			want = ilData
		case errors.Is(r.err, ErrTimeout):
			want = ilDeadline
		case errors.Is(r.err, ErrClosing):
			want = ilEvict
		case r.err == errILInterrupted:
			want = ilInterrupt
		default:
			return fail("%s returned %v", name, r.err)
		}
		if r.caused&want == 0 {
			return fail("%s returned %v before its cause was delivered (delivered %b)", name, r.err, r.caused)
		}
	}
	if f := p.followers.Load(); f != 0 {
		return fail("%d followers counted in an idle set", f)
	}
	if p.leader != nil {
		return fail("an idle set has a leader")
	}
	for i, e := range ends {
		if e.pd.rs.waiting() {
			return fail("W%d's semaphore still holds a waiter", i+1)
		}
	}
	// End the poller goroutine: it waits on kick, nothing sends.
	close(p.kick)
	for {
		s.mu.Lock()
		done := pollerActor.state == ilDone
		s.mu.Unlock()
		if done {
			break
		}
		if !s.await(timer) {
			return fail("the poller goroutine did not end")
		}
	}
	if ilTrace {
		t.Logf("seed %d: %s", seed, strings.Join(s.trace, " "))
	}
	return ""
}

// ilTrace (POLLRT_INTERLEAVE_TRACE=1) logs every run's order.
var ilTrace = os.Getenv("POLLRT_INTERLEAVE_TRACE") != ""

// TestInterleave runs each scenario in seeded random orders (see the top
// of this file): thousands per scenario, fewer with -short.
func TestInterleave(t *testing.T) {
	runs := 1000
	if testing.Short() {
		runs = 100
	}
	var only []uint64
	if v := os.Getenv("POLLRT_INTERLEAVE_SEED"); v != "" {
		seed, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("POLLRT_INTERLEAVE_SEED=%q: %v", v, err)
		}
		only = []uint64{seed}
	}
	var seen ilSeen
	for si, sc := range ilScenarios {
		// The first failing scenario ends the test: each hang costs
		// the watchdog's wait.
		if !t.Run(sc.name, func(t *testing.T) {
			seeds := only
			if seeds == nil {
				for i := range runs {
					seeds = append(seeds, uint64(si)<<32|uint64(i))
				}
			}
			for _, seed := range seeds {
				if msg := ilRun(t, sc, seed, &seen); msg != "" {
					t.Fatal(msg)
				}
			}
		}) {
			return
		}
	}
	if only != nil {
		return
	}
	// Every point is a step of some order: the test must not pass by
	// stopping nothing.
	for pt, n := range seen.points {
		t.Logf("%-14s let past %d times", ilPointNames[pt], n)
		if n == 0 {
			t.Errorf("no run reached %s", ilPointNames[pt])
		}
	}
	t.Logf("hand-offs to the poller goroutine: %d", seen.handoffs)
	if seen.handoffs == 0 {
		t.Error("no run handed the set to the poller goroutine")
	}
}

// BenchmarkHookUnset is what a hook point costs when no test set the hook,
// as in production: a wait passes some ten of them.
func BenchmarkHookUnset(b *testing.B) {
	for b.Loop() {
		hook(hookParkEnter)
	}
}
