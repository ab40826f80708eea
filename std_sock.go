//go:build !linux || pollnet_stdnet

package pollnet

import (
	"context"
	"net"
	"net/netip"
	"os"
)

// Without pollrt, pollnet's constructors are package net's, with the
// stream conns and listeners wrapped in pollnet's types.

func (d *Dialer) dialContext(ctx context.Context, network, address string) (net.Conn, error) {
	c, err := d.netDialer().DialContext(ctx, network, address)
	if err != nil {
		return nil, err
	}
	return wrapNetConn(c, network), nil
}

func (lc *ListenConfig) listen(ctx context.Context, network, address string) (net.Listener, error) {
	l, err := lc.netListenConfig().Listen(ctx, network, address)
	if err != nil {
		return nil, err
	}
	if !ours(network) {
		return l, nil
	}
	return wrapListener(l), nil
}

func fileConn(f *os.File) (net.Conn, error) {
	c, err := net.FileConn(f)
	if err != nil {
		return nil, err
	}
	// The local address's network tells stream Unix sockets ("unix") from
	// datagram and seqpacket ones, which stay package net's.
	return wrapNetConn(c, c.LocalAddr().Network()), nil
}

func fileListener(f *os.File) (net.Listener, error) {
	l, err := net.FileListener(f)
	if err != nil {
		return nil, err
	}
	if !ours(l.Addr().Network()) {
		return l, nil
	}
	return wrapListener(l), nil
}

func (lc *ListenConfig) listenTCP(ctx context.Context, network string, laddr *net.TCPAddr) (*Listener, error) {
	l, err := net.ListenTCP(network, laddr)
	if err != nil {
		return nil, err
	}
	return &Listener{nl: l, tcp: l}, nil
}

func (lc *ListenConfig) listenUnix(ctx context.Context, network string, laddr *net.UnixAddr) (*Listener, error) {
	l, err := net.ListenUnix(network, laddr)
	if err != nil {
		return nil, err
	}
	return &Listener{nl: l, unix: l}, nil
}

func dialTCPPkg(network string, laddr, raddr *net.TCPAddr) (*Conn, error) {
	c, err := net.DialTCP(network, laddr, raddr)
	return wrapTCP(c), err
}

func dialUnixPkg(network string, laddr, raddr *net.UnixAddr) (*Conn, error) {
	c, err := net.DialUnix(network, laddr, raddr)
	return wrapUnix(c), err
}

func (d *Dialer) dialTCP(ctx context.Context, network string, laddr, raddr *net.TCPAddr) (*Conn, error) {
	var la netip.AddrPort
	if laddr != nil {
		la = laddr.AddrPort()
	}
	c, err := d.netDialer().DialTCP(ctx, network, la, raddr.AddrPort())
	return wrapTCP(c), err
}

func (d *Dialer) dialUnix(ctx context.Context, network string, laddr, raddr *net.UnixAddr) (*Conn, error) {
	c, err := d.netDialer().DialUnix(ctx, network, laddr, raddr)
	return wrapUnix(c), err
}
