package pollnet_test

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/pollnet/pollnet"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/nettest"
)

// dialStack is net.Dialer or pollnet.Dialer with the fields these tests set.
type dialStack struct {
	name string
	dial func(ctx context.Context, d dialOpts, network, address string) (net.Conn, error)
}

type dialOpts struct {
	resolver      *net.Resolver
	fallbackDelay time.Duration
	timeout       time.Duration
	control       func(ctx context.Context, network, address string, c syscall.RawConn) error
}

var dialStacks = []dialStack{
	{"net", func(ctx context.Context, o dialOpts, network, address string) (net.Conn, error) {
		d := net.Dialer{Resolver: o.resolver, FallbackDelay: o.fallbackDelay, Timeout: o.timeout, ControlContext: o.control}
		return d.DialContext(ctx, network, address)
	}},
	{"pollnet", func(ctx context.Context, o dialOpts, network, address string) (net.Conn, error) {
		d := pollnet.Dialer{Resolver: o.resolver, FallbackDelay: o.fallbackDelay, Timeout: o.timeout, ControlContext: o.control}
		return d.DialContext(ctx, network, address)
	}},
}

// TestDialerResolver: names resolve through Dialer.Resolver, and for a
// name with both families where only one family listens, every setting of
// FallbackDelay connects to it, as with net.
func TestDialerResolver(t *testing.T) {
	if !nettest.SupportsIPv6() {
		t.Skip("no IPv6 loopback")
	}
	// The same port on both loopbacks, listening on one family only.
	for _, listenFamily := range []string{"tcp4", "tcp6"} {
		t.Run(listenFamily, func(t *testing.T) {
			host := "127.0.0.1"
			if listenFamily == "tcp6" {
				host = "::1"
			}
			ln, err := net.Listen(listenFamily, net.JoinHostPort(host, "0"))
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
			port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
			stub := startDNSStub(t, map[string][]netip.Addr{
				"dual.pollnet.test": {netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::1")},
				"v4.pollnet.test":   {netip.MustParseAddr("127.0.0.1")},
			})
			// Failures: the same errors as net's.
			for _, tc := range []struct{ name, network, address string }{
				{"unknown", "tcp", "nx.pollnet.test:" + port},
				{"tcp6-of-v4-name", "tcp6", "v4.pollnet.test:" + port},
				{"bad-port", "tcp", "v4.pollnet.test:nope"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					o := dialOpts{resolver: stub.resolver()}
					_, want := dialStacks[0].dial(context.Background(), o, tc.network, tc.address)
					_, got := dialStacks[1].dial(context.Background(), o, tc.network, tc.address)
					require.Error(t, want)
					require.Error(t, got)
					require.Equal(t, want.Error(), got.Error())
				})
			}
			for _, st := range dialStacks {
				for _, delay := range []time.Duration{0, 10 * time.Millisecond, -1} {
					t.Run(st.name+"/delay="+delay.String(), func(t *testing.T) {
						c, err := st.dial(context.Background(), dialOpts{resolver: stub.resolver(), fallbackDelay: delay, timeout: waitBound},
							"tcp", net.JoinHostPort("dual.pollnet.test", port))
						require.NoError(t, err)
						defer c.Close()
						require.Equal(t, host, c.RemoteAddr().(*net.TCPAddr).IP.String())
					})
				}
			}
		})
	}
}

const waitBound = 10 * time.Second
