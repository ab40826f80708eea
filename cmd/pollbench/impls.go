package main

import (
	"context"
	"net"

	"github.com/pollnet/pollnet"
)

// impl is one server implementation under test. Servers differ only in
// listen, so any difference pollbench reports is the listener's (and the
// poller behind it), not the serving code's.
type impl struct {
	name   string
	listen func(network, address string) (net.Listener, error)
	// dial is optional: it is what the parent's goroutine-based client paths
	// (stream, churn, idle) use when -client names this impl. The rtt client
	// never uses it; it drives raw sockets from one epoll loop.
	dial func(ctx context.Context, network, address string) (net.Conn, error)
}

// impls is the registry. The first entry named "net" is the baseline of the
// ratio column. Adding an implementation is one line.
var impls = []impl{
	{name: "net", listen: net.Listen, dial: (&net.Dialer{}).DialContext},
	{name: "pollnet", listen: pollnet.Listen, dial: (&pollnet.Dialer{}).DialContext},
}

func findImpl(name string) (impl, bool) {
	for _, im := range impls {
		if im.name == name {
			return im, true
		}
	}
	return impl{}, false
}
