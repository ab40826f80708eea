//go:build !linux

package pollnet

import (
	"context"
	"net"
	"os"
)

// Without a pollrt backend, pollnet is package net.

func (d *Dialer) dialContext(ctx context.Context, network, address string) (net.Conn, error) {
	return d.netDialer().DialContext(ctx, network, address)
}

func (lc *ListenConfig) listen(ctx context.Context, network, address string) (net.Listener, error) {
	return lc.netListenConfig().Listen(ctx, network, address)
}

func fileConn(f *os.File) (net.Conn, error)         { return net.FileConn(f) }
func fileListener(f *os.File) (net.Listener, error) { return net.FileListener(f) }
