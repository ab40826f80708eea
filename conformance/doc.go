// Package conformance is a kit that checks a net.Conn / net.Listener
// implementation against package net's behaviour, case by case. Every case
// passes on package net itself (see Reference): the kit is a specification of
// what net does, written as tests, not of some property of one implementation.
//
// To run it on your implementation, write a test that hands Run your listen
// and dial functions:
//
//	func TestConformance(t *testing.T) {
//		conformance.Run(t, conformance.Impl{
//			Name: "mynet", Listen: mynet.Listen, Dial: mynet.DialContext,
//		})
//	}
//
// Here is a complete program outside this repository, run with go test, that
// checks package net itself:
//
//	package kitdemo
//
//	import (
//		"testing"
//
//		"github.com/pollnet/pollnet/conformance"
//	)
//
//	func TestNet(t *testing.T) { conformance.Run(t, conformance.Reference()) }
//
// Run groups the cases by theme, each a subtest (-run 'TestConformance/Deadline'
// picks one). The connection-level cases run over each network of
// Impl.Networks: tcp4 on 127.0.0.1, tcp6 on ::1 (when the host has IPv6) and
// unix sockets. The themes:
//
//   - NetTest: golang.org/x/net/nettest.TestConn with both ends from the
//     implementation (basic I/O, ping-pong, racy reads and writes, deadlines,
//     Close with a pending deadline, concurrent methods).
//   - Interop: nettest.TestConn with package net on the other end (the
//     implementation's listener with net.Dial, net.Listen with its dialer);
//     only an implementation that speaks plain TCP or unix stream sockets on
//     the wire passes.
//   - Deadline: past deadlines, the zero time clearing them, deadlines moved
//     later, cleared or earlier while an operation is blocked, read and write
//     deadlines independent of each other, recovery after timeouts with no
//     data lost or duplicated, write deadlines against a peer that never
//     reads, and Accept deadlines (the listener's SetDeadline).
//   - Close: Close unblocking Read, Write and Accept (with net.ErrClosed,
//     winning over a pending deadline), every operation after Close including
//     a second Close, all data written before Close reaching the peer
//     followed by io.EOF, and what a conn sees when its peer closes (io.EOF,
//     or ECONNRESET when the peer closed with unread data).
//   - HalfClose: CloseWrite sending EOF after the data written so far while
//     the conn still reads, then failing Writes with EPIPE; CloseRead.
//   - Errors: the exact error for bad input (unknown networks, malformed
//     addresses and ports, refused connections, missing and stale unix
//     sockets, too-long paths, addresses in use, cancelled or expired
//     contexts): a *net.OpError, not wrapped, with package net's Op, Net,
//     Source, Addr and wrapped error, through Dial (with and without a
//     context deadline) and Listen.
//   - Addr: wildcard, loopback and localhost listening addresses and which
//     loopback addresses reach them, dialing localhost, a cancelled context
//     not stopping Listen on a literal address, the unix socket file's
//     lifetime, LocalAddr and RemoteAddr types and values, zero-length Read
//     and Write, and the optional methods (CloseRead, CloseWrite, the
//     listener's SetDeadline) reached through interface assertions.
//   - HTTP: net/http serving on the implementation's listener and dialing
//     through its Dial: requests, a 1 MiB echo, keep-alive reuse, Shutdown
//     with idle and active connections, and the curl binary as an independent
//     client (skipped when curl is not in PATH).
//
// The expectations are package net's behaviour on Linux (errno values, "@"
// as an unbound unix socket's name). Only loopback addresses and unix sockets
// are used; every case is bounded in time and closes what it opens. Timing
// assertions are one-sided: an operation must not time out before its
// deadline, and must finish within generous bounds on a loaded machine.
//
// The kit imports only the standard library and golang.org/x/net. This
// repository's own tests run it on package net and on pollnet:
//
//	go test -race ./conformance/
package conformance
