//go:build linux

package stress

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pollnet/pollnet"
)

func init() { childModes["concurrent-close"] = concurrentCloseChild }

// TestCloseStorm lands a Close (for Dial: a context cancellation) at a
// random point of a Read, a Write, an Accept, a Dial or a stream of
// SetDeadline calls, thousands of times, from several goroutines at once.
// Every call must return (the watchdog fails the test with every
// goroutine's stack after 10 s), with success or an error package net
// documents for the case: net.ErrClosed (and os.ErrDeadlineExceeded where
// deadlines are involved), context.Canceled or a connect error for Dial;
// errors other than io.EOF are *net.OpError with package net's Op. A dial
// that succeeds must hand back a working conn.
func TestCloseStorm(t *testing.T) {
	iters, workers := 1000, 4
	if testing.Short() {
		iters = 200
	}
	for _, op := range stormOps {
		for _, network := range streamNetworks {
			t.Run(op.name+"/"+network, func(t *testing.T) {
				r := newRand(t)
				start := time.Now()
				var outcomes kindCounts
				var fails failures
				var wg sync.WaitGroup
				var done atomic.Int64
				for range workers {
					s := newStorm(t, network, op.name == "dial", &outcomes, &fails)
					wr := fork(r)
					wg.Add(1)
					go func() {
						defer wg.Done()
						defer s.close()
						for range iters {
							op.run(s, wr)
							done.Add(1)
							if fails.count() > 0 {
								return
							}
						}
					}()
				}
				awaitProgress(t, &wg, done.Load, op.name+" storm")
				fails.report(t)
				t.Logf("%d iterations (%d goroutines): %s; %s", done.Load(), workers, outcomes.String(), elapsed(start))
			})
		}
	}
}

// storm is one storm goroutine's fixture: a listener whose accepted conns
// are handed over on a channel (or, for dial storms, echoed), and the
// bookkeeping.
type storm struct {
	network    string
	ln         *pollnet.Listener
	acceptAddr string // where stormAccept listens, reused round after round
	release    []func()
	accepted   chan *pollnet.Conn
	loopDone   chan struct{}
	echoes     sync.WaitGroup
	outcomes   *kindCounts
	fails      *failures
}

func newStorm(t testing.TB, network string, echo bool, outcomes *kindCounts, fails *failures) *storm {
	ln, release, err := openListener(network)
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	s := &storm{network: network, ln: ln, acceptAddr: "127.0.0.1:0", release: []func(){release},
		accepted: make(chan *pollnet.Conn, 64), loopDone: make(chan struct{}), outcomes: outcomes, fails: fails}
	if network == "unix" {
		path, remove, err := tempSockPath()
		if err != nil {
			release()
			t.Fatal(err)
		}
		s.acceptAddr, s.release = path, append(s.release, remove)
	}
	go func() {
		defer close(s.loopDone)
		defer close(s.accepted)
		for {
			c, err := s.ln.Accept()
			if err != nil {
				if !errors.Is(err, net.ErrClosed) {
					fails.add("fixture Accept: %v", err)
				}
				return
			}
			if !echo {
				s.accepted <- c.(*pollnet.Conn)
				continue
			}
			s.echoes.Add(1)
			go func() {
				defer s.echoes.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(hangTimeout))
				b := make([]byte, 1)
				if _, err := c.Read(b); err == nil {
					c.Write(b)
				}
			}()
		}
	}()
	return s
}

func (s *storm) close() {
	s.ln.Close()
	for c := range s.accepted {
		c.Close()
	}
	<-s.loopDone
	s.echoes.Wait()
	for _, release := range s.release {
		release()
	}
}

// pair dials the fixture's listener and takes the accepted end.
func (s *storm) pair() (client, server *pollnet.Conn, ok bool) {
	c, err := dial(s.ln)
	if err != nil {
		s.fails.add("fixture dial: %v", err)
		return nil, nil, false
	}
	select {
	case srv := <-s.accepted:
		return c, srv, true
	case <-time.After(hangTimeout):
		s.fails.add("fixture: no conn accepted within %v", hangTimeout)
		c.Close()
		return nil, nil, false
	}
}

// check records an outcome and fails on an error outside allowed.
func (s *storm) check(op string, err error, allowed ...string) {
	s.outcomes.add(op + ":" + errKind(err))
	if msg := expectErr(err, op, allowed...); msg != "" {
		s.fails.add("%s", msg)
	}
}

// race runs the operation and the interrupter at once, and waits for both
// under the watchdog: a hang fails the test with every goroutine's stack.
func (s *storm) race(what string, fns ...func()) {
	var wg sync.WaitGroup
	for _, fn := range fns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn()
		}()
	}
	timer := time.NewTimer(hangTimeout)
	defer timer.Stop()
	select {
	case <-waitChan(&wg):
	case <-timer.C:
		// This runs on a storm goroutine, which cannot end the test: print
		// the stacks and crash rather than hang until go test's timeout.
		fmt.Fprintf(os.Stderr, "storm: %s: blocked for %v; all goroutines:\n%s\n", what, hangTimeout, stacks())
		panic(fmt.Sprintf("storm: %s hung (stacks above)", what))
	}
}

var stormOps = []struct {
	name string
	run  func(s *storm, r *rand.Rand)
}{
	{"read", stormRead},
	{"write", stormWrite},
	{"accept", stormAccept},
	{"dial", stormDial},
	{"set-deadline", stormSetDeadline},
}

// stormRead: Close during a Read, which the peer may feed at a random time.
func stormRead(s *storm, r *rand.Rand) {
	client, server, ok := s.pair()
	if !ok {
		return
	}
	defer client.Close()
	feed := r.IntN(2) == 0
	pr, cr := fork(r), fork(r)
	s.race("Read vs Close",
		func() {
			_, err := server.Read(make([]byte, 64))
			s.check("read", err, "closed")
		},
		func() {
			if feed {
				jitter(pr, 200*time.Microsecond)
				client.Write([]byte("data"))
			}
		},
		func() {
			jitter(cr, 300*time.Microsecond)
			if err := server.Close(); err != nil {
				s.fails.add("Close: %v", err)
			}
		})
}

// stormWrite: Close during a Write of up to 512 KiB to a peer that reads
// part of it or nothing.
func stormWrite(s *storm, r *rand.Rand) {
	client, server, ok := s.pair()
	if !ok {
		return
	}
	defer client.Close()
	// Small buffers, so that most writes block.
	server.SetWriteBuffer(32 << 10)
	client.SetReadBuffer(32 << 10)
	size := 1 + r.IntN(512<<10)
	drain := r.IntN(2) == 0
	cr := fork(r)
	s.race("Write vs Close",
		func() {
			n, err := server.Write(make([]byte, size))
			if err == nil && n != size {
				s.fails.add("Write returned %d of %d bytes without an error", n, size)
			}
			s.check("write", err, "closed")
		},
		func() {
			if drain {
				client.SetReadDeadline(time.Now().Add(hangTimeout))
				io.CopyN(io.Discard, client, int64(size/2))
			}
		},
		func() {
			jitter(cr, 500*time.Microsecond)
			if err := server.Close(); err != nil {
				s.fails.add("Close: %v", err)
			}
		})
}

// stormAccept: Close of a fresh listener during an Accept, with a client
// that may connect at a random time.
func stormAccept(s *storm, r *rand.Rand) {
	l, err := pollnet.Listen(s.network, s.acceptAddr)
	if err != nil {
		s.fails.add("Listen: %v", err)
		return
	}
	ln := l.(*pollnet.Listener)
	la := ln.Addr()
	connect := r.IntN(2) == 0
	dr, cr := fork(r), fork(r)
	s.race("Accept vs Close",
		func() {
			c, err := ln.Accept()
			if err == nil {
				c.Close()
			}
			s.check("accept", err, "closed")
		},
		func() {
			if !connect {
				return
			}
			jitter(dr, 300*time.Microsecond)
			c, err := pollnet.DialTimeout(la.Network(), la.String(), hangTimeout)
			if err == nil {
				c.Close()
			}
			// The listener may be gone (refused; for unix its file too) or
			// close the queued conn under us (reset).
			s.check("dial", err, "ECONNREFUSED", "ENOENT", "ECONNRESET")
		},
		func() {
			jitter(cr, 300*time.Microsecond)
			if err := ln.Close(); err != nil {
				s.fails.add("listener Close: %v", err)
			}
		})
}

// stormDial: a DialContext whose context is cancelled at a random time.
// Success must give a working conn.
func stormDial(s *storm, r *rand.Rand) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr := s.ln.Addr()
	cr := fork(r)
	var d pollnet.Dialer
	s.race("DialContext vs cancel",
		func() {
			c, err := d.DialContext(ctx, addr.Network(), addr.String())
			if err != nil {
				s.check("dial", err, "canceled", "ECONNREFUSED")
				return
			}
			s.check("dial", nil)
			defer c.Close()
			// The conn must not carry the cancellation (a poisoned
			// deadline, say): a round trip through the echo works.
			c.SetReadDeadline(time.Now().Add(hangTimeout))
			if _, err := c.Write([]byte("x")); err != nil {
				s.fails.add("Write on a conn DialContext returned: %v", err)
			} else if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
				s.fails.add("Read on a conn DialContext returned: %v", err)
			}
		},
		func() {
			jitter(cr, 300*time.Microsecond)
			cancel()
		})
}

// stormSetDeadline: SetDeadline calls (past, near, cleared) racing a Close,
// with a Read blocked meanwhile.
func stormSetDeadline(s *storm, r *rand.Rand) {
	client, server, ok := s.pair()
	if !ok {
		return
	}
	defer client.Close()
	rr, sr, cr := fork(r), fork(r), fork(r)
	closed := make(chan struct{})
	s.race("SetDeadline and Read vs Close",
		func() {
			for {
				_, err := server.Read(make([]byte, 64))
				s.check("read", err, "closed", "deadline")
				if errors.Is(err, net.ErrClosed) {
					return
				}
				select {
				case <-closed:
				case <-time.After(time.Duration(rr.IntN(100)) * time.Microsecond):
				}
			}
		},
		func() {
			for {
				var d time.Time
				switch sr.IntN(3) {
				case 0:
					d = time.Now().Add(-time.Second)
				case 1:
					d = time.Now().Add(time.Duration(sr.IntN(500)) * time.Microsecond)
				}
				err := server.SetDeadline(d)
				s.check("set", err, "closed")
				if err != nil {
					return
				}
				runtime.Gosched()
			}
		},
		func() {
			jitter(cr, time.Millisecond)
			if err := server.Close(); err != nil {
				s.fails.add("Close: %v", err)
			}
			close(closed)
		})
}

// TestDeadlineStorm moves the read and write deadlines of conns at random
// (past, near future, cleared) thousands of times while their reads and
// writes run. Reads and writes that time out are retried from where they
// stopped (a timed-out Write reports what it wrote), so both streams must
// arrive complete, in order, without a duplicated or lost byte; no wait may
// outlive the deadline it was given, and every error is a deadline.
func TestDeadlineStorm(t *testing.T) {
	conns, changes, size := 8, 3000, 1<<20
	if testing.Short() {
		changes = 600
	}
	for _, network := range streamNetworks {
		t.Run(network, func(t *testing.T) {
			r := newRand(t)
			ln := listen(t, network)
			var fails failures
			var outcomes kindCounts
			var progress atomic.Int64
			var wg sync.WaitGroup
			for range conns {
				peer, ours := mustConnect(t, ln)
				wg.Add(5)
				sr, wr := fork(r), fork(r)
				go func() { // the deadline mover
					defer wg.Done()
					for range changes {
						var d time.Time
						switch sr.IntN(4) {
						case 0:
							d = time.Now().Add(-time.Second)
						case 1, 2:
							d = time.Now().Add(time.Duration(sr.IntN(2000)) * time.Microsecond)
						}
						var err error
						switch sr.IntN(3) {
						case 0:
							err = ours.SetReadDeadline(d)
						case 1:
							err = ours.SetWriteDeadline(d)
						default:
							err = ours.SetDeadline(d)
						}
						if err != nil {
							fails.add("SetDeadline: %v", err)
						}
						progress.Add(1)
						jitter(sr, 200*time.Microsecond)
					}
					// Clear them so the streams can finish.
					ours.SetDeadline(time.Time{})
				}()
				retry := func(op string, err error) {
					outcomes.add(op + ":" + errKind(err))
					if msg := expectErr(err, op, "deadline"); msg != "" {
						fails.add("%s", msg)
					}
					progress.Add(1)
				}
				go func() { // ours writes, retrying from where a timeout stopped it
					defer wg.Done()
					buf := pattern(0, size)
					for off := 0; off < size; {
						end := min(size, off+1+wr.IntN(64<<10))
						n, err := ours.Write(buf[off:end])
						off += n
						if err != nil {
							retry("write", err)
						}
					}
				}()
				go func() { // ours reads, retrying after timeouts
					defer wg.Done()
					if err := readPattern(ours, 7, size, retry); err != nil {
						fails.add("ours: %v", err)
					}
				}()
				go func() { // the peer checks ours' stream
					defer wg.Done()
					peer.SetDeadline(time.Now().Add(time.Minute))
					if err := readPattern(peer, 0, size, func(op string, err error) { fails.add("peer %s: %v", op, err) }); err != nil {
						fails.add("peer: %v", err)
					}
				}()
				go func() { // the peer sends ours a stream
					defer wg.Done()
					if _, err := peer.Write(pattern(7, size)); err != nil {
						fails.add("peer write: %v", err)
					}
				}()
			}
			awaitProgress(t, &wg, progress.Load, "deadline storm")
			fails.report(t)
			t.Logf("%d conns, %d deadline changes each, %d MiB each way verified; outcomes: %s",
				conns, changes, size>>20, outcomes.String())
		})
	}
}

// pattern returns n bytes of a stream starting at a seed, so that any byte
// out of place is detected.
func pattern(seed byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i) + byte(i>>8)*3
	}
	return b
}

// readPattern reads size bytes of pattern(seed) from c, calling onErr on
// every read error and retrying; it fails on a byte out of place, on EOF
// before size bytes, or once onErr was called for a non-timeout error.
func readPattern(c net.Conn, seed byte, size int, onErr func(op string, err error)) error {
	want := pattern(seed, size)
	buf := make([]byte, 32<<10)
	for off := 0; off < size; {
		n, err := c.Read(buf[:min(len(buf), size-off)])
		for i := range n {
			if buf[i] != want[off+i] {
				return fmt.Errorf("byte %d is %#x, want %#x", off+i, buf[i], want[off+i])
			}
		}
		off += n
		if err != nil {
			if err == io.EOF || !errors.Is(err, net.ErrClosed) && !errors.Is(err, os.ErrDeadlineExceeded) {
				return fmt.Errorf("read at %d of %d: %v", off, size, err)
			}
			onErr("read", err)
			if errors.Is(err, net.ErrClosed) {
				return err
			}
		}
	}
	return nil
}

// TestConcurrentClose closes a conn from two goroutines at once, the way
// servers do: one goroutine's Close wakes another blocked in Read, which
// then closes the conn too (a deferred Close). Exactly one Close succeeds,
// the other fails with net.ErrClosed; neither panics, and -race sees no
// race. It runs in a child process, with GOMAXPROCS 1 and 2, because the
// failure is a panic that would take the whole test binary down.
func TestConcurrentClose(t *testing.T) {
	c := startChild(t, "concurrent-close")
	c.wait()
}

func concurrentCloseChild() error {
	const rounds = 300
	dir, err := os.MkdirTemp("", "pnstress")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	n := 0
	tempAddr := func(network string) string {
		if network == "unix" {
			n++
			return filepath.Join(dir, fmt.Sprint(n))
		}
		return "127.0.0.1:0"
	}
	for _, procs := range []int{1, 2} {
		prev := runtime.GOMAXPROCS(procs)
		for _, network := range streamNetworks {
			ln, err := pollnet.Listen(network, tempAddr(network))
			if err != nil {
				return err
			}
			pl := ln.(*pollnet.Listener)
			var results kindCounts
			for range rounds {
				client, server, err := connect(pl)
				if err != nil {
					return err
				}
				done := make(chan error)
				go func() {
					client.Read(make([]byte, 1))
					done <- client.Close() // the reader's deferred Close
				}()
				runtime.Gosched()
				first := client.Close()
				second := <-done
				server.Close()
				results.add(fmt.Sprintf("%s+%s", errKind(first), errKind(second)))
				if (first == nil) == (second == nil) {
					sayFail("GOMAXPROCS=%d %s: concurrent Close calls returned %v and %v; want one nil, one net.ErrClosed", procs, network, first, second)
				}
				for _, err := range []error{first, second} {
					if msg := expectErr(err, "close", "closed"); msg != "" {
						sayFail("GOMAXPROCS=%d %s: %s", procs, network, msg)
					}
				}
			}
			// The same for a listener: Close wakes a blocked Accept, whose
			// goroutine closes the listener too.
			for range rounds / 10 {
				l, err := pollnet.Listen(network, tempAddr(network))
				if err != nil {
					return err
				}
				done := make(chan error)
				go func() {
					l.Accept()
					done <- l.Close()
				}()
				runtime.Gosched()
				first := l.Close()
				second := <-done
				if (first == nil) == (second == nil) {
					sayFail("GOMAXPROCS=%d %s listener: concurrent Close calls returned %v and %v", procs, network, first, second)
				}
			}
			ln.Close()
			say("GOMAXPROCS=%d %s: %d rounds: %s", procs, network, rounds, results.String())
		}
		runtime.GOMAXPROCS(prev)
	}
	return nil
}

// TestCanceledDialLeavesOthersAlone cancels DialContext calls at random
// points, each followed at once by a plain dial whose conn must work. A
// cancelled dial must not reach beyond its own socket: pollrt recycles a
// closed conn's poll descriptor for the next fd, so anything the cancelled
// dial still does to its descriptor after it returned (a deadline set by
// its context's AfterFunc, say) lands on someone else's conn.
func TestCanceledDialLeavesOthersAlone(t *testing.T) {
	rounds, workers := 1500, 4
	if testing.Short() {
		rounds = 300
	}
	r := newRand(t)
	var outcomes kindCounts
	var fails failures
	var wg sync.WaitGroup
	var done atomic.Int64
	for range workers {
		s := newStorm(t, "tcp", true, &outcomes, &fails)
		wr := fork(r)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer s.close()
			addr := s.ln.Addr().String()
			var d pollnet.Dialer
			for range rounds {
				ctx, cancel := context.WithCancel(context.Background())
				go func(delay time.Duration) {
					time.Sleep(delay)
					cancel()
				}(time.Duration(wr.IntN(150)) * time.Microsecond)
				c, err := d.DialContext(ctx, "tcp", addr)
				outcomes.add("cancelled-dial:" + errKind(err))
				if err == nil {
					c.Close()
				}
				cancel()

				c, err = pollnet.DialTimeout("tcp", addr, hangTimeout)
				if err != nil {
					fails.add("plain dial right after a cancelled one: %v", err)
					continue
				}
				c.SetReadDeadline(time.Now().Add(hangTimeout))
				_, err = c.Write([]byte("x"))
				if err == nil {
					_, err = io.ReadFull(c, make([]byte, 1))
				}
				outcomes.add("next-conn:" + errKind(err))
				if err != nil {
					fails.add("conn dialed right after a cancelled dial: %v", err)
				}
				c.Close()
				done.Add(1)
			}
		}()
	}
	awaitProgress(t, &wg, done.Load, "dials")
	fails.report(t)
	t.Logf("%d rounds: %s", done.Load(), outcomes.String())
}
