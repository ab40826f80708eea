package conformance

import (
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
)

// closeUnblocks: Close from another goroutine makes a blocked Read, Write
// or Accept return an error wrapping net.ErrClosed. The operation may or may
// not have started blocking when Close runs; the outcome is the same.
func closeUnblocks(t *testing.T, st stack) {
	waits := []struct {
		name string
		d    time.Duration
	}{
		{"immediately", 0},
		// Give the operation time to block; nothing depends on it having done so.
		{"after-blocking", 50 * time.Millisecond},
	}
	forEachNetwork(t, st, func(t *testing.T, network string) {
		for _, wait := range waits {
			t.Run("read/"+wait.name, func(t *testing.T) {
				c, _ := pair(t, st, network)
				res := goRead(t, c, 10)
				time.Sleep(wait.d)
				mustNoError(t, c.Close())
				r := await(t, res, "Read after Close")
				mustZero(t, r.n)
				requireClosed(t, c, r.err, "read", network)
			})
			t.Run("read-with-deadline/"+wait.name, func(t *testing.T) {
				// Close wins over a pending deadline: the error is
				// net.ErrClosed, not a timeout.
				c, _ := pair(t, st, network)
				mustNoError(t, c.SetReadDeadline(time.Now().Add(time.Hour)))
				res := goRead(t, c, 10)
				time.Sleep(wait.d)
				mustNoError(t, c.Close())
				r := await(t, res, "Read after Close")
				requireClosed(t, c, r.err, "read", network)
			})
			t.Run("write/"+wait.name, func(t *testing.T) {
				c, _ := pair(t, st, network)
				w := newStreamWriter(c, bigChunk)
				res := spawn(t, w.writeUntilError, c)
				time.Sleep(wait.d)
				mustNoError(t, c.Close())
				requireClosed(t, c, await(t, res, "Write after Close"), "write", network)
			})
			t.Run("accept/"+wait.name, func(t *testing.T) {
				ln := listenLocal(t, st.listen, network)
				res := spawn(t, func() error {
					c, err := ln.Accept()
					if !isNil(c) {
						c.Close()
					}
					return err
				}, ln)
				time.Sleep(wait.d)
				mustNoError(t, ln.Close())
				err := await(t, res, "Accept after Close")
				oe := requireOpError(t, err, "accept", network)
				requireAddr(t, ln.Addr(), oe.Addr, "OpError.Addr")
				mustErrorIs(t, err, net.ErrClosed)
			})
		}
	})
}

// useAfterClose: every operation on a closed conn or listener, including
// a second Close, fails with an error wrapping net.ErrClosed, with package
// net's Op.
func useAfterClose(t *testing.T, st stack) {
	connOps := []struct {
		name, op string
		call     func(c net.Conn) error
	}{
		{"Close", "close", func(c net.Conn) error { return c.Close() }},
		{"Read", "read", func(c net.Conn) error { _, err := c.Read(make([]byte, 1)); return err }},
		{"Read-zero-length", "read", func(c net.Conn) error { _, err := c.Read(nil); return err }},
		{"Write", "write", func(c net.Conn) error { _, err := c.Write([]byte("x")); return err }},
		{"SetDeadline", "set", func(c net.Conn) error { return c.SetDeadline(time.Now()) }},
		{"SetReadDeadline", "set", func(c net.Conn) error { return c.SetReadDeadline(time.Now()) }},
		{"SetWriteDeadline", "set", func(c net.Conn) error { return c.SetWriteDeadline(time.Now()) }},
		{"CloseWrite", "close", func(c net.Conn) error {
			if cw, ok := c.(closeWriter); ok {
				return cw.CloseWrite()
			}
			return fmt.Errorf("%T has no CloseWrite method", c)
		}},
		{"CloseRead", "close", func(c net.Conn) error {
			if cr, ok := c.(closeReader); ok {
				return cr.CloseRead()
			}
			return fmt.Errorf("%T has no CloseRead method", c)
		}},
	}
	forEachNetwork(t, st, func(t *testing.T, network string) {
		for _, tc := range connOps {
			t.Run("conn/"+tc.name, func(t *testing.T) {
				c, _ := pair(t, st, network)
				mustNoError(t, c.Close())
				err := bounded(t, tc.name, func() error { return tc.call(c) })
				mustErrorIs(t, err, net.ErrClosed)
				if tc.op == "set" {
					// Set*Deadline errors carry only the local address.
					oe := requireOpError(t, err, "set", network)
					mustNil(t, oe.Source, "OpError.Source")
					requireAddr(t, c.LocalAddr(), oe.Addr, "OpError.Addr")
				} else {
					requireConnOpError(t, c, err, tc.op, network)
				}
			})
		}
		t.Run("listener/Close", func(t *testing.T) {
			ln := listenLocal(t, st.listen, network)
			mustNoError(t, ln.Close())
			err := ln.Close()
			mustErrorIs(t, err, net.ErrClosed)
			oe := requireOpError(t, err, "close", network)
			requireAddr(t, ln.Addr(), oe.Addr, "OpError.Addr")
		})
		t.Run("listener/Accept", func(t *testing.T) {
			ln := listenLocal(t, st.listen, network)
			mustNoError(t, ln.Close())
			err := bounded(t, "Accept", func() error {
				c, err := ln.Accept()
				if !isNil(c) {
					c.Close()
				}
				return err
			})
			mustErrorIs(t, err, net.ErrClosed)
			oe := requireOpError(t, err, "accept", network)
			requireAddr(t, ln.Addr(), oe.Addr, "OpError.Addr")
		})
		t.Run("listener/SetDeadline", func(t *testing.T) {
			// Package net returns this one unwrapped (no
			// *net.OpError), so only errors.Is is part of the contract.
			ln := listenLocal(t, st.listen, network)
			mustNoError(t, ln.Close())
			dl, ok := ln.(deadliner)
			mustTrue(t, ok, "%T has no SetDeadline method", ln)
			mustErrorIs(t, dl.SetDeadline(time.Now()), net.ErrClosed)
		})
	})
}

// closeDeliversWrittenData: every byte written before Close reaches the
// peer, followed by a clean io.EOF, in both directions and whatever the Write
// sizes.
func closeDeliversWrittenData(t *testing.T, st stack) {
	const total = 4 << 20
	cases := []struct {
		name  string
		chunk int
	}{
		{"one-4MiB-write", total},
		{"4KiB-writes", 4 << 10},
	}
	forEachNetwork(t, st, func(t *testing.T, network string) {
		for _, tc := range cases {
			for _, dir := range []string{"client-to-server", "server-to-client"} {
				t.Run(tc.name+"/"+dir, func(t *testing.T) {
					c, s := pair(t, st, network)
					if dir == "server-to-client" {
						c, s = s, c
					}
					requireStreamArrives(t, c, s, tc.chunk, total)
				})
			}
		}
	})
}

// peerClose: what a conn sees when its peer closes.
func peerClose(t *testing.T, st stack) {
	forEachNetwork(t, st, func(t *testing.T, network string) {
		t.Run("blocked-read-gets-EOF", func(t *testing.T) {
			c, s := pair(t, st, network)
			res := goRead(t, c, 10)
			mustNoError(t, s.Close())
			r := await(t, res, "Read after the peer closed")
			mustZero(t, r.n)
			requireEOF(t, r.err)
			// And again: EOF is sticky.
			requireEOF(t, doRead(t, c, 10).err)
		})
		t.Run("close-with-unread-data-resets", func(t *testing.T) {
			// Closing with unread data in the receive buffer
			// resets the connection (TCP sends RST; a unix socket
			// flags ECONNRESET on its peer): the peer's Read fails
			// with ECONNRESET rather than a clean EOF.
			c, s := pair(t, st, network)
			writeString(t, c, "ab")
			readString(t, s, "a") // "b" has arrived and stays unread
			mustNoError(t, s.Close())
			res := goRead(t, c, 10)
			r := await(t, res, "Read after the peer reset")
			mustZero(t, r.n)
			requireConnOpError(t, c, r.err, "read", network)
			mustErrorIs(t, r.err, syscall.ECONNRESET)
			var se *os.SyscallError
			mustErrorAs(t, r.err, &se)
			mustEqual(t, "read", se.Syscall)
		})
	})
}
