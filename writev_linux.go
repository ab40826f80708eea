//go:build linux && !pollnet_stdnet

package pollnet

import (
	"net"
	"os"
	"syscall"

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
// full (false).
type writevOp struct {
	fd   int
	v    *net.Buffers
	bufs [][]byte // the non-empty buffers of one sendmsg
	n    int64
	err  error
}

func (op *writevOp) Try() bool {
	for {
		// As internal/poll's Writev: empty buffers are skipped, and v is
		// left alone once only empty ones remain.
		op.bufs = op.bufs[:0]
		for _, b := range *op.v {
			if len(b) > 0 {
				op.bufs = append(op.bufs, b)
				if len(op.bufs) == maxVec {
					break
				}
			}
		}
		if len(op.bufs) == 0 {
			return true
		}
		n, err := unix.SendmsgBuffers(op.fd, op.bufs, nil, nil, unix.MSG_NOSIGNAL)
		if n > 0 {
			op.n += int64(n)
			consume(op.v, int64(n))
		}
		switch err {
		case nil:
			if n == 0 {
				op.err = os.NewSyscallError("sendmsg", unix.EIO)
				return true
			}
		case unix.EINTR:
		case unix.EAGAIN:
			return false
		default:
			op.err = os.NewSyscallError("sendmsg", err)
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
	op := &writevOp{fd: fd.sysfd, v: v}
	err := fd.pd.Do(pollrt.Write, op)
	if err != nil {
		return op.n, mapPollErr(err)
	}
	return op.n, op.err
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
