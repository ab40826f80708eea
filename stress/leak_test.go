//go:build linux

package stress

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pollnet/pollnet"
	"go.uber.org/goleak"
)

// How an echo cycle ends.
type closeMode int

const (
	clientCloses closeMode = iota // client Close; the server reads io.EOF
	clientResets                  // client SetLinger(0) and Close; the server reads ECONNRESET
	serverCloses                  // server Close; the client reads io.EOF
	serverResets                  // server SetLinger(0) and Close; the client reads ECONNRESET
)

func (m closeMode) String() string {
	return [...]string{"client-close", "client-reset", "server-close", "server-reset"}[m]
}

// cycleModes are the (network, close mode) combinations the cycles rotate
// through; unix sockets have no linger, so no resets there.
var cycleModes = []struct {
	network string
	mode    closeMode
}{
	{"tcp", clientCloses}, {"tcp", clientResets}, {"tcp", serverCloses}, {"tcp", serverResets},
	{"unix", clientCloses}, {"unix", serverCloses},
}

// TestLeaks runs 10,000 dial / accept / echo / close cycles, mixing orderly
// closes and resets from either side over tcp and unix, then requires the
// process's open fds, its goroutines (all but pollrt's poller) and pollrt's
// open descriptors to be back where they started, and pollrt's slot table
// not to have grown past the peak number of descriptors open at once.
func TestLeaks(t *testing.T) {
	cycles, workers := 10000, 8
	if testing.Short() {
		cycles = 2000
	}

	// Warm up: the poller's own fds and goroutine, and whatever the runtime
	// opens lazily, exist before the baseline is taken.
	warmUp(t)
	func() {
		e := newEchoServer(t, []string{"tcp", "unix"})
		defer e.close(t)
		for i := range cycleModes {
			if err := e.cycle(uint64(i), i); err != nil {
				t.Fatalf("warm-up cycle: %v", err)
			}
		}
	}()
	if n, want := countGoroutines(pollerFunc), pollerCount(); n != want {
		t.Errorf("%d goroutines run %s, want exactly %d (one per poller)", n, pollerFunc, want)
	}

	fds0 := openFDs(t)
	before := stats()
	start := time.Now()

	e := newEchoServer(t, []string{"tcp", "unix"})
	var wg sync.WaitGroup
	var next atomic.Int64
	var fails failures
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(cycles) || fails.count() >= 10 {
					return
				}
				if err := e.cycle(uint64(i), int(i)); err != nil {
					fails.add("cycle %d (%s %v): %v", i, cycleModes[int(i)%len(cycleModes)].network, cycleModes[int(i)%len(cycleModes)].mode, err)
				}
			}
		}()
	}
	awaitProgress(t, &wg, next.Load, "echo cycles")
	e.close(t)
	fails.report(t)
	mid := stats()

	fds := openFDs(t)
	if fds != fds0 {
		t.Errorf("open fds: %d before the cycles, %d after", fds0, fds)
	}
	goleak.VerifyNone(t, goleak.IgnoreAnyFunction(pollerFunc))
	if n, want := countGoroutines(pollerFunc), pollerCount(); n != want {
		t.Errorf("%d goroutines run %s, want exactly %d (one per poller)", n, pollerFunc, want)
	}
	if mid.Open != before.Open {
		t.Errorf("pollrt descriptors open: %d before the cycles, %d after", before.Open, mid.Open)
	}
	if opened := mid.Opened - before.Opened; opened < uint64(2*cycles) {
		t.Errorf("pollrt opened %d descriptors for %d cycles: the cycles did not run on pollnet?", opened, cycles)
	}
	// At most 2 conns per worker plus the 2 listeners are open at once (the
	// worker waits for the server's side of each cycle to finish), on top
	// of what was open before. The table must not be sized by the number
	// of cycles.
	const slack = 8
	peak := before.Open + uint64(2*workers+2+slack)
	if mid.Slots > max(before.Slots, peak) {
		t.Errorf("pollrt slot table has %d slots after %d cycles with at most %d descriptors open at once (it had %d before)",
			mid.Slots, cycles, peak, before.Slots)
	}
	t.Logf("%d cycles (%d workers, %d closing modes over tcp and unix) in %s; fds %d -> %d; pollrt: opened %d, open %d -> %d, slots %d -> %d (bound %d)",
		cycles, workers, len(cycleModes), elapsed(start), fds0, fds, mid.Opened-before.Opened, before.Open, mid.Open, before.Slots, mid.Slots, max(before.Slots, peak))
}

// echoServer accepts on a listener per network and runs one goroutine per
// conn: it reads a request naming the cycle, echoes it, and ends the conn
// as the request says, reporting the outcome to the cycle's client.
type echoServer struct {
	lns     []*pollnet.Listener
	release []func()
	wg      sync.WaitGroup
	pending sync.Map // cycle id -> chan error
	fail    failures
}

const echoSize = 64

func newEchoServer(t testing.TB, networks []string) *echoServer {
	e := &echoServer{}
	for _, network := range networks {
		ln, release, err := openListener(network)
		if err != nil {
			e.close(t)
			t.Fatalf("listen: %v", err)
		}
		e.lns, e.release = append(e.lns, ln), append(e.release, release)
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			for {
				c, err := ln.Accept()
				if err != nil {
					if !errors.Is(err, net.ErrClosed) {
						e.fail.add("Accept: %v", err)
					}
					return
				}
				e.wg.Add(1)
				go func() {
					defer e.wg.Done()
					e.serve(c.(*pollnet.Conn))
				}()
			}
		}()
	}
	return e
}

// close stops the listeners and waits for every server goroutine.
func (e *echoServer) close(t testing.TB) {
	t.Helper()
	for _, release := range e.release {
		release()
	}
	awaitGroup(t, &e.wg, "echo server goroutines")
	e.fail.report(t)
}

func (e *echoServer) listener(network string) *pollnet.Listener {
	for _, ln := range e.lns {
		if ln.Addr().Network() == network {
			return ln
		}
	}
	return nil
}

func (e *echoServer) serve(c *pollnet.Conn) {
	buf := make([]byte, echoSize)
	c.SetReadDeadline(time.Now().Add(hangTimeout))
	if _, err := io.ReadFull(c, buf); err != nil {
		e.fail.add("server read: %v", err)
		c.Close()
		return
	}
	id := binary.LittleEndian.Uint64(buf)
	mode := closeMode(buf[8])
	res, _ := e.pending.LoadAndDelete(id)
	if res == nil {
		e.fail.add("server: request for unknown cycle %d", id)
		c.Close()
		return
	}
	res.(chan error) <- e.finish(c, buf, mode)
}

// finish echoes the request and ends the server's side of the cycle.
func (e *echoServer) finish(c *pollnet.Conn, buf []byte, mode closeMode) error {
	defer c.Close()
	if _, err := c.Write(buf); err != nil {
		return fmt.Errorf("server write: %v", err)
	}
	switch mode {
	case clientCloses, clientResets:
		want := map[closeMode]string{clientCloses: "EOF", clientResets: "ECONNRESET"}[mode]
		n, err := c.Read(buf)
		if n != 0 || errKind(err) != want {
			return fmt.Errorf("server read after the client's %v: %d, %v; want %s", mode, n, err, want)
		}
		if msg := expectErr(err, "read", want); msg != "" {
			return errors.New(msg)
		}
	case serverResets:
		if err := c.SetLinger(0); err != nil {
			return fmt.Errorf("SetLinger(0): %v", err)
		}
	}
	if err := c.Close(); err != nil {
		return fmt.Errorf("server close: %v", err)
	}
	return nil
}

// cycle runs one dial / echo / close cycle with the network and mode
// cycleModes[variant % len], and waits for the server's side to finish.
func (e *echoServer) cycle(id uint64, variant int) error {
	cm := cycleModes[variant%len(cycleModes)]
	res := make(chan error, 1)
	e.pending.Store(id, res)
	defer e.pending.Delete(id)

	c, err := dial(e.listener(cm.network))
	if err != nil {
		return fmt.Errorf("dial: %v", err)
	}
	err = clientSide(c, id, cm.mode)
	c.Close()
	if err != nil {
		return err
	}
	select {
	case err := <-res:
		return err
	case <-time.After(hangTimeout):
		return fmt.Errorf("the server's side did not finish within %v", hangTimeout)
	}
}

func clientSide(c *pollnet.Conn, id uint64, mode closeMode) error {
	c.SetDeadline(time.Now().Add(hangTimeout))
	req := make([]byte, echoSize)
	binary.LittleEndian.PutUint64(req, id)
	req[8] = byte(mode)
	for i := 9; i < echoSize; i++ {
		req[i] = byte(id) + byte(i)
	}
	if _, err := c.Write(req); err != nil {
		return fmt.Errorf("client write: %v", err)
	}
	got := make([]byte, echoSize)
	if _, err := io.ReadFull(c, got); err != nil {
		return fmt.Errorf("client read: %v", err)
	}
	if !bytes.Equal(got, req) {
		return fmt.Errorf("echo %x, want %x", got, req)
	}
	switch mode {
	case clientResets:
		if err := c.SetLinger(0); err != nil {
			return fmt.Errorf("SetLinger(0): %v", err)
		}
	case serverCloses, serverResets:
		want := map[closeMode]string{serverCloses: "EOF", serverResets: "ECONNRESET"}[mode]
		n, err := c.Read(got)
		if n != 0 || errKind(err) != want {
			return fmt.Errorf("client read after the server's %v: %d, %v; want %s", mode, n, err, want)
		}
		if msg := expectErr(err, "read", want); msg != "" {
			return errors.New(msg)
		}
	}
	if err := c.Close(); err != nil {
		return fmt.Errorf("client close: %v", err)
	}
	return nil
}
