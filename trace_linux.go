//go:build linux && !pollnet_stdnet

package pollnet

import (
	"context"
	"net"

	"github.com/pollnet/pollnet/internal/dialtrace"
)

// dialTraced runs dial, one connect to ra, between the ConnectStart and
// ConnectDone events of ctx's net/http/httptrace.ClientTrace (found
// through package pollhttptrace, when a program links it), as package
// net's dialSingle does: the network the caller gave, the address as a
// string, and the dial's *net.OpError.
func (d *Dialer) dialTraced(ctx context.Context, network string, ra net.Addr, dial func() (*Conn, error)) (c *Conn, err error) {
	if h := dialtrace.FromContext(ctx); h != nil {
		raStr := ra.String()
		if h.ConnectStart != nil {
			h.ConnectStart(network, raStr)
		}
		if h.ConnectDone != nil {
			defer func() { h.ConnectDone(network, raStr, err) }()
		}
	}
	return dial()
}
