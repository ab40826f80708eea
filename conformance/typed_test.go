//go:build linux

package conformance_test

import (
	"errors"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/pollnet/pollnet"
	"github.com/stretchr/testify/require"
)

// Cases for three differences from package net that pollnet had, each run
// against net and pollnet with the same check: the keep-alive idle time
// SetKeepAlivePeriod(0) leaves, the defaults FileConn applies, and the
// addresses in a TCP option's "set" error.

// tcpConn is the part of *net.TCPConn these cases use; *pollnet.Conn has it.
type tcpConn interface {
	net.Conn
	SetNoDelay(bool) error
	SetKeepAlive(bool) error
	SetKeepAlivePeriod(time.Duration) error
	SetKeepAliveConfig(net.KeepAliveConfig) error
	SetLinger(int) error
	SetReadBuffer(int) error
	SyscallConn() (syscall.RawConn, error)
	File() (*os.File, error)
}

type typedStack struct {
	name     string
	listen   func(network, address string) (net.Listener, error)
	dialer   func(keepAlive time.Duration) func(network, address string) (net.Conn, error)
	fileConn func(*os.File) (net.Conn, error)
}

var typedStacks = []typedStack{
	{
		name:   "net",
		listen: net.Listen,
		dialer: func(ka time.Duration) func(string, string) (net.Conn, error) {
			return (&net.Dialer{KeepAlive: ka}).Dial
		},
		fileConn: net.FileConn,
	},
	{
		name:   "pollnet",
		listen: pollnet.Listen,
		dialer: func(ka time.Duration) func(string, string) (net.Conn, error) {
			return (&pollnet.Dialer{KeepAlive: ka}).Dial
		},
		fileConn: pollnet.FileConn,
	},
}

// typedPair returns a dialed TCP conn of st (keep-alive ka) and its peer,
// closed at the end of the test.
func typedPair(t *testing.T, st typedStack, ka time.Duration) (tcpConn, net.Conn) {
	t.Helper()
	ln, err := st.listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	c, err := st.dialer(ka)("tcp4", ln.Addr().String())
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	peer, err := ln.Accept()
	require.NoError(t, err)
	t.Cleanup(func() { peer.Close() })
	tc, ok := c.(tcpConn)
	require.True(t, ok, "%T lacks the TCP option methods", c)
	return tc, peer
}

func sockoptInt(t *testing.T, c tcpConn, level, opt int) int {
	t.Helper()
	rc, err := c.SyscallConn()
	require.NoError(t, err)
	var v int
	var serr error
	require.NoError(t, rc.Control(func(fd uintptr) { v, serr = syscall.GetsockoptInt(int(fd), level, opt) }))
	require.NoError(t, serr)
	return v
}

// TestTypedKeepAlivePeriodZero: SetKeepAlivePeriod(0) sets the default 15s
// idle time and leaves the interval alone.
func TestTypedKeepAlivePeriodZero(t *testing.T) {
	for _, st := range typedStacks {
		t.Run(st.name, func(t *testing.T) {
			c, _ := typedPair(t, st, -1) // keep-alive off: the system's times
			require.NoError(t, c.SetKeepAliveConfig(net.KeepAliveConfig{Enable: true, Idle: 7 * time.Second, Interval: 5 * time.Second}))
			require.NoError(t, c.SetKeepAlivePeriod(0))
			require.Equal(t, 15, sockoptInt(t, c, syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE), "idle")
			require.Equal(t, 5, sockoptInt(t, c, syscall.IPPROTO_TCP, syscall.TCP_KEEPINTVL), "interval")
			require.NoError(t, c.SetKeepAlivePeriod(-1))
			require.Equal(t, 15, sockoptInt(t, c, syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE), "idle after -1")
			require.NoError(t, c.SetKeepAlivePeriod(1500*time.Millisecond))
			require.Equal(t, 2, sockoptInt(t, c, syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE), "idle rounded up")
			require.Equal(t, 5, sockoptInt(t, c, syscall.IPPROTO_TCP, syscall.TCP_KEEPINTVL), "interval after 1.5s")
		})
	}
}

// TestTypedFileConnDefaults: a TCP conn from FileConn has Nagle off and
// keep-alive on with the 15s idle time, though the socket had neither.
func TestTypedFileConnDefaults(t *testing.T) {
	for _, st := range typedStacks {
		t.Run(st.name, func(t *testing.T) {
			c, _ := typedPair(t, st, -1)
			require.NoError(t, c.SetNoDelay(false))
			require.NoError(t, c.SetKeepAliveConfig(net.KeepAliveConfig{Enable: false, Idle: 40 * time.Second}))
			require.Equal(t, 0, sockoptInt(t, c, syscall.IPPROTO_TCP, syscall.TCP_NODELAY))
			require.Equal(t, 0, sockoptInt(t, c, syscall.SOL_SOCKET, syscall.SO_KEEPALIVE))

			f, err := c.File()
			require.NoError(t, err)
			defer f.Close()
			fc, err := st.fileConn(f)
			require.NoError(t, err)
			defer fc.Close()
			tc, ok := fc.(tcpConn)
			require.True(t, ok, "FileConn gave %T", fc)
			require.Equal(t, 1, sockoptInt(t, tc, syscall.IPPROTO_TCP, syscall.TCP_NODELAY), "TCP_NODELAY")
			require.Equal(t, 1, sockoptInt(t, tc, syscall.SOL_SOCKET, syscall.SO_KEEPALIVE), "SO_KEEPALIVE")
			require.Equal(t, 15, sockoptInt(t, tc, syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE), "TCP_KEEPIDLE")
		})
	}
}

// TestTypedSetErrorAddrs: the "set" error of a TCP option names the local
// address as Source and the peer's as Addr; that of a buffer size has no
// Source and the local address as Addr. Options on a closed conn fail.
func TestTypedSetErrorAddrs(t *testing.T) {
	tcpOpts := []struct {
		name string
		set  func(tcpConn) error
	}{
		{"SetNoDelay", func(c tcpConn) error { return c.SetNoDelay(true) }},
		{"SetKeepAlive", func(c tcpConn) error { return c.SetKeepAlive(true) }},
		{"SetKeepAlivePeriod", func(c tcpConn) error { return c.SetKeepAlivePeriod(time.Second) }},
		{"SetKeepAliveConfig", func(c tcpConn) error { return c.SetKeepAliveConfig(net.KeepAliveConfig{Enable: true}) }},
		{"SetLinger", func(c tcpConn) error { return c.SetLinger(0) }},
	}
	for _, st := range typedStacks {
		t.Run(st.name, func(t *testing.T) {
			c, _ := typedPair(t, st, 0)
			laddr, raddr := c.LocalAddr().String(), c.RemoteAddr().String()
			require.NoError(t, c.Close())
			for _, o := range tcpOpts {
				t.Run(o.name, func(t *testing.T) {
					var oe *net.OpError
					require.ErrorAs(t, o.set(c), &oe)
					require.Equal(t, "set", oe.Op)
					require.Equal(t, "tcp4", oe.Net)
					require.NotNil(t, oe.Source)
					require.Equal(t, laddr, oe.Source.String())
					require.NotNil(t, oe.Addr)
					require.Equal(t, raddr, oe.Addr.String())
					require.True(t, errors.Is(oe, net.ErrClosed), "%v", oe)
				})
			}
			t.Run("SetReadBuffer", func(t *testing.T) {
				var oe *net.OpError
				require.ErrorAs(t, c.SetReadBuffer(1<<16), &oe)
				require.Nil(t, oe.Source)
				require.NotNil(t, oe.Addr)
				require.Equal(t, laddr, oe.Addr.String())
				require.True(t, errors.Is(oe, net.ErrClosed), "%v", oe)
			})
		})
	}
}
