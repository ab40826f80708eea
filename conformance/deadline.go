package conformance

import (
	"net"
	"os"
	"testing"
	"time"
)

// bigChunk is the Write size used to fill socket buffers against a peer that
// does not read: large enough that a single Write blocks part-way.
const bigChunk = 1 << 20

// deadlinePast: a deadline in the past fails Read and/or Write at once with
// a timeout error, without affecting the other direction.
func deadlinePast(t *testing.T, st stack) {
	cases := []struct {
		name        string
		set         func(c net.Conn, d time.Time) error
		read, write bool // which directions the deadline applies to
	}{
		{"SetReadDeadline", net.Conn.SetReadDeadline, true, false},
		{"SetWriteDeadline", net.Conn.SetWriteDeadline, false, true},
		{"SetDeadline", net.Conn.SetDeadline, true, true},
	}
	forEachNetwork(t, st, func(t *testing.T, network string) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				c, s := pair(t, st, network)
				mustNoError(t, tc.set(c, time.Now().Add(-time.Second)))

				if tc.read {
					r := doRead(t, c, 10)
					mustZero(t, r.n)
					requireTimeout(t, c, r.err, "read", network)
				} else {
					writeString(t, s, "ping")
					readString(t, c, "ping")
				}
				if tc.write {
					r := doWrite(t, c, []byte("x"))
					mustZero(t, r.n)
					requireTimeout(t, c, r.err, "write", network)
				} else {
					writeString(t, c, "pong")
					readString(t, s, "pong")
				}
			})
		}
	})
}

// deadlineZeroClears: after a timeout, the zero time clears the deadline
// and the next operation blocks until it can complete.
func deadlineZeroClears(t *testing.T, st stack) {
	forEachNetwork(t, st, func(t *testing.T, network string) {
		t.Run("read", func(t *testing.T) {
			c, s := pair(t, st, network)
			mustNoError(t, c.SetReadDeadline(time.Now().Add(-time.Second)))
			requireTimeout(t, c, doRead(t, c, 10).err, "read", network)

			mustNoError(t, c.SetReadDeadline(time.Time{}))
			res := goRead(t, c, 10)
			writeString(t, s, "hello")
			r := await(t, res, "Read")
			mustNoError(t, r.err)
			mustEqual(t, "hello", string(r.data))
		})
		t.Run("write", func(t *testing.T) {
			c, s := pair(t, st, network)
			mustNoError(t, c.SetWriteDeadline(time.Now().Add(-time.Second)))
			requireTimeout(t, c, doWrite(t, c, []byte("x")).err, "write", network)

			// With the deadline cleared, a Write bigger than the
			// socket buffers blocks until the peer reads, and completes.
			mustNoError(t, c.SetWriteDeadline(time.Time{}))
			requireStreamArrives(t, c, s, bigChunk, 16<<20)
		})
	})
}

// deadlineMovedWhileBlocked: changing a deadline applies to an operation
// that is already blocked (or about to block: the assertions hold either way).
func deadlineMovedWhileBlocked(t *testing.T, st stack) {
	forEachNetwork(t, st, func(t *testing.T, network string) {
		// Moving the deadline later (or clearing it) keeps the
		// operation blocked past the old deadline: it then
		// completes instead of timing out.
		later := []struct {
			name string
			next func() time.Time
		}{
			{"extended", func() time.Time { return time.Now().Add(time.Hour) }},
			{"cleared", func() time.Time { return time.Time{} }},
		}
		for _, tc := range later {
			t.Run("read/"+tc.name, func(t *testing.T) {
				retryIfSlow(t, func(t *testing.T, window time.Duration) bool {
					c, s := pair(t, st, network)
					old := time.Now().Add(window)
					mustNoError(t, c.SetReadDeadline(old))
					res := goRead(t, c, 10)
					mustNoError(t, c.SetReadDeadline(tc.next()))
					if !time.Now().Before(old) {
						return false // moved too late to tell
					}
					sleepUntil(old)
					requireNotDone(t, res, "Read blocked past its old deadline")
					writeString(t, s, "data")
					r := await(t, res, "Read")
					mustNoError(t, r.err)
					mustEqual(t, "data", string(r.data))
					return true
				})
			})
			t.Run("write/"+tc.name, func(t *testing.T) {
				retryIfSlow(t, func(t *testing.T, window time.Duration) bool {
					c, s := pair(t, st, network)
					old := time.Now().Add(window)
					mustNoError(t, c.SetWriteDeadline(old))
					w := newStreamWriter(c, bigChunk)
					const total = 16 << 20 // more than the socket buffers hold
					written := spawn(t, func() error { return w.writeTotal(total) }, c)
					mustNoError(t, c.SetWriteDeadline(tc.next()))
					if !time.Now().Before(old) {
						return false
					}
					sleepUntil(old)
					// The peer starts reading only now: the Write must
					// not have failed at the old deadline.
					drain := goDrain(t, s)
					mustNoError(t, await(t, written, "Write"))
					mustNoError(t, c.Close())
					got := await(t, drain, "reading to EOF")
					w.requireArrived(t, got, total)
					return true
				})
			})
		}

		// Moving the deadline earlier times the blocked operation
		// out promptly, and not before the new deadline.
		earlier := []struct {
			name string
			next func() time.Time
		}{
			{"soon", func() time.Time { return time.Now().Add(100 * time.Millisecond) }},
			{"past", func() time.Time { return time.Now().Add(-time.Second) }},
		}
		for _, tc := range earlier {
			t.Run("read/earlier-"+tc.name, func(t *testing.T) {
				c, _ := pair(t, st, network)
				mustNoError(t, c.SetReadDeadline(time.Now().Add(time.Hour)))
				res := goRead(t, c, 10)
				next := tc.next()
				mustNoError(t, c.SetReadDeadline(next))
				r := await(t, res, "Read after its deadline was moved earlier")
				mustZero(t, r.n)
				requireTimeout(t, c, r.err, "read", network)
				mustFalse(t, r.at.Before(next), "Read timed out before its deadline")
			})
			t.Run("write/earlier-"+tc.name, func(t *testing.T) {
				c, s := pair(t, st, network)
				mustNoError(t, c.SetWriteDeadline(time.Now().Add(time.Hour)))
				w := newStreamWriter(c, bigChunk)
				written := spawn(t, func() ioResult {
					err := w.writeUntilError()
					return ioResult{err: err, at: time.Now()}
				}, c)
				next := tc.next()
				mustNoError(t, c.SetWriteDeadline(next))
				r := await(t, written, "Write after its deadline was moved earlier")
				requireTimeout(t, c, r.err, "write", network)
				mustFalse(t, r.at.Before(next), "Write timed out before its deadline")
				// The bytes reported written are exactly those the peer gets.
				mustNoError(t, c.Close())
				got := await(t, goDrain(t, s), "reading to EOF")
				w.requireArrived(t, got, w.total)
			})
		}
	})
}

// retryIfSlow runs attempt with growing windows until one is conclusive. An
// attempt is inconclusive when the machine stalled so long that the old
// deadline passed before the test could move it; if every window is, the test
// is skipped rather than failed.
func retryIfSlow(t *testing.T, attempt func(t *testing.T, window time.Duration) bool) {
	t.Helper()
	for _, window := range []time.Duration{300 * time.Millisecond, time.Second, 3 * time.Second} {
		if attempt(t, window) {
			return
		}
		t.Logf("deadline moved after the old one had passed (window %v); retrying", window)
	}
	t.Skip("machine too slow to move a deadline before it passes")
}

// deadlineIndependent: a read timeout does not affect writes and vice
// versa, including while the other direction's operation is blocked.
func deadlineIndependent(t *testing.T, st stack) {
	forEachNetwork(t, st, func(t *testing.T, network string) {
		t.Run("read-timeout/write-blocked", func(t *testing.T) {
			// A Write blocked against a non-reading peer, with no
			// write deadline, survives a read timeout and completes
			// once the peer reads.
			c, s := pair(t, st, network)
			w := newStreamWriter(c, bigChunk)
			const total = 16 << 20
			written := spawn(t, func() error { return w.writeTotal(total) }, c)
			mustNoError(t, c.SetReadDeadline(time.Now().Add(50*time.Millisecond)))
			requireTimeout(t, c, doRead(t, c, 10).err, "read", network)

			drain := goDrain(t, s)
			mustNoError(t, await(t, written, "Write"))
			mustNoError(t, c.Close())
			got := await(t, drain, "reading to EOF")
			w.requireArrived(t, got, total)
		})
		t.Run("write-timeout/read-blocked", func(t *testing.T) {
			// A Read blocked with no read deadline survives a write
			// timeout and completes when data arrives.
			c, s := pair(t, st, network)
			res := goRead(t, c, 10)
			mustNoError(t, c.SetWriteDeadline(time.Now().Add(50*time.Millisecond)))
			err := bounded(t, "Write", newStreamWriter(c, bigChunk).writeUntilError, c)
			requireTimeout(t, c, err, "write", network)
			requireNotDone(t, res, "Read (a write deadline passed)")

			writeString(t, s, "data")
			r := await(t, res, "Read")
			mustNoError(t, r.err)
			mustEqual(t, "data", string(r.data))
		})
	})
}

// deadlineRecovery: repeated timeouts lose no data, in either direction,
// and the conn works normally once the deadline is cleared.
func deadlineRecovery(t *testing.T, st stack) {
	forEachNetwork(t, st, func(t *testing.T, network string) {
		t.Run("read", func(t *testing.T) {
			c, s := pair(t, st, network)
			// Leave "b" unread in c's receive buffer: a deadline
			// that has passed fails the Read even with data
			// pending, and the data stays there.
			writeString(t, s, "ab")
			readString(t, c, "a")
			for i := range 3 {
				mustNoError(t, c.SetReadDeadline(time.Now().Add(-time.Second)))
				r := doRead(t, c, 10)
				mustZero(t, r.n, "timeout %d", i)
				requireTimeout(t, c, r.err, "read", network)
			}
			mustNoError(t, c.SetReadDeadline(time.Time{}))
			readString(t, c, "b")

			// Now with nothing pending: short deadlines that expire
			// while the Read is blocked.
			for i := range 3 {
				d := time.Now().Add(20 * time.Millisecond)
				mustNoError(t, c.SetReadDeadline(d))
				r := doRead(t, c, 10)
				mustFalse(t, r.at.Before(d), "timeout %d came before the deadline", i)
				mustZero(t, r.n, "timeout %d", i)
				requireTimeout(t, c, r.err, "read", network)
			}
			mustNoError(t, c.SetReadDeadline(time.Time{}))

			// Everything sent afterwards arrives intact and nothing
			// more: no byte was lost or duplicated by the timeouts.
			w := newStreamWriter(s, 64<<10)
			const total = 4 << 20
			written := spawn(t, func() error {
				if err := w.writeTotal(total); err != nil {
					return err
				}
				return s.Close()
			}, s)
			got := await(t, goDrain(t, c), "reading to EOF")
			mustNoError(t, await(t, written, "Write"))
			w.requireArrived(t, got, total)
		})
		t.Run("write-to-non-reading-peer", func(t *testing.T) {
			// Against a peer that never reads, Writes time out (the
			// first one part-way through, returning how much it
			// wrote), then fail at once while the deadline stays
			// passed; the stream the peer finally reads is exactly
			// the bytes reported written, followed by what is
			// written after the deadline is cleared.
			c, s := pair(t, st, network)
			w := newStreamWriter(c, bigChunk)
			d := time.Now().Add(200 * time.Millisecond)
			mustNoError(t, c.SetWriteDeadline(d))
			r := bounded(t, "Write", func() ioResult {
				return ioResult{err: w.writeUntilError(), at: time.Now()}
			}, c)
			mustFalse(t, r.at.Before(d), "Write timed out before its deadline")
			requireTimeout(t, c, r.err, "write", network)
			mustTrue(t, w.total > 0, "no byte written before the buffers filled")
			for range 3 {
				before := w.total
				err := bounded(t, "Write", func() error { return w.write(bigChunk) }, c)
				requireTimeout(t, c, err, "write", network)
				mustEqual(t, before, w.total, "a Write past its deadline wrote data")
			}

			mustNoError(t, c.SetWriteDeadline(time.Time{}))
			drain := goDrain(t, s)
			mustNoError(t, bounded(t, "Write", func() error { return w.writeTotal(4 << 20) }, c))
			mustNoError(t, c.Close())
			got := await(t, drain, "reading to EOF")
			w.requireArrived(t, got, w.total)
		})
	})
}

// acceptDeadline: a listener's deadline times Accept out with an "accept"
// OpError, a blocked Accept sees a deadline set while it waits, and clearing
// the deadline makes Accept work again.
func acceptDeadline(t *testing.T, st stack) {
	cases := []struct {
		name   string
		block  bool // set the deadline while Accept is (about to be) blocked
		offset time.Duration
	}{
		{"past", false, -time.Second},
		{"soon", false, 50 * time.Millisecond},
		{"set-while-blocked/past", true, -time.Second},
		{"set-while-blocked/soon", true, 50 * time.Millisecond},
	}
	forEachNetwork(t, st, func(t *testing.T, network string) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				ln := listenLocal(t, st.listen, network)
				dl, ok := ln.(deadliner)
				mustTrue(t, ok, "%T has no SetDeadline method", ln)

				accept := func() ioResult {
					c, err := ln.Accept()
					if !isNil(c) {
						c.Close()
					}
					return ioResult{err: err, at: time.Now()}
				}
				var d time.Time
				var res <-chan ioResult
				if tc.block {
					mustNoError(t, dl.SetDeadline(time.Now().Add(time.Hour)))
					res = spawn(t, accept, ln)
					d = time.Now().Add(tc.offset)
					mustNoError(t, dl.SetDeadline(d))
				} else {
					d = time.Now().Add(tc.offset)
					mustNoError(t, dl.SetDeadline(d))
					res = spawn(t, accept, ln)
				}
				r := await(t, res, "Accept")
				mustFalse(t, r.at.Before(d), "Accept timed out before its deadline")
				oe := requireOpError(t, r.err, "accept", network)
				requireAddr(t, ln.Addr(), oe.Addr, "OpError.Addr")
				mustNil(t, oe.Source, "OpError.Source")
				mustErrorIs(t, r.err, os.ErrDeadlineExceeded)
				var ne net.Error
				mustErrorAs(t, r.err, &ne)
				mustTrue(t, ne.Timeout())

				// Recovery: clear the deadline, Accept again.
				mustNoError(t, dl.SetDeadline(time.Time{}))
				c, s := connect(t, ln, st.dial, network)
				writeString(t, c, "hi")
				readString(t, s, "hi")
			})
		}
	})
}
