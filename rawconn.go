//go:build linux && !pollnet_stdnet

package pollnet

import (
	"net"

	"github.com/pollnet/pollnet/pollrt"
)

// rawConn is the syscall.RawConn of a Conn or Listener.
type rawConn struct{ fd *netFD }

func (c *rawConn) Control(f func(fd uintptr)) error {
	if err := c.fd.incref(); err != nil {
		return &net.OpError{Op: "raw-control", Net: c.fd.net, Source: nil, Addr: c.fd.laddr, Err: err}
	}
	defer c.fd.decref()
	f(uintptr(c.fd.sysfd))
	return nil
}

func (c *rawConn) Read(f func(fd uintptr) (done bool)) error {
	if err := c.wait(f, pollrt.Read); err != nil {
		return &net.OpError{Op: "raw-read", Net: c.fd.net, Source: c.fd.laddr, Addr: c.fd.raddr, Err: err}
	}
	return nil
}

func (c *rawConn) Write(f func(fd uintptr) (done bool)) error {
	if err := c.wait(f, pollrt.Write); err != nil {
		return &net.OpError{Op: "raw-write", Net: c.fd.net, Source: c.fd.laddr, Addr: c.fd.raddr, Err: err}
	}
	return nil
}

// wait calls f until it reports done, waiting for readiness in mode between
// calls, under the direction's lock.
func (c *rawConn) wait(f func(uintptr) bool, mode pollrt.Mode) error {
	// Wait, not Do: f is the caller's, and an Attempt runs inside the
	// wait, where a panic or a block would stall the epoll set.
	if err := c.fd.lock(mode); err != nil {
		return err
	}
	defer c.fd.unlock(mode)
	if c.fd.pd == nil {
		return errNotPollable
	}
	if err := c.fd.pd.Prepare(mode); err != nil {
		return mapPollErr(err)
	}
	for !f(uintptr(c.fd.sysfd)) {
		if err := c.fd.pd.Wait(mode); err != nil {
			return mapPollErr(err)
		}
	}
	return nil
}
