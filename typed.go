package pollnet

import (
	"context"
	"net"
	"net/netip"
	"time"
)

// Package net's typed constructors, with the same names, parameters and
// errors, returning pollnet's types. Only stream sockets are served: the
// networks are "tcp", "tcp4", "tcp6" and "unix"; "unixpacket" and
// "unixgram" fail with net.UnknownNetworkError (use package net for them).

// ListenTCP is net.ListenTCP: it listens on laddr (nil or a zero port
// picks a port; a nil IP listens on every local address).
func ListenTCP(network string, laddr *net.TCPAddr) (*Listener, error) {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return nil, &net.OpError{Op: "listen", Net: network, Addr: tcpOpAddr(laddr), Err: net.UnknownNetworkError(network)}
	}
	if laddr == nil {
		laddr = &net.TCPAddr{}
	}
	var lc ListenConfig
	return lc.listenTCP(context.Background(), network, laddr)
}

// ListenUnix is net.ListenUnix for network "unix". The listener removes
// its socket file on Close, as net's does.
func ListenUnix(network string, laddr *net.UnixAddr) (*Listener, error) {
	if network != "unix" {
		return nil, &net.OpError{Op: "listen", Net: network, Addr: unixOpAddr(laddr), Err: net.UnknownNetworkError(network)}
	}
	if laddr == nil {
		return nil, &net.OpError{Op: "listen", Net: network, Err: errMissingAddress}
	}
	var lc ListenConfig
	return lc.listenUnix(context.Background(), network, laddr)
}

// DialTCP is net.DialTCP: it connects to raddr from laddr (nil: the
// system picks), with package net's defaults (Nagle off, keep-alive 15s).
func DialTCP(network string, laddr, raddr *net.TCPAddr) (*Conn, error) {
	if err := checkDialTCP(network, laddr, raddr); err != nil {
		return nil, err
	}
	return dialTCPPkg(network, laddr, raddr)
}

// DialUnix is net.DialUnix for network "unix": it connects to raddr from
// laddr (nil: unbound).
func DialUnix(network string, laddr, raddr *net.UnixAddr) (*Conn, error) {
	if err := checkDialUnix(network, laddr, raddr); err != nil {
		return nil, err
	}
	return dialUnixPkg(network, laddr, raddr)
}

// DialTCP is (*net.Dialer).DialTCP: DialTCP with the Dialer's options and
// ctx. A zero laddr lets the system pick the local address.
func (d *Dialer) DialTCP(ctx context.Context, network string, laddr, raddr netip.AddrPort) (*Conn, error) {
	ctx, cancel := d.dialCtx(ctx)
	defer cancel()
	return d.dialTCPTyped(ctx, network, net.TCPAddrFromAddrPort(laddr), net.TCPAddrFromAddrPort(raddr))
}

// DialUnix is (*net.Dialer).DialUnix: DialUnix with the Dialer's options
// and ctx.
func (d *Dialer) DialUnix(ctx context.Context, network string, laddr, raddr *net.UnixAddr) (*Conn, error) {
	ctx, cancel := d.dialCtx(ctx)
	defer cancel()
	return d.dialUnixTyped(ctx, network, laddr, raddr)
}

// dialCtx bounds ctx by the Dialer's Timeout and Deadline.
func (d *Dialer) dialCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	if ctx == nil {
		panic("pollnet: dial with a nil context")
	}
	if deadline := d.deadline(ctx, time.Now()); !deadline.IsZero() {
		if old, ok := ctx.Deadline(); !ok || deadline.Before(old) {
			return context.WithDeadline(ctx, deadline)
		}
	}
	return ctx, func() {}
}

func (d *Dialer) dialTCPTyped(ctx context.Context, network string, laddr, raddr *net.TCPAddr) (*Conn, error) {
	if err := checkDialTCP(network, laddr, raddr); err != nil {
		return nil, err
	}
	return d.dialTCP(ctx, network, laddr, raddr)
}

func (d *Dialer) dialUnixTyped(ctx context.Context, network string, laddr, raddr *net.UnixAddr) (*Conn, error) {
	if err := checkDialUnix(network, laddr, raddr); err != nil {
		return nil, err
	}
	return d.dialUnix(ctx, network, laddr, raddr)
}

// checkDialTCP and checkDialUnix fail as package net does for a network
// of the wrong kind or a missing address.
func checkDialTCP(network string, laddr, raddr *net.TCPAddr) error {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return &net.OpError{Op: "dial", Net: network, Source: tcpOpAddr(laddr), Addr: tcpOpAddr(raddr), Err: net.UnknownNetworkError(network)}
	}
	if raddr == nil {
		return &net.OpError{Op: "dial", Net: network, Source: tcpOpAddr(laddr), Err: errMissingAddress}
	}
	return nil
}

func checkDialUnix(network string, laddr, raddr *net.UnixAddr) error {
	if network != "unix" {
		return &net.OpError{Op: "dial", Net: network, Source: unixOpAddr(laddr), Addr: unixOpAddr(raddr), Err: net.UnknownNetworkError(network)}
	}
	if raddr == nil || raddr.Name == "" {
		return &net.OpError{Op: "dial", Net: network, Source: unixOpAddr(laddr), Addr: unixOpAddr(raddr), Err: errMissingAddress}
	}
	return nil
}

// tcpOpAddr and unixOpAddr keep a nil address nil in a *net.OpError, as
// package net's opAddr: a typed nil would print as "<nil>".
func tcpOpAddr(a *net.TCPAddr) net.Addr {
	if a == nil {
		return nil
	}
	return a
}

func unixOpAddr(a *net.UnixAddr) net.Addr {
	if a == nil {
		return nil
	}
	return a
}
