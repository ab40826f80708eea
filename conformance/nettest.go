package conformance

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/net/nettest"
)

// nettestConn runs golang.org/x/net/nettest.TestConn (basic I/O, ping-pong,
// racy reads and writes, read/write/past/present/future deadlines, Close with
// a pending deadline, concurrent methods) over each network, with both ends
// from the stack.
func nettestConn(t *testing.T, st stack) {
	forEachNetwork(t, st, func(t *testing.T, network string) {
		nettest.TestConn(t, makePipe(st.listen, st.dial, network))
	})
}

// interop runs nettest.TestConn with package net on one end of the
// connection: the stack's listener with net.Dial, and net.Listen with the
// stack's dialer. An implementation passes only if it speaks plain TCP or unix
// stream sockets on the wire.
func interop(t *testing.T, st stack) {
	pairings := []struct {
		name   string
		listen listenFunc
		dial   dialFunc
	}{
		{"impl-listener/net-dialer", st.listen, net.Dial},
		{"net-listener/impl-dialer", net.Listen, st.dial},
	}
	forEachNetwork(t, st, func(t *testing.T, network string) {
		for _, p := range pairings {
			t.Run(p.name, func(t *testing.T) {
				nettest.TestConn(t, makePipe(p.listen, p.dial, network))
			})
		}
	})
}

// makePipe builds a nettest.MakePipe: a fresh listener per pipe, the client
// dialed as c1 and the accepted conn as c2. stop closes all three and removes
// the unix socket's directory. MakePipe has no *testing.T, so failures are
// returned as errors (nettest fails the test with them).
func makePipe(listen listenFunc, dial dialFunc, network string) nettest.MakePipe {
	return func() (c1, c2 net.Conn, stop func(), err error) {
		addr := loopbackAddr[network]
		var dir string
		if network == "unix" {
			if dir, err = os.MkdirTemp("", "pn"); err != nil {
				return nil, nil, nil, err
			}
			addr = filepath.Join(dir, "s")
		}
		removeDir := func() {
			if dir != "" {
				os.RemoveAll(dir)
			}
		}
		ln, err := listen(network, addr)
		if err != nil {
			removeDir()
			return nil, nil, nil, err
		}
		accepted := make(chan connResult, 1)
		go func() {
			c, err := ln.Accept()
			accepted <- connResult{c, err}
		}()
		dialed := make(chan connResult, 1)
		go func() {
			c, err := dial(network, ln.Addr().String())
			dialed <- connResult{c, err}
		}()
		// Both results, each bounded; a conn that arrives is kept for stop.
		for _, r := range []struct {
			ch   chan connResult
			c    *net.Conn
			what string
		}{{dialed, &c1, "Dial"}, {accepted, &c2, "Accept"}} {
			select {
			case res := <-r.ch:
				*r.c = res.c
				if err == nil {
					err = res.err
				}
				if err == nil && isNil(res.c) {
					err = fmt.Errorf("%s returned a nil net.Conn and a nil error", r.what)
				}
			case <-time.After(waitBound):
				if err == nil {
					err = fmt.Errorf("%s did not return within %v", r.what, waitBound)
				}
			}
			if err != nil {
				ln.Close() // unblocks Accept
			}
		}
		stop = func() {
			for _, c := range []net.Conn{c1, c2} {
				if !isNil(c) {
					c.Close()
				}
			}
			ln.Close()
			removeDir()
		}
		if err != nil {
			stop()
			return nil, nil, nil, err
		}
		return c1, c2, stop, nil
	}
}
