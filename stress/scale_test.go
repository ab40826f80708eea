//go:build linux

package stress

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pollnet/pollnet"
)

func init() { childModes["scale-client"] = scaleClient }

// scalePhase bounds each phase of TestScale (dial all, echo all, close
// all); the watchdog still fails a phase that stops making progress.
const scalePhase = 3 * time.Minute

// TestScale holds 10,000 connections open at once (1,000 with -short,
// -scale=N to choose), each doing a verified echo round trip while all the
// others are open, then closes them all. The server side runs here, one
// goroutine per conn parked in Read; the clients run in a child process on
// pollnet too, so each process needs ~10,000 fds instead of one process
// needing 20,000 (common hard limits are 20,000 or less).
func TestScale(t *testing.T) {
	n := *scaleFlag
	if n == 0 {
		n = 10000
		if testing.Short() {
			n = 1000
		}
	}
	const margin = 1000
	if lim := fdLimit(); lim < uint64(n+margin) {
		t.Skipf("RLIMIT_NOFILE is %d (hard limit after raising the soft one); holding %d conns needs %d fds per process: raise the hard limit (ulimit -Hn) or pass -scale=%d",
			lim, n, n+margin, max(lim, margin)-margin)
	}
	warmUp(t)
	fds0 := openFDs(t)
	before := stats()
	start := time.Now()

	ln := listen(t, "tcp")
	var accepted, echoed, closedErrs atomic.Int64
	var fails failures
	var handlers, serverEchoes sync.WaitGroup
	serverEchoes.Add(n)
	var connsMu sync.Mutex
	var conns []net.Conn
	acceptDone := make(chan struct{})
	go func() {
		defer close(acceptDone)
		for {
			c, err := ln.Accept()
			if err != nil {
				if !errors.Is(err, net.ErrClosed) {
					fails.add("Accept: %v", err)
				}
				return
			}
			accepted.Add(1)
			connsMu.Lock()
			conns = append(conns, c)
			connsMu.Unlock()
			handlers.Add(1)
			go func() {
				defer handlers.Done()
				echoDone := sync.OnceFunc(serverEchoes.Done)
				defer echoDone()
				buf := make([]byte, echoSize)
				if _, err := io.ReadFull(c, buf); err != nil {
					fails.add("server read: %v", err)
					return
				}
				if _, err := c.Write(buf); err != nil {
					fails.add("server write: %v", err)
					return
				}
				echoed.Add(1)
				echoDone()
				// Park in Read, holding the conn, until the test closes it.
				if n, err := c.Read(buf); n != 0 || !errors.Is(err, net.ErrClosed) {
					fails.add("server read after the echo: %d, %v; want net.ErrClosed", n, err)
					return
				}
				closedErrs.Add(1)
			}()
		}
	}()

	child := startChild(t, "scale-client", "STRESS_ADDR="+ln.Addr().String(), "STRESS_N="+strconv.Itoa(n))
	t.Logf("child dialed %s (%s)", child.expect("dialed", scalePhase), elapsed(start))
	t.Logf("child echoed %s (%s)", child.expect("echoed", scalePhase), elapsed(start))

	// Every conn is open on both sides now; every handler here and every
	// client goroutine in the child has echoed and is parked in Read.
	awaitGroup(t, &serverEchoes, "server handlers echoing")
	if got := echoed.Load(); got != int64(n) {
		t.Errorf("server echoed %d conns, want %d", got, n)
	}
	held := stats()
	if held.Open < before.Open+uint64(n) {
		t.Errorf("pollrt has %d descriptors open while %d conns are held (%d before)", held.Open, n, before.Open)
	}
	goroutines := runtime.NumGoroutine()
	fdsHeld := openFDs(t)
	if fdsHeld < fds0+n {
		t.Errorf("%d fds open while %d conns are held (%d before)", fdsHeld, n, fds0)
	}

	// The server closes first (so TIME_WAIT lands on the listener's port,
	// not on the ephemeral ports later tests dial from): each Close wakes
	// its handler's Read with net.ErrClosed, and the child's Reads see EOF.
	ln.Close()
	await(t, acceptDone, "accept loop after Close")
	closeStart := time.Now()
	for _, c := range conns {
		if err := c.Close(); err != nil {
			t.Errorf("server Close: %v", err)
		}
	}
	closeTook := time.Since(closeStart)
	awaitProgress(t, &handlers, closedErrs.Load, "server handlers woken by Close")
	t.Logf("child read io.EOF %s (%s)", child.expect("eof", scalePhase), elapsed(start))
	child.wait()
	fails.report(t)

	if got := closedErrs.Load(); got != int64(n) {
		t.Errorf("%d of %d server handlers were woken by Close with net.ErrClosed", got, n)
	}
	after := stats()
	if after.Open != before.Open {
		t.Errorf("pollrt descriptors open: %d before, %d after", before.Open, after.Open)
	}
	if fds := openFDs(t); fds != fds0 {
		t.Errorf("open fds: %d before, %d after", fds0, fds)
	}
	t.Logf("%d conns held at once (server: %d fds, %d goroutines, pollrt open %d, slots %d), %d verified echoes of %d B; %d Closes in %v; all done in %s; pollrt: %d polls, %d events",
		n, fdsHeld, goroutines, held.Open, held.Slots, echoed.Load(), echoSize, n, closeTook.Round(time.Millisecond), elapsed(start),
		after.Polls-before.Polls, after.Events-before.Events)
}

// scaleClient is the child side of TestScale: dial STRESS_N conns to
// STRESS_ADDR, echo on all of them at once, then wait for the server to
// close every one (io.EOF) and close them.
func scaleClient() error {
	addr := os.Getenv("STRESS_ADDR")
	n, err := strconv.Atoi(os.Getenv("STRESS_N"))
	if err != nil {
		return fmt.Errorf("STRESS_N: %v", err)
	}
	conns := make([]net.Conn, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	var dialErr atomic.Pointer[error]
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(n) || dialErr.Load() != nil {
					return
				}
				c, err := pollnet.DialTimeout("tcp", addr, scalePhase)
				if err != nil {
					err = fmt.Errorf("dial %d: %v", i, err)
					dialErr.CompareAndSwap(nil, &err)
					return
				}
				conns[i] = c
			}
		}()
	}
	wg.Wait()
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	if p := dialErr.Load(); p != nil {
		return *p
	}
	say("dialed %d conns", n)

	// One goroutine per conn, all at once: n writes, n parked reads for
	// the echoes, then n parked reads for the server's close.
	var ok, eofs atomic.Int64
	var echoDone sync.WaitGroup
	for i, c := range conns {
		wg.Add(1)
		echoDone.Add(1)
		go func() {
			defer wg.Done()
			echoed := false
			defer func() {
				if !echoed {
					echoDone.Done()
				}
			}()
			c.SetDeadline(time.Now().Add(scalePhase))
			req := make([]byte, echoSize)
			binary.LittleEndian.PutUint64(req, uint64(i))
			for j := 8; j < echoSize; j++ {
				req[j] = byte(i*7 + j)
			}
			if _, err := c.Write(req); err != nil {
				sayFail("conn %d: write: %v", i, err)
				return
			}
			got := make([]byte, echoSize)
			if _, err := io.ReadFull(c, got); err != nil {
				sayFail("conn %d: read: %v", i, err)
				return
			}
			if !bytes.Equal(got, req) {
				sayFail("conn %d: echo %x, want %x", i, got, req)
				return
			}
			ok.Add(1)
			echoed = true
			echoDone.Done()
			if n, err := c.Read(got); n != 0 || err != io.EOF {
				sayFail("conn %d: read after the echo: %d, %v; want the server's io.EOF", i, n, err)
				return
			}
			eofs.Add(1)
			c.Close()
		}()
	}
	echoDone.Wait()
	say("echoed %d of %d conns, %d goroutines", ok.Load(), n, runtime.NumGoroutine())
	wg.Wait()
	say("eof on %d of %d conns", eofs.Load(), n)
	if eofs.Load() != int64(n) {
		return fmt.Errorf("%d of %d conns read io.EOF after the server closed", eofs.Load(), n)
	}
	return nil
}
