package conformance

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/pollnet/pollnet"
)

// api is the set of package-level entry points pollnet mirrors from package
// net, beyond the two an Impl has.
type api struct {
	impl        Impl
	listen      func(network, address string) (net.Listener, error)
	dial        func(network, address string) (net.Conn, error)
	dialTimeout func(network, address string, timeout time.Duration) (net.Conn, error)
}

var apis = []api{
	{Reference(), net.Listen, net.Dial, net.DialTimeout},
	{pollnetImpl(), pollnet.Listen, pollnet.Dial, pollnet.DialTimeout},
}

// TestPollnetEntryPoints runs the cases that depend on how a stack is
// entered through each of pollnet's entry points (Dial, DialTimeout,
// Dialer.DialContext, Listen, ListenConfig.Listen) and through package net's
// counterparts, which the kit's Impl cannot name: the same bad input gives the
// same error, and localhost, listening addresses and unix socket files behave
// the same whichever function is called.
func TestPollnetEntryPoints(t *testing.T) {
	for _, a := range apis {
		t.Run(a.impl.Name, func(t *testing.T) {
			st := newStack(a.impl)
			dials := []dialEntry{
				{"Dial", a.dial},
				{"DialTimeout", func(n, addr string) (net.Conn, error) { return a.dialTimeout(n, addr, waitBound) }},
				{"DialContext", st.dial},
			}
			listens := []listenEntry{
				{"Listen", a.listen},
				{"ListenContext", st.listen},
			}
			dialErrs := []entryPoint{
				{"Dial", "dial", false, func(_ context.Context, n, addr string) error {
					return closeConn(a.dial(n, addr))
				}},
				{"DialTimeout", "dial", false, func(_ context.Context, n, addr string) error {
					return closeConn(a.dialTimeout(n, addr, waitBound))
				}},
				{"DialContext", "dial", true, func(ctx context.Context, n, addr string) error {
					return closeConn(a.impl.Dial(ctx, n, addr))
				}},
			}
			listenErrs := []entryPoint{
				{"Listen", "listen", false, func(_ context.Context, n, addr string) error {
					return closeListener(a.listen(n, addr))
				}},
				{"ListenContext", "listen", false, func(ctx context.Context, n, addr string) error {
					return closeListener(a.impl.Listen(ctx, n, addr))
				}},
			}
			t.Run("BadInput", func(t *testing.T) { badInputErrorsVia(t, st, dialErrs, listenErrs) })
			t.Run("ListenAddresses", func(t *testing.T) { listenAddressesVia(t, st, listens) })
			t.Run("DialLocalhost", func(t *testing.T) { dialLocalhostVia(t, st, dials) })
			t.Run("UnixSocketFile", func(t *testing.T) { unixSocketFileVia(t, st, listens) })
		})
	}
}
