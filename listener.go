//go:build linux && !pollnet_stdnet

package pollnet

import (
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Listener is a TCP or Unix stream listener on pollnet's poller. It
// implements net.Listener; Accept returns *Conn values as net.Conn.
type Listener struct {
	fd        *netFD
	aop       acceptOp // Accept's attempt
	keepAlive time.Duration
	kaConfig  net.KeepAliveConfig

	// A Unix listener created by Listen removes its socket file on Close.
	unlink     bool
	unlinkOnce sync.Once
}

var _ net.Listener = (*Listener)(nil)

func (l *Listener) ok() bool { return l != nil && l.fd != nil }

func (l *Listener) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: l.fd.net, Source: nil, Addr: l.fd.laddr, Err: err}
}

// Accept waits for and returns the next connection. It fails with an error
// wrapping net.ErrClosed once the listener is closed, and with a temporary
// error (Temporary() true) when the process is out of file descriptors, so
// net/http's back-off works.
func (l *Listener) Accept() (net.Conn, error) {
	if !l.ok() {
		return nil, syscall.EINVAL
	}
	return l.accept()
}

// AcceptTCP is (*net.TCPListener).AcceptTCP: Accept, returning a *Conn. On
// a Unix listener it fails at once, with a *net.OpError wrapping
// syscall.EINVAL, and accepts nothing.
func (l *Listener) AcceptTCP() (*Conn, error) {
	if !l.ok() {
		return nil, syscall.EINVAL
	}
	if l.fd.family == unix.AF_UNIX {
		return nil, l.opError("accept", syscall.EINVAL)
	}
	return l.accept()
}

// AcceptUnix is (*net.UnixListener).AcceptUnix: Accept, returning a
// *Conn. On a TCP listener it fails at once, with a *net.OpError wrapping
// syscall.EINVAL, and accepts nothing.
func (l *Listener) AcceptUnix() (*Conn, error) {
	if !l.ok() {
		return nil, syscall.EINVAL
	}
	if l.fd.family != unix.AF_UNIX {
		return nil, l.opError("accept", syscall.EINVAL)
	}
	return l.accept()
}

func (l *Listener) accept() (*Conn, error) {
	s, raddr, err := l.fd.accept(&l.aop)
	if err != nil {
		return nil, l.opError("accept", err)
	}
	fd := newFD(s, l.fd.family, l.fd.net)
	if err := fd.init(); err != nil {
		fd.Close()
		return nil, l.opError("accept", err)
	}
	fd.laddr, _ = sockname(s, false)
	fd.raddr = raddr
	return newConn(fd, l.keepAlive, l.kaConfig), nil
}

// Close stops listening. A blocked Accept returns an error wrapping
// net.ErrClosed. A Unix listener made by Listen removes its socket file.
func (l *Listener) Close() error {
	if !l.ok() {
		return syscall.EINVAL
	}
	if ua, ok := l.fd.laddr.(*net.UnixAddr); ok {
		l.unlinkOnce.Do(func() {
			if l.unlink && ua.Name != "" && ua.Name[0] != '@' {
				unix.Unlink(ua.Name)
			}
		})
	}
	if err := l.fd.Close(); err != nil {
		return l.opError("close", err)
	}
	return nil
}

// Addr returns the listening address (*net.TCPAddr or *net.UnixAddr).
func (l *Listener) Addr() net.Addr {
	if !l.ok() {
		return nil
	}
	return l.fd.laddr
}

// SetUnlinkOnClose sets whether Close removes a Unix listener's socket file.
func (l *Listener) SetUnlinkOnClose(unlink bool) { l.unlink = unlink }

// SyscallConn returns a raw connection to the listening socket.
func (l *Listener) SyscallConn() (syscall.RawConn, error) {
	if !l.ok() {
		return nil, syscall.EINVAL
	}
	return &rawConn{fd: l.fd}, nil
}

// File returns a duplicate of the listening socket as an *os.File.
func (l *Listener) File() (*os.File, error) {
	if !l.ok() {
		return nil, syscall.EINVAL
	}
	f, err := l.fd.dup()
	if err != nil {
		return nil, l.opError("file", err)
	}
	return f, nil
}
