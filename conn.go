//go:build linux && !pollnet_stdnet

package pollnet

import (
	"io"
	"net"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Conn is a TCP or Unix stream connection on pollnet's poller. It
// implements net.Conn with package net's semantics and errors, plus the
// methods of *net.TCPConn and *net.UnixConn that servers call.
//
// Code that type-asserts a connection to *net.TCPConn will not match a
// *Conn; assert to the interface it needs (interface{ CloseWrite() error })
// instead.
type Conn struct {
	fd *netFD
}

var (
	_ net.Conn      = (*Conn)(nil)
	_ io.ReaderFrom = (*Conn)(nil)
	_ io.WriterTo   = (*Conn)(nil)
)

func (c *Conn) ok() bool { return c != nil && c.fd != nil }

func (c *Conn) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: c.fd.net, Source: c.fd.laddr, Addr: c.fd.raddr, Err: err}
}

// setError wraps the error of a socket-level option (buffer sizes) or a
// deadline as package net's conn does: Source nil, Addr the local address.
func (c *Conn) setError(err error) error {
	if err == nil {
		return nil
	}
	return &net.OpError{Op: "set", Net: c.fd.net, Source: nil, Addr: c.fd.laddr, Err: err}
}

// tcpSetError wraps the error of a TCP option (Nagle, keep-alive, linger)
// as *net.TCPConn does: Source the local address, Addr the peer's.
func (c *Conn) tcpSetError(err error) error {
	if err == nil {
		return nil
	}
	return &net.OpError{Op: "set", Net: c.fd.net, Source: c.fd.laddr, Addr: c.fd.raddr, Err: err}
}

// Read reads up to len(b) bytes, blocking until data arrives, the peer
// closes (io.EOF, returned unwrapped), the read deadline passes or the
// conn is closed.
func (c *Conn) Read(b []byte) (int, error) {
	if !c.ok() {
		return 0, syscall.EINVAL
	}
	n, err := c.fd.Read(b)
	if err != nil && err != io.EOF {
		err = c.opError("read", err)
	}
	return n, err
}

// Write writes all of b, or returns the error that stopped it with the
// count of bytes written before it.
func (c *Conn) Write(b []byte) (int, error) {
	if !c.ok() {
		return 0, syscall.EINVAL
	}
	n, err := c.fd.Write(b)
	if err != nil {
		err = c.opError("write", err)
	}
	return n, err
}

// Close closes the connection. Blocked Read and Write calls return an error
// wrapping net.ErrClosed; Close returns once the file descriptor is closed.
func (c *Conn) Close() error {
	if !c.ok() {
		return syscall.EINVAL
	}
	if err := c.fd.Close(); err != nil {
		return c.opError("close", err)
	}
	return nil
}

// LocalAddr returns the local address (*net.TCPAddr or *net.UnixAddr).
func (c *Conn) LocalAddr() net.Addr {
	if !c.ok() {
		return nil
	}
	return c.fd.laddr
}

// RemoteAddr returns the peer's address (*net.TCPAddr or *net.UnixAddr).
func (c *Conn) RemoteAddr() net.Addr {
	if !c.ok() {
		return nil
	}
	return c.fd.raddr
}

// CloseRead shuts down the reading side; most callers want CloseWrite.
func (c *Conn) CloseRead() error {
	if !c.ok() {
		return syscall.EINVAL
	}
	if err := c.fd.shutdown(unix.SHUT_RD); err != nil {
		return c.opError("close", err)
	}
	return nil
}

// CloseWrite shuts down the writing side: the peer reads io.EOF after the
// bytes already written, and this side can still read.
func (c *Conn) CloseWrite() error {
	if !c.ok() {
		return syscall.EINVAL
	}
	if err := c.fd.shutdown(unix.SHUT_WR); err != nil {
		return c.opError("close", err)
	}
	return nil
}

// SetNoDelay controls Nagle's algorithm on a TCP conn. Like package net,
// pollnet turns Nagle off (noDelay true) on every new TCP conn.
func (c *Conn) SetNoDelay(noDelay bool) error {
	if !c.ok() {
		return syscall.EINVAL
	}
	return c.tcpSetError(c.fd.setsockoptInt(unix.IPPROTO_TCP, unix.TCP_NODELAY, boolint(noDelay)))
}

// SetKeepAlive turns TCP keep-alive probes on or off.
func (c *Conn) SetKeepAlive(keepalive bool) error {
	if !c.ok() {
		return syscall.EINVAL
	}
	return c.tcpSetError(c.fd.setsockoptInt(unix.SOL_SOCKET, unix.SO_KEEPALIVE, boolint(keepalive)))
}

// SetKeepAlivePeriod sets the idle time before the first probe, rounded up
// to whole seconds, as (*net.TCPConn).SetKeepAlivePeriod: 0 means the
// default 15s, < 0 leaves the setting alone. The interval between probes
// is not changed (SetKeepAliveConfig sets it).
func (c *Conn) SetKeepAlivePeriod(d time.Duration) error {
	if !c.ok() {
		return syscall.EINVAL
	}
	return c.tcpSetError(c.setKeepAliveOpt(unix.TCP_KEEPIDLE, d, defaultKeepAlive))
}

// SetKeepAliveConfig configures keep-alive as (*net.TCPConn).SetKeepAliveConfig:
// zero fields take the defaults (15s idle, 15s interval, 9 probes), negative
// ones leave the system's setting.
func (c *Conn) SetKeepAliveConfig(cfg net.KeepAliveConfig) error {
	if !c.ok() {
		return syscall.EINVAL
	}
	if err := c.SetKeepAlive(cfg.Enable); err != nil {
		return err
	}
	if err := c.setKeepAliveOpt(unix.TCP_KEEPIDLE, cfg.Idle, defaultKeepAlive); err != nil {
		return c.tcpSetError(err)
	}
	if err := c.setKeepAliveOpt(unix.TCP_KEEPINTVL, cfg.Interval, defaultKeepAlive); err != nil {
		return c.tcpSetError(err)
	}
	count := cfg.Count
	if count == 0 {
		count = defaultKeepAliveCount
	}
	if count > 0 {
		return c.tcpSetError(c.fd.setsockoptInt(unix.IPPROTO_TCP, unix.TCP_KEEPCNT, count))
	}
	return nil
}

// setKeepAliveOpt sets a keep-alive time option in whole seconds, rounded
// up: d 0 means def, d < 0 leaves it alone.
func (c *Conn) setKeepAliveOpt(opt int, d, def time.Duration) error {
	if d == 0 {
		d = def
	} else if d < 0 {
		return nil
	}
	return c.fd.setsockoptInt(unix.IPPROTO_TCP, opt, int((d+time.Second-1)/time.Second))
}

// SetLinger sets what Close does with unsent data, as
// (*net.TCPConn).SetLinger: sec < 0 (the default) sends it in the
// background, 0 discards it and resets the connection, > 0 lingers.
func (c *Conn) SetLinger(sec int) error {
	if !c.ok() {
		return syscall.EINVAL
	}
	l := unix.Linger{}
	if sec >= 0 {
		l.Onoff, l.Linger = 1, int32(sec)
	}
	if err := c.fd.incref(); err != nil {
		return c.tcpSetError(err)
	}
	defer c.fd.decref()
	return c.tcpSetError(wrapSyscall("setsockopt", unix.SetsockoptLinger(c.fd.sysfd, unix.SOL_SOCKET, unix.SO_LINGER, &l)))
}

// SetReadBuffer sets the size of the kernel's receive buffer.
func (c *Conn) SetReadBuffer(bytes int) error {
	if !c.ok() {
		return syscall.EINVAL
	}
	return c.setError(c.fd.setsockoptInt(unix.SOL_SOCKET, unix.SO_RCVBUF, bytes))
}

// SetWriteBuffer sets the size of the kernel's send buffer.
func (c *Conn) SetWriteBuffer(bytes int) error {
	if !c.ok() {
		return syscall.EINVAL
	}
	return c.setError(c.fd.setsockoptInt(unix.SOL_SOCKET, unix.SO_SNDBUF, bytes))
}

// SyscallConn returns a raw connection whose Read and Write wait on
// pollnet's poller whenever the callback returns false.
func (c *Conn) SyscallConn() (syscall.RawConn, error) {
	if !c.ok() {
		return nil, syscall.EINVAL
	}
	return &rawConn{fd: c.fd}, nil
}

// File returns a duplicate of the connection's file descriptor as an
// *os.File; closing one does not affect the other.
func (c *Conn) File() (*os.File, error) {
	if !c.ok() {
		return nil, syscall.EINVAL
	}
	f, err := c.fd.dup()
	if err != nil {
		return nil, c.opError("file", err)
	}
	return f, nil
}

// ReadFrom copies from r into the connection until io.EOF or an error,
// implementing io.ReaderFrom. When r is a pollnet, *net.TCPConn or stream
// *net.UnixConn conn (also inside an *io.LimitedReader) the bytes move with
// splice(2) and never enter user space; from an *os.File, with sendfile(2).
func (c *Conn) ReadFrom(r io.Reader) (int64, error) {
	if !c.ok() {
		return 0, syscall.EINVAL
	}
	n, err := c.readFrom(r)
	if err != nil && err != io.EOF {
		err = c.opError("readfrom", err)
	}
	return n, err
}

// WriteTo copies from the connection into w until io.EOF or an error,
// implementing io.WriterTo. Toward a pollnet, *net.TCPConn or stream
// *net.UnixConn conn it uses splice(2).
func (c *Conn) WriteTo(w io.Writer) (int64, error) {
	if !c.ok() {
		return 0, syscall.EINVAL
	}
	n, err := c.writeTo(w)
	if err != nil && err != io.EOF {
		err = c.opError("writeto", err)
	}
	return n, err
}

// writerOnly and readerOnly hide ReadFrom and WriteTo from io.Copy, which
// would otherwise call back into them.
type writerOnly struct{ io.Writer }
type readerOnly struct{ io.Reader }

func boolint(b bool) int {
	if b {
		return 1
	}
	return 0
}

// newConn wraps an initialised fd, applying package net's TCP defaults:
// Nagle off, keep-alive as configured.
func newConn(fd *netFD, keepAlive time.Duration, cfg net.KeepAliveConfig) *Conn {
	c := &Conn{fd: fd}
	if fd.family != unix.AF_UNIX {
		c.SetNoDelay(true)
		if !cfg.Enable && keepAlive >= 0 {
			cfg = net.KeepAliveConfig{Enable: true, Idle: keepAlive}
		}
		if cfg.Enable {
			c.SetKeepAliveConfig(cfg)
		}
	}
	return c
}

const (
	defaultKeepAlive      = 15 * time.Second
	defaultKeepAliveCount = 9
)
