//go:build linux && !pollnet_stdnet

package pollnet

import (
	"io"
	"net"
	"os"
	"syscall"

	"github.com/pollnet/pollnet/pollrt"
	"golang.org/x/sys/unix"
)

// Messages with ancillary data on Unix conns (file descriptors with
// SCM_RIGHTS), and vectored writes.

// ReadMsgUnix is (*net.UnixConn).ReadMsgUnix: it reads one message into b
// and its ancillary data into oob, returning the bytes copied into each,
// the message's flags and the sender's address (nil on a connected
// socket). Received file descriptors are close-on-exec, as with net. It
// honours the read deadline; every error, io.EOF included, is a
// *net.OpError, as with net. On a TCP conn it fails with syscall.EINVAL.
func (c *Conn) ReadMsgUnix(b, oob []byte) (n, oobn, flags int, addr *net.UnixAddr, err error) {
	if !c.ok() {
		return 0, 0, 0, nil, syscall.EINVAL
	}
	if c.fd.family != unix.AF_UNIX {
		return 0, 0, 0, nil, c.opError("read", syscall.EINVAL)
	}
	n, oobn, flags, addr, err = c.fd.readMsg(b, oob)
	if err != nil {
		err = c.opError("read", err)
	}
	return
}

// WriteMsgUnix is (*net.UnixConn).WriteMsgUnix: one sendmsg(2) of b with
// oob as ancillary data (unix.UnixRights builds SCM_RIGHTS), to addr (nil on
// a connected socket). It returns the bytes of b and of oob sent, waits for
// room in the send buffer and honours the write deadline. On a TCP conn it
// fails with syscall.EINVAL.
func (c *Conn) WriteMsgUnix(b, oob []byte, addr *net.UnixAddr) (n, oobn int, err error) {
	if !c.ok() {
		return 0, 0, syscall.EINVAL
	}
	if c.fd.family != unix.AF_UNIX {
		return 0, 0, &net.OpError{Op: "write", Net: c.fd.net, Source: c.fd.laddr, Addr: unixOpAddr(addr), Err: syscall.EINVAL}
	}
	var sa unix.Sockaddr
	if addr != nil {
		if addr.Net != "unix" {
			return 0, 0, &net.OpError{Op: "write", Net: c.fd.net, Source: c.fd.laddr, Addr: addr, Err: syscall.EAFNOSUPPORT}
		}
		sa = &unix.SockaddrUnix{Name: addr.Name}
	}
	n, oobn, err = c.fd.writeMsg(b, oob, sa)
	if err != nil {
		err = &net.OpError{Op: "write", Net: c.fd.net, Source: c.fd.laddr, Addr: unixOpAddr(addr), Err: err}
	}
	return
}

// readMsgOp is one recvmsg(2) for pollrt's Do.
type readMsgOp struct {
	fd      int
	p, oob  []byte
	n, oobn int
	flags   int
	from    unix.Sockaddr
	err     error
}

func (op *readMsgOp) Try() bool {
	for {
		n, oobn, flags, from, err := unix.Recvmsg(op.fd, op.p, op.oob, unix.MSG_CMSG_CLOEXEC)
		switch err {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		}
		op.n, op.oobn, op.flags, op.from, op.err = n, oobn, flags, from, err
		return true
	}
}

func (fd *netFD) readMsg(p, oob []byte) (n, oobn, flags int, addr *net.UnixAddr, err error) {
	if err := fd.readLock(); err != nil {
		return 0, 0, 0, nil, err
	}
	defer fd.readUnlock()
	if err := fd.pd.Prepare(pollrt.Read); err != nil {
		return 0, 0, 0, nil, mapPollErr(err)
	}
	op := &readMsgOp{fd: fd.sysfd, p: p, oob: oob}
	if err := fd.pd.Do(pollrt.Read, op); err != nil {
		return 0, 0, 0, nil, mapPollErr(err)
	}
	if sa, ok := op.from.(*unix.SockaddrUnix); ok && sa.Name != "" {
		addr = &net.UnixAddr{Name: sa.Name, Net: "unix"}
	}
	switch {
	case op.err != nil:
		return 0, 0, 0, nil, os.NewSyscallError("recvmsg", op.err)
	case op.n == 0:
		// As internal/poll: a zero read on a stream socket is EOF, even
		// for an empty b.
		return 0, op.oobn, op.flags, addr, io.EOF
	}
	return op.n, op.oobn, op.flags, addr, nil
}

// writeMsgOp is one sendmsg(2) for pollrt's Do.
type writeMsgOp struct {
	fd     int
	p, oob []byte
	to     unix.Sockaddr
	n      int
	err    error
}

func (op *writeMsgOp) Try() bool {
	for {
		n, err := unix.SendmsgN(op.fd, op.p, op.oob, op.to, unix.MSG_NOSIGNAL)
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

func (fd *netFD) writeMsg(p, oob []byte, to unix.Sockaddr) (n, oobn int, err error) {
	if err := fd.writeLock(); err != nil {
		return 0, 0, err
	}
	defer fd.writeUnlock()
	if err := fd.pd.Prepare(pollrt.Write); err != nil {
		return 0, 0, mapPollErr(err)
	}
	op := &writeMsgOp{fd: fd.sysfd, p: p, oob: oob, to: to}
	if err := fd.pd.Do(pollrt.Write, op); err != nil {
		return 0, 0, mapPollErr(err)
	}
	if op.err != nil {
		return op.n, 0, os.NewSyscallError("sendmsg", op.err)
	}
	return op.n, len(oob), nil
}
