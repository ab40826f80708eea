// Package conformance holds pollnet's package-net semantics conformance suite.
//
// The package contains no library code: everything lives in its _test.go
// files. Every test is parameterised over a stack, one implementation of the
// networking API under test (Listen, Dial, DialTimeout, Dialer.DialContext,
// ListenConfig.Listen). The very same cases run against package net, which
// proves that they check the standard library's semantics rather than some
// property of pollnet, and against pollnet, which must behave identically to be
// a drop-in replacement.
//
// The suite covers, over tcp4 (127.0.0.1), tcp6 (::1, when the host supports
// IPv6) and unix sockets:
//
//   - golang.org/x/net/nettest.TestConn, plus interoperability with package net
//     on the other end of the connection;
//   - deadlines: past, cleared, moved while an operation is blocked, read and
//     write deadlines independent of each other, recovery after timeouts with
//     no data lost, write deadlines against a peer that never reads, Accept
//     deadlines;
//   - Close: unblocking Read, Write and Accept, double Close, use after Close,
//     no data lost when a writer closes, resets from a peer closing with unread
//     data;
//   - half-close with CloseWrite and CloseRead;
//   - the exact shape of the errors returned for bad input (unknown networks,
//     malformed addresses, refused connections, addresses in use, cancelled or
//     expired contexts): the *net.OpError's Op, Net, Source, Addr and the error
//     it wraps;
//   - listening addresses (wildcards, loopback, localhost), the unix socket
//     file's lifetime, LocalAddr/RemoteAddr and zero-length I/O;
//   - net/http on top of the stack: requests, keep-alive reuse, Shutdown, and
//     the curl binary as an independent client.
//
// Only loopback addresses and unix sockets are used; every test is bounded in
// time and closes what it opens. Timing assertions are one-sided: an operation
// must not time out before its deadline, and must finish within generous
// bounds (waitBound) on a loaded machine.
//
// Run with:
//
//	go test -race ./conformance/
package conformance
