//go:build linux

package pollrt

import (
	"math/rand"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// startedPoller is a poller of the test's own with its poller goroutine
// running, so tests can tell which descriptors share an epoll set.
func startedPoller(t testing.TB) *poller {
	p := testPoller(t) // its cleanup closes the epoll file, ending run
	go p.run()
	return p
}

// waitFor returns once cond holds, failing the test after 10s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		runtime.Gosched()
	}
}

func (p *poller) isLeading() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.leading.Load()
}

// TestLeaderWoken parks a goroutine as the leader of its set and wakes it
// by every cause: its own event (delivered by itself, no break), and the
// unblocks made by other goroutines (which must break it out of the
// runtime's poller). Afterwards nobody leads the idle set.
func TestLeaderWoken(t *testing.T) {
	cases := []struct {
		name      string
		wake      func(pd *PollDesc, b int)
		want      error
		wantBreak bool
	}{
		{"own event", func(pd *PollDesc, b int) { unix.Write(b, []byte("x")) }, nil, false},
		{"deadline", func(pd *PollDesc, b int) { pd.SetDeadline(time.Now().Add(-time.Second), Read) }, ErrTimeout, true},
		{"deadline timer", func(pd *PollDesc, b int) { pd.SetDeadline(time.Now().Add(time.Millisecond), Read) }, ErrTimeout, true},
		{"evict", func(pd *PollDesc, b int) { pd.Evict() }, ErrClosing, true},
	}
	for _, st := range waitStyles {
		for _, tc := range cases {
			t.Run(st.name+"/"+tc.name, func(t *testing.T) {
				p := startedPoller(t)
				pd, a, b := socketpairOn(t, p)
				done := st.io(pd, a, Read)
				waitFor(t, "the reader leads", func() bool { return pd.rs.w.mode.Load() == parkLeader })
				breaks := p.stats.breaks.Load()
				tc.wake(pd, b)
				require.ErrorIs(t, recvWithin(t, done, 10*time.Second), tc.want)
				if tc.wantBreak {
					require.Equal(t, breaks+1, p.stats.breaks.Load(), "a leader woken from outside needs a break")
				} else {
					require.Equal(t, breaks, p.stats.breaks.Load(), "a leader delivering its own event breaks nothing")
				}
				require.False(t, p.isLeading(), "an idle set stays led")
				require.Zero(t, p.stats.handoffs.Load())
			})
		}
	}
}

// TestLeaderWokenByInterrupt wakes a leading WaitOnce with Interrupt.
func TestLeaderWokenByInterrupt(t *testing.T) {
	p := startedPoller(t)
	pd, _, _ := socketpairOn(t, p)
	require.NoError(t, pd.Prepare(Read))
	done := make(chan error, 1)
	go func() { done <- pd.WaitOnce(Read) }()
	waitFor(t, "the waiter leads", func() bool { return pd.rs.w.mode.Load() == parkLeader })
	pd.Interrupt(Read)
	require.NoError(t, recvWithin(t, done, 10*time.Second))
}

// TestFollowerAndHandoff: the second waiter in a led set follows; when the
// leader leaves first, the poller goroutine takes the set over, wakes the
// follower on its event and then lets the set go, so the next waiter leads
// again.
func TestFollowerAndHandoff(t *testing.T) {
	for _, st := range waitStyles {
		t.Run(st.name, func(t *testing.T) {
			p := startedPoller(t)
			pd1, a1, b1 := socketpairOn(t, p)
			pd2, a2, b2 := socketpairOn(t, p)

			done1 := st.io(pd1, a1, Read)
			waitFor(t, "the first reader leads", func() bool { return pd1.rs.w.mode.Load() == parkLeader })
			done2 := st.io(pd2, a2, Read)
			waitFor(t, "the second reader follows", func() bool { return pd2.rs.w.mode.Load() == parkFollower })
			require.EqualValues(t, 1, p.followers.Load())

			_, err := unix.Write(b1, []byte("x"))
			require.NoError(t, err)
			require.NoError(t, recvWithin(t, done1, 10*time.Second))
			require.EqualValues(t, 1, p.stats.handoffs.Load(), "the leader left a follower: the poller goroutine must lead")
			require.True(t, p.isLeading())

			_, err = unix.Write(b2, []byte("x"))
			require.NoError(t, err)
			require.NoError(t, recvWithin(t, done2, 10*time.Second))
			waitFor(t, "the poller goroutine lets the set go", func() bool { return !p.isLeading() })

			done1 = st.io(pd1, a1, Read)
			waitFor(t, "a reader leads again", func() bool { return pd1.rs.w.mode.Load() == parkLeader })
			_, err = unix.Write(b1, []byte("x"))
			require.NoError(t, err)
			require.NoError(t, recvWithin(t, done1, 10*time.Second))
		})
	}
}

// TestDoneKeepsSetPolled: with nobody waiting, a Done channel makes the
// poller goroutine poll the set, so the hangup closes it; then the set is
// let go.
func TestDoneKeepsSetPolled(t *testing.T) {
	p := startedPoller(t)
	pd, _, b := socketpairOn(t, p)
	done := pd.Done()
	waitFor(t, "the poller goroutine leads", p.isLeading)
	require.NoError(t, unix.Shutdown(b, unix.SHUT_WR))
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Done not closed after the peer's shutdown")
	}
	require.Zero(t, p.watchers.Load())
	// The poller goroutine notices on its next wake; a waiter gives it one.
	pd2, a2, b2 := socketpairOn(t, p)
	res := ioAsync(pd2, a2, Read)
	unix.Write(b2, []byte("x"))
	require.NoError(t, recvWithin(t, res, 10*time.Second))
	waitFor(t, "the set is let go", func() bool { return !p.isLeading() })
}

// TestPeerClosedPollsIdleSet: nobody polls the set, yet PeerClosed sees a
// hangup that is already in it (a unix socket's close queues the event
// before close returns).
func TestPeerClosedPollsIdleSet(t *testing.T) {
	p := startedPoller(t)
	pd, _, b := socketpairOn(t, p)
	require.False(t, pd.PeerClosed())
	require.NoError(t, unix.Shutdown(b, unix.SHUT_WR))
	require.False(t, p.isLeading())
	require.True(t, pd.PeerClosed())
}

// TestParkStorm runs many readers sharing one set, each woken at random by
// data or an expired deadline, while leaders come and go: no wakeup may be
// lost (every reader finishes) and no follower stays counted.
func TestParkStorm(t *testing.T) {
	for _, st := range waitStyles {
		t.Run(st.name, func(t *testing.T) {
			const conns, rounds = 16, 200
			p := startedPoller(t)
			type end struct {
				pd   *PollDesc
				a, b int
			}
			ends := make([]end, conns)
			for i := range ends {
				pd, a, b := socketpairOn(t, p)
				ends[i] = end{pd, a, b}
			}
			var wg sync.WaitGroup
			for i, e := range ends {
				wg.Add(2)
				go func() { // reader: a byte per round, or a timeout
					defer wg.Done()
					for r := 0; r < rounds; r++ {
						if err := <-st.io(e.pd, e.a, Read); err != nil && err != ErrTimeout {
							t.Errorf("conn %d round %d: %v", i, r, err)
							return
						}
						e.pd.SetDeadline(time.Time{}, Read)
					}
				}()
				go func() { // waker
					defer wg.Done()
					rng := rand.New(rand.NewSource(int64(i)))
					for r := 0; r < rounds; r++ {
						switch rng.Intn(3) {
						case 0:
							e.pd.SetDeadline(time.Now().Add(time.Duration(rng.Intn(50))*time.Microsecond), Read)
						default:
							runtime.Gosched()
						}
						unix.Write(e.b, []byte("x"))
					}
				}()
			}
			finished := make(chan struct{})
			go func() { wg.Wait(); close(finished) }()
			select {
			case <-finished:
			case <-time.After(60 * time.Second):
				buf := make([]byte, 1<<20)
				t.Fatalf("a reader was never woken:\n%s", buf[:runtime.Stack(buf, true)])
			}
			waitFor(t, "every follower is counted out", func() bool { return p.followers.Load() == 0 })
		})
	}
}

// TestWakeFromAnotherPoller: whichever poller delivers an event, the wake
// must reach the waiter's own set: its leader's break and its follower
// count. (Since each Open makes a new PollDesc, an event read just before
// a close no longer reaches the slot's next descriptor, in another set;
// wakeFrom does not rely on that.)
func TestWakeFromAnotherPoller(t *testing.T) {
	a, b := startedPoller(t), startedPoller(t)

	t.Run("leader", func(t *testing.T) {
		pd, fd, _ := socketpairOn(t, b)
		done := ioAsync(pd, fd, Read)
		waitFor(t, "the reader leads its set", func() bool { return pd.rs.w.mode.Load() == parkLeader })
		a.netpollready(pd.slot, pd.fdseq.Load(), Read, false, false, nil)
		// The wake is spurious (no data): the reader retries and parks again.
		waitFor(t, "the reader is woken and leads again", func() bool {
			return b.stats.breaks.Load() > 0 && pd.rs.w.mode.Load() == parkLeader
		})
		pd.Evict()
		require.ErrorIs(t, recvWithin(t, done, 10*time.Second), ErrClosing)
	})

	t.Run("follower", func(t *testing.T) {
		pd1, fd1, _ := socketpairOn(t, b)
		pd2, fd2, _ := socketpairOn(t, b)
		done1 := ioAsync(pd1, fd1, Read)
		waitFor(t, "the first reader leads", func() bool { return pd1.rs.w.mode.Load() == parkLeader })
		done2 := ioAsync(pd2, fd2, Read)
		waitFor(t, "the second reader follows", func() bool { return pd2.rs.w.mode.Load() == parkFollower })
		a.netpollready(pd2.slot, pd2.fdseq.Load(), Read, false, false, nil)
		waitFor(t, "the follower is woken and follows again", func() bool {
			return pd2.rs.w.mode.Load() == parkFollower && b.followers.Load() == 1
		})
		require.Zero(t, a.followers.Load(), "the follower was counted out of the wrong set")
		pd1.Evict()
		pd2.Evict()
		require.ErrorIs(t, recvWithin(t, done1, 10*time.Second), ErrClosing)
		require.ErrorIs(t, recvWithin(t, done2, 10*time.Second), ErrClosing)
	})
}

// TestTryLeaderPollsNothing: a Do that leads its set alone tries its own
// read instead of draining, so round after round it is woken by the
// runtime with no epoll_wait of its own, although its fd's earlier events
// were never drained from the set (the runtime is told of every new
// readiness all the same).
func TestTryLeaderPollsNothing(t *testing.T) {
	const rounds = 300
	p := startedPoller(t)
	pd, a, b := socketpairOn(t, p)
	polls, leads := p.stats.polls.Load(), p.stats.leads.Load()
	for r := 0; r < rounds; r++ {
		done := doAsync(pd, a, Read)
		waitFor(t, "the reader leads", func() bool { return pd.rs.w.mode.Load() == parkLeader })
		_, err := unix.Write(b, []byte("x"))
		require.NoError(t, err)
		require.NoError(t, recvWithin(t, done, 10*time.Second), "round %d", r)
	}
	require.Equal(t, polls, p.stats.polls.Load(), "epoll_waits by a leader alone in its set")
	require.Equal(t, leads+rounds, p.stats.leads.Load())
	require.Zero(t, p.stats.breaks.Load())
	require.True(t, p.undrained.Load(), "the set was never drained")
}

// tryingLeader starts a Do read on a new socket pair in p's set and returns
// once the Do leads the set without draining, with its attempt and a func
// that ends it (it sends the read its byte and waits for the Do).
func tryingLeader(t *testing.T, p *poller) (op *fdOp, end func()) {
	pd, a, b := socketpairOn(t, p)
	done, op := doAsyncOp(pd, a, Read)
	waitFor(t, "the Do leads without draining", func() bool {
		return pd.rs.w.mode.Load() == parkLeader && p.undrained.Load()
	})
	return op, func() {
		_, err := unix.Write(b, []byte("x"))
		require.NoError(t, err)
		require.NoError(t, recvWithin(t, done, 10*time.Second))
	}
}

// hangUpUndrained shuts down peer's writing side while the leader whose
// attempt is op leads p's set without draining, and returns once the
// hangup's event woke the leader and the leader only tried its read: the
// hangup sits in the set, and no new event will announce it.
func hangUpUndrained(t *testing.T, p *poller, op *fdOp, peer int) {
	polls, tries := p.stats.polls.Load(), op.tries.Load()
	require.NoError(t, unix.Shutdown(peer, unix.SHUT_WR))
	waitFor(t, "the leader tries again", func() bool { return op.tries.Load() > tries })
	require.Equal(t, polls, p.stats.polls.Load(), "the hangup was drained before the late comer came")
}

// TestTryLeaderDrainsForLateComers: while a Do leads its set without
// draining, events of other fds stay in the set, and whoever later needs
// them gets them: a Do that follows (it tries its read once it is
// counted, and breaks nobody), a Wait that follows (the leader is broken
// out and drains for it), a Done channel (likewise), and PeerClosed (a
// pass of its own). Each arrives after its fd's hangup is already in the
// set.
func TestTryLeaderDrainsForLateComers(t *testing.T) {
	cases := []struct {
		name   string
		breaks bool                                           // the late comer breaks the leader
		arrive func(t *testing.T, pd2 *PollDesc, a2 int) bool // sees the hangup
	}{
		{"Do follower", false, func(t *testing.T, pd2 *PollDesc, a2 int) bool {
			return recvWithin(t, doAsync(pd2, a2, Read), 10*time.Second) == nil
		}},
		{"Wait follower", true, func(t *testing.T, pd2 *PollDesc, a2 int) bool {
			require.NoError(t, pd2.Prepare(Read))
			res := make(chan error, 1)
			go func() { res <- pd2.Wait(Read) }()
			return recvWithin(t, res, 10*time.Second) == nil
		}},
		{"Done", true, func(t *testing.T, pd2 *PollDesc, a2 int) bool {
			select {
			case <-pd2.Done():
				return true
			case <-time.After(10 * time.Second):
				return false
			}
		}},
		{"PeerClosed", false, func(t *testing.T, pd2 *PollDesc, a2 int) bool { return pd2.PeerClosed() }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := startedPoller(t)
			op, end := tryingLeader(t, p)
			pd2, a2, b2 := socketpairOn(t, p)
			hangUpUndrained(t, p, op, b2)
			breaks := p.stats.breaks.Load()
			require.True(t, tc.arrive(t, pd2, a2), "the late comer saw the hangup")
			require.Equal(t, tc.breaks, p.stats.breaks.Load() > breaks, "the late comer broke the leader")
			end()
		})
	}
}

// TestDoFollowerOfTryLeader: a Do that follows a leader trying its own I/O,
// and whose try finds nothing, gets the readiness that comes later: its
// event wakes the leader, which sees the follower and drains for it.
func TestDoFollowerOfTryLeader(t *testing.T) {
	p := startedPoller(t)
	_, end := tryingLeader(t, p)
	pd2, a2, b2 := socketpairOn(t, p)
	breaks := p.stats.breaks.Load()
	done2, op2 := doAsyncOp(pd2, a2, Read)
	waitFor(t, "the follower parks after a failed try", func() bool {
		return pd2.rs.w.mode.Load() == parkFollower && op2.fails.Load() > 0
	})
	_, err := unix.Write(b2, []byte("y"))
	require.NoError(t, err)
	require.NoError(t, recvWithin(t, done2, 10*time.Second))
	require.Equal(t, breaks, p.stats.breaks.Load(), "the follower broke the leader")
	end()
}

// TestDoLeaderDrainingTriesFirst: a Do that starts to lead a set someone
// else needs drained (here a watcher the poller goroutine has not taken
// over yet, as in the window before a handoff) drains instead of trying
// in a loop, but must still try once: its fd's readiness was delivered
// before its Prepare cleared it, so no event will announce the data that
// is already there.
func TestDoLeaderDrainingTriesFirst(t *testing.T) {
	p := testPoller(t) // no poller goroutine: nothing else leads
	pd, a, b := socketpairOn(t, p)
	_, err := unix.Write(b, []byte("x"))
	require.NoError(t, err)
	require.Equal(t, 1, p.netpoll(0), "the event is delivered before the Do")
	p.watchers.Add(1)
	defer p.watchers.Add(-1)
	done, op := doAsyncOp(pd, a, Read)
	require.NoError(t, recvWithin(t, done, 10*time.Second))
	require.EqualValues(t, 1, op.tries.Load())
}

// TestDoFindsDataFirst: a Do whose last Do found its data at once (or a
// first Do) tries before it parks: with data there it neither waits nor
// polls; once a Do has waited, the next tries inside its wait instead, and
// finding its data there at once counts as not having waited.
func TestDoFindsDataFirst(t *testing.T) {
	p := startedPoller(t)
	pd, a, b := socketpairOn(t, p)
	op := &fdOp{fd: a, mode: Read, buf: make([]byte, 1)}
	_, err := unix.Write(b, []byte("x"))
	require.NoError(t, err)
	leads, polls := p.stats.leads.Load(), p.stats.polls.Load()
	require.NoError(t, pd.Prepare(Read))
	require.NoError(t, pd.Do(Read, op))
	require.NoError(t, op.err)
	require.EqualValues(t, 1, op.tries.Load())
	require.Equal(t, leads, p.stats.leads.Load(), "a Do with its data there parked")
	require.Equal(t, polls, p.stats.polls.Load())
	require.False(t, pd.rs.waited)

	done := make(chan error, 1)
	go func() {
		if err := pd.Prepare(Read); err != nil {
			done <- err
			return
		}
		done <- pd.Do(Read, op)
	}()
	// Tried before parking and once inside its lead, both in vain: the
	// data written now comes after a wait.
	waitFor(t, "the reader tried inside its lead", func() bool {
		return pd.rs.w.mode.Load() == parkLeader && op.fails.Load() >= 2
	})
	_, err = unix.Write(b, []byte("y"))
	require.NoError(t, err)
	require.NoError(t, recvWithin(t, done, 10*time.Second))
	require.Equal(t, byte('y'), op.buf[0])
	require.True(t, pd.rs.waited, "the second Do waited")

	// The third tries inside its lead, finds the data at once, and so
	// lets the fourth try first again.
	_, err = unix.Write(b, []byte("z"))
	require.NoError(t, err)
	leads = p.stats.leads.Load()
	require.NoError(t, pd.Prepare(Read))
	require.NoError(t, pd.Do(Read, op))
	require.Equal(t, byte('z'), op.buf[0])
	require.Equal(t, leads+1, p.stats.leads.Load(), "the third Do tried inside its lead")
	require.False(t, pd.rs.waited, "the third Do found its data at once")
}
