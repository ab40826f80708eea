//go:build linux

package pollrt

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// Misuse of the exported API returns an error, never a panic, a hang or a
// lost wakeup. Each test names the panic (or hang) the misuse used to cause.

// waitCalls are the ways a goroutine waits in one direction.
var waitCalls = []struct {
	name string
	wait func(pd *PollDesc, mode Mode) error
}{
	{"Wait", func(pd *PollDesc, mode Mode) error { return pd.Wait(mode) }},
	{"Do", func(pd *PollDesc, mode Mode) error { return pd.Do(mode, new(flagOp)) }},
	{"WaitOnce", func(pd *PollDesc, mode Mode) error { return pd.WaitOnce(mode) }},
	{"Prepare", func(pd *PollDesc, mode Mode) error { return pd.Prepare(mode) }},
}

// TestSecondWaiter: a second goroutine waiting in a direction that has a
// waiter used to panic ("two goroutines wait on one direction"), and a
// second Prepare silently dropped the parked waiter, whose wakeup was then
// lost. Now both get ErrBusy, and the first waiter is still woken by its
// readiness.
func TestSecondWaiter(t *testing.T) {
	for _, mode := range []Mode{Read, Write} {
		for _, first := range waitStyles {
			for _, second := range waitCalls {
				t.Run(string(rune(mode))+"/"+first.name+"/"+second.name, func(t *testing.T) {
					pd, a, b := socketpair(t)
					drain(a)
					if mode == Write {
						fill(t, a)
					}
					done := first.io(pd, a, mode)
					waitParked(t, pd, mode)

					require.ErrorIs(t, second.wait(pd, mode), ErrBusy)
					if mode == Read {
						require.ErrorIs(t, pd.Prepare(ReadWrite), ErrBusy)
					}
					require.True(t, parkedNow(pd.sema(mode)), "the first waiter was unparked")

					if mode == Read {
						_, err := unix.Write(b, []byte("x"))
						require.NoError(t, err)
					} else {
						require.NoError(t, unix.SetNonblock(b, true))
						drain(b)
					}
					require.NoError(t, recvWithin(t, done, 10*time.Second), "the first waiter lost its wakeup")
				})
			}
		}
	}
}

// TestCloseWithWaiter: Close while a goroutine waits used to panic ("Close
// with a goroutine still in Wait"). Now it wakes the waiter with ErrClosing
// and returns ErrBusy, leaving the fd registered, and a Close after the
// wait returned completes.
func TestCloseWithWaiter(t *testing.T) {
	for _, st := range waitStyles {
		t.Run(st.name, func(t *testing.T) {
			pd, a, _ := socketpair(t)
			drain(a)
			done := st.io(pd, a, Read)
			waitParked(t, pd, Read)
			require.ErrorIs(t, pd.Close(), ErrBusy)
			require.ErrorIs(t, recvWithin(t, done, 10*time.Second), ErrClosing)
			require.True(t, pd.open, "a busy Close deregistered the fd")
			require.NoError(t, pd.Close())
			require.ErrorIs(t, pd.Close(), ErrClosing)
		})
	}
}

// closedCalls are every method of a descriptor, each with what it must do
// on one that is closed (or was never opened): fail with ErrClosing.
var closedCalls = []struct {
	name string
	call func(pd *PollDesc) error
}{
	{"Prepare", func(pd *PollDesc) error { return pd.Prepare(Read) }},
	{"Wait", func(pd *PollDesc) error { return pd.Wait(Read) }},
	{"Do", func(pd *PollDesc) error { return pd.Do(Write, new(flagOp)) }},
	{"WaitOnce", func(pd *PollDesc) error { return pd.WaitOnce(Read) }},
	{"SetDeadline", func(pd *PollDesc) error { return pd.SetDeadline(time.Now().Add(time.Hour), ReadWrite) }},
	{"Interrupt", func(pd *PollDesc) error { return pd.Interrupt(Read) }},
	{"ClearInterrupt", func(pd *PollDesc) error { return pd.ClearInterrupt(Write) }},
	{"Close", func(pd *PollDesc) error { return pd.Close() }},
}

// checkClosed runs every method on pd, which must behave as closed: errors
// for the calls that return one, Evict a no-op, Done closed, no hangup.
// Each call runs in a goroutine so that a hang fails the test.
func checkClosed(t *testing.T, pd *PollDesc) {
	t.Helper()
	for _, c := range closedCalls {
		ch := make(chan error, 1)
		go func() { ch <- c.call(pd) }()
		require.ErrorIs(t, recvWithin(t, ch, 10*time.Second), ErrClosing, c.name)
	}
	pd.Evict()
	select {
	case <-pd.Done():
	default:
		t.Fatal("Done of a closed descriptor is open")
	}
	require.False(t, pd.PeerClosed())
}

// TestNotOpen: a nil *PollDesc used to panic in every method, and a zero
// PollDesc panicked in Done and hung forever in Wait. Both now behave as
// a closed descriptor.
func TestNotOpen(t *testing.T) {
	t.Run("nil", func(t *testing.T) { checkClosed(t, nil) })
	t.Run("zero", func(t *testing.T) { checkClosed(t, new(PollDesc)) })
}

// TestUseAfterClose: a closed descriptor used to be recycled for the next
// Open, so a caller still holding it waited on, set deadlines on and
// evicted another fd. Now it stays closed, and its slot's new descriptor
// is not affected by it.
func TestUseAfterClose(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	require.NoError(t, err)
	old, err := Open(fds[0])
	require.NoError(t, err)
	require.NoError(t, old.Close())
	unix.Close(fds[0])
	unix.Close(fds[1])
	checkClosed(t, old)

	pd, a, b := socketpair(t)
	require.Equal(t, old.slot, pd.slot, "slot was not reused")
	require.NotSame(t, old, pd)
	drain(a)
	done := ioAsync(pd, a, Read)
	waitParked(t, pd, Read)
	checkClosed(t, old)
	old.SetDeadline(time.Now().Add(-time.Second), Read)
	require.True(t, parkedNow(&pd.rs), "the closed descriptor woke its slot's new one")
	require.NoError(t, pd.Prepare(Write), "the closed descriptor evicted its slot's new one")
	_, err = unix.Write(b, []byte("x"))
	require.NoError(t, err)
	require.NoError(t, recvWithin(t, done, 10*time.Second))
}

// TestBadMode: a Mode a method does not take gives ErrBadMode (Prepare,
// SetDeadline and Interrupt used to ignore it; a bad Interrupt mode
// interrupted writes).
func TestBadMode(t *testing.T) {
	pd, _, _ := socketpair(t)
	calls := []struct {
		name string
		call func(m Mode) error
	}{
		{"Prepare", pd.Prepare},
		{"Wait", pd.Wait},
		{"Do", func(m Mode) error { return pd.Do(m, new(flagOp)) }},
		{"WaitOnce", pd.WaitOnce},
		{"SetDeadline", func(m Mode) error { return pd.SetDeadline(time.Now(), m) }},
		{"Interrupt", pd.Interrupt},
		{"ClearInterrupt", pd.ClearInterrupt},
	}
	takesBoth := map[string]bool{"Prepare": true, "SetDeadline": true}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			for _, m := range []Mode{0, -1, 'x', ReadWrite} {
				if m == ReadWrite && takesBoth[c.name] {
					continue
				}
				require.ErrorIs(t, c.call(m), ErrBadMode, "mode %d", m)
			}
		})
	}
	require.False(t, pd.interrupted(Write), "a bad mode interrupted writes")
	require.NoError(t, pd.Prepare(ReadWrite), "a bad mode expired a deadline")
}

// TestBadFd: descriptors Open cannot watch give an error.
func TestBadFd(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	require.NoError(t, err)
	unix.Close(fds[1])
	pd, err := Open(fds[0])
	require.NoError(t, err)
	_, err = Open(fds[0])
	require.ErrorIs(t, err, unix.EEXIST, "the same fd opened twice")
	require.NoError(t, pd.Close())
	unix.Close(fds[0])
	for _, fd := range []int{fds[0], -1, -7, 1 << 30} {
		_, err = Open(fd)
		require.ErrorIs(t, err, unix.EBADF, "fd %d", fd)
	}
}

// TestNilStats: ReadStats(nil) and LatencyQuantile on a nil *Stats used to
// dereference nil.
func TestNilStats(t *testing.T) {
	ReadStats(nil)
	var s *Stats
	require.Zero(t, s.LatencyQuantile(0.5))
}
