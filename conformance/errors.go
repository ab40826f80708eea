package conformance

import (
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// entryPoint is one way of dialing or listening that can fail on bad input.
type entryPoint struct {
	name, op string // op: the Op of the *net.OpError it returns
	// takesCtx: call passes ctx on, so cases about cancelled or expired
	// contexts apply to it.
	takesCtx bool
	call     func(ctx context.Context, network, address string) error
}

// implEntryPoints are the ways an Impl dials and listens: Dial and Listen
// with the context as given, and Dial with a context carrying a deadline (what
// net.DialTimeout does), which must not change the error.
func implEntryPoints(impl Impl) (dials, listens []entryPoint) {
	dials = []entryPoint{
		{"Dial", "dial", true, func(ctx context.Context, network, address string) error {
			return closeConn(impl.Dial(ctx, network, address))
		}},
		{"Dial-ctx-with-timeout", "dial", false, func(ctx context.Context, network, address string) error {
			ctx, cancel := context.WithTimeout(ctx, waitBound)
			defer cancel()
			return closeConn(impl.Dial(ctx, network, address))
		}},
	}
	listens = []entryPoint{
		{"Listen", "listen", false, func(ctx context.Context, network, address string) error {
			return closeListener(impl.Listen(ctx, network, address))
		}},
	}
	return dials, listens
}

func closeConn(c net.Conn, err error) error {
	if !isNil(c) {
		c.Close()
	}
	return err
}

func closeListener(ln net.Listener, err error) error {
	if !isNil(ln) {
		ln.Close()
	}
	return err
}

// closedPort returns a loopback address (of a tcp network) with no listener.
func closedPort(t *testing.T, network string) string {
	t.Helper()
	ln, err := net.Listen(network, loopbackAddr[network])
	mustNoError(t, err)
	addr := ln.Addr().String()
	mustNoError(t, ln.Close())
	return addr
}

// openPort returns the address of a live listener from st.
func openPort(t *testing.T, st stack, network string) string {
	t.Helper()
	return listenLocal(t, st.listen, network).Addr().String()
}

// staleSocket returns the path of a unix socket file nobody listens on.
func staleSocket(t *testing.T) string {
	t.Helper()
	path := sockPath(t)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	mustNoError(t, err)
	ln.SetUnlinkOnClose(false)
	mustNoError(t, ln.Close())
	_, err = os.Stat(path)
	mustNoError(t, err, "socket file kept")
	return path
}

// longSockPath is longer than sun_path (108 bytes on Linux).
var longSockPath = "/tmp/" + strings.Repeat("x", 120)

// wantErrEqual expects the *net.OpError to wrap an error equal to want.
func wantErrEqual(want error) func(t *testing.T, op string, err error, inner error) {
	return func(t *testing.T, _ string, _ error, inner error) {
		mustEqual(t, want, inner, "OpError.Err")
	}
}

// wantSyscall expects the *net.OpError to wrap os.NewSyscallError(name, errno),
// where name is the system call made by the operation op.
func wantSyscall(names map[string]string, errno syscall.Errno) func(t *testing.T, op string, err error, inner error) {
	return func(t *testing.T, op string, err error, inner error) {
		mustErrorIs(t, err, errno)
		mustEqual(t, &os.SyscallError{Syscall: names[op], Err: errno}, inner, "OpError.Err")
	}
}

var (
	connectCall = map[string]string{"dial": "connect"}
	bindCall    = map[string]string{"listen": "bind"}
	bothCalls   = map[string]string{"dial": "connect", "listen": "bind"}
)

// badInputErrors: the error for every kind of bad input has package net's
// shape: a *net.OpError (never wrapped) with its Op, Net, Source and Addr, and
// the same wrapped error. Each expectation, written once, is checked for every
// entry point it applies to. The expectations are what package
// net returns on Linux.
func badInputErrors(t *testing.T, st stack) {
	dials, listens := implEntryPoints(st.impl)
	badInputErrorsVia(t, st, dials, listens)
}

// badInputErrorsVia runs the bad-input cases through the given entry points:
// cases about contexts through the dial entry points that take one, the
// others through every dial or listen entry point they apply to.
func badInputErrorsVia(t *testing.T, st stack, dials, listens []entryPoint) {
	type badInput struct {
		name    string
		network string
		address func(t *testing.T, st stack) string
		dial    bool // applies to the dial entry points
		listen  bool // applies to the listen entry points
		// ctx, when set, is the context given to the dial entry points
		// that take one, the only ones the case then applies to.
		ctx func() (context.Context, context.CancelFunc)
		// hasAddr: OpError.Addr is the address dialed or listened on;
		// otherwise (a failure before resolving it) nil.
		hasAddr bool
		check   func(t *testing.T, op string, err error, inner error)
		ipv6    bool // needs IPv6
	}
	lit := func(a string) func(*testing.T, stack) string { return func(*testing.T, stack) string { return a } }
	cases := []badInput{
		{
			name: "unknown-network", network: "tcp7", address: lit("127.0.0.1:0"),
			dial: true, listen: true,
			check: wantErrEqual(net.UnknownNetworkError("tcp7")),
		},
		{
			name: "missing-port", network: "tcp", address: lit("127.0.0.1"),
			dial: true, listen: true,
			check: wantErrEqual(&net.AddrError{Err: "missing port in address", Addr: "127.0.0.1"}),
		},
		{
			name: "missing-bracket", network: "tcp", address: lit("[::1"),
			dial: true, listen: true,
			check: wantErrEqual(&net.AddrError{Err: "missing ']' in address", Addr: "[::1"}),
		},
		{
			name: "too-many-colons", network: "tcp", address: lit("a:b:c"),
			dial: true, listen: true,
			check: wantErrEqual(&net.AddrError{Err: "too many colons in address", Addr: "a:b:c"}),
		},
		{
			// Note AddrError.Addr: the port alone, not the whole address.
			name: "port-out-of-range", network: "tcp", address: lit("127.0.0.1:70000"),
			dial: true, listen: true,
			check: wantErrEqual(&net.AddrError{Err: "invalid port", Addr: "70000"}),
		},
		{
			name: "negative-port", network: "tcp", address: lit("127.0.0.1:-1"),
			dial: true, listen: true,
			check: wantErrEqual(&net.AddrError{Err: "invalid port", Addr: "-1"}),
		},
		{
			// A service name that is not in the services database is a
			// *net.DNSError, not an *net.AddrError.
			name: "unknown-service", network: "tcp", address: lit("127.0.0.1:nosuchservice"),
			dial: true, listen: true,
			check: wantErrEqual(&net.DNSError{Err: "unknown port", Name: "tcp/nosuchservice", IsNotFound: true}),
		},
		{
			name: "tcp4-with-ipv6-address", network: "tcp4", address: lit("[::1]:0"),
			dial: true, listen: true,
			check: wantErrEqual(&net.AddrError{Err: "no suitable address found", Addr: "::1"}),
		},
		{
			name: "tcp6-with-ipv4-address", network: "tcp6", address: lit("127.0.0.1:0"),
			dial: true, listen: true,
			check: wantErrEqual(&net.AddrError{Err: "no suitable address found", Addr: "127.0.0.1"}),
		},
		{
			// An unexported error of package net; only its text is observable.
			name: "empty-address", network: "tcp", address: lit(""),
			dial: true,
			check: func(t *testing.T, _ string, _ error, inner error) {
				mustEqualError(t, inner, "missing address")
			},
		},
		{
			name: "connection-refused/tcp4", network: "tcp4",
			address: func(t *testing.T, _ stack) string { return closedPort(t, "tcp4") },
			dial:    true, hasAddr: true,
			check: wantSyscall(connectCall, syscall.ECONNREFUSED),
		},
		{
			name: "connection-refused/tcp6", network: "tcp6", ipv6: true,
			address: func(t *testing.T, _ stack) string { return closedPort(t, "tcp6") },
			dial:    true, hasAddr: true,
			check: wantSyscall(connectCall, syscall.ECONNREFUSED),
		},
		{
			// A missing socket file is ENOENT, not ECONNREFUSED.
			name: "unix-missing-path", network: "unix",
			address: func(t *testing.T, _ stack) string { return sockPath(t) },
			dial:    true, hasAddr: true,
			check: wantSyscall(connectCall, syscall.ENOENT),
		},
		{
			// A socket file nobody listens on is ECONNREFUSED.
			name: "unix-stale-socket", network: "unix",
			address: func(t *testing.T, _ stack) string { return staleSocket(t) },
			dial:    true, hasAddr: true,
			check: wantSyscall(connectCall, syscall.ECONNREFUSED),
		},
		{
			// Longer than sun_path: the kernel's EINVAL, from bind or connect.
			name: "unix-path-too-long", network: "unix", address: lit(longSockPath),
			dial: true, listen: true, hasAddr: true,
			check: wantSyscall(bothCalls, syscall.EINVAL),
		},
		{
			name: "address-in-use/tcp4", network: "tcp4",
			address: func(t *testing.T, st stack) string { return openPort(t, st, "tcp4") },
			listen:  true, hasAddr: true,
			check: wantSyscall(bindCall, syscall.EADDRINUSE),
		},
		{
			name: "address-in-use/tcp6", network: "tcp6", ipv6: true,
			address: func(t *testing.T, st stack) string { return openPort(t, st, "tcp6") },
			listen:  true, hasAddr: true,
			check: wantSyscall(bindCall, syscall.EADDRINUSE),
		},
		{
			// Listen does not remove an existing socket file.
			name: "address-in-use/unix", network: "unix",
			address: func(t *testing.T, st stack) string { return openPort(t, st, "unix") },
			listen:  true, hasAddr: true,
			check: wantSyscall(bindCall, syscall.EADDRINUSE),
		},
		{
			name: "address-in-use/unix-stale-socket", network: "unix",
			address: func(t *testing.T, _ stack) string { return staleSocket(t) },
			listen:  true, hasAddr: true,
			check: wantSyscall(bindCall, syscall.EADDRINUSE),
		},
		{
			// A live listener: a stack that ignored the context would connect.
			// Package net wraps an unexported error that Is context.Canceled
			// and whose Timeout() is false.
			name: "cancelled-context", network: "tcp4",
			address: func(t *testing.T, st stack) string { return openPort(t, st, "tcp4") },
			ctx: func() (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				return ctx, cancel
			},
			hasAddr: true,
			check: func(t *testing.T, _ string, err error, _ error) {
				mustErrorIs(t, err, context.Canceled)
				var ne net.Error
				mustErrorAs(t, err, &ne)
				mustFalse(t, ne.Timeout(), "Timeout()")
			},
		},
		{
			// Package net reports an expired context deadline with its own
			// timeout error: it Is context.DeadlineExceeded and its Timeout()
			// is true, but it is NOT os.ErrDeadlineExceeded (that one is for
			// I/O deadlines on conns).
			name: "expired-context-deadline", network: "tcp4",
			address: func(t *testing.T, st stack) string { return openPort(t, st, "tcp4") },
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
			},
			hasAddr: true,
			check: func(t *testing.T, _ string, err error, _ error) {
				mustErrorIs(t, err, context.DeadlineExceeded)
				mustNotErrorIs(t, err, os.ErrDeadlineExceeded)
				var ne net.Error
				mustErrorAs(t, err, &ne)
				mustTrue(t, ne.Timeout(), "Timeout()")
			},
		},
	}

	for _, tc := range cases {
		var entries []entryPoint
		for _, ep := range dials {
			if tc.ctx != nil && ep.takesCtx || tc.ctx == nil && tc.dial {
				entries = append(entries, ep)
			}
		}
		if tc.ctx == nil && tc.listen {
			entries = append(entries, listens...)
		}
		for _, ep := range entries {
			t.Run(tc.name+"/"+ep.name, func(t *testing.T) {
				if tc.ipv6 {
					requireIPv6(t)
				}
				st.requireServes(t, tc.network)
				address := tc.address(t, st)
				ctx, cancel := context.Background(), context.CancelFunc(func() {})
				if tc.ctx != nil {
					ctx, cancel = tc.ctx()
				}
				defer cancel()

				err := bounded(t, ep.name, func() error { return ep.call(ctx, tc.network, address) })
				oe := requireOpError(t, err, ep.op, tc.network)
				mustNil(t, oe.Source, "OpError.Source")
				if tc.hasAddr {
					requireAddr(t, resolved(t, tc.network, address), oe.Addr, "OpError.Addr")
				} else {
					mustNil(t, oe.Addr, "OpError.Addr")
				}
				var ne net.Error
				mustTrue(t, errors.As(err, &ne), "%T is not a net.Error", err)
				tc.check(t, ep.op, err, oe.Err)
			})
		}
	}
}

// resolved is the net.Addr package net puts in an OpError for address.
func resolved(t *testing.T, network, address string) net.Addr {
	t.Helper()
	if network == "unix" {
		return &net.UnixAddr{Name: address, Net: network}
	}
	a, err := net.ResolveTCPAddr(network, address)
	mustNoError(t, err)
	return a
}
