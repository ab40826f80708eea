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

	"github.com/stretchr/testify/require"
)

// entryPoint is one of a stack's functions that can fail on bad input.
type entryPoint struct {
	name, op string // op: the Op of the *net.OpError it returns
	call     func(ctx context.Context, st stack, network, address string) error
}

var dialEntryPoints = []entryPoint{
	{"Dial", "dial", func(_ context.Context, st stack, network, address string) error {
		return closeConn(st.dial(network, address))
	}},
	{"DialTimeout", "dial", func(_ context.Context, st stack, network, address string) error {
		return closeConn(st.dialTimeout(network, address, waitBound))
	}},
	{"DialContext", "dial", func(ctx context.Context, st stack, network, address string) error {
		return closeConn(st.dialContext(ctx, network, address))
	}},
}

var listenEntryPoints = []entryPoint{
	{"Listen", "listen", func(_ context.Context, st stack, network, address string) error {
		return closeListener(st.listen(network, address))
	}},
	{"ListenContext", "listen", func(ctx context.Context, st stack, network, address string) error {
		return closeListener(st.listenContext(ctx, network, address))
	}},
}

func closeConn(c net.Conn, err error) error {
	if c != nil {
		c.Close()
	}
	return err
}

func closeListener(ln net.Listener, err error) error {
	if ln != nil {
		ln.Close()
	}
	return err
}

// closedPort returns a loopback address (of a tcp network) with no listener.
func closedPort(t *testing.T, network string) string {
	t.Helper()
	ln, err := net.Listen(network, loopbackAddr[network])
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
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
	require.NoError(t, err)
	ln.SetUnlinkOnClose(false)
	require.NoError(t, ln.Close())
	_, err = os.Stat(path)
	require.NoError(t, err, "socket file kept")
	return path
}

// longSockPath is longer than sun_path (108 bytes on Linux).
var longSockPath = "/tmp/" + strings.Repeat("x", 120)

// wantErrEqual expects the *net.OpError to wrap an error equal to want.
func wantErrEqual(want error) func(t *testing.T, op string, err error, inner error) {
	return func(t *testing.T, _ string, _ error, inner error) {
		require.Equal(t, want, inner, "OpError.Err")
	}
}

// wantSyscall expects the *net.OpError to wrap os.NewSyscallError(name, errno),
// where name is the system call made by the operation op.
func wantSyscall(names map[string]string, errno syscall.Errno) func(t *testing.T, op string, err error, inner error) {
	return func(t *testing.T, op string, err error, inner error) {
		require.ErrorIs(t, err, errno)
		require.Equal(t, &os.SyscallError{Syscall: names[op], Err: errno}, inner, "OpError.Err")
	}
}

var (
	connectCall = map[string]string{"dial": "connect"}
	bindCall    = map[string]string{"listen": "bind"}
	bothCalls   = map[string]string{"dial": "connect", "listen": "bind"}
)

// TestBadInputErrors: the error for every kind of bad input has package net's
// shape: a *net.OpError (never wrapped) with its Op, Net, Source and Addr, and
// the same wrapped error. Each expectation, written once, is checked for every
// stack and every entry point it applies to. The expectations are what package
// net returns on Linux.
func TestBadInputErrors(t *testing.T) {
	type badInput struct {
		name    string
		network string
		address func(t *testing.T, st stack) string
		dial    bool // applies to Dial, DialTimeout, DialContext
		listen  bool // applies to Listen, ListenContext
		// ctx, when set, is the context given to DialContext, the only entry
		// point the case then applies to.
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
				require.EqualError(t, inner, "missing address")
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
				require.ErrorIs(t, err, context.Canceled)
				require.False(t, err.(net.Error).Timeout(), "Timeout()")
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
				require.ErrorIs(t, err, context.DeadlineExceeded)
				require.NotErrorIs(t, err, os.ErrDeadlineExceeded)
				require.True(t, err.(net.Error).Timeout(), "Timeout()")
			},
		},
	}

	for _, st := range stacks {
		t.Run(st.name, func(t *testing.T) {
			for _, tc := range cases {
				var entries []entryPoint
				switch {
				case tc.ctx != nil:
					entries = []entryPoint{dialEntryPoints[2]}
				default:
					if tc.dial {
						entries = append(entries, dialEntryPoints...)
					}
					if tc.listen {
						entries = append(entries, listenEntryPoints...)
					}
				}
				for _, ep := range entries {
					t.Run(tc.name+"/"+ep.name, func(t *testing.T) {
						if tc.ipv6 {
							requireIPv6(t)
						}
						address := tc.address(t, st)
						ctx, cancel := context.Background(), context.CancelFunc(func() {})
						if tc.ctx != nil {
							ctx, cancel = tc.ctx()
						}
						defer cancel()

						err := bounded(t, ep.name, func() error { return ep.call(ctx, st, tc.network, address) })
						oe := requireOpError(t, err, ep.op, tc.network)
						require.Nil(t, oe.Source, "OpError.Source")
						if tc.hasAddr {
							requireAddr(t, resolved(t, tc.network, address), oe.Addr, "OpError.Addr")
						} else {
							require.Nil(t, oe.Addr, "OpError.Addr")
						}
						var ne net.Error
						require.True(t, errors.As(err, &ne), "%T is not a net.Error", err)
						tc.check(t, ep.op, err, oe.Err)
					})
				}
			}
		})
	}
}

// resolved is the net.Addr package net puts in an OpError for address.
func resolved(t *testing.T, network, address string) net.Addr {
	t.Helper()
	if network == "unix" {
		return &net.UnixAddr{Name: address, Net: network}
	}
	a, err := net.ResolveTCPAddr(network, address)
	require.NoError(t, err)
	return a
}
