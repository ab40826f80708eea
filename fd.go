//go:build linux && !pollnet_stdnet

package pollnet

import (
	"context"
	"io"
	"net"
	"os"
	"time"
	"unsafe"

	"github.com/pollnet/pollnet/pollrt"
	"golang.org/x/sys/unix"
)

// maxRW caps one read(2) or write(2), as internal/poll does: some kernels
// fail larger ones.
const maxRW = 1 << 30

// netFD is a non-blocking stream socket registered with pollrt.
//
// sysfd stays valid until the last reference is dropped (see fdMutex), so
// every syscall on it runs under a reference. pd is nil only before init.
type netFD struct {
	mu     fdMutex
	sysfd  int
	pd     *pollrt.PollDesc
	family int
	net    string // "tcp", "tcp4", "tcp6" or "unix"
	laddr  net.Addr
	raddr  net.Addr
	rop    readOp    // Read's attempt; the read lock serialises its use
	wop    writeOp   // Write's, under the write lock
	vop    *writevOp // WriteBuffers', under the write lock; made on first use
}

// readOp is one read(2) for pollrt's Do. It lives in the netFD, so passing
// it allocates nothing.
type readOp struct {
	fd  int
	p   []byte
	n   int
	err error
}

// Try reads once; false means EAGAIN.
func (op *readOp) Try() bool {
	for {
		n, err := unix.Read(op.fd, op.p)
		switch err {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		}
		op.n, op.err = n, err
		return true
	}
}

func newFD(sysfd, family int, network string) *netFD {
	return &netFD{sysfd: sysfd, family: family, net: network}
}

// init registers the fd with pollrt.
func (fd *netFD) init() error { return fd.initWith(pollrt.Open) }

// initListener registers a listening fd, whose Accepts wait long, in
// pollrt's set for long waits.
func (fd *netFD) initListener() error { return fd.initWith(pollrt.OpenLong) }

func (fd *netFD) initWith(open func(int) (*pollrt.PollDesc, error)) error {
	pd, err := open(fd.sysfd)
	if err != nil {
		return mapPollErr(err)
	}
	fd.pd = pd
	return nil
}

// destroy runs once the fd is closed and unreferenced.
func (fd *netFD) destroy() {
	if fd.pd != nil {
		fd.pd.Close()
	}
	unix.Close(fd.sysfd)
	fd.mu.closing.Done()
}

// Close marks the fd closed, wakes every blocked operation with
// net.ErrClosed, and returns once the fd is closed: when the last operation
// still running on it has returned.
func (fd *netFD) Close() error {
	if !fd.mu.increfAndClose() {
		return net.ErrClosed
	}
	// Only the Close that set the closed bit waits. Its own reference keeps
	// destroy (and so Done) from running before this Add.
	fd.mu.closing.Add(1)
	if fd.pd != nil {
		fd.pd.Evict()
	}
	fd.decref()
	fd.mu.closing.Wait()
	return nil
}

func (fd *netFD) Read(p []byte) (int, error) {
	if err := fd.readLock(); err != nil {
		return 0, err
	}
	defer fd.readUnlock()
	if len(p) == 0 {
		// As internal/poll: a zero-byte read returns at once, never io.EOF.
		return 0, nil
	}
	if len(p) > maxRW {
		p = p[:maxRW]
	}
	if err := fd.pd.Prepare(pollrt.Read); err != nil {
		return 0, mapPollErr(err)
	}
	op := &fd.rop
	op.fd, op.p = fd.sysfd, p
	err := fd.pd.Do(pollrt.Read, op)
	n, rerr := op.n, op.err
	*op = readOp{}
	switch {
	case err != nil:
		return 0, mapPollErr(err)
	case rerr != nil:
		return 0, os.NewSyscallError("read", rerr)
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// Write writes all of p or returns the error that stopped it.
func (fd *netFD) Write(p []byte) (int, error) {
	if err := fd.writeLock(); err != nil {
		return 0, err
	}
	defer fd.writeUnlock()
	if err := fd.pd.Prepare(pollrt.Write); err != nil {
		return 0, mapPollErr(err)
	}
	op := &fd.wop
	op.fd, op.p = fd.sysfd, p
	err := fd.pd.Do(pollrt.Write, op)
	nn, werr := op.nn, op.err
	*op = writeOp{}
	if err != nil {
		return nn, mapPollErr(err)
	}
	return nn, werr
}

// writeOp is Write's sends for pollrt's Do, kept in the netFD like readOp.
type writeOp struct {
	fd  int
	p   []byte
	nn  int // written so far
	err error
}

// Try sends until all of p is written (true), an error ends it (true,
// err set) or the socket buffer is full (false).
func (op *writeOp) Try() bool {
	for {
		end := len(op.p)
		if end-op.nn > maxRW {
			end = op.nn + maxRW
		}
		n, err := send(op.fd, op.p[op.nn:end])
		if n > 0 {
			op.nn += n
		}
		if op.nn == len(op.p) {
			return true
		}
		switch err {
		case nil:
			if n == 0 {
				op.err = io.ErrUnexpectedEOF
				return true
			}
		case unix.EINTR:
		case unix.EAGAIN:
			return false
		default:
			op.err = os.NewSyscallError("write", err)
			return true
		}
	}
}

// acceptOp is one accept4(2) for pollrt's Do; the Listener keeps it, so
// passing it allocates nothing.
type acceptOp struct {
	fd  int
	s   int
	rsa unix.RawSockaddrAny // the peer's address (see rawToAddr)
	err error
}

// Try accepts once; false means EAGAIN.
func (op *acceptOp) Try() bool {
	for {
		l := uint32(unix.SizeofSockaddrAny)
		s, _, e := unix.Syscall6(unix.SYS_ACCEPT4, uintptr(op.fd), uintptr(unsafe.Pointer(&op.rsa)),
			uintptr(unsafe.Pointer(&l)), unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, 0)
		switch e {
		case unix.EINTR, unix.ECONNABORTED:
			// ECONNABORTED: the peer left before we took the connection.
			continue
		case unix.EAGAIN:
			return false
		case 0:
			op.s, op.err = int(s), nil
		default:
			op.s, op.err = -1, e
		}
		return true
	}
}

// accept returns the next connection's fd (non-blocking, close-on-exec) and
// its peer address, using op, which the read lock serialises.
func (fd *netFD) accept(op *acceptOp) (int, net.Addr, error) {
	if err := fd.readLock(); err != nil {
		return -1, nil, err
	}
	defer fd.readUnlock()
	if err := fd.pd.Prepare(pollrt.Read); err != nil {
		return -1, nil, mapPollErr(err)
	}
	op.fd = fd.sysfd
	err := fd.pd.Do(pollrt.Read, op)
	s, aerr := op.s, op.err
	switch {
	case err != nil:
		return -1, nil, mapPollErr(err)
	case aerr != nil:
		return -1, nil, os.NewSyscallError("accept4", aerr)
	}
	return s, rawToAddr(&op.rsa), nil
}

// connect connects the socket to ra and registers it with pollrt, waiting
// for writability within ctx: its deadline bounds the wait and its
// cancellation interrupts it. Registration follows the connect call, as in
// package net: an unconnected socket would report a hangup at once.
func (fd *netFD) connect(ctx context.Context, ra unix.Sockaddr) (ret error) {
	switch err := unix.Connect(fd.sysfd, ra); err {
	case unix.EINPROGRESS, unix.EALREADY, unix.EINTR:
	case nil, unix.EISCONN:
		if ctx.Err() != nil {
			return mapCtxErr(ctx.Err())
		}
		return fd.init()
	default:
		return os.NewSyscallError("connect", err)
	}
	if err := fd.init(); err != nil {
		return err
	}
	if ctx.Done() != nil {
		if deadline, ok := ctx.Deadline(); ok {
			fd.pd.SetDeadline(deadline, pollrt.Write)
			defer fd.pd.SetDeadline(time.Time{}, pollrt.Write)
		}
		stop := context.AfterFunc(ctx, func() {
			// Make the wait below give up now. This may run after the dial
			// failed and the fd was closed: the reference keeps a recycled
			// poll descriptor, now another conn's, out of reach.
			if fd.incref() == nil {
				fd.pd.SetDeadline(aLongTimeAgo, pollrt.Write)
				fd.decref()
			}
		})
		defer func() {
			if !stop() && ret == nil {
				// Cancelled just as the connect finished: the write side
				// is poisoned by the past deadline, so fail the dial.
				ret = mapCtxErr(ctx.Err())
			}
		}()
	}
	for {
		// Several connect calls on a non-blocking socket need not report
		// errors; SO_ERROR does, once the socket is writable.
		if err := fd.pd.Wait(pollrt.Write); err != nil {
			if ctx.Err() != nil {
				return mapCtxErr(ctx.Err())
			}
			return mapPollErr(err)
		}
		nerr, err := unix.GetsockoptInt(fd.sysfd, unix.SOL_SOCKET, unix.SO_ERROR)
		if err != nil {
			return os.NewSyscallError("getsockopt", err)
		}
		switch err := unix.Errno(nerr); err {
		case unix.EINPROGRESS, unix.EALREADY, unix.EINTR:
		case unix.EISCONN:
			return nil
		case 0:
			// Wakeups can be spurious: make sure we are connected.
			if _, err := sockname(fd.sysfd, true); err == nil {
				return nil
			}
		default:
			return os.NewSyscallError("connect", err)
		}
	}
}

// send is write(2) as send(2) with MSG_NOSIGNAL: a write to a reset peer
// returns EPIPE without raising SIGPIPE, whether or not the program listens
// for that signal.
func send(fd int, p []byte) (int, error) {
	var ptr unsafe.Pointer
	if len(p) > 0 {
		ptr = unsafe.Pointer(&p[0])
	}
	n, _, errno := unix.Syscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(ptr), uintptr(len(p)), unix.MSG_NOSIGNAL, 0, 0)
	if errno != 0 {
		return -1, errno
	}
	return int(n), nil
}

// aLongTimeAgo is a deadline in the past that is not the zero time.
var aLongTimeAgo = time.Unix(1, 0)

func (fd *netFD) shutdown(how int) error {
	if err := fd.incref(); err != nil {
		return err
	}
	defer fd.decref()
	return wrapSyscall("shutdown", unix.Shutdown(fd.sysfd, how))
}

func (fd *netFD) setsockoptInt(level, opt, value int) error {
	if err := fd.incref(); err != nil {
		return err
	}
	defer fd.decref()
	return wrapSyscall("setsockopt", unix.SetsockoptInt(fd.sysfd, level, opt, value))
}

// dup returns a blocking-safe duplicate of the fd as an *os.File.
func (fd *netFD) dup() (*os.File, error) {
	if err := fd.incref(); err != nil {
		return nil, err
	}
	defer fd.decref()
	ns, err := unix.FcntlInt(uintptr(fd.sysfd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("fcntl", err)
	}
	return os.NewFile(uintptr(ns), fd.name()), nil
}

// name is the *os.File name package net gives a socket: "tcp:laddr->raddr".
func (fd *netFD) name() string {
	var ls, rs string
	if fd.laddr != nil {
		ls = fd.laddr.String()
	}
	if fd.raddr != nil {
		rs = fd.raddr.String()
	}
	return fd.net + ":" + ls + "->" + rs
}

func wrapSyscall(name string, err error) error {
	if err == nil {
		return nil
	}
	if errno, ok := err.(unix.Errno); ok {
		return os.NewSyscallError(name, errno)
	}
	return err
}
