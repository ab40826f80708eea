//go:build linux

package main

import (
	"context"
	"net"
	"slices"

	"github.com/pollnet/pollnet"
)

// impl is one server implementation under test. Servers differ only in
// listen, so any difference pollbench reports is the listener's (and the
// poller behind it), not the serving code's; the one exception is a variant
// that exists to show what a pollnet-only API buys (handle).
type impl struct {
	name   string
	listen func(network, address string) (net.Listener, error)
	// dial is optional: it is what the parent's goroutine-based client paths
	// (stream, churn, idle) use when -client names this impl. The rtt client
	// never uses it; it drives raw sockets from one epoll loop.
	dial func(ctx context.Context, network, address string) (net.Conn, error)
	// handle serves one accepted conn of the echo server; nil is echo, the
	// handler every plain impl shares.
	handle func(net.Conn)
	// workloads, when not empty, are the only workloads the impl is measured
	// in: a variant that differs in what a workload does not exercise would
	// only add minutes and columns of noise.
	workloads []string
	// pollrt marks a server built on pollrt, whose child can report
	// pollrt.Stats; a net server's would be all zeros.
	pollrt bool
}

// impls is the registry. The first entry named "net" is the baseline of the
// ratio column. Adding an implementation is one line.
var impls = []impl{
	{name: "net", listen: net.Listen, dial: (&net.Dialer{}).DialContext},
	{name: "pollnet", listen: pollnet.Listen, dial: (&pollnet.Dialer{}).DialContext, pollrt: true},
	// The memory WaitRead saves shows only with conns that sit idle.
	{name: "pollnet+waitread", listen: pollnet.Listen, handle: echoWaitRead, workloads: []string{"idle"}, pollrt: true},
}

func findImpl(name string) (impl, bool) {
	for _, im := range impls {
		if im.name == name {
			return im, true
		}
	}
	return impl{}, false
}

// serves reports whether im is measured in workload w.
func (im *impl) serves(w string) bool {
	return len(im.workloads) == 0 || slices.Contains(im.workloads, w)
}
