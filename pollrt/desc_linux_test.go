//go:build linux

package pollrt

import (
	"os"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// socketpair returns a connected pair: a is non-blocking and open in pollrt,
// b is blocking and plain. Both are closed when the test ends.
func socketpair(t testing.TB) (pd *PollDesc, a, b int) {
	t.Helper()
	return socketpairOn(t, nil)
}

// socketpairOn is socketpair with a opened on poller p (nil: the process's
// pollers, as Open chooses).
func socketpairOn(t testing.TB, p *poller) (pd *PollDesc, a, b int) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	require.NoError(t, err)
	a, b = fds[0], fds[1]
	require.NoError(t, unix.SetNonblock(a, true))
	if p == nil {
		pd, err = Open(a)
	} else {
		pd, err = openOn(p, a)
	}
	require.NoError(t, err)
	t.Cleanup(func() {
		pd.Close()
		unix.Close(a)
		unix.Close(b)
	})
	return pd, a, b
}

// waitParked returns once a goroutine is parked on pd's semaphore for mode.
// It is how tests know a Wait is really blocked, instead of sleeping.
func waitParked(t testing.TB, pd *PollDesc, mode Mode) {
	t.Helper()
	s := pd.sema(mode)
	deadline := time.Now().Add(10 * time.Second)
	for !parkedNow(s) {
		if time.Now().After(deadline) {
			t.Fatalf("no goroutine parked for %c", mode)
		}
		runtime.Gosched()
	}
}

// ioAsync runs one read (of one byte) or write (of 64 KiB) on fd the way
// pollnet does, in a goroutine: Prepare, then try the syscall and Wait
// whenever it says EAGAIN. A notification may be stale (edge-triggered
// events can arrive for readiness already consumed), so Wait returning nil
// only means "try again". It delivers the first error other than EAGAIN,
// or nil once the syscall succeeds.
func ioAsync(pd *PollDesc, fd int, mode Mode) <-chan error {
	ch := make(chan error, 1)
	go func() {
		if err := pd.Prepare(mode); err != nil {
			ch <- err
			return
		}
		buf := make([]byte, 64<<10)
		for {
			var err error
			if mode == Read {
				_, err = unix.Read(fd, buf[:1])
			} else {
				_, err = unix.Write(fd, buf)
			}
			if err != unix.EAGAIN {
				ch <- err
				return
			}
			if err := pd.Wait(mode); err != nil {
				ch <- err
				return
			}
		}
	}()
	return ch
}

// fdOp is ioAsync's syscall as an Attempt, for Do.
type fdOp struct {
	fd    int
	mode  Mode
	buf   []byte
	err   error
	tries atomic.Int32
	fails atomic.Int32 // tries that found EAGAIN, counted once they return
}

func (op *fdOp) Try() bool {
	op.tries.Add(1)
	if op.mode == Read {
		_, op.err = unix.Read(op.fd, op.buf[:1])
	} else {
		_, op.err = unix.Write(op.fd, op.buf)
	}
	if op.err == unix.EAGAIN {
		op.fails.Add(1)
		return false
	}
	return true
}

// doAsync is ioAsync through Do, as pollnet reads.
func doAsync(pd *PollDesc, fd int, mode Mode) <-chan error {
	ch, _ := doAsyncOp(pd, fd, mode)
	return ch
}

// doAsyncOp is doAsync that also returns the attempt, whose tries count.
// It runs Do as it runs after a Do that had to wait: trying inside its
// wait when it leads (see do).
func doAsyncOp(pd *PollDesc, fd int, mode Mode) (<-chan error, *fdOp) {
	ch := make(chan error, 1)
	op := &fdOp{fd: fd, mode: mode, buf: make([]byte, 64<<10)}
	go func() {
		pd.sema(mode).waited = true
		if err := pd.Prepare(mode); err != nil {
			ch <- err
			return
		}
		if err := pd.Do(mode, op); err != nil {
			ch <- err
			return
		}
		ch <- op.err
	}()
	return ch, op
}

// waitStyles are the two ways to wait: Wait after the caller's own EAGAIN,
// and Do, which tries inside the wait.
var waitStyles = []struct {
	name string
	io   func(pd *PollDesc, fd int, mode Mode) <-chan error
}{{"Wait", ioAsync}, {"Do", doAsync}}

func recvWithin(t testing.TB, ch <-chan error, d time.Duration) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(d):
		t.Fatalf("wait did not return within %v", d)
		return nil
	}
}

// drain reads everything pending on a non-blocking fd.
func drain(fd int) int {
	var buf [4096]byte
	total := 0
	for {
		n, err := unix.Read(fd, buf[:])
		if n <= 0 || err != nil {
			return total
		}
		total += n
	}
}

// fill writes to a non-blocking fd until its send buffer is full.
func fill(t testing.TB, fd int) {
	buf := make([]byte, 64<<10)
	for {
		_, err := unix.Write(fd, buf)
		if err == unix.EAGAIN {
			return
		}
		require.NoError(t, err)
	}
}

func TestWaitWakesOnData(t *testing.T) {
	pd, a, b := socketpair(t)
	done := ioAsync(pd, a, Read)
	waitParked(t, pd, Read)
	_, err := unix.Write(b, []byte("xy"))
	require.NoError(t, err)
	require.NoError(t, recvWithin(t, done, 10*time.Second))
	require.Equal(t, 1, drain(a), "the reader took one byte of two")
}

func TestWaitWritable(t *testing.T) {
	pd, a, b := socketpair(t)
	fill(t, a)
	done := ioAsync(pd, a, Write)
	waitParked(t, pd, Write)
	go drain(b) // b is blocking: reads until the test closes it
	require.NoError(t, recvWithin(t, done, 10*time.Second))
}

func TestWaitTimesOutAtDeadline(t *testing.T) {
	for _, mode := range []Mode{Read, Write} {
		t.Run(string(rune(mode)), func(t *testing.T) {
			pd, a, _ := socketpair(t)
			if mode == Write {
				fill(t, a)
			}
			const d = 50 * time.Millisecond
			start := time.Now()
			pd.SetDeadline(start.Add(d), mode)
			err := recvWithin(t, ioAsync(pd, a, mode), 10*time.Second)
			require.ErrorIs(t, err, ErrTimeout)
			require.GreaterOrEqual(t, time.Since(start), d, "timed out before the deadline")
			// The expired deadline fails the next wait at once, and Prepare too.
			require.ErrorIs(t, pd.Wait(mode), ErrTimeout)
			require.ErrorIs(t, pd.Prepare(mode), ErrTimeout)
			// Clearing it makes waits block again.
			pd.SetDeadline(time.Time{}, mode)
			require.NoError(t, pd.Prepare(mode))
		})
	}
}

func TestDeadlineMovedWhileWaiting(t *testing.T) {
	type step struct {
		name    string
		initial time.Duration // deadline set before the wait, 0 for none
		moved   time.Duration // deadline set once parked; 0 clears it, <0 is in the past
		wantErr error         // nil: the wait ends by data written after the old deadline
	}
	for _, tc := range []step{
		{"extend", 30 * time.Millisecond, 200 * time.Millisecond, ErrTimeout},
		{"shorten", time.Hour, 50 * time.Millisecond, ErrTimeout},
		{"set-while-none", 0, 50 * time.Millisecond, ErrTimeout},
		{"into-the-past", time.Hour, -time.Second, ErrTimeout},
		{"clear", 30 * time.Millisecond, 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pd, a, b := socketpair(t)
			drain(a)
			if tc.initial > 0 {
				pd.SetDeadline(time.Now().Add(tc.initial), Read)
			}
			done := ioAsync(pd, a, Read)
			waitParked(t, pd, Read)
			movedAt := time.Now()
			var moved time.Time
			if tc.moved != 0 {
				moved = movedAt.Add(tc.moved)
			}
			pd.SetDeadline(moved, Read)
			if tc.wantErr == nil {
				// Let the old deadline's instant pass: its timer must do nothing.
				time.Sleep(time.Until(movedAt.Add(tc.initial + 20*time.Millisecond)))
				_, err := unix.Write(b, []byte("x"))
				require.NoError(t, err)
			}
			err := recvWithin(t, done, 10*time.Second)
			if tc.wantErr == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tc.wantErr)
			if tc.moved > 0 {
				require.GreaterOrEqual(t, time.Since(movedAt), tc.moved, "timed out before the moved deadline")
			}
		})
	}
}

func TestReadWriteDeadlinesIndependent(t *testing.T) {
	pd, a, b := socketpair(t)
	drain(a)
	pd.SetDeadline(time.Now().Add(-time.Second), Write)
	require.ErrorIs(t, pd.Prepare(Write), ErrTimeout)
	done := ioAsync(pd, a, Read)
	waitParked(t, pd, Read)
	_, err := unix.Write(b, []byte("x"))
	require.NoError(t, err)
	require.NoError(t, recvWithin(t, done, 10*time.Second))
}

func TestEvictWakesEveryWaiter(t *testing.T) {
	pd, a, _ := socketpair(t)
	drain(a)
	fill(t, a)
	r, w := ioAsync(pd, a, Read), ioAsync(pd, a, Write)
	waitParked(t, pd, Read)
	waitParked(t, pd, Write)
	pd.Evict()
	require.ErrorIs(t, recvWithin(t, r, 10*time.Second), ErrClosing)
	require.ErrorIs(t, recvWithin(t, w, 10*time.Second), ErrClosing)
	// Closing wins over an expired deadline, and evicting twice is harmless.
	pd.SetDeadline(time.Now().Add(-time.Second), ReadWrite)
	pd.Evict()
	for _, m := range []Mode{Read, Write, ReadWrite} {
		require.ErrorIs(t, pd.Prepare(m), ErrClosing)
	}
	require.ErrorIs(t, pd.Wait(Read), ErrClosing)
}

func TestErrorPriority(t *testing.T) {
	pd := openedForTest()
	pd.setEventErr(true, pd.fdseq.Load())
	require.NoError(t, pd.Prepare(Read), "an error event is left to the read")
	require.ErrorIs(t, pd.Wait(Read), ErrNotPollable)
	require.NoError(t, pd.Prepare(Write))
	pd.SetDeadline(time.Now().Add(-time.Second), Read)
	require.ErrorIs(t, pd.Prepare(Read), ErrTimeout)
	pd.Evict()
	require.ErrorIs(t, pd.Prepare(Read), ErrClosing)
	require.ErrorIs(t, pd.Wait(ReadWrite), ErrBadMode)
}

// flagOp is an Attempt that finishes once ok is set.
type flagOp struct {
	ok    atomic.Bool
	tries atomic.Int32
}

// Try counts itself after it has looked at ok, so a test that sees the
// count knows the outcome of those tries.
func (op *flagOp) Try() bool {
	ok := op.ok.Load()
	op.tries.Add(1)
	return ok
}

// TestErrorEventLeftToTheRead: an event with EPOLLERR alone, which a TCP
// socket reports for a moment while the kernel handles a reset, fails a
// read with ErrNotPollable only when the read itself finds nothing. A read
// that the event wakes, or that starts while the event is still recorded,
// returns what its syscall says (ECONNRESET, EOF), as with package net.
func TestErrorEventLeftToTheRead(t *testing.T) {
	for _, tc := range []struct {
		name    string
		parked  bool // the event comes while the Do is parked
		hint    bool // the last Do waited, so this one would park first
		finish  bool // the syscall has a result once the event is in
		want    error
		atLeast int32 // tries
	}{
		{"recorded, read has a result", false, false, true, nil, 1},
		{"recorded, read has a result, hint to wait", false, true, true, nil, 1},
		{"recorded, read finds nothing", false, false, false, ErrNotPollable, 1},
		{"recorded, read finds nothing, hint to wait", false, true, false, ErrNotPollable, 1},
		{"wakes a parked read that has a result", true, true, true, nil, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pd, _, _ := socketpairOn(t, startedPoller(t))
			op := &flagOp{}
			event := func() {
				op.ok.Store(tc.finish)
				pd.p.netpollready(pd.slot, pd.fdseq.Load(), Read, true, false, nil)
			}
			if !tc.parked {
				event()
			}
			ch := make(chan error, 1)
			go func() {
				pd.rs.waited = tc.hint
				if err := pd.Prepare(Read); err != nil {
					ch <- err
					return
				}
				ch <- pd.Do(Read, op)
			}()
			if tc.parked {
				// Parked, and the tries it made there failed (a leader
				// may try more than once: the set's first events wake
				// it): the event's wakeup is what the read must answer.
				waitParked(t, pd, Read)
				waitFor(t, "a try while parked", func() bool { return op.tries.Load() > 0 })
				event()
			}
			err := recvWithin(t, ch, 10*time.Second)
			if tc.want == nil {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, tc.want)
			}
			require.GreaterOrEqual(t, op.tries.Load(), tc.atLeast)
		})
	}
}

// TestDoEndsWithoutRetry: a Do woken by a passed deadline or by Evict
// returns the error without another try, as package net's Read does, even
// where it would try before parking again (it follows a leader that
// drains: here the poller goroutine, kept polling by a Done watcher).
func TestDoEndsWithoutRetry(t *testing.T) {
	for _, tc := range []struct {
		name string
		end  func(pd *PollDesc)
		want error
	}{
		{"deadline", func(pd *PollDesc) { pd.SetDeadline(time.Now().Add(-time.Second), Read) }, ErrTimeout},
		{"Evict", func(pd *PollDesc) { pd.Evict() }, ErrClosing},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := startedPoller(t)
			watched, _, _ := socketpairOn(t, p)
			_ = watched.Done()
			waitFor(t, "the poller goroutine leads", func() bool { return p.delivers() })
			pd, _, _ := socketpairOn(t, p)
			op := &flagOp{}
			ch := make(chan error, 1)
			go func() {
				pd.rs.waited = true
				if err := pd.Prepare(Read); err != nil {
					ch <- err
					return
				}
				ch <- pd.Do(Read, op)
			}()
			waitFor(t, "the Do follows", func() bool { return pd.rs.w.mode.Load() == parkFollower })
			tries := op.tries.Load()
			op.ok.Store(true) // a retry now would finish the Do
			tc.end(pd)
			require.ErrorIs(t, recvWithin(t, ch, 10*time.Second), tc.want)
			require.Equal(t, tries, op.tries.Load(), "the Do tried again after it was woken")
		})
	}
}

func TestStaleEventAfterReuse(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	require.NoError(t, err)
	old, err := Open(fds[0])
	require.NoError(t, err)
	slot, seq := old.slot, old.fdseq.Load()
	old.Close()
	unix.Close(fds[0])
	unix.Close(fds[1])

	// The kernel hands out the same fd number and the table the same slot.
	pd, a, b := socketpair(t)
	require.Equal(t, old.slot, pd.slot, "slot was not reused")
	require.Equal(t, fds[0], a, "fd number was not reused")
	drain(a)
	done := ioAsync(pd, a, Read)
	waitParked(t, pd, Read)

	var before, after Stats
	parked := pd.rs.state.Load()
	ReadStats(&before)
	pd.p.netpollready(slot, seq, ReadWrite, false, false, nil) // an event read before the close
	ReadStats(&after)
	require.Equal(t, before.Stale+1, after.Stale)
	require.Same(t, parked, pd.rs.state.Load(), "stale event woke the new owner")

	_, err = unix.Write(b, []byte("x"))
	require.NoError(t, err)
	require.NoError(t, recvWithin(t, done, 10*time.Second))
}

// testPoller is a poller of the test's own, not started, closed at the end.
func testPoller(t testing.TB) *poller {
	p, err := newPoller()
	require.NoError(t, err)
	// close, not unix.Close(epfd): the *os.File owning epfd would close the
	// number again when finalised, by then perhaps another test's fd.
	t.Cleanup(p.close)
	return p
}

func TestNetpoll(t *testing.T) {
	p := testPoller(t)
	require.True(t, p.netpollIsPollDescriptor(p.epfd))
	require.True(t, p.netpollIsPollDescriptor(p.breakfd))
	require.False(t, p.netpollIsPollDescriptor(0))

	require.Zero(t, p.netpoll(0), "an empty set polls nothing")
	require.Zero(t, p.netpoll(30*time.Millisecond), "a timed netpoll on an empty set")

	// A break wakes a netpoll blocked with no timeout. A signal (the
	// runtime's preemption) may end a blocked epoll_wait early with EINTR,
	// which netpoll reports as no events: poll again, as callers do.
	done := make(chan int, 1)
	go func() {
		n := 0
		for n == 0 {
			n = p.netpoll(-1)
		}
		done <- n
	}()
	p.netpollBreak()
	select {
	case n := <-done:
		require.Equal(t, 1, n)
	case <-time.After(10 * time.Second):
		t.Fatal("netpollBreak did not wake netpoll")
	}

	// Breaks are coalesced until a netpoll consumes them.
	before := p.stats.breaks.Load()
	p.netpollBreak()
	p.netpollBreak()
	require.Equal(t, before+1, p.stats.breaks.Load())
	require.Equal(t, 1, p.netpoll(0))
	require.Zero(t, p.netpoll(0), "the break was consumed")
}

func TestOpenRefuses(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "regular")
	require.NoError(t, err)
	defer f.Close()
	_, err = Open(int(f.Fd()))
	require.ErrorIs(t, err, ErrNotPollable)

	p, err := pollerFor(0, false)
	require.NoError(t, err)
	_, err = Open(p.epfd)
	require.ErrorIs(t, err, ErrNotPollable)

	_, err = Open(-1)
	require.ErrorIs(t, err, unix.EBADF)

	var s Stats
	ReadStats(&s)
	require.Equal(t, s.Opened-s.Closed, s.Open)
}

func TestZeroAllocs(t *testing.T) {
	pd, a, b := socketpair(t)
	drain(a)
	one := []byte{1}
	var buf [1]byte
	cycle := testing.AllocsPerRun(200, func() {
		if err := pd.Prepare(Read); err != nil {
			t.Fatal(err)
		}
		unix.Write(b, one)
		if err := pd.Wait(Read); err != nil {
			t.Fatal(err)
		}
		unix.Read(a, buf[:])
	})
	require.Zero(t, cycle, "allocations per wait/ready cycle")

	pd.SetDeadline(time.Now().Add(time.Hour), ReadWrite) // first arm creates the timers
	rearm := testing.AllocsPerRun(200, func() {
		pd.SetDeadline(time.Now().Add(time.Hour), ReadWrite)
		pd.SetDeadline(time.Time{}, Read)
	})
	require.Zero(t, rearm, "allocations per deadline re-arm")
}

func TestSetPollers(t *testing.T) {
	require.Error(t, SetPollers(0))
	require.Error(t, SetPollers(1025))
	_, err := pollerFor(0, false) // the pollers are running
	require.NoError(t, err)
	require.Error(t, SetPollers(2), "SetPollers after the first Open must fail")
	var s Stats
	ReadStats(&s)
	n := pollersFor()
	require.Equal(t, uint64(n+1), s.Pollers, "SetPollers' count and the long waits' set")
	// fds spread over the pollers by number; long waits have their own.
	long, _ := pollerFor(0, true)
	for fd := 0; fd < 2*n; fd++ {
		p, _ := pollerFor(fd, false)
		q, _ := pollerFor(fd+n, false)
		require.Same(t, p, q)
		require.NotSame(t, long, p)
		if n > 1 {
			r, _ := pollerFor(fd+1, false)
			require.NotSame(t, p, r)
		}
	}
}
