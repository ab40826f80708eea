//go:build linux

package peers

import (
	"context"
	"net"
	"time"

	"github.com/pollnet/pollnet"
	"github.com/pollnet/pollnet/conformance"
)

// Peer is one row of the table: an implementation and how it was wired into
// an Impl (said in the docs' notes).
type Peer struct {
	Impl conformance.Impl
	// Note says how the implementation is wired into Impl.
	Note string
}

// Peers are the implementations the harness runs, package net and pollnet
// first.
func Peers() []Peer {
	return []Peer{
		{conformance.Reference(), "net.ListenConfig.Listen, net.Dialer.DialContext"},
		{conformance.Impl{
			Name:   "pollnet",
			Listen: (&pollnet.ListenConfig{}).Listen,
			Dial:   (&pollnet.Dialer{}).DialContext,
		}, "pollnet.ListenConfig.Listen, pollnet.Dialer.DialContext"},
		netpollPeer(),
		netpollEventLoopPeer(),
		yamuxPeer(),
		smuxPeer(),
	}
}

// timeoutOf converts ctx's deadline to the timeout argument of dial
// functions that take one instead of a context (0: none).
func timeoutOf(ctx context.Context) time.Duration {
	d, ok := ctx.Deadline()
	if !ok {
		return 0
	}
	// An expired deadline must not become "no timeout".
	return max(time.Until(d), time.Nanosecond)
}

// dialNet is package net's dialer, the transport under the multiplexers.
var dialNet = (&net.Dialer{}).DialContext
