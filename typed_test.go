package pollnet_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/pollnet/pollnet"
	"github.com/stretchr/testify/require"
)

// typedAPI is package net's typed constructors, or pollnet's, behind the
// interfaces both return, so one test runs them side by side.
type typedAPI struct {
	name       string
	listenTCP  func(network string, laddr *net.TCPAddr) (net.Listener, error)
	dialTCP    func(network string, laddr, raddr *net.TCPAddr) (net.Conn, error)
	listenUnix func(network string, laddr *net.UnixAddr) (net.Listener, error)
	dialUnix   func(network string, laddr, raddr *net.UnixAddr) (net.Conn, error)
	ctxDialTCP func(ctx context.Context, network string, laddr, raddr netip.AddrPort) (net.Conn, error)
	ctxDialUx  func(ctx context.Context, network string, laddr, raddr *net.UnixAddr) (net.Conn, error)
	acceptTCP  func(net.Listener) (net.Conn, error)
	acceptUnix func(net.Listener) (net.Conn, error)
}

// connOf and listenerOf turn a typed nil pointer into a nil interface.
func connOf[P interface {
	comparable
	net.Conn
}](p P, err error) (net.Conn, error) {
	var zero P
	if p == zero {
		return nil, err
	}
	return p, err
}

func listenerOf[P interface {
	comparable
	net.Listener
}](p P, err error) (net.Listener, error) {
	var zero P
	if p == zero {
		return nil, err
	}
	return p, err
}

var typedAPIs = []typedAPI{
	{
		name: "net",
		listenTCP: func(n string, la *net.TCPAddr) (net.Listener, error) {
			return listenerOf(net.ListenTCP(n, la))
		},
		dialTCP: func(n string, la, ra *net.TCPAddr) (net.Conn, error) {
			return connOf(net.DialTCP(n, la, ra))
		},
		listenUnix: func(n string, la *net.UnixAddr) (net.Listener, error) {
			return listenerOf(net.ListenUnix(n, la))
		},
		dialUnix: func(n string, la, ra *net.UnixAddr) (net.Conn, error) {
			return connOf(net.DialUnix(n, la, ra))
		},
		ctxDialTCP: func(ctx context.Context, n string, la, ra netip.AddrPort) (net.Conn, error) {
			return connOf((&net.Dialer{}).DialTCP(ctx, n, la, ra))
		},
		ctxDialUx: func(ctx context.Context, n string, la, ra *net.UnixAddr) (net.Conn, error) {
			return connOf((&net.Dialer{}).DialUnix(ctx, n, la, ra))
		},
		acceptTCP: func(l net.Listener) (net.Conn, error) {
			return connOf(l.(*net.TCPListener).AcceptTCP())
		},
		acceptUnix: func(l net.Listener) (net.Conn, error) {
			return connOf(l.(*net.UnixListener).AcceptUnix())
		},
	},
	{
		name: "pollnet",
		listenTCP: func(n string, la *net.TCPAddr) (net.Listener, error) {
			return listenerOf(pollnet.ListenTCP(n, la))
		},
		dialTCP: func(n string, la, ra *net.TCPAddr) (net.Conn, error) {
			return connOf(pollnet.DialTCP(n, la, ra))
		},
		listenUnix: func(n string, la *net.UnixAddr) (net.Listener, error) {
			return listenerOf(pollnet.ListenUnix(n, la))
		},
		dialUnix: func(n string, la, ra *net.UnixAddr) (net.Conn, error) {
			return connOf(pollnet.DialUnix(n, la, ra))
		},
		ctxDialTCP: func(ctx context.Context, n string, la, ra netip.AddrPort) (net.Conn, error) {
			return connOf((&pollnet.Dialer{}).DialTCP(ctx, n, la, ra))
		},
		ctxDialUx: func(ctx context.Context, n string, la, ra *net.UnixAddr) (net.Conn, error) {
			return connOf((&pollnet.Dialer{}).DialUnix(ctx, n, la, ra))
		},
		acceptTCP: func(l net.Listener) (net.Conn, error) {
			return connOf(l.(*pollnet.Listener).AcceptTCP())
		},
		acceptUnix: func(l net.Listener) (net.Conn, error) {
			return connOf(l.(*pollnet.Listener).AcceptUnix())
		},
	},
}

// echoOnce checks that bytes written on c arrive on s and back.
func echoOnce(t *testing.T, c, s net.Conn) {
	t.Helper()
	_, err := c.Write([]byte("ping"))
	require.NoError(t, err)
	buf := make([]byte, 4)
	_, err = io.ReadFull(s, buf)
	require.NoError(t, err)
	require.Equal(t, "ping", string(buf))
}

func TestTypedConstructors(t *testing.T) {
	loop := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}
	for _, api := range typedAPIs {
		t.Run(api.name, func(t *testing.T) {
			t.Run("tcp", func(t *testing.T) {
				ln, err := api.listenTCP("tcp4", loop)
				require.NoError(t, err)
				defer ln.Close()
				ra := ln.Addr().(*net.TCPAddr)
				require.NotZero(t, ra.Port)
				c, err := api.dialTCP("tcp4", nil, ra)
				require.NoError(t, err)
				defer c.Close()
				s, err := api.acceptTCP(ln)
				require.NoError(t, err)
				defer s.Close()
				echoOnce(t, c, s)
				require.Equal(t, c.LocalAddr().String(), s.RemoteAddr().String())

				c2, err := api.ctxDialTCP(context.Background(), "tcp4", netip.AddrPort{}, ra.AddrPort())
				require.NoError(t, err)
				defer c2.Close()
				s2, err := api.acceptTCP(ln)
				require.NoError(t, err)
				defer s2.Close()
				echoOnce(t, s2, c2)
			})
			t.Run("unix", func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "s")
				ua := &net.UnixAddr{Name: path, Net: "unix"}
				ln, err := api.listenUnix("unix", ua)
				require.NoError(t, err)
				c, err := api.dialUnix("unix", nil, ua)
				require.NoError(t, err)
				defer c.Close()
				s, err := api.acceptUnix(ln)
				require.NoError(t, err)
				defer s.Close()
				echoOnce(t, c, s)
				c2, err := api.ctxDialUx(context.Background(), "unix", nil, ua)
				require.NoError(t, err)
				defer c2.Close()
				s2, err := api.acceptUnix(ln)
				require.NoError(t, err)
				defer s2.Close()
				echoOnce(t, s2, c2)
				require.NoError(t, ln.Close())
				_, err = os.Stat(path)
				require.True(t, errors.Is(err, os.ErrNotExist), "the listener removes its socket file: %v", err)
			})
		})
	}
}

// TestTypedErrors compares the errors of bad calls with package net's.
func TestTypedErrors(t *testing.T) {
	net0, poll0 := typedAPIs[0], typedAPIs[1]
	ua := &net.UnixAddr{Name: filepath.Join(t.TempDir(), "none"), Net: "unix"}
	cases := []struct {
		name string
		call func(api typedAPI) error
	}{
		{"ListenTCP/udp", func(a typedAPI) error { _, err := a.listenTCP("udp", nil); return err }},
		{"ListenTCP/bad-family", func(a typedAPI) error {
			_, err := a.listenTCP("tcp4", &net.TCPAddr{IP: net.IPv6loopback})
			return err
		}},
		{"DialTCP/nil-raddr", func(a typedAPI) error { _, err := a.dialTCP("tcp", nil, nil); return err }},
		{"DialTCP/ip", func(a typedAPI) error {
			_, err := a.dialTCP("ip", nil, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1})
			return err
		}},
		{"ListenUnix/nil", func(a typedAPI) error { _, err := a.listenUnix("unix", nil); return err }},
		{"ListenUnix/tcp", func(a typedAPI) error { _, err := a.listenUnix("tcp", ua); return err }},
		{"DialUnix/nil", func(a typedAPI) error { _, err := a.dialUnix("unix", nil, nil); return err }},
		{"DialUnix/missing-file", func(a typedAPI) error { _, err := a.dialUnix("unix", nil, ua); return err }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want, got := tc.call(net0), tc.call(poll0)
			require.Error(t, want)
			require.Error(t, got)
			require.Equal(t, want.Error(), got.Error())
			var wo, go_ *net.OpError
			require.ErrorAs(t, want, &wo)
			require.ErrorAs(t, got, &go_)
			require.Equal(t, wo.Op, go_.Op)
			require.Equal(t, wo.Source == nil, go_.Source == nil)
			require.Equal(t, wo.Addr == nil, go_.Addr == nil)
		})
	}
}

// TestAcceptWrongFamily: AcceptUnix on a TCP listener and AcceptTCP on a
// Unix one fail at once with EINVAL and leave the pending conn queued.
func TestAcceptWrongFamily(t *testing.T) {
	tln, err := pollnet.ListenTCP("tcp4", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	defer tln.Close()
	path := filepath.Join(t.TempDir(), "s")
	uln, err := pollnet.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	require.NoError(t, err)
	defer uln.Close()
	for _, tc := range []struct {
		name   string
		ln     *pollnet.Listener
		wrong  func() (*pollnet.Conn, error)
		right  func() (*pollnet.Conn, error)
		dialTo func() (net.Conn, error)
	}{
		{"tcp", tln, tln.AcceptUnix, tln.AcceptTCP, func() (net.Conn, error) { return net.Dial("tcp4", tln.Addr().String()) }},
		{"unix", uln, uln.AcceptTCP, uln.AcceptUnix, func() (net.Conn, error) { return net.Dial("unix", path) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tc.dialTo()
			require.NoError(t, err)
			defer c.Close()
			got, err := tc.wrong()
			require.Nil(t, got)
			var oe *net.OpError
			require.ErrorAs(t, err, &oe)
			require.Equal(t, "accept", oe.Op)
			require.ErrorIs(t, err, syscall.EINVAL)
			require.Equal(t, tc.ln.Addr().String(), oe.Addr.String())
			s, err := tc.right()
			require.NoError(t, err)
			defer s.Close()
			echoOnce(t, c, s)
		})
	}
}
