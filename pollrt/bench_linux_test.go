//go:build linux

package pollrt

import (
	"os"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// A pinger is one end of a ping-pong over two socketpairs: it writes a byte
// and waits for the echo. The echoer runs in its own goroutine. Every round
// trip is two park -> ready -> run wakeups, so ns/op is the wake-up cost
// the poller strategy adds; p50/p99 are per round trip.
type pingPong interface {
	ping() error
	close()
}

// pollrtPingPong echoes with pollrt: our end on poller p, the echoer's on q.
type pollrtPingPong struct {
	pdA, pdB *PollDesc
	opA, opB *fdOp  // their reads
	fds      [4]int // a0 (ours), a1 (echoer), b0, b1
	done     chan struct{}
}

func newPollrtPingPong(t testing.TB, p, q *poller) *pollrtPingPong {
	pp := &pollrtPingPong{done: make(chan struct{})}
	for i := 0; i < 2; i++ {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		require.NoError(t, err)
		pp.fds[2*i], pp.fds[2*i+1] = fds[0], fds[1]
	}
	var err error
	pp.pdA, err = openOn(p, pp.fds[0])
	require.NoError(t, err)
	pp.pdB, err = openOn(q, pp.fds[1])
	require.NoError(t, err)
	pp.opA = &fdOp{fd: pp.fds[0], mode: Read, buf: make([]byte, 1)}
	pp.opB = &fdOp{fd: pp.fds[1], mode: Read, buf: make([]byte, 1)}
	go func() {
		defer close(pp.done)
		for {
			if pollRead(pp.pdB, pp.opB) != nil {
				return
			}
			unix.Write(pp.fds[1], pp.opB.buf)
		}
	}()
	return pp
}

// pollRead reads the way pollnet does: Prepare, then Do.
func pollRead(pd *PollDesc, op *fdOp) error {
	if err := pd.Prepare(Read); err != nil {
		return err
	}
	if err := pd.Do(Read, op); err != nil {
		return err
	}
	return op.err
}

func (pp *pollrtPingPong) ping() error {
	unix.Write(pp.fds[0], pp.opA.buf)
	return pollRead(pp.pdA, pp.opA)
}

func (pp *pollrtPingPong) close() {
	pp.pdB.Evict()
	<-pp.done
	pp.pdA.Close()
	pp.pdB.Close()
	for _, fd := range pp.fds {
		unix.Close(fd)
	}
}

// runtimePingPong is the same over *os.File, which parks in the Go
// runtime's own poller: the baseline package net gets.
type runtimePingPong struct {
	a, b *os.File
	done chan struct{}
}

func newRuntimePingPong(t testing.TB) *runtimePingPong {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	require.NoError(t, err)
	pp := &runtimePingPong{a: os.NewFile(uintptr(fds[0]), "a"), b: os.NewFile(uintptr(fds[1]), "b"), done: make(chan struct{})}
	go func() {
		defer close(pp.done)
		var buf [1]byte
		for {
			if _, err := pp.b.Read(buf[:]); err != nil {
				return
			}
			pp.b.Write(buf[:])
		}
	}()
	return pp
}

func (pp *runtimePingPong) ping() error {
	var buf [1]byte
	if _, err := pp.a.Write(buf[:]); err != nil {
		return err
	}
	_, err := pp.a.Read(buf[:])
	return err
}

func (pp *runtimePingPong) close() {
	pp.b.Close()
	<-pp.done
	pp.a.Close()
}

// BenchmarkWakeup compares the wake-up paths on a ping-pong, each end in a
// set of its own: "lead" (pollrt's path when a waiter has its set to
// itself: it parks in the runtime's poller on the epoll fd and is woken
// directly), "follow" (each set kept polled by its poller goroutine, as
// when a Done channel is watched or other waiters share the set: the
// poller goroutine wakes the waiter with a channel send), and "runtime"
// (no pollrt: the Go runtime's poller, as package net uses it).
func BenchmarkWakeup(b *testing.B) {
	pollrtPair := func(follow bool) func(b *testing.B) pingPong {
		return func(b *testing.B) pingPong {
			p, q := startedPoller(b), startedPoller(b)
			if follow {
				for _, x := range []*poller{p, q} {
					pd, _, _ := socketpairOn(b, x)
					pd.Done() // keeps x polled by its poller goroutine
				}
			}
			return newPollrtPingPong(b, p, q)
		}
	}
	variants := []struct {
		name string
		make func(b *testing.B) pingPong
	}{
		{"lead", pollrtPair(false)},
		{"follow", pollrtPair(true)},
		{"runtime", func(b *testing.B) pingPong { return newRuntimePingPong(b) }},
	}
	for _, v := range variants {
		b.Run(v.name, func(b *testing.B) {
			pp := v.make(b)
			defer pp.close()
			for i := 0; i < 1000; i++ { // warm up
				require.NoError(b, pp.ping())
			}
			lat := make([]time.Duration, 0, min(b.N, 1<<20))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				start := time.Now()
				if err := pp.ping(); err != nil {
					b.Fatal(err)
				}
				if len(lat) < cap(lat) {
					lat = append(lat, time.Since(start))
				}
			}
			b.StopTimer()
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
			b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
			b.ReportMetric(float64(lat[len(lat)*999/1000].Nanoseconds()), "p99.9-ns")
		})
	}
}

// BenchmarkStatsPerWake is what the statistics cost one wake-up: the
// counters and the two clock reads of the latency histogram that a park,
// a delivery and a resume make. Compare it with BenchmarkWakeup's ns/op,
// which is two wake-ups.
func BenchmarkStatsPerWake(b *testing.B) {
	var ps pollerStats
	var w waiter
	for i := 0; i < b.N; i++ {
		rtStats.waits.Add(1) // block
		ps.polls.Add(1)      // pollEvents
		ps.events.Add(1)     // netpollready
		ps.wakeups.Add(1)
		w.readyAt.Store(nanotime()) // wakeFrom
		w.woke()                    // block, after park
	}
}

// BenchmarkSetDeadline is the cost of re-arming a deadline, as net/http
// does before every request.
func BenchmarkSetDeadline(b *testing.B) {
	pd, _, _ := socketpair(b)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		pd.SetDeadline(time.Now().Add(time.Minute), Read)
	}
}
