//go:build !linux || pollnet_stdnet

package pollnet

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// Conn is a TCP or Unix stream connection. It implements net.Conn with
// package net's semantics and errors, plus the methods of *net.TCPConn and
// *net.UnixConn that servers call, and pollnet's readiness methods.
//
// On this platform (or with the pollnet_stdnet build tag) there is no
// pollrt backend: a Conn wraps a *net.TCPConn or *net.UnixConn and runs on
// the Go runtime's poller. Its methods keep their contracts; where one
// works differently here its comment says how.
//
// Code that type-asserts a connection to *net.TCPConn will not match a
// *Conn; assert to the interface it needs (interface{ CloseWrite() error })
// instead.
type Conn struct {
	nc   net.Conn // *net.TCPConn or *net.UnixConn
	tcp  *net.TCPConn
	unix *net.UnixConn

	// dlMu guards the deadlines set through the Conn, which a wait
	// interrupted by its context puts back.
	dlMu     sync.Mutex
	rdl, wdl time.Time

	hup hangup
}

var (
	_ net.Conn      = (*Conn)(nil)
	_ io.ReaderFrom = (*Conn)(nil)
	_ io.WriterTo   = (*Conn)(nil)
)

// wrapTCP and wrapUnix give a net conn pollnet's type; nil stays nil.
func wrapTCP(c *net.TCPConn) *Conn {
	if c == nil {
		return nil
	}
	return &Conn{nc: c, tcp: c}
}

func wrapUnix(c *net.UnixConn) *Conn {
	if c == nil {
		return nil
	}
	return &Conn{nc: c, unix: c}
}

// wrapNetConn wraps c if it is a stream conn pollnet serves.
func wrapNetConn(c net.Conn, network string) net.Conn {
	if !ours(network) {
		return c
	}
	switch c := c.(type) {
	case *net.TCPConn:
		return wrapTCP(c)
	case *net.UnixConn:
		return wrapUnix(c)
	}
	return c
}

func ours(network string) bool {
	switch network {
	case "tcp", "tcp4", "tcp6", "unix":
		return true
	}
	return false
}

func (c *Conn) ok() bool { return c != nil && c.nc != nil }

func (c *Conn) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: c.LocalAddr().Network(), Source: c.nc.LocalAddr(), Addr: c.nc.RemoteAddr(), Err: err}
}

// Read reads up to len(b) bytes, blocking until data arrives, the peer
// closes (io.EOF, returned unwrapped), the read deadline passes or the
// conn is closed.
func (c *Conn) Read(b []byte) (int, error) {
	if !c.ok() {
		return 0, syscall.EINVAL
	}
	n, err := c.nc.Read(b)
	if err != nil {
		c.noteReadErr(err)
	}
	return n, err
}

// noteReadErr records a hangup seen by a read: io.EOF, or an error of the
// connection (not a deadline or a local Close).
func (c *Conn) noteReadErr(err error) {
	if err == io.EOF || !(errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, net.ErrClosed)) {
		c.hup.set()
	}
}

// Write writes all of b, or returns the error that stopped it with the
// count of bytes written before it.
func (c *Conn) Write(b []byte) (int, error) {
	if !c.ok() {
		return 0, syscall.EINVAL
	}
	return c.nc.Write(b)
}

// Close closes the connection. Blocked Read and Write calls return an error
// wrapping net.ErrClosed.
func (c *Conn) Close() error {
	if !c.ok() {
		return syscall.EINVAL
	}
	err := c.nc.Close()
	c.hup.close()
	return err
}

// LocalAddr returns the local address (*net.TCPAddr or *net.UnixAddr).
func (c *Conn) LocalAddr() net.Addr {
	if !c.ok() {
		return nil
	}
	return c.nc.LocalAddr()
}

// RemoteAddr returns the peer's address (*net.TCPAddr or *net.UnixAddr).
func (c *Conn) RemoteAddr() net.Addr {
	if !c.ok() {
		return nil
	}
	return c.nc.RemoteAddr()
}

// SetDeadline sets the read and write deadlines, as net.Conn's: a zero t
// clears them; once a deadline passes, blocked and later calls fail with an
// error wrapping os.ErrDeadlineExceeded until it is moved.
func (c *Conn) SetDeadline(t time.Time) error {
	if !c.ok() {
		return syscall.EINVAL
	}
	c.dlMu.Lock()
	defer c.dlMu.Unlock()
	c.rdl, c.wdl = t, t
	return c.nc.SetDeadline(t)
}

// SetReadDeadline sets the deadline of Read calls, as net.Conn's.
func (c *Conn) SetReadDeadline(t time.Time) error {
	if !c.ok() {
		return syscall.EINVAL
	}
	c.dlMu.Lock()
	defer c.dlMu.Unlock()
	c.rdl = t
	return c.nc.SetReadDeadline(t)
}

// SetWriteDeadline sets the deadline of Write calls, as net.Conn's. A Write
// that times out may have written part of its buffer.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	if !c.ok() {
		return syscall.EINVAL
	}
	c.dlMu.Lock()
	defer c.dlMu.Unlock()
	c.wdl = t
	return c.nc.SetWriteDeadline(t)
}

// CloseRead shuts down the reading side; most callers want CloseWrite.
func (c *Conn) CloseRead() error {
	if !c.ok() {
		return syscall.EINVAL
	}
	if c.tcp != nil {
		return c.tcp.CloseRead()
	}
	return c.unix.CloseRead()
}

// CloseWrite shuts down the writing side: the peer reads io.EOF after the
// bytes already written, and this side can still read.
func (c *Conn) CloseWrite() error {
	if !c.ok() {
		return syscall.EINVAL
	}
	if c.tcp != nil {
		return c.tcp.CloseWrite()
	}
	return c.unix.CloseWrite()
}

// tcpOnly is the error of a TCP option on a Unix conn: what the kernel
// answers to the setsockopt call on Linux.
func (c *Conn) tcpOnly() error {
	return &net.OpError{Op: "set", Net: "unix", Source: c.nc.LocalAddr(), Addr: c.nc.RemoteAddr(), Err: errNotTCP}
}

// SetNoDelay controls Nagle's algorithm on a TCP conn. Like package net,
// pollnet turns Nagle off (noDelay true) on every new TCP conn.
func (c *Conn) SetNoDelay(noDelay bool) error {
	if !c.ok() {
		return syscall.EINVAL
	}
	if c.tcp == nil {
		return c.tcpOnly()
	}
	return c.tcp.SetNoDelay(noDelay)
}

// SetKeepAlive turns TCP keep-alive probes on or off.
func (c *Conn) SetKeepAlive(keepalive bool) error {
	if !c.ok() {
		return syscall.EINVAL
	}
	if c.tcp == nil {
		return c.tcpOnly()
	}
	return c.tcp.SetKeepAlive(keepalive)
}

// SetKeepAlivePeriod sets the idle time before the first probe, rounded up
// to whole seconds, as (*net.TCPConn).SetKeepAlivePeriod: 0 means the
// default 15s, < 0 leaves the setting alone.
func (c *Conn) SetKeepAlivePeriod(d time.Duration) error {
	if !c.ok() {
		return syscall.EINVAL
	}
	if c.tcp == nil {
		return c.tcpOnly()
	}
	return c.tcp.SetKeepAlivePeriod(d)
}

// SetKeepAliveConfig configures keep-alive as (*net.TCPConn).SetKeepAliveConfig:
// zero fields take the defaults (15s idle, 15s interval, 9 probes), negative
// ones leave the system's setting.
func (c *Conn) SetKeepAliveConfig(cfg net.KeepAliveConfig) error {
	if !c.ok() {
		return syscall.EINVAL
	}
	if c.tcp == nil {
		return c.tcpOnly()
	}
	return c.tcp.SetKeepAliveConfig(cfg)
}

// SetLinger sets what Close does with unsent data, as
// (*net.TCPConn).SetLinger: sec < 0 (the default) sends it in the
// background, 0 discards it and resets the connection, > 0 lingers.
func (c *Conn) SetLinger(sec int) error {
	if !c.ok() {
		return syscall.EINVAL
	}
	if c.tcp == nil {
		return c.tcpOnly()
	}
	return c.tcp.SetLinger(sec)
}

// SetReadBuffer sets the size of the kernel's receive buffer.
func (c *Conn) SetReadBuffer(bytes int) error {
	if !c.ok() {
		return syscall.EINVAL
	}
	if c.tcp != nil {
		return c.tcp.SetReadBuffer(bytes)
	}
	return c.unix.SetReadBuffer(bytes)
}

// SetWriteBuffer sets the size of the kernel's send buffer.
func (c *Conn) SetWriteBuffer(bytes int) error {
	if !c.ok() {
		return syscall.EINVAL
	}
	if c.tcp != nil {
		return c.tcp.SetWriteBuffer(bytes)
	}
	return c.unix.SetWriteBuffer(bytes)
}

// SyscallConn returns a raw connection to the socket (package net's).
func (c *Conn) SyscallConn() (syscall.RawConn, error) {
	if !c.ok() {
		return nil, syscall.EINVAL
	}
	if c.tcp != nil {
		return c.tcp.SyscallConn()
	}
	return c.unix.SyscallConn()
}

// File returns a duplicate of the connection's file descriptor as an
// *os.File; closing one does not affect the other.
func (c *Conn) File() (*os.File, error) {
	if !c.ok() {
		return nil, syscall.EINVAL
	}
	if c.tcp != nil {
		return c.tcp.File()
	}
	return c.unix.File()
}

// ReadFrom copies from r into the connection until io.EOF or an error,
// implementing io.ReaderFrom, through package net's own paths: for a TCP
// conn, (*net.TCPConn).ReadFrom, which splices from TCP and Unix conns
// (pollnet's too) and sends files with sendfile where the system can.
func (c *Conn) ReadFrom(r io.Reader) (int64, error) {
	if !c.ok() {
		return 0, syscall.EINVAL
	}
	r, restore := netReader(r)
	defer restore()
	if c.tcp != nil {
		return c.tcp.ReadFrom(r)
	}
	return io.Copy(writerOnly{c.nc}, r)
}

// WriteTo copies from the connection into w until io.EOF or an error,
// implementing io.WriterTo, through package net's own paths:
// (*net.TCPConn).WriteTo for a TCP conn.
func (c *Conn) WriteTo(w io.Writer) (int64, error) {
	if !c.ok() {
		return 0, syscall.EINVAL
	}
	if pc, ok := w.(*Conn); ok && pc.ok() {
		w = pc.nc // so net sees its own conn and can splice
	}
	var n int64
	var err error
	if c.tcp != nil {
		n, err = c.tcp.WriteTo(w)
	} else {
		n, err = io.Copy(w, readerOnly{c.nc})
	}
	if err == nil {
		c.hup.set() // WriteTo returns at io.EOF
	}
	return n, err
}

// netReader unwraps a pollnet conn (also inside an *io.LimitedReader) to
// package net's, so net's ReadFrom recognises it; restore copies the
// limit's count back.
func netReader(r io.Reader) (io.Reader, func()) {
	switch x := r.(type) {
	case *Conn:
		if x.ok() {
			return x.nc, func() {}
		}
	case *io.LimitedReader:
		if pc, ok := x.R.(*Conn); ok && pc.ok() {
			lr := &io.LimitedReader{R: pc.nc, N: x.N}
			return lr, func() { x.N = lr.N }
		}
	}
	return r, func() {}
}

// writerOnly and readerOnly hide ReadFrom and WriteTo from io.Copy, which
// would otherwise call back into them.
type writerOnly struct{ io.Writer }
type readerOnly struct{ io.Reader }

// ReadMsgUnix is (*net.UnixConn).ReadMsgUnix: it reads one message into b
// and its ancillary data (file descriptors with SCM_RIGHTS) into oob. It
// honours the read deadline. On a TCP conn it fails with syscall.EINVAL.
func (c *Conn) ReadMsgUnix(b, oob []byte) (n, oobn, flags int, addr *net.UnixAddr, err error) {
	if !c.ok() {
		return 0, 0, 0, nil, syscall.EINVAL
	}
	if c.unix == nil {
		return 0, 0, 0, nil, c.opError("read", syscall.EINVAL)
	}
	n, oobn, flags, addr, err = c.unix.ReadMsgUnix(b, oob)
	if err != nil {
		c.noteReadErr(errors.Unwrap(err))
	}
	return
}

// WriteMsgUnix is (*net.UnixConn).WriteMsgUnix: it writes b with oob as
// ancillary data, to addr (nil on a connected socket). It honours the
// write deadline. On a TCP conn it fails with syscall.EINVAL.
func (c *Conn) WriteMsgUnix(b, oob []byte, addr *net.UnixAddr) (n, oobn int, err error) {
	if !c.ok() {
		return 0, 0, syscall.EINVAL
	}
	if c.unix == nil {
		return 0, 0, &net.OpError{Op: "write", Net: c.LocalAddr().Network(), Source: c.nc.LocalAddr(), Addr: unixOpAddr(addr), Err: syscall.EINVAL}
	}
	return c.unix.WriteMsgUnix(b, oob, addr)
}

// MultipathTCP reports whether the conn uses Multipath TCP, as
// (*net.TCPConn).MultipathTCP; false for a Unix conn.
func (c *Conn) MultipathTCP() (bool, error) {
	if !c.ok() {
		return false, syscall.EINVAL
	}
	if c.tcp == nil {
		return false, nil
	}
	return c.tcp.MultipathTCP()
}

// WriteBuffers writes the contents of v with vectored writes where the
// system has them, as net.Buffers.WriteTo does for package net's own
// conns, and consumes v the same way. net.Buffers.WriteTo cannot see this
// method, so code that batches small writes can test for interface{
// WriteBuffers(*net.Buffers) (int64, error) } and call it instead.
func (c *Conn) WriteBuffers(v *net.Buffers) (int64, error) {
	if !c.ok() {
		return 0, syscall.EINVAL
	}
	return v.WriteTo(c.nc)
}

// WaitRead blocks until a Read would not block: data, EOF or an error is
// pending. It consumes nothing. It returns an error wrapping
// os.ErrDeadlineExceeded when the read deadline passes, ctx's error when ctx
// is done, and one wrapping net.ErrClosed when the conn is closed.
// Concurrent Reads wait for it to return.
//
// Here it waits in the Go runtime's poller through SyscallConn. On unix
// systems readiness is a one-byte recv with MSG_PEEK; on Windows, which has
// no non-blocking peek, it is the zero-byte read package net's RawConn.Read
// waits with; elsewhere (js, wasip1, plan9) WaitRead fails with an error
// wrapping errors.ErrUnsupported. A ctx that ends the wait moves the read
// deadline to the past for a moment, then back to the one last set through
// the Conn.
func (c *Conn) WaitRead(ctx context.Context) error { return c.wait(ctx, false) }

// WaitWrite blocks until a Write would not block: there is room in the
// send buffer, or the conn has failed. Its errors are those of WaitRead,
// with the write deadline. On unix systems it waits for poll(2) to report
// POLLOUT. Windows cannot tell whether a send would block (its sends never
// report that they would), so there WaitWrite returns at once unless the
// conn is closed.
func (c *Conn) WaitWrite(ctx context.Context) error { return c.wait(ctx, true) }

func (c *Conn) wait(ctx context.Context, write bool) error {
	if !c.ok() {
		return syscall.EINVAL
	}
	op := "wait-read"
	if write {
		op = "wait-write"
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	rc, err := c.SyscallConn()
	if err != nil {
		return c.opError(op, err)
	}
	if ctx.Done() != nil {
		fired := make(chan struct{})
		stop := context.AfterFunc(ctx, func() {
			defer close(fired)
			if write {
				c.nc.SetWriteDeadline(aLongTimeAgo)
			} else {
				c.nc.SetReadDeadline(aLongTimeAgo)
			}
		})
		defer func() {
			if !stop() {
				<-fired
				c.dlMu.Lock()
				if write {
					c.nc.SetWriteDeadline(c.wdl)
				} else {
					c.nc.SetReadDeadline(c.rdl)
				}
				c.dlMu.Unlock()
			}
		}()
	}
	if write {
		err = waitWritable(rc)
	} else {
		err = waitReadable(rc)
	}
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var oe *net.OpError
		if errors.As(err, &oe) {
			err = oe.Err
		}
		return c.opError(op, err)
	}
	return nil
}

// aLongTimeAgo is a deadline in the past that is not the zero time.
var aLongTimeAgo = time.Unix(1, 0)

// PeerClosed reports whether the peer has hung up (closed, or shut down its
// writing side), without reading. It reports true for a closed conn.
//
// Here it asks the kernel (a syscall per call) and remembers what Read
// saw. On Linux (pollnet_stdnet) poll(2)'s POLLRDHUP sees a hangup behind
// unread data; other unix systems see it only once that data is read (a
// MSG_PEEK recv then finds EOF); Windows only once a Read has returned
// io.EOF or a connection error.
func (c *Conn) PeerClosed() bool {
	if !c.ok() || c.hup.closed() {
		return true
	}
	if c.hup.isSet() {
		return true
	}
	rc, err := c.SyscallConn()
	if err != nil {
		return true
	}
	hung := false
	if err := rc.Control(func(fd uintptr) { hung = peerHungUp(fd) }); err != nil {
		return true // closed
	}
	if hung {
		c.hup.set()
	}
	return hung
}

// Done returns a channel that is closed when the peer hangs up or the conn
// is closed, so a handler can stop working for a client that went away.
//
// Here, on unix systems, the first call starts a goroutine that waits on a
// duplicate of the socket in the runtime's poller, holding none of the
// conn's locks, until the peer hangs up (as PeerClosed sees it) or Close;
// everywhere a Read that returns io.EOF or a connection error closes it.
func (c *Conn) Done() <-chan struct{} {
	if !c.ok() {
		return closedChan
	}
	return c.hup.done(func() { watchHangup(c) })
}

// closedChan is what Done returns for a nil conn.
var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// hangup is a conn's hangup state: whether the peer hung up or the conn was
// closed, and the Done channel, made on first use.
type hangup struct {
	mu       sync.Mutex
	hung     bool
	isClosed bool
	ch       chan struct{} // closed once hung or isClosed; nil until Done
	watch    io.Closer     // what close closes to end the watcher, if any
}

func (h *hangup) set() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.hung {
		h.hung = true
		if h.ch != nil && !h.isClosed {
			close(h.ch)
		}
	}
}

func (h *hangup) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.isClosed {
		return
	}
	h.isClosed = true
	if h.watch != nil {
		h.watch.Close()
	}
	if h.ch != nil && !h.hung {
		close(h.ch)
	}
}

func (h *hangup) isSet() bool  { h.mu.Lock(); defer h.mu.Unlock(); return h.hung }
func (h *hangup) closed() bool { h.mu.Lock(); defer h.mu.Unlock(); return h.isClosed }

// done returns the Done channel, starting watch the first time.
func (h *hangup) done(watch func()) <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ch == nil {
		h.ch = make(chan struct{})
		if h.hung || h.isClosed {
			close(h.ch)
		} else {
			go watch()
		}
	}
	return h.ch
}

// setWatch records w for close to close; it reports false, closing w, if
// the conn is closed already.
func (h *hangup) setWatch(w io.Closer) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.isClosed {
		w.Close()
		return false
	}
	h.watch = w
	return true
}
