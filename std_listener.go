//go:build !linux || pollnet_stdnet

package pollnet

import (
	"net"
	"os"
	"syscall"
	"time"
)

// Listener is a TCP or Unix stream listener. It implements net.Listener;
// Accept returns *Conn values as net.Conn.
//
// On this platform (or with the pollnet_stdnet build tag) it wraps a
// *net.TCPListener or *net.UnixListener.
type Listener struct {
	nl   net.Listener
	tcp  *net.TCPListener
	unix *net.UnixListener
}

var _ net.Listener = (*Listener)(nil)

// wrapListener gives a net listener pollnet's type if it is one pollnet
// serves; nil stays nil.
func wrapListener(l net.Listener) net.Listener {
	switch l := l.(type) {
	case *net.TCPListener:
		return &Listener{nl: l, tcp: l}
	case *net.UnixListener:
		return &Listener{nl: l, unix: l}
	}
	return l
}

func (l *Listener) ok() bool { return l != nil && l.nl != nil }

func (l *Listener) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: l.nl.Addr().Network(), Source: nil, Addr: l.nl.Addr(), Err: err}
}

// Accept waits for and returns the next connection, a *Conn. It fails
// with an error wrapping net.ErrClosed once the listener is closed.
func (l *Listener) Accept() (net.Conn, error) {
	if !l.ok() {
		return nil, syscall.EINVAL
	}
	if l.tcp != nil {
		c, err := l.tcp.AcceptTCP()
		if err != nil {
			return nil, err
		}
		return wrapTCP(c), nil
	}
	c, err := l.unix.AcceptUnix()
	if err != nil {
		return nil, err
	}
	return wrapUnix(c), nil
}

// AcceptTCP is (*net.TCPListener).AcceptTCP: Accept, returning a *Conn. On
// a Unix listener it fails at once, with a *net.OpError wrapping
// syscall.EINVAL, and accepts nothing.
func (l *Listener) AcceptTCP() (*Conn, error) {
	if !l.ok() {
		return nil, syscall.EINVAL
	}
	if l.tcp == nil {
		return nil, l.opError("accept", syscall.EINVAL)
	}
	c, err := l.tcp.AcceptTCP()
	if err != nil {
		return nil, err
	}
	return wrapTCP(c), nil
}

// AcceptUnix is (*net.UnixListener).AcceptUnix: Accept, returning a
// *Conn. On a TCP listener it fails at once, with a *net.OpError wrapping
// syscall.EINVAL, and accepts nothing.
func (l *Listener) AcceptUnix() (*Conn, error) {
	if !l.ok() {
		return nil, syscall.EINVAL
	}
	if l.unix == nil {
		return nil, l.opError("accept", syscall.EINVAL)
	}
	c, err := l.unix.AcceptUnix()
	if err != nil {
		return nil, err
	}
	return wrapUnix(c), nil
}

// Close stops listening. A blocked Accept returns an error wrapping
// net.ErrClosed. A Unix listener made by Listen removes its socket file.
func (l *Listener) Close() error {
	if !l.ok() {
		return syscall.EINVAL
	}
	return l.nl.Close()
}

// Addr returns the listening address (*net.TCPAddr or *net.UnixAddr).
func (l *Listener) Addr() net.Addr {
	if !l.ok() {
		return nil
	}
	return l.nl.Addr()
}

// SetDeadline sets the deadline of Accept calls; a zero t clears it.
func (l *Listener) SetDeadline(t time.Time) error {
	if !l.ok() {
		return syscall.EINVAL
	}
	if l.tcp != nil {
		return l.tcp.SetDeadline(t)
	}
	return l.unix.SetDeadline(t)
}

// SetUnlinkOnClose sets whether Close removes a Unix listener's socket
// file; it does nothing on a TCP listener.
func (l *Listener) SetUnlinkOnClose(unlink bool) {
	// Not every system's *net.UnixListener has the method (plan9's lacks it).
	if u, ok := any(l.unix).(interface{ SetUnlinkOnClose(bool) }); ok && l.ok() && l.unix != nil {
		u.SetUnlinkOnClose(unlink)
	}
}

// SyscallConn returns a raw connection to the listening socket.
func (l *Listener) SyscallConn() (syscall.RawConn, error) {
	if !l.ok() {
		return nil, syscall.EINVAL
	}
	if l.tcp != nil {
		return l.tcp.SyscallConn()
	}
	return l.unix.SyscallConn()
}

// File returns a duplicate of the listening socket as an *os.File.
func (l *Listener) File() (*os.File, error) {
	if !l.ok() {
		return nil, syscall.EINVAL
	}
	if l.tcp != nil {
		return l.tcp.File()
	}
	return l.unix.File()
}
