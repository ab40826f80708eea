//go:build linux && !pollnet_stdnet

package pollnet

import (
	"context"
	"net"
)

// The typed constructors on pollnet's poller; typed.go has checked the
// network and the addresses.

func (lc *ListenConfig) listenTCP(ctx context.Context, network string, laddr *net.TCPAddr) (*Listener, error) {
	l, err := lc.listenTCPAddr(ctx, network, laddr)
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Addr: laddr, Err: err}
	}
	return l, nil
}

func (lc *ListenConfig) listenUnix(ctx context.Context, network string, laddr *net.UnixAddr) (*Listener, error) {
	l, err := lc.listenUnixAddr(ctx, network, laddr, laddr.Name)
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Addr: laddr, Err: err}
	}
	return l, nil
}

func (d *Dialer) dialTCP(ctx context.Context, network string, laddr, raddr *net.TCPAddr) (*Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Source: tcpOpAddr(laddr), Addr: raddr, Err: mapCtxErr(err)}
	}
	c, err := d.dialTCPAddr(ctx, network, laddr, raddr)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Source: tcpOpAddr(laddr), Addr: raddr, Err: err}
	}
	return c, nil
}

func (d *Dialer) dialUnix(ctx context.Context, network string, laddr, raddr *net.UnixAddr) (*Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Source: unixOpAddr(laddr), Addr: raddr, Err: mapCtxErr(err)}
	}
	c, err := d.dialUnixAddr(ctx, network, laddr, raddr)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Source: unixOpAddr(laddr), Addr: raddr, Err: err}
	}
	return c, nil
}

func dialTCPPkg(network string, laddr, raddr *net.TCPAddr) (*Conn, error) {
	var d Dialer
	return d.dialTCP(context.Background(), network, laddr, raddr)
}

func dialUnixPkg(network string, laddr, raddr *net.UnixAddr) (*Conn, error) {
	var d Dialer
	return d.dialUnix(context.Background(), network, laddr, raddr)
}
