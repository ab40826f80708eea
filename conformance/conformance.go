package conformance

import (
	"context"
	"net"
	"slices"
	"testing"
)

// Impl is a networking implementation to check: how it listens and dials.
type Impl struct {
	// Name identifies the implementation in messages.
	Name string
	// Listen is like net.ListenConfig.Listen: it announces on the local
	// network address and returns a stream listener. Run's cases use the
	// network names "tcp", "tcp4", "tcp6" and "unix", and some bad ones.
	Listen func(ctx context.Context, network, address string) (net.Listener, error)
	// Dial is like net.Dialer.DialContext: it connects to address and gives
	// up when ctx is done. Cases that need a dial timeout pass a context
	// with a deadline.
	Dial func(ctx context.Context, network, address string) (net.Conn, error)
	// Networks are the networks the connection-level cases run over, any
	// of "tcp4" (127.0.0.1), "tcp6" (::1) and "unix"; empty means all
	// three. Cases on a network not listed are skipped, and so is tcp6 on a
	// host without IPv6.
	Networks []string
}

// Reference returns package net as an Impl: net.ListenConfig.Listen and
// net.Dialer.DialContext with their zero values, over all three networks.
// Every case passes on it; it is the specification the other implementations
// are held to.
func Reference() Impl {
	return Impl{
		Name:   "net",
		Listen: (&net.ListenConfig{}).Listen,
		Dial:   (&net.Dialer{}).DialContext,
	}
}

// theme is a group of cases Run runs under one subtest.
type theme struct {
	name  string
	cases []namedCase
}

type namedCase struct {
	name string
	run  func(t *testing.T, st stack)
}

// themes are Run's subtests, in run order; see the package documentation
// for what each checks.
var themes = []theme{
	{"NetTest", []namedCase{{"", nettestConn}}},
	{"Interop", []namedCase{{"", interop}}},
	{"Deadline", []namedCase{
		{"Past", deadlinePast},
		{"ZeroClears", deadlineZeroClears},
		{"MovedWhileBlocked", deadlineMovedWhileBlocked},
		{"Independent", deadlineIndependent},
		{"Recovery", deadlineRecovery},
		{"Accept", acceptDeadline},
	}},
	{"Close", []namedCase{
		{"Unblocks", closeUnblocks},
		{"UseAfterClose", useAfterClose},
		{"DeliversWrittenData", closeDeliversWrittenData},
		{"PeerClose", peerClose},
	}},
	{"HalfClose", []namedCase{
		{"CloseWrite", closeWrite},
		{"CloseRead", closeRead},
	}},
	{"Errors", []namedCase{{"BadInput", badInputErrors}}},
	{"Addr", []namedCase{
		{"ListenAddresses", listenAddresses},
		{"DialLocalhost", dialLocalhost},
		{"ListenCancelledContext", listenCancelledContextOnLiteral},
		{"UnixSocketFile", unixSocketFile},
		{"ConnAddrs", connAddrs},
		{"ZeroLengthIO", zeroLengthIO},
		{"OptionalMethods", optionalMethods},
	}},
	{"HTTP", []namedCase{{"", httpCases}}},
}

// Run checks impl against package net's behaviour. Each theme is a subtest
// of t (NetTest, Interop, Deadline, Close, HalfClose, Errors, Addr, HTTP), and
// each case a subtest of its theme, so that -run can pick them, for example
// -run 'TestMyConn/Deadline/MovedWhileBlocked/tcp4'. Cases that need the curl
// binary skip when it is not in PATH.
//
// Run uses only loopback addresses and unix sockets in fresh temporary
// directories. Every case closes what it opens and waits for the goroutines it
// starts; an operation that blocks for more than 10s fails its case.
func Run(t *testing.T, impl Impl) {
	t.Helper()
	if impl.Listen == nil || impl.Dial == nil {
		t.Fatalf("conformance: Impl %q needs both Listen and Dial", impl.Name)
	}
	for _, n := range impl.Networks {
		if !slices.Contains(allNetworks, n) {
			t.Fatalf("conformance: Impl %q: network %q in Networks is none of %v", impl.Name, n, allNetworks)
		}
	}
	st := newStack(impl)
	for _, th := range themes {
		t.Run(th.name, func(t *testing.T) {
			for _, c := range th.cases {
				if c.name == "" {
					c.run(t, st)
					continue
				}
				t.Run(c.name, func(t *testing.T) { c.run(t, st) })
			}
		})
	}
}
