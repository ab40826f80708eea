package conformance

import (
	"context"
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
	"math/rand"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"golang.org/x/net/nettest"
)

// stack is the Impl under test in the form the cases use: listen and dial
// with no context (context.Background), and the networks to run over.
type stack struct {
	impl   Impl
	listen listenFunc
	dial   dialFunc
	// networks are those of impl.Networks the host supports, in the
	// order tcp4, tcp6, unix.
	networks []string
}

func newStack(impl Impl) stack {
	return stack{
		impl: impl,
		listen: func(network, address string) (net.Listener, error) {
			return impl.Listen(context.Background(), network, address)
		},
		dial: func(network, address string) (net.Conn, error) {
			return impl.Dial(context.Background(), network, address)
		},
		networks: hostNetworks(impl.Networks),
	}
}

// serves reports whether the stack is to be tried on network: one of its
// networks, "tcp" when it serves tcp4 or tcp6, or any other name (an unknown
// network is bad input every implementation must reject).
func (st stack) serves(network string) bool {
	switch network {
	case "tcp":
		return st.serves("tcp4") || st.serves("tcp6")
	case "tcp4", "tcp6", "unix":
		return slices.Contains(st.networks, network)
	}
	return true
}

// requireServes skips the test when the stack does not serve network (or the
// host lacks IPv6 for tcp6).
func (st stack) requireServes(t *testing.T, network string) {
	t.Helper()
	if network == "tcp6" {
		requireIPv6(t)
	}
	if !st.serves(network) {
		t.Skipf("%s does not serve %s (Impl.Networks %v)", st.impl.Name, network, st.impl.Networks)
	}
}

// waitBound is how long a test waits for something that should happen
// "promptly". The machine may be a loaded 2-core VM running under -race, so it
// is generous; it is only ever reached when a test is failing.
const waitBound = 10 * time.Second

// forEachNetwork runs fn as a subtest per network of the stack: tcp4 on
// 127.0.0.1, tcp6 on ::1 (when the host has IPv6) and unix sockets.
func forEachNetwork(t *testing.T, st stack, fn func(t *testing.T, network string)) {
	for _, network := range st.networks {
		t.Run(network, func(t *testing.T) { fn(t, network) })
	}
}

// forEachSide runs fn per network and per end of a fresh pair, as subtests
// network/client and network/server: a is the named end, b its peer.
func forEachSide(t *testing.T, st stack, fn func(t *testing.T, network string, a, b net.Conn)) {
	forEachNetwork(t, st, func(t *testing.T, network string) {
		for _, side := range []string{"client", "server"} {
			t.Run(side, func(t *testing.T) {
				a, b := pair(t, st, network)
				if side == "server" {
					a, b = b, a
				}
				fn(t, network, a, b)
			})
		}
	})
}

// allNetworks are the networks an Impl can declare, in run order.
var allNetworks = []string{"tcp4", "tcp6", "unix"}

// hostNetworks returns the networks of declared (all of them when empty)
// that the host supports, in the order of allNetworks.
func hostNetworks(declared []string) []string {
	var nws []string
	for _, n := range allNetworks {
		if len(declared) > 0 && !slices.Contains(declared, n) {
			continue
		}
		if n == "tcp6" && !nettest.SupportsIPv6() {
			continue
		}
		nws = append(nws, n)
	}
	return nws
}

// requireIPv6 skips the test when the host has no IPv6 loopback.
func requireIPv6(t *testing.T) {
	t.Helper()
	if !nettest.SupportsIPv6() {
		t.Skip("IPv6 is not supported on this host")
	}
}

// sockPath returns a fresh unix socket path in its own short temporary
// directory (t.TempDir() embeds the test name and can exceed the 108-byte
// limit of sun_path), removed when the test ends.
func sockPath(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "pn")
	mustNoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "s")
}

// loopbackAddr is the address to listen on for the TCP testNetworks.
var loopbackAddr = map[string]string{"tcp4": "127.0.0.1:0", "tcp6": "[::1]:0"}

// localAddr is the address to listen on for one of testNetworks.
func localAddr(t testing.TB, network string) string {
	t.Helper()
	if network == "unix" {
		return sockPath(t)
	}
	addr, ok := loopbackAddr[network]
	mustTrue(t, ok, "no local address for network %q", network)
	return addr
}

type listenFunc func(network, address string) (net.Listener, error)
type dialFunc func(network, address string) (net.Conn, error)

// listenLocal listens on a fresh local address of network; the listener is
// closed when the test ends.
func listenLocal(t testing.TB, listen listenFunc, network string) net.Listener {
	t.Helper()
	ln, err := listen(network, localAddr(t, network))
	mustNoError(t, err)
	t.Cleanup(func() { ln.Close() })
	return ln
}

// pair returns a connected client (dialed) and server (accepted) conn over
// network, both from st. They and their listener are closed when the test ends.
func pair(t *testing.T, st stack, network string) (client, server net.Conn) {
	t.Helper()
	client, server, _ = pairWith(t, st.listen, st.dial, network)
	return client, server
}

// pairWith connects a conn dialed with dial to one accepted from a listener
// made by listen, so that stacks can be mixed (interoperability).
func pairWith(t *testing.T, listen listenFunc, dial dialFunc, network string) (client, server net.Conn, ln net.Listener) {
	t.Helper()
	ln = listenLocal(t, listen, network)
	client, server = connect(t, ln, dial, network)
	return client, server, ln
}

// connect dials ln's address over network with dial and accepts the
// connection from ln. Both conns are closed when the test ends.
func connect(t *testing.T, ln net.Listener, dial dialFunc, network string) (client, server net.Conn) {
	t.Helper()
	return connectTo(t, ln, dial, network, ln.Addr().String())
}

// connectTo dials target over network with dial and accepts the connection
// on ln, checking that the accepted conn is the dialed one. Both conns are
// closed when the test ends.
func connectTo(t *testing.T, ln net.Listener, dial dialFunc, network, target string) (client, server net.Conn) {
	t.Helper()
	accepted := spawn(t, func() connResult {
		c, err := ln.Accept()
		return connResult{c, err}
	}, ln)
	d := bounded(t, "Dial", func() connResult {
		c, err := dial(network, target)
		return connResult{c, err}
	})
	if d.err != nil {
		ln.Close() // unblock Accept
	}
	mustNoError(t, d.err)
	mustConn(t, d, "Dial")
	t.Cleanup(func() { d.c.Close() })
	a := await(t, accepted, "Accept")
	mustNoError(t, a.err)
	mustConn(t, a, "Accept")
	t.Cleanup(func() { a.c.Close() })
	requireAddr(t, d.c.LocalAddr(), a.c.RemoteAddr(), "the accepted conn's RemoteAddr is the dialed conn's LocalAddr")
	return d.c, a.c
}

type connResult struct {
	c   net.Conn
	err error
}

// mustConn fails the test if a Dial or Accept that returned no error
// returned no conn either (a non-blocking Accept, say), which the cases
// would otherwise trip over with a nil dereference.
func mustConn(t testing.TB, r connResult, what string) {
	t.Helper()
	if isNil(r.c) {
		t.Fatalf("%s returned a nil net.Conn and a nil error", what)
	}
}

// ioResult is what a Read or Write (or a loop of them) returned, and when.
type ioResult struct {
	n   int
	err error
	at  time.Time
}

// spawn runs fn on a new goroutine and returns a channel that receives its
// result. The test does not end with the goroutine still running: if it has
// not finished by cleanup time (the test failed early), the closers are closed
// to unblock it, and cleanup waits for it for at most waitBound.
func spawn[T any](t testing.TB, fn func() T, unblock ...io.Closer) <-chan T {
	t.Helper()
	ch := make(chan T, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		ch <- fn()
	}()
	t.Cleanup(func() {
		select {
		case <-done:
			return
		default:
		}
		for _, c := range unblock {
			c.Close()
		}
		select {
		case <-done:
		case <-time.After(waitBound):
			t.Errorf("goroutine started by the test still running %v after the test ended", waitBound)
		}
	})
	return ch
}

// await returns the value ch delivers, failing the test if it takes longer
// than waitBound.
func await[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitBound):
		t.Fatalf("%s did not return within %v", what, waitBound)
		panic("unreachable")
	}
}

// bounded runs fn on a new goroutine and returns its result, failing the test
// if that takes longer than waitBound (unblock is closed then, see spawn). Test
// code uses it for every call that a broken stack could leave blocked.
func bounded[T any](t testing.TB, what string, fn func() T, unblock ...io.Closer) T {
	t.Helper()
	return await(t, spawn(t, fn, unblock...), what)
}

// requireNotDone fails the test if ch already holds a result.
func requireNotDone[T any](t testing.TB, ch <-chan T, what string) {
	t.Helper()
	select {
	case v := <-ch:
		t.Fatalf("%s returned early: %+v", what, v)
	default:
	}
}

// sleepUntil waits for the wall clock to pass instant (plus a small margin for
// timer granularity). It is not synchronisation: tests use it only where the
// property being checked is "still blocked after this instant".
func sleepUntil(instant time.Time) {
	time.Sleep(time.Until(instant) + 20*time.Millisecond)
}

// goRead starts a Read of up to size bytes on c; the result carries the data.
func goRead(t testing.TB, c net.Conn, size int) <-chan readResult {
	return spawn(t, func() readResult {
		buf := make([]byte, size)
		n, err := checkedReader{c}.Read(buf)
		return readResult{ioResult{n, err, time.Now()}, buf[:n]}
	}, c)
}

type readResult struct {
	ioResult
	data []byte
}

// doRead performs one Read of up to size bytes, bounded in time.
func doRead(t testing.TB, c net.Conn, size int) readResult {
	t.Helper()
	return await(t, goRead(t, c, size), "Read")
}

// doWrite performs one Write of p, bounded in time.
func doWrite(t testing.TB, c net.Conn, p []byte) ioResult {
	t.Helper()
	return bounded(t, "Write", func() ioResult {
		n, err := c.Write(p)
		return ioResult{n, err, time.Now()}
	}, c)
}

// pattern is the data stream the integrity checks send: pseudo-random bytes
// with a period that is not a multiple of any chunk size used.
var pattern = func() []byte {
	b := make([]byte, 1<<20+13)
	rand.New(rand.NewSource(1)).Read(b)
	return b
}()

// streamWriter writes the pattern stream to a conn in chunks and keeps the
// SHA-256 and length of exactly the bytes the Writes reported as written, so
// that the reader's view can be compared with the writer's.
type streamWriter struct {
	c     net.Conn
	chunk int
	pos   int // offset of the next byte in pattern
	total int64
	sum   hash.Hash
}

func newStreamWriter(c net.Conn, chunk int) *streamWriter {
	return &streamWriter{c: c, chunk: chunk, sum: sha256.New()}
}

// write performs one Write of the next (at most limit) bytes of the stream. It
// reports an error if the count is impossible (negative, more than asked for)
// or short without an error (io.Writer requires one).
func (w *streamWriter) write(limit int) error {
	p := pattern[w.pos:min(w.pos+limit, len(pattern))]
	n, err := w.c.Write(p)
	if n < 0 || n > len(p) {
		return fmt.Errorf("Write of %d bytes returned n=%d (err %v)", len(p), n, err)
	}
	w.sum.Write(p[:n])
	w.total += int64(n)
	w.pos = (w.pos + n) % len(pattern)
	if err == nil && n != len(p) {
		return fmt.Errorf("Write of %d bytes returned n=%d without an error", len(p), n)
	}
	return err
}

// writeUntilError writes chunks until a Write fails and returns that error.
func (w *streamWriter) writeUntilError() error {
	for {
		if err := w.write(w.chunk); err != nil {
			return err
		}
	}
}

// writeTotal writes exactly total more bytes of the stream.
func (w *streamWriter) writeTotal(total int64) error {
	for target := w.total + total; w.total < target; {
		if err := w.write(int(min(int64(w.chunk), target-w.total))); err != nil {
			return err
		}
	}
	return nil
}

func (w *streamWriter) digest() []byte { return w.sum.Sum(nil) }

// requireArrived asserts the reader got exactly total bytes, ending in a
// clean EOF, with the SHA-256 of what w wrote.
func (w *streamWriter) requireArrived(t testing.TB, got drained, total int64) {
	t.Helper()
	requireEOF(t, got.err)
	mustEqual(t, total, got.total)
	mustEqual(t, w.digest(), got.sum, "SHA-256 of the stream")
}

// requireStreamArrives writes total bytes of a stream on c in chunks of
// chunk and closes c, while s reads: s must get exactly those bytes, then a
// clean EOF.
func requireStreamArrives(t testing.TB, c, s net.Conn, chunk int, total int64) {
	t.Helper()
	w := newStreamWriter(c, chunk)
	written := spawn(t, func() error {
		if err := w.writeTotal(total); err != nil {
			return err
		}
		return c.Close()
	}, c)
	got := await(t, goDrain(t, s), "reading to EOF")
	mustNoError(t, await(t, written, "Write and Close"))
	w.requireArrived(t, got, total)
}

// drained is what a reader received until the end of the stream.
type drained struct {
	total int64
	sum   []byte
	err   error // the error that ended the stream; io.EOF for a clean end
}

// goDrain reads c until an error (io.EOF for a clean end) on a new goroutine,
// hashing everything it reads.
func goDrain(t testing.TB, c net.Conn) <-chan drained {
	return spawn(t, func() drained {
		h := sha256.New()
		buf := make([]byte, 64<<10)
		var total int64
		for {
			n, err := checkedReader{c}.Read(buf)
			h.Write(buf[:n])
			total += int64(n)
			if err != nil {
				return drained{total, h.Sum(nil), err}
			}
		}
	}, c)
}

// requireEOF asserts err is io.EOF itself, not wrapped: callers compare with ==.
func requireEOF(t testing.TB, err error) {
	t.Helper()
	mustTrue(t, err == io.EOF, "want io.EOF itself, got %#v (%v)", err, err)
}

// requireOpError asserts err is a *net.OpError (not wrapped) with the given Op
// and Net and returns it.
func requireOpError(t testing.TB, err error, op, network string) *net.OpError {
	t.Helper()
	mustError(t, err)
	oe, ok := err.(*net.OpError)
	mustTrue(t, ok, "want *net.OpError, got %T: %v", err, err)
	mustEqual(t, op, oe.Op, "OpError.Op (%v)", err)
	mustEqual(t, network, oe.Net, "OpError.Net (%v)", err)
	return oe
}

// requireAddr asserts a net.Addr field of an error is want (compared by
// network and string form; nil means nil).
func requireAddr(t testing.TB, want, got net.Addr, field string) {
	t.Helper()
	if want == nil {
		mustNil(t, got, field)
		return
	}
	mustNotNil(t, got, field)
	mustEqual(t, want.Network(), got.Network(), field)
	mustEqual(t, want.String(), got.String(), field)
}

// requireConnOpError checks the shape package net gives errors from a conn's
// Read, Write, Close, CloseRead and CloseWrite: Source is the local address,
// Addr the remote one.
func requireConnOpError(t testing.TB, c net.Conn, err error, op, network string) *net.OpError {
	t.Helper()
	oe := requireOpError(t, err, op, network)
	requireAddr(t, c.LocalAddr(), oe.Source, "OpError.Source")
	requireAddr(t, c.RemoteAddr(), oe.Addr, "OpError.Addr")
	return oe
}

// requireTimeout asserts err is a deadline error from a conn's op ("read" or
// "write"): it wraps os.ErrDeadlineExceeded, its Timeout() is true and it is a
// *net.OpError with package net's fields.
func requireTimeout(t testing.TB, c net.Conn, err error, op, network string) {
	t.Helper()
	requireConnOpError(t, c, err, op, network)
	mustErrorIs(t, err, os.ErrDeadlineExceeded)
	var ne net.Error
	mustErrorAs(t, err, &ne)
	mustTrue(t, ne.Timeout(), "Timeout() of %v", err)
}

// requireClosed asserts err is a conn op's error after Close: it wraps
// net.ErrClosed and is a *net.OpError with package net's fields.
func requireClosed(t testing.TB, c net.Conn, err error, op, network string) {
	t.Helper()
	requireConnOpError(t, c, err, op, network)
	mustErrorIs(t, err, net.ErrClosed)
}

// deadliner is the deadline method of *net.TCPListener and *net.UnixListener.
type deadliner interface{ SetDeadline(time.Time) error }

type closeWriter interface{ CloseWrite() error }
type closeReader interface{ CloseRead() error }

// writeString writes s to c in full.
func writeString(t testing.TB, c net.Conn, s string) {
	t.Helper()
	r := doWrite(t, c, []byte(s))
	mustNoError(t, r.err)
	mustEqual(t, len(s), r.n)
}

// readString reads exactly len(want) bytes from c and compares them with want.
func readString(t testing.TB, c net.Conn, want string) {
	t.Helper()
	r := bounded(t, "Read", func() readResult {
		buf := make([]byte, len(want))
		n, err := io.ReadFull(checkedReader{c}, buf)
		return readResult{ioResult{n, err, time.Now()}, buf[:n]}
	}, c)
	mustNoError(t, r.err)
	mustEqual(t, want, string(r.data))
}

// checkedReader turns a Read count outside [0, len(p)], which io.Reader
// forbids, into an error (and a count of 0) instead of a slicing panic in the
// case.
type checkedReader struct{ c net.Conn }

func (r checkedReader) Read(p []byte) (int, error) {
	n, err := r.c.Read(p)
	if n < 0 || n > len(p) {
		return 0, fmt.Errorf("Read into %d bytes returned n=%d (err %v)", len(p), n, err)
	}
	return n, err
}
