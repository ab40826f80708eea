//go:build linux

package pollnet_test

import (
	"context"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pollnet/pollnet"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/nettest"
)

// blackhole returns a port on the loopback address ip where connects hang:
// a socket listening with a backlog of 0 whose one queue place is taken,
// so Linux drops further SYNs and the client keeps retrying.
func blackhole(t *testing.T, ip netip.Addr) int {
	t.Helper()
	family := syscall.AF_INET6
	var sa syscall.Sockaddr = &syscall.SockaddrInet6{Addr: ip.As16()}
	if ip.Is4() {
		family, sa = syscall.AF_INET, &syscall.SockaddrInet4{Addr: ip.As4()}
	}
	s, err := syscall.Socket(family, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	require.NoError(t, err)
	f := os.NewFile(uintptr(s), "blackhole")
	t.Cleanup(func() { f.Close() })
	require.NoError(t, syscall.Bind(s, sa))
	require.NoError(t, syscall.Listen(s, 0))
	lsa, err := syscall.Getsockname(s)
	require.NoError(t, err)
	port := 0
	switch lsa := lsa.(type) {
	case *syscall.SockaddrInet4:
		port = lsa.Port
	case *syscall.SockaddrInet6:
		port = lsa.Port
	}
	// The kernel takes this one with a SYN cookie (net.ipv4.tcp_syncookies,
	// on by default); without cookies it is dropped too and there is no way
	// to tell a black hole from a working one here.
	filler, err := net.DialTimeout("tcp", netip.AddrPortFrom(ip, uint16(port)).String(), waitBound)
	if err != nil {
		t.Skipf("cannot fill the listen queue of a black hole: %v", err)
	}
	t.Cleanup(func() { filler.Close() })
	return port
}

// TestDialerFallbackRace: with the first family's address black-holed, a
// "tcp" dial starts the other family after FallbackDelay while the first
// attempt still runs, and connects through it; with FallbackDelay < 0 it
// never tries the other family. Both as net.Dialer does.
func TestDialerFallbackRace(t *testing.T) {
	if !nettest.SupportsIPv6() {
		t.Skip("no IPv6 loopback")
	}
	v4, v6 := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::1")
	stub := startDNSStub(t, map[string][]netip.Addr{"dual.pollnet.test": {v4, v6}})
	r := stub.resolver()
	ips, err := r.LookupNetIP(context.Background(), "ip", "dual.pollnet.test")
	require.NoError(t, err)
	require.Len(t, ips, 2)
	primary, fallback := ips[0].Unmap(), ips[1].Unmap()

	// The primary's port hangs; the fallback listens on the same port.
	var port int
	var ln net.Listener
	for range 20 {
		port = blackhole(t, primary)
		ln, err = net.Listen("tcp", netip.AddrPortFrom(fallback, uint16(port)).String())
		if err == nil {
			break
		}
	}
	require.NoError(t, err)
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	address := net.JoinHostPort("dual.pollnet.test", strconv.Itoa(port))
	isPrimary := func(address string) bool {
		ap, err := netip.ParseAddrPort(address)
		return err == nil && ap.Addr().Unmap() == primary
	}

	for _, st := range dialStacks {
		t.Run(st.name+"/race", func(t *testing.T) {
			var primaryCtx atomic.Pointer[context.Context]
			var raced, fallbackTried atomic.Bool
			o := dialOpts{
				resolver:      r,
				fallbackDelay: 20 * time.Millisecond,
				// A serial dial would give the primary half of this and then
				// reach the fallback only after the primary's attempt ended.
				timeout: 6 * waitBound,
				control: func(ctx context.Context, network, address string, _ syscall.RawConn) error {
					if isPrimary(address) {
						primaryCtx.Store(&ctx)
					} else {
						fallbackTried.Store(true)
						if p := primaryCtx.Load(); p != nil && (*p).Err() == nil {
							raced.Store(true)
						}
					}
					return nil
				},
			}
			c, err := st.dial(context.Background(), o, "tcp", address)
			require.NoError(t, err)
			defer c.Close()
			require.Equal(t, fallback, c.RemoteAddr().(*net.TCPAddr).AddrPort().Addr().Unmap())
			require.True(t, fallbackTried.Load())
			require.True(t, raced.Load(), "the fallback started only after the primary attempt ended")
		})
		t.Run(st.name+"/disabled", func(t *testing.T) {
			var fallbackTried atomic.Bool
			o := dialOpts{
				resolver:      r,
				fallbackDelay: -1,
				timeout:       waitBound / 20, // the primary takes it all (at least 2s each, or all)
				control: func(ctx context.Context, network, address string, _ syscall.RawConn) error {
					if !isPrimary(address) {
						fallbackTried.Store(true)
					}
					return nil
				},
			}
			_, err := st.dial(context.Background(), o, "tcp", address)
			require.Error(t, err)
			var ne net.Error
			require.ErrorAs(t, err, &ne)
			require.True(t, ne.Timeout(), "%v", err)
			require.False(t, fallbackTried.Load(), "a disabled race tried the other family")
		})
	}
}

// TestDialerDialTCPTimeout: (*Dialer).DialTCP gives up at the Dialer's
// Timeout with the error net gives, for a connect that hangs.
func TestDialerDialTCPTimeout(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	ra := netip.AddrPortFrom(lo, uint16(blackhole(t, lo)))
	want, got := dialTCPErr(t, "net", ra), dialTCPErr(t, "pollnet", ra)
	var ne net.Error
	require.ErrorAs(t, got, &ne)
	require.True(t, ne.Timeout(), "%v", got)
	require.Equal(t, want.Error(), got.Error())
}

func dialTCPErr(t *testing.T, stack string, ra netip.AddrPort) error {
	t.Helper()
	var c net.Conn
	var err error
	if stack == "net" {
		d := net.Dialer{Timeout: waitBound / 50}
		c, err = connOf(d.DialTCP(context.Background(), "tcp4", netip.AddrPort{}, ra))
	} else {
		d := pollnet.Dialer{Timeout: waitBound / 50}
		c, err = connOf(d.DialTCP(context.Background(), "tcp4", netip.AddrPort{}, ra))
	}
	if c != nil {
		c.Close()
	}
	require.Error(t, err, stack)
	return err
}
