//go:build linux

package peers

import (
	"context"
	"io"
	"net"

	"github.com/hashicorp/yamux"
	"github.com/pollnet/pollnet/conformance"
	"github.com/xtaci/smux"
)

// A multiplexer hands out streams over a transport conn: the peers below
// dial a package net conn per Dial and open one stream on a client session
// over it; the listener accepts a package net conn and returns the first
// stream of a server session over it. Sessions are not closed when their
// stream is (a child process runs one theme and exits).
type mux struct {
	client func(c net.Conn) (net.Conn, error) // opens a stream
	server func(c net.Conn) (net.Conn, error) // accepts a stream
}

func (m mux) impl(name string) conformance.Impl {
	return conformance.Impl{
		Name: name,
		Listen: func(ctx context.Context, network, address string) (net.Listener, error) {
			ln, err := (&net.ListenConfig{}).Listen(ctx, network, address)
			if err != nil {
				return nil, err
			}
			return &muxListener{ln, m.server}, nil
		},
		Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
			c, err := dialNet(ctx, network, address)
			if err != nil {
				return nil, err
			}
			s, err := m.client(c)
			if err != nil {
				c.Close()
				return nil, err
			}
			return s, nil
		},
	}
}

// muxListener accepts transport conns and returns a stream of each.
type muxListener struct {
	net.Listener
	server func(c net.Conn) (net.Conn, error)
}

func (l *muxListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	s, err := l.server(c)
	if err != nil {
		c.Close()
		return nil, err
	}
	return s, nil
}

func yamuxConfig() *yamux.Config {
	cfg := yamux.DefaultConfig()
	cfg.LogOutput = io.Discard
	return cfg
}

// yamuxPeer is a hashicorp/yamux stream per connection.
func yamuxPeer() Peer {
	return Peer{mux{
		client: func(c net.Conn) (net.Conn, error) {
			sess, err := yamux.Client(c, yamuxConfig())
			if err != nil {
				return nil, err
			}
			return sess.Open()
		},
		server: func(c net.Conn) (net.Conn, error) {
			sess, err := yamux.Server(c, yamuxConfig())
			if err != nil {
				return nil, err
			}
			return sess.Accept()
		},
	}.impl("yamux"), "a yamux.Session stream over each package net conn"}
}

// smuxPeer is an xtaci/smux stream per connection.
func smuxPeer() Peer {
	return Peer{mux{
		client: func(c net.Conn) (net.Conn, error) {
			sess, err := smux.Client(c, nil)
			if err != nil {
				return nil, err
			}
			return sess.OpenStream()
		},
		server: func(c net.Conn) (net.Conn, error) {
			sess, err := smux.Server(c, nil)
			if err != nil {
				return nil, err
			}
			return sess.AcceptStream()
		},
	}.impl("smux"), "an smux.Session stream over each package net conn"}
}
