//go:build linux

package peers

import (
	"context"
	"errors"
	"net"
	"sync"

	"github.com/cloudwego/netpoll"
	"github.com/pollnet/pollnet/conformance"
)

// netpollDial is netpoll.DialConnection, the context's deadline as its
// timeout (it takes no context).
func netpollDial(ctx context.Context, network, address string) (net.Conn, error) {
	c, err := netpoll.DialConnection(network, address, timeoutOf(ctx))
	if err != nil {
		return nil, err
	}
	return c, nil
}

// netpollPeer is cloudwego/netpoll as its API hands out net.Listener and
// net.Conn: netpoll.CreateListener and netpoll.DialConnection.
func netpollPeer() Peer {
	return Peer{conformance.Impl{
		Name: "netpoll",
		Listen: func(_ context.Context, network, address string) (net.Listener, error) {
			ln, err := netpoll.CreateListener(network, address)
			if err != nil {
				return nil, err
			}
			return ln, nil
		},
		Dial:     netpollDial,
		Networks: []string{"tcp4", "tcp6", "unix"},
	}, "netpoll.CreateListener, netpoll.DialConnection"}
}

// netpollEventLoopPeer is netpoll the way its servers get connections: an
// EventLoop serving a listener hands each new Connection (a net.Conn) to
// OnConnect, which passes it to Accept. No OnRequest is set, so the
// connection's data waits for Read.
func netpollEventLoopPeer() Peer {
	return Peer{conformance.Impl{
		Name: "netpoll-evl",
		Listen: func(ctx context.Context, network, address string) (net.Listener, error) {
			ln, err := (&net.ListenConfig{}).Listen(ctx, network, address)
			if err != nil {
				return nil, err
			}
			return newEventLoopListener(ln)
		},
		Dial: netpollDial,
	}, "netpoll.EventLoop serving a net.Listener (OnConnect hands conns to Accept), netpoll.DialConnection"}
}

// eventLoopListener is a net.Listener over a netpoll EventLoop. Close shuts
// the EventLoop down and closes the net.Listener it serves itself too: Serve
// runs on its own goroutine, and a Shutdown that comes before Serve has
// started does not close it.
type eventLoopListener struct {
	ln    net.Listener
	addr  net.Addr
	evl   netpoll.EventLoop
	conns chan net.Conn
	done  chan struct{} // closed by Close
	once  sync.Once
}

func newEventLoopListener(ln net.Listener) (*eventLoopListener, error) {
	l := &eventLoopListener{ln: ln, addr: ln.Addr(), conns: make(chan net.Conn), done: make(chan struct{})}
	evl, err := netpoll.NewEventLoop(nil, netpoll.WithOnConnect(func(ctx context.Context, c netpoll.Connection) context.Context {
		select {
		case l.conns <- c:
		case <-l.done:
			c.Close()
		}
		return ctx
	}))
	if err != nil {
		ln.Close()
		return nil, err
	}
	l.evl = evl
	go evl.Serve(ln)
	return l, nil
}

func (l *eventLoopListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, &net.OpError{Op: "accept", Net: l.addr.Network(), Addr: l.addr, Err: net.ErrClosed}
	}
}

func (l *eventLoopListener) Close() error {
	err := error(&net.OpError{Op: "close", Net: l.addr.Network(), Addr: l.addr, Err: net.ErrClosed})
	l.once.Do(func() {
		close(l.done)
		err = l.evl.Shutdown(context.Background())
		if errors.Is(err, net.ErrClosed) {
			err = nil
		}
		if cerr := l.ln.Close(); err == nil && !errors.Is(cerr, net.ErrClosed) {
			err = cerr
		}
	})
	return err
}

func (l *eventLoopListener) Addr() net.Addr { return l.addr }
