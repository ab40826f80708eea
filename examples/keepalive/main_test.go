//go:build linux

package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pollnet/pollnet"
	"github.com/pollnet/pollnet/pollrt"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// bound is how long a test waits for something before it fails. It is an
// upper bound for a hang, never a measurement: nothing here asserts how
// fast anything happens. Waits follow the server's gauges (stats) rather
// than sleeping for a guessed time.
const bound = 10 * time.Second

// testServer is a server running serve on 127.0.0.1:0 in this process.
type testServer struct {
	*server
	addr   string
	cancel context.CancelFunc
	done   chan error

	once sync.Once
	err  error
}

// startServer starts a server; the test's cleanup stops it and checks that
// no goroutine outlives it. Register client conns after calling it, so that
// their cleanups (which run first) close them before the server stops.
func startServer(t *testing.T, idle, grace time.Duration) *testServer {
	t.Helper()
	ln, err := pollnet.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	// pollrt starts its poller goroutine with its first descriptor: take
	// the goroutine baseline after Listen.
	baseline := goleak.IgnoreCurrent()
	ctx, cancel := context.WithCancel(context.Background())
	ts := &testServer{
		server: newServer(idle, grace),
		addr:   ln.Addr().String(),
		cancel: cancel,
		done:   make(chan error, 1),
	}
	go func() { ts.done <- ts.serve(ctx, ln) }()
	t.Cleanup(func() {
		require.NoError(t, ts.stop(t))
		verifyNoLeaks(t, baseline)
	})
	return ts
}

// stop cancels serve's context and returns serve's result.
func (ts *testServer) stop(t *testing.T) error {
	t.Helper()
	ts.once.Do(func() {
		ts.cancel()
		select {
		case ts.err = <-ts.done:
		case <-time.After(bound):
			ts.err = errors.New("serve did not return after its context was cancelled")
		}
	})
	return ts.err
}

func (ts *testServer) String() string {
	s := &ts.stats
	return fmt.Sprintf("conns %d, parked %d, buffers %d, sleeping %d, bytes in %d",
		s.conns.Load(), s.parked.Load(), s.buffers.Load(), s.sleeping.Load(), s.bytesIn.Load())
}

// waitFor waits until cond holds, failing the test after bound.
func (ts *testServer) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(bound); !cond(); time.Sleep(100 * time.Microsecond) {
		if time.Now().After(deadline) {
			t.Fatalf("still waiting for %s after %v (%v)", what, bound, ts)
		}
	}
}

// waitIdle waits until the server has read want request bytes in all and
// has dealt with them: parked conns are back in WaitRead. bytesIn is read
// first: a conn leaves the parked gauge before its Read counts bytes, so
// once the bytes show, parked reaching the count means the conns that read
// them are waiting again, with their replies written.
func (ts *testServer) waitIdle(t *testing.T, want, parked int64) {
	t.Helper()
	ts.waitFor(t, fmt.Sprintf("%d bytes read and %d conns parked", want, parked), func() bool {
		return ts.stats.bytesIn.Load() == want && ts.stats.parked.Load() == parked
	})
}

func verifyNoLeaks(t *testing.T, baseline goleak.Option) {
	t.Helper()
	var err error
	// Find retries for about half a second; on a loaded machine give the
	// goroutines up to bound to end.
	for deadline := time.Now().Add(bound); time.Now().Before(deadline); {
		if err = goleak.Find(baseline); err == nil {
			return
		}
	}
	t.Error(err)
}

// client is a package-net client conn, so that the server is tested
// against a client that does not share its poller.
type client struct {
	*net.TCPConn
	r *bufio.Reader
}

func dial(t *testing.T, addr string) *client {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return &client{TCPConn: c.(*net.TCPConn), r: bufio.NewReader(c)}
}

func (c *client) send(t *testing.T, s string) {
	t.Helper()
	require.NoError(t, c.SetWriteDeadline(time.Now().Add(bound)))
	_, err := io.WriteString(c, s)
	require.NoError(t, err)
}

func (c *client) line(t *testing.T) string {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(bound)))
	s, err := c.r.ReadString('\n')
	require.NoError(t, err, "read so far: %q", s)
	return s
}

// eof asserts that the server closed the conn with nothing more to say.
func (c *client) eof(t *testing.T) {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(bound)))
	b, err := c.r.ReadByte()
	require.ErrorIs(t, err, io.EOF, "got byte %q", b)
}

func TestRequests(t *testing.T) {
	ts := startServer(t, time.Minute, bound)
	c := dial(t, ts.addr)
	for _, rr := range []struct{ req, reply string }{
		{"PING\n", "PONG\n"},
		{"ECHO hello, world\n", "hello, world\n"},
		{"ECHO\n", "\n"},
		{"PING\r\n", "PONG\n"},
		{"SLEEP 1\n", "SLEPT 1\n"},
		{"SLEEP soon\n", "ERR SLEEP takes milliseconds, 0 to 60000\n"},
		{"SLEEP 60001\n", "ERR SLEEP takes milliseconds, 0 to 60000\n"},
		{"ping\n", "ERR unknown command\n"},
		{"\n", "ERR unknown command\n"},
		// The longest request: bufSize bytes with its "\n".
		{"ECHO " + strings.Repeat("x", bufSize-6) + "\n", strings.Repeat("x", bufSize-6) + "\n"},
	} {
		c.send(t, rr.req)
		require.Equal(t, rr.reply, c.line(t), "request %q", rr.req)
	}

	// Pipelined requests in one write: replies in order, the slow one
	// included.
	c.send(t, "PING\nECHO a\nSLEEP 0\nECHO b\n")
	for _, want := range []string{"PONG\n", "a\n", "SLEPT 0\n", "b\n"} {
		require.Equal(t, want, c.line(t))
	}
	c.send(t, "QUIT\nPING\n") // nothing after QUIT is served
	require.Equal(t, "BYE\n", c.line(t))
	c.eof(t)

	t.Run("last line without newline", func(t *testing.T) {
		c := dial(t, ts.addr)
		c.send(t, "ECHO last")
		require.NoError(t, c.CloseWrite())
		require.Equal(t, "last\n", c.line(t))
		c.eof(t)
	})
	t.Run("line too long", func(t *testing.T) {
		c := dial(t, ts.addr)
		// Exactly a buffer without "\n": the server reads all of it (so
		// it closes with nothing unread, a FIN and not a reset) and finds
		// no room left for the line's end.
		c.send(t, "ECHO "+strings.Repeat("x", bufSize-5))
		require.Equal(t, "ERR line too long\n", c.line(t))
		c.eof(t)
	})
	ts.waitFor(t, "every conn closed", func() bool { return ts.stats.conns.Load() == 0 })
	require.Zero(t, ts.stats.buffers.Load(), "buffers not returned to the pool")
}

// TestSplitRequests sends requests in pieces, each read by the server
// before the next is sent, so every request is split across reads (and
// TCP segments) at the chosen points whatever the timing.
func TestSplitRequests(t *testing.T) {
	ts := startServer(t, time.Minute, bound)
	c := dial(t, ts.addr)
	ts.waitIdle(t, 0, 1)
	require.Zero(t, ts.stats.buffers.Load(), "an idle conn holds no buffer")

	// piece sends p and waits until the server has read it and waits for
	// more. (The subtests pass their own t: FailNow must be called by the
	// test it fails.)
	var sent int64
	piece := func(t *testing.T, p string) {
		t.Helper()
		c.send(t, p)
		sent += int64(len(p))
		ts.waitIdle(t, sent, 1)
	}
	// held asserts whether the conn holds a buffer while it waits: exactly
	// when part of a request is buffered.
	held := func(t *testing.T, want bool, after string) {
		t.Helper()
		require.Equal(t, want, ts.stats.buffers.Load() == 1, "buffer held after %q (%v)", after, ts)
	}

	t.Run("byte by byte", func(t *testing.T) {
		msg := "PING\nECHO split\r\nPING\n"
		for i := range len(msg) {
			piece(t, msg[i:i+1])
			held(t, msg[i] != '\n', msg[:i+1])
		}
		for _, want := range []string{"PONG\n", "split\n", "PONG\n"} {
			require.Equal(t, want, c.line(t))
		}
	})
	t.Run("complete and partial requests in one read", func(t *testing.T) {
		// The unfinished line after a complete one moves to the front of
		// the buffer and is completed by the next reads.
		pieces := []string{"PING\nECHO ab", "cd\nPING\nEC", "HO e", "f\n"}
		for i, p := range pieces {
			piece(t, p)
			held(t, i < len(pieces)-1, p)
		}
		for _, want := range []string{"PONG\n", "abcd\n", "PONG\n", "ef\n"} {
			require.Equal(t, want, c.line(t))
		}
	})
	t.Run("long line in chunks", func(t *testing.T) {
		text := strings.Repeat("0123456789", 400)
		line := "ECHO " + text + "\n"
		for _, size := range []int{1, 100, 1000, 7, 2000} {
			piece(t, line[:size])
			held(t, true, line[:size])
			line = line[size:]
		}
		piece(t, line)
		held(t, false, line)
		require.Equal(t, text+"\n", c.line(t))
	})
	t.Run("random pieces", func(t *testing.T) {
		// Many requests cut at random points and sent without waiting:
		// however the server's reads fall, every reply comes back right.
		rng := rand.New(rand.NewPCG(1, 2))
		var msg strings.Builder
		var want []string
		for i := range 300 {
			if i%7 == 0 {
				msg.WriteString("PING\r\n")
				want = append(want, "PONG\n")
				continue
			}
			text := strings.Repeat(fmt.Sprint(i), rng.IntN(50))
			fmt.Fprintf(&msg, "ECHO %s\n", text)
			want = append(want, text+"\n")
		}
		rest := msg.String()
		for len(rest) > 0 {
			n := min(1+rng.IntN(300), len(rest))
			c.send(t, rest[:n])
			sent += int64(n)
			rest = rest[n:]
		}
		for i, w := range want {
			require.Equal(t, w, c.line(t), "reply %d", i)
		}
		ts.waitIdle(t, sent, 1)
		held(t, false, "the last request")
	})
}

// TestManyIdleConns parks many conns at once, none holding a buffer, then
// serves a request on each.
func TestManyIdleConns(t *testing.T) {
	const n = 200
	ts := startServer(t, time.Minute, bound)
	cs := make([]*client, n)
	for i := range cs {
		cs[i] = dial(t, ts.addr)
	}
	ts.waitIdle(t, 0, n)
	require.Zero(t, ts.stats.buffers.Load(), "idle conns hold no buffers")

	var sent int64
	for i, c := range cs {
		req := fmt.Sprintf("ECHO conn %d\n", i)
		c.send(t, req)
		sent += int64(len(req))
	}
	for i, c := range cs {
		require.Equal(t, fmt.Sprintf("conn %d\n", i), c.line(t))
	}
	ts.waitIdle(t, sent, n)
	require.Zero(t, ts.stats.buffers.Load(), "served conns returned their buffers")
	require.EqualValues(t, n, ts.stats.conns.Load())
}

func TestIdleTimeout(t *testing.T) {
	ts := startServer(t, 200*time.Millisecond, bound)
	idle := dial(t, ts.addr)
	// A request that never completes is cut off too, buffer and all.
	partial := dial(t, ts.addr)
	partial.send(t, "ECHO never finished")
	idle.eof(t)
	partial.eof(t)
	ts.waitFor(t, "both conns closed", func() bool { return ts.stats.conns.Load() == 0 })
	require.Zero(t, ts.stats.buffers.Load(), "the timed-out request's buffer went back")
}

// TestClientGoneStopsSleep checks that a slow request ends when its client
// hangs up, long before it would have finished.
func TestClientGoneStopsSleep(t *testing.T) {
	for _, how := range []string{"close", "close-write"} {
		t.Run(how, func(t *testing.T) {
			ts := startServer(t, time.Minute, bound)
			c := dial(t, ts.addr)
			c.send(t, "SLEEP 60000\n")
			ts.waitFor(t, "the SLEEP to start", func() bool { return ts.stats.sleeping.Load() == 1 })
			if how == "close" {
				require.NoError(t, c.Close())
			} else {
				require.NoError(t, c.CloseWrite())
			}
			// bound is well under the 60s the SLEEP asked for.
			ts.waitFor(t, "the server to drop the conn", func() bool { return ts.stats.conns.Load() == 0 })
			if how == "close-write" {
				c.eof(t) // no reply: a half-closed client counts as gone
			}
			require.Zero(t, ts.stats.sleeping.Load())
			require.Zero(t, ts.stats.buffers.Load())
		})
	}
}

// openDescriptors is the number of descriptors open in pollrt: the server's
// listener and conns (the clients use package net).
func openDescriptors() uint64 {
	var s pollrt.Stats
	pollrt.ReadStats(&s)
	return s.Open
}

// TestShutdown cancels serve's context with conns in every state: idle,
// holding half a request, and in a slow request.
func TestShutdown(t *testing.T) {
	open := openDescriptors()
	// No idle timeout: only the shutdown can end these conns. The grace
	// period is long, so it is never what ends them: nothing here blocks
	// past the cancel.
	ts := startServer(t, 0, bound)
	const idle = 20
	var cs []*client
	for range idle {
		cs = append(cs, dial(t, ts.addr))
	}
	partial := dial(t, ts.addr)
	partial.send(t, "ECHO unfinished")
	sleeper := dial(t, ts.addr)
	sleeper.send(t, "SLEEP 60000\n")
	ts.waitFor(t, "every conn in place", func() bool {
		return ts.stats.bytesIn.Load() == int64(len("ECHO unfinished")+len("SLEEP 60000\n")) &&
			ts.stats.parked.Load() == idle+1 && ts.stats.sleeping.Load() == 1
	})
	require.EqualValues(t, 2, ts.stats.buffers.Load(), "the partial request and the SLEEP hold buffers")

	require.NoError(t, ts.stop(t))
	require.Zero(t, ts.stats.conns.Load())
	require.Zero(t, ts.stats.parked.Load())
	require.Zero(t, ts.stats.sleeping.Load())
	require.Zero(t, ts.stats.buffers.Load())
	for _, c := range append(cs, partial) {
		c.eof(t)
	}
	require.Equal(t, "ERR shutting down\n", sleeper.line(t))
	sleeper.eof(t)
	ts.waitFor(t, "the listener and conns closed in pollrt", func() bool { return openDescriptors() == open })
}

// TestShutdownClosesStuckWriter: a client that sends requests but never
// reads the replies leaves the server blocked in Write (no -idle, so no
// write deadline); when the grace period ends the shutdown closes the conn
// under it.
func TestShutdownClosesStuckWriter(t *testing.T) {
	open := openDescriptors()
	ts := startServer(t, 0, 50*time.Millisecond)
	c := dial(t, ts.addr)
	req := strings.Repeat("ECHO "+strings.Repeat("z", 1000)+"\n", 64)
	// Send until a write stalls: the server has stopped reading, which it
	// does only while blocked writing replies. (A stall from a slow
	// machine instead just means a shutdown with nothing stuck, which must
	// pass all the same.)
	// Socket buffers are a few MiB at most: 1 GiB without a stall is a
	// server that does not block, a bug.
	for sent := 0; ; sent += len(req) {
		require.Less(t, sent, 1<<30, "writes never stalled")
		require.NoError(t, c.SetWriteDeadline(time.Now().Add(50*time.Millisecond)))
		if _, err := io.WriteString(c, req); err != nil {
			require.ErrorIs(t, err, os.ErrDeadlineExceeded)
			break
		}
	}
	require.NoError(t, ts.stop(t))
	require.Zero(t, ts.stats.conns.Load())
	require.Zero(t, ts.stats.buffers.Load())
	ts.waitFor(t, "the listener and conn closed in pollrt", func() bool { return openDescriptors() == open })
	// The client sees the end of the conn: EOF after the replies, or a
	// reset, since the server closed with requests unread.
	require.NoError(t, c.SetReadDeadline(time.Now().Add(bound)))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	require.False(t, errors.As(err, &ne) && ne.Timeout(), "conn still open: %v", err)
}
