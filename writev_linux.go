//go:build linux && !pollnet_stdnet

package pollnet

import (
	"net"
	"os"
	"syscall"
	"unsafe"

	"github.com/pollnet/pollnet/pollrt"
	"golang.org/x/sys/unix"
)

// maxVec caps the buffers of one sendmsg(2), as package net's writev does
// (the kernel's IOV_MAX is 1024).
const maxVec = 1024

// WriteBuffers writes the contents of v with vectored writes (sendmsg(2),
// up to 1024 buffers a call), as net.Buffers.WriteTo does for package net's
// own conns. Like WriteTo, it consumes v: on return v holds what was not
// written. It returns the bytes written and the error that stopped it, a
// *net.OpError.
//
// net.Buffers.WriteTo cannot see this method (it looks for an unexported
// one), so on a *Conn it makes one Write per buffer. Code that batches
// small writes can test for interface{ WriteBuffers(*net.Buffers) (int64,
// error) } and call this instead.
func (c *Conn) WriteBuffers(v *net.Buffers) (int64, error) {
	if !c.ok() {
		return 0, syscall.EINVAL
	}
	n, err := c.fd.writeBuffers(v)
	if err != nil {
		err = c.opError("writev", err)
	}
	return n, err
}

// writevOp is writeBuffers' sends for pollrt's Do: it sends until v is
// empty (true), an error stops it (true, err set) or the send buffer is
// full (false). The netFD keeps one, made on the first WriteBuffers and
// used under the write lock, so that its iovecs are reused and a vectored
// write allocates nothing after the first, as package net's writev.
type writevOp struct {
	fd  int
	v   net.Buffers  // what is left to send; a copy, so the caller's v does not escape
	iov []unix.Iovec // the non-empty buffers of one sendmsg
	n   int64
	err error
}

func (op *writevOp) Try() bool {
	for {
		// As internal/poll's Writev: empty buffers are skipped, and v is
		// left alone once only empty ones remain.
		op.iov = op.iov[:0]
		for _, b := range op.v {
			if len(b) > 0 {
				var iv unix.Iovec
				iv.Base = &b[0]
				iv.SetLen(len(b))
				op.iov = append(op.iov, iv)
				if len(op.iov) == maxVec {
					break
				}
			}
		}
		if len(op.iov) == 0 {
			return true
		}
		var msg unix.Msghdr
		msg.Iov = &op.iov[0]
		msg.SetIovlen(len(op.iov))
		r, _, errno := unix.Syscall(unix.SYS_SENDMSG, uintptr(op.fd), uintptr(unsafe.Pointer(&msg)), unix.MSG_NOSIGNAL)
		clear(op.iov) // hold no caller buffer past the call
		n := int(r)
		if errno != 0 {
			n = 0
		}
		if n > 0 {
			op.n += int64(n)
			consume(&op.v, int64(n))
		}
		switch errno {
		case 0:
			if n == 0 {
				op.err = os.NewSyscallError("sendmsg", unix.EIO)
				return true
			}
		case unix.EINTR:
		case unix.EAGAIN:
			return false
		default:
			op.err = os.NewSyscallError("sendmsg", errno)
			return true
		}
	}
}

func (fd *netFD) writeBuffers(v *net.Buffers) (int64, error) {
	if err := fd.writeLock(); err != nil {
		return 0, err
	}
	defer fd.writeUnlock()
	if err := fd.pd.Prepare(pollrt.Write); err != nil {
		return 0, mapPollErr(err)
	}
	if fd.vop == nil {
		fd.vop = new(writevOp)
	}
	op := fd.vop
	op.fd, op.v, op.n, op.err = fd.sysfd, *v, 0, nil
	err := fd.pd.Do(pollrt.Write, op)
	*v = op.v
	n, werr := op.n, op.err
	op.v, op.err = nil, nil
	if err != nil {
		return n, mapPollErr(err)
	}
	return n, werr
}

// consume drops n written bytes from the front of v, and any empty buffers
// there, as net.Buffers' own consume.
func consume(v *net.Buffers, n int64) {
	for len(*v) > 0 {
		ln0 := int64(len((*v)[0]))
		if ln0 > n {
			(*v)[0] = (*v)[0][n:]
			return
		}
		n -= ln0
		(*v)[0] = nil
		*v = (*v)[1:]
	}
}
