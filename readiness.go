//go:build linux && !pollnet_stdnet

package pollnet

import (
	"context"
	"syscall"

	"github.com/pollnet/pollnet/pollrt"
	"golang.org/x/sys/unix"
)

// Beyond package net: waiting for readiness without reading or writing, and
// noticing a peer that went away (golang/go#15735, #27315).

// closedChan is what Done returns for a closed conn.
var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// WaitRead blocks until a Read would not block: data, EOF or an error is
// pending. It consumes nothing. It returns an error wrapping
// os.ErrDeadlineExceeded when the read deadline passes, ctx's error when ctx
// is done, and one wrapping net.ErrClosed when the conn is closed. A server
// can park idle keep-alive conns with WaitRead and allocate a read buffer
// only once a request arrives. Concurrent Reads wait for it to return.
func (c *Conn) WaitRead(ctx context.Context) error {
	return c.wait(ctx, pollrt.Read)
}

// WaitWrite blocks until a Write would not block: there is room in the
// send buffer, or the conn has failed. Its errors are those of WaitRead,
// with the write deadline.
func (c *Conn) WaitWrite(ctx context.Context) error {
	return c.wait(ctx, pollrt.Write)
}

func (c *Conn) wait(ctx context.Context, mode pollrt.Mode) error {
	if !c.ok() {
		return syscall.EINVAL
	}
	op := "wait-read"
	if mode == pollrt.Write {
		op = "wait-write"
	}
	if err := c.fd.waitReady(ctx, mode); err != nil {
		if err == ctx.Err() {
			return err
		}
		return c.opError(op, err)
	}
	return nil
}

// waitReady waits until an I/O call in mode would not block.
func (fd *netFD) waitReady(ctx context.Context, mode pollrt.Mode) error {
	if err := fd.lock(mode); err != nil {
		return err
	}
	defer fd.unlock(mode)
	if err := ctx.Err(); err != nil {
		return err
	}
	if ctx.Done() != nil {
		fired := make(chan struct{})
		stop := context.AfterFunc(ctx, func() {
			fd.pd.Interrupt(mode)
			close(fired)
		})
		defer func() {
			if !stop() {
				// The interrupt may land after we return: let it, then
				// clear it so it cannot end a later WaitOnce.
				<-fired
				fd.pd.ClearInterrupt(mode)
			}
		}()
	}
	if err := fd.pd.Prepare(mode); err != nil {
		return mapPollErr(err)
	}
	for !fd.ready(mode) {
		if err := fd.pd.WaitOnce(mode); err != nil {
			return mapPollErr(err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return nil
}

// ready reports whether a read (peeking one byte) or a write (poll for
// POLLOUT) would not block.
func (fd *netFD) ready(mode pollrt.Mode) bool {
	if mode == pollrt.Read {
		var b [1]byte
		for {
			_, _, err := unix.Recvfrom(fd.sysfd, b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
			if err == unix.EINTR {
				continue
			}
			return err != unix.EAGAIN // data, EOF (n == 0) or a pending error
		}
	}
	pfd := []unix.PollFd{{Fd: int32(fd.sysfd), Events: unix.POLLOUT}}
	n, _ := unix.Poll(pfd, 0)
	return n > 0
}

// PeerClosed reports whether the peer has hung up (closed, or shut down its
// writing side), without reading and without a syscall. Data the peer sent
// before hanging up is still readable. A connection pool can use it to drop
// dead conns before reusing them. It reports true for a closed conn.
func (c *Conn) PeerClosed() bool {
	if !c.ok() || c.fd.incref() != nil {
		return true
	}
	defer c.fd.decref()
	return c.fd.pd.PeerClosed()
}

// Done returns a channel that is closed when the peer hangs up or the conn
// is closed, so a handler can stop working for a client that went away.
func (c *Conn) Done() <-chan struct{} {
	if !c.ok() || c.fd.incref() != nil {
		return closedChan
	}
	defer c.fd.decref()
	return c.fd.pd.Done()
}
