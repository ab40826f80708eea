//go:build linux

package pollrt

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func TestPeerClosed(t *testing.T) {
	for _, tc := range []struct {
		name string
		hang func(b int)
	}{
		{"close", func(b int) { unix.Close(b) }},
		{"shutdown-write", func(b int) { unix.Shutdown(b, unix.SHUT_WR) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
			require.NoError(t, err)
			a, b := fds[0], fds[1]
			defer unix.Close(a)
			defer unix.Close(b) // a second close after "close" fails harmlessly
			pd, err := Open(a)
			require.NoError(t, err)
			defer pd.Close()

			done := pd.Done()
			require.False(t, pd.PeerClosed())
			_, err = unix.Write(b, []byte("last words"))
			require.NoError(t, err)
			tc.hang(b)

			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("Done not closed after the peer hung up")
			}
			require.True(t, pd.PeerClosed(), "no Read was made")
			// Nothing was consumed: the data and then EOF are still there.
			buf := make([]byte, 64)
			n, err := unix.Read(a, buf)
			require.NoError(t, err)
			require.Equal(t, "last words", string(buf[:n]))
			n, err = unix.Read(a, buf)
			require.NoError(t, err)
			require.Zero(t, n, "EOF")
			// A Done made after the hangup is closed already.
			select {
			case <-pd.Done():
			default:
				t.Fatal("Done after hangup is open")
			}
		})
	}
}

func TestDoneClosedByEvict(t *testing.T) {
	pd, _, _ := socketpair(t)
	done := pd.Done()
	pd.Evict()
	select {
	case <-done:
	default:
		t.Fatal("Evict did not close Done")
	}
	require.False(t, pd.PeerClosed(), "closing is not a hangup")
}

func TestHangupResetOnReuse(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	require.NoError(t, err)
	old, err := Open(fds[0])
	require.NoError(t, err)
	unix.Close(fds[1])
	<-old.Done()
	old.Close()
	unix.Close(fds[0])

	pd, _, _ := socketpair(t)
	require.Equal(t, old.slot, pd.slot, "slot was not reused")
	require.False(t, pd.PeerClosed(), "the new fd inherited the old hangup")
	select {
	case <-pd.Done():
		t.Fatal("the new fd's Done is closed")
	default:
	}
}

func TestWaitOnceInterrupt(t *testing.T) {
	pd, a, _ := socketpair(t)
	drain(a)
	// Before the wait: WaitOnce returns at once, once.
	require.NoError(t, pd.Prepare(Read))
	pd.Interrupt(Read)
	require.NoError(t, pd.WaitOnce(Read))
	require.False(t, pd.interrupted(Read), "WaitOnce did not clear the interrupt")

	// During the wait.
	require.NoError(t, pd.Prepare(Read))
	done := make(chan error, 1)
	go func() { done <- pd.WaitOnce(Read) }()
	waitParked(t, pd, Read)
	pd.Interrupt(Read)
	require.NoError(t, recvWithin(t, done, 10*time.Second))

	// Interrupt does not end a plain Wait. (A Wait may still return nil
	// for a stale event, which its caller's retry finds EAGAIN for: the
	// read loop, not one Wait, is what must end in ErrTimeout.)
	pd.Interrupt(Read)
	pd.SetDeadline(time.Now().Add(30*time.Millisecond), Read)
	require.ErrorIs(t, recvWithin(t, ioAsync(pd, a, Read), 10*time.Second), ErrTimeout)
	pd.ClearInterrupt(Read)
}

func TestStatsCount(t *testing.T) {
	var before, after Stats
	ReadStats(&before)

	pd, a, b := socketpair(t)
	drain(a)
	done := ioAsync(pd, a, Read)
	waitParked(t, pd, Read)
	_, err := unix.Write(b, []byte("x"))
	require.NoError(t, err)
	require.NoError(t, recvWithin(t, done, 10*time.Second))

	pd.SetDeadline(time.Now().Add(20*time.Millisecond), Read)
	require.ErrorIs(t, recvWithin(t, ioAsync(pd, a, Read), 10*time.Second), ErrTimeout)
	pd.SetDeadline(time.Time{}, Read)

	done = ioAsync(pd, a, Read)
	waitParked(t, pd, Read)
	pd.Evict()
	require.ErrorIs(t, recvWithin(t, done, 10*time.Second), ErrClosing)

	ReadStats(&after)
	require.GreaterOrEqual(t, after.Waits-before.Waits, uint64(3))
	require.GreaterOrEqual(t, after.WakeTimeout-before.WakeTimeout, uint64(1))
	require.GreaterOrEqual(t, after.Timeouts-before.Timeouts, uint64(1))
	require.GreaterOrEqual(t, after.WakeClose-before.WakeClose, uint64(1))
	require.GreaterOrEqual(t, after.Opened-before.Opened, uint64(1))
	var samples uint64
	for i := range after.WakeLatency {
		samples += after.WakeLatency[i] - before.WakeLatency[i]
	}
	require.GreaterOrEqual(t, samples, uint64(2), "wakeups by timeout and close are timed")
	require.Positive(t, after.LatencyQuantile(0.5))
}

func TestLatencyBuckets(t *testing.T) {
	for _, tc := range []struct {
		ns     int64
		bucket int
	}{{0, 0}, {511, 0}, {512, 1}, {1023, 1}, {1024, 2}, {1 << 30, 22}, {1 << 40, LatencyBuckets - 1}} {
		var before, after Stats
		ReadStats(&before)
		recordWakeLatency(tc.ns)
		ReadStats(&after)
		require.Equal(t, before.WakeLatency[tc.bucket]+1, after.WakeLatency[tc.bucket], "%d ns", tc.ns)
	}
	s := Stats{}
	s.WakeLatency[2] = 90
	s.WakeLatency[5] = 10
	require.Equal(t, 2048*time.Nanosecond, s.LatencyQuantile(0.5))
	require.Equal(t, 16384*time.Nanosecond, s.LatencyQuantile(0.99))
}
