//go:build linux

package stress

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pollnet/pollnet"
)

// resetPeer makes the peer abort the connection: an RST for TCP (linger
// 0), for unix sockets a Close with data left unread, which the kernel
// reports to the writer as a reset or a broken pipe.
func resetPeer(peer *pollnet.Conn, network string) error {
	if network != "unix" {
		if err := peer.SetLinger(0); err != nil {
			return fmt.Errorf("SetLinger(0): %v", err)
		}
	}
	if err := peer.Close(); err != nil {
		return fmt.Errorf("peer Close: %v", err)
	}
	return nil
}

// resetMidWrite has ours write 1 MiB buffers and block reading while the
// peer, once it has read 64 KiB, resets the connection. It checks the
// errors ours gets (the Write's, the next Write's and the Read's) and
// records their kinds.
func resetMidWrite(peer, ours *pollnet.Conn, network string, writeKinds, readKinds *kindCounts) error {
	var wg sync.WaitGroup
	var werr, werr2, rerr error
	var written int64
	wg.Add(2)
	go func() {
		defer wg.Done()
		buf := make([]byte, 1<<20)
		for {
			n, err := ours.Write(buf)
			written += int64(n)
			if err != nil {
				werr = err
				_, werr2 = ours.Write(buf)
				return
			}
		}
	}()
	go func() {
		defer wg.Done()
		_, rerr = ours.Read(make([]byte, 1))
	}()
	// Let the writer fill the pipe, then abort.
	peer.SetReadDeadline(time.Now().Add(hangTimeout))
	_, perr := io.ReadFull(peer, make([]byte, 64<<10))
	if perr == nil {
		perr = resetPeer(peer, network)
	}
	if perr != nil {
		ours.Close() // unblock the writer and the reader
	}
	select {
	case <-waitChan(&wg):
	case <-time.After(hangTimeout):
		return fmt.Errorf("Write and Read still blocked %v after the peer's reset; all goroutines:\n%s", hangTimeout, stacks())
	}
	if perr != nil {
		return perr
	}
	var errs []string
	for _, err := range []error{werr, werr2} {
		writeKinds.add(errKind(err))
		if msg := expectErr(err, "write", "ECONNRESET", "EPIPE"); err == nil || msg != "" {
			errs = append(errs, fmt.Sprintf("Write after %d bytes: %v %s", written, err, msg))
		}
		var se *os.SyscallError
		if !errors.As(err, &se) || se.Syscall != "write" {
			errs = append(errs, fmt.Sprintf("write error %v does not wrap an *os.SyscallError from write", err))
		}
	}
	readKinds.add(errKind(rerr))
	if msg := expectErr(rerr, "read", "ECONNRESET", "EOF"); rerr == nil || msg != "" {
		errs = append(errs, fmt.Sprintf("blocked Read after the peer's reset: %v %s", rerr, msg))
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

// TestPeerResetsMidWrite resets the peer while this side is blocked
// writing 1 MiB buffers and blocked reading. The Write must fail with a
// *net.OpError wrapping ECONNRESET or EPIPE from write(2), so must the next
// one (which makes the kernel raise SIGPIPE: the process must survive it,
// as with package net, since Go ignores SIGPIPE for fds other than 1 and
// 2), and the Read must fail with ECONNRESET or return io.EOF.
func TestPeerResetsMidWrite(t *testing.T) {
	const rounds = 20
	for _, network := range streamNetworks {
		t.Run(network, func(t *testing.T) {
			ln := listen(t, network)
			var writeKinds, readKinds kindCounts
			for range rounds {
				peer, ours := mustConnect(t, ln)
				if err := resetMidWrite(peer, ours, network, &writeKinds, &readKinds); err != nil {
					t.Error(err)
				}
				ours.Close()
			}
			t.Logf("%d resets: write errors %s; read errors %s", rounds, writeKinds.String(), readKinds.String())
		})
	}
}

// TestPeerHalfCloses: the peer sends a request and shuts down its write
// side. This side reads the request then a bare io.EOF, and can still
// write a large reply, which the peer reads in full before its own EOF.
func TestPeerHalfCloses(t *testing.T) {
	for _, network := range streamNetworks {
		t.Run(network, func(t *testing.T) {
			peer, ours := mustConnect(t, listen(t, network))
			req := bytes.Repeat([]byte("request "), 1000)
			if _, err := peer.Write(req); err != nil {
				t.Fatal(err)
			}
			if err := peer.CloseWrite(); err != nil {
				t.Fatalf("CloseWrite: %v", err)
			}
			ours.SetDeadline(time.Now().Add(hangTimeout))
			got, err := io.ReadAll(ours)
			if err != nil || !bytes.Equal(got, req) {
				t.Fatalf("read %d bytes, %v; want the %d-byte request", len(got), err, len(req))
			}
			if n, err := ours.Read(make([]byte, 10)); n != 0 || err != io.EOF {
				t.Errorf("Read after EOF: %d, %v; want 0, io.EOF (bare)", n, err)
			}
			reply := bytes.Repeat([]byte("reply "), 200000) // 1.2 MB, more than the socket buffers
			done := make(chan []byte)
			go func() {
				peer.SetDeadline(time.Now().Add(hangTimeout))
				b, _ := io.ReadAll(peer)
				done <- b
			}()
			if n, err := ours.Write(reply); n != len(reply) || err != nil {
				t.Errorf("Write after the peer's CloseWrite: %d, %v", n, err)
			}
			ours.Close()
			select {
			case b := <-done:
				if !bytes.Equal(b, reply) {
					t.Errorf("peer read %d bytes of the %d-byte reply", len(b), len(reply))
				}
			case <-time.After(hangTimeout):
				t.Fatalf("peer did not get the reply; goroutines:\n%s", stacks())
			}
		})
	}
}

// TestPeerNeverReads: writing to a peer that never reads blocks until the
// write deadline fires with os.ErrDeadlineExceeded (and keeps failing so);
// Close then returns promptly.
func TestPeerNeverReads(t *testing.T) {
	for _, network := range streamNetworks {
		t.Run(network, func(t *testing.T) {
			_, ours := mustConnect(t, listen(t, network))
			ours.SetWriteDeadline(time.Now().Add(300 * time.Millisecond))
			buf := make([]byte, 1<<20)
			var total int64
			var err error
			done := make(chan struct{})
			go func() {
				defer close(done)
				for err == nil {
					var n int
					n, err = ours.Write(buf)
					total += int64(n)
				}
			}()
			await(t, done, "Write to a peer that never reads, with a write deadline")
			var ne net.Error
			if msg := expectErr(err, "write", "deadline"); msg != "" || !errors.As(err, &ne) || !ne.Timeout() {
				t.Errorf("Write: %v %s; want a timeout matching os.ErrDeadlineExceeded", err, msg)
			}
			if n, err := ours.Write([]byte("x")); n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Errorf("Write after the deadline passed: %d, %v", n, err)
			}
			start := time.Now()
			closed := make(chan struct{})
			go func() { ours.Close(); close(closed) }()
			await(t, closed, "Close with unsent data")
			if d := time.Since(start); d > hangTimeout/2 {
				t.Errorf("Close took %v", d)
			}
			t.Logf("%d bytes written before the deadline; Close took %v", total, time.Since(start).Round(time.Microsecond))
		})
	}
}

// TestPeerSilent: peers that connect and send nothing. A server reading
// with a deadline times out on every one of them.
func TestPeerSilent(t *testing.T) {
	const peers = 32
	for _, network := range streamNetworks {
		t.Run(network, func(t *testing.T) {
			ln := listen(t, network)
			var wg sync.WaitGroup
			var fails failures
			for range peers {
				peer, ours := mustConnect(t, ln)
				_ = peer
				wg.Add(1)
				go func() {
					defer wg.Done()
					ours.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
					n, err := ours.Read(make([]byte, 100))
					var ne net.Error
					if msg := expectErr(err, "read", "deadline"); n != 0 || err == nil || msg != "" || !errors.As(err, &ne) || !ne.Timeout() {
						fails.add("Read from a silent peer: %d, %v %s", n, err, msg)
					}
				}()
			}
			awaitGroup(t, &wg, "reads from silent peers")
			fails.report(t)
		})
	}
}

// TestSlowloris trickles requests to a server that reads with deadlines:
// every handler either gets the full request or times out, and none blocks
// past its deadline. The sleeps pace the trickle; the outcomes do not
// depend on them (a steady trickle against a 5 s per-read deadline, a
// trickle that stops, and one that never ends against a whole-request
// deadline).
func TestSlowloris(t *testing.T) {
	const (
		clients = 20
		reqSize = 64 // including the final '\n'
	)
	cases := []struct {
		name     string
		interval time.Duration
		send     int           // bytes the client trickles before stopping; -1: forever
		perRead  time.Duration // read deadline set before each Read
		whole    time.Duration // deadline for the whole request, 0: none
		want     string        // "full" or "deadline"
	}{
		{"steady/per-read-deadline", 2 * time.Millisecond, reqSize, 5 * time.Second, 0, "full"},
		{"stalls/per-read-deadline", 2 * time.Millisecond, reqSize / 2, 300 * time.Millisecond, 0, "deadline"},
		{"endless/whole-deadline", 3 * time.Millisecond, -1, 5 * time.Second, 300 * time.Millisecond, "deadline"},
	}
	req := append(bytes.Repeat([]byte("a"), reqSize-1), '\n')
	for _, tc := range cases {
		for _, network := range streamNetworks {
			t.Run(tc.name+"/"+network, func(t *testing.T) {
				ln := listen(t, network)
				var handlers, tricklers sync.WaitGroup
				var fails failures
				var outcomes kindCounts
				stop := make(chan struct{})
				for range clients {
					peer, ours := mustConnect(t, ln)
					tricklers.Add(1)
					go func() {
						defer tricklers.Done()
						for i := 0; tc.send < 0 || i < tc.send; i++ {
							select {
							case <-stop:
								return
							case <-time.After(tc.interval):
							}
							b := req[:1] // an endless trickle never sends the final '\n'
							if tc.send >= 0 {
								b = req[i : i+1]
							}
							if _, err := peer.Write(b); err != nil {
								return // the server gave up on us
							}
						}
					}()
					handlers.Add(1)
					go func() {
						defer handlers.Done()
						defer ours.Close()
						var whole time.Time
						if tc.whole > 0 {
							whole = time.Now().Add(tc.whole)
						}
						var got []byte
						buf := make([]byte, reqSize)
						for !bytes.HasSuffix(got, []byte("\n")) {
							d := time.Now().Add(tc.perRead)
							if !whole.IsZero() && whole.Before(d) {
								d = whole
							}
							ours.SetReadDeadline(d)
							n, err := ours.Read(buf)
							got = append(got, buf[:n]...)
							if err != nil {
								if msg := expectErr(err, "read", "deadline"); msg != "" {
									fails.add("%s", msg)
								}
								outcomes.add(errKind(err))
								if tc.want != "deadline" {
									fails.add("got %d bytes then %v; want the full request", len(got), err)
								}
								return
							}
						}
						outcomes.add("full")
						if tc.want != "full" || !bytes.Equal(got, req) {
							fails.add("got the request %q; want outcome %s", got, tc.want)
						}
					}()
				}
				awaitGroup(t, &handlers, "slowloris handlers")
				close(stop)
				awaitGroup(t, &tricklers, "tricklers")
				fails.report(t)
				t.Logf("%d trickling clients: %s", clients, outcomes.String())
			})
		}
	}
}

// TestResetFloodBeforeAccept: connections reset by their clients before
// the server accepts them (a SYN/RST flood's leftovers, port scanners)
// must not disturb the listener: Accept never fails, the dead conns read
// ECONNRESET or io.EOF, and good clients connecting during and after the
// flood are served.
func TestResetFloodBeforeAccept(t *testing.T) {
	const flood, good = 500, 100
	ln := listen(t, "tcp")
	addr := ln.Addr().String()
	floodOnce := func(n int) error {
		for range n {
			c, err := pollnet.DialTimeout("tcp", addr, hangTimeout)
			if err != nil {
				return err
			}
			c.(*pollnet.Conn).SetLinger(0)
			c.Close()
		}
		return nil
	}
	// Phase 1: the flood lands while nobody accepts.
	if err := floodOnce(flood); err != nil {
		t.Fatalf("flood dial: %v", err)
	}

	var dead, served atomic.Int64
	var fails failures
	var handlers sync.WaitGroup
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
			handlers.Add(1)
			go func() {
				defer handlers.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(hangTimeout))
				line, err := bufio.NewReader(c).ReadString('\n')
				if err != nil {
					if msg := expectErr(err, "read", "ECONNRESET", "EOF"); msg != "" || line != "" {
						fails.add("reading a conn: %q, %v %s", line, err, msg)
					}
					dead.Add(1)
					return
				}
				if _, err := io.WriteString(c, strings.ToUpper(line)); err != nil {
					fails.add("echo: %v", err)
				}
				served.Add(1)
			}()
		}
	}()

	// Phase 2: good clients, while a second flood runs alongside.
	var clients sync.WaitGroup
	clients.Add(1)
	go func() {
		defer clients.Done()
		if err := floodOnce(flood); err != nil {
			fails.add("flood dial: %v", err)
		}
	}()
	for i := range good {
		clients.Add(1)
		go func() {
			defer clients.Done()
			c, err := pollnet.DialTimeout("tcp", addr, hangTimeout)
			if err != nil {
				fails.add("good dial: %v", err)
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(hangTimeout))
			msg := fmt.Sprintf("hello %d\n", i)
			io.WriteString(c, msg)
			got, err := bufio.NewReader(c).ReadString('\n')
			if err != nil || got != strings.ToUpper(msg) {
				fails.add("good client %d: %q, %v", i, got, err)
			}
		}()
	}
	awaitGroup(t, &clients, "good clients and the flood")
	ln.Close()
	await(t, acceptDone, "accept loop")
	awaitGroup(t, &handlers, "handlers")
	fails.report(t)
	if served.Load() != good {
		t.Errorf("served %d good clients, want %d", served.Load(), good)
	}
	t.Logf("%d conns reset before Accept (%d of them accepted, reading ECONNRESET or EOF), %d good clients served", 2*flood, dead.Load(), served.Load())
}
