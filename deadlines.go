//go:build linux && !pollnet_stdnet

package pollnet

import (
	"context"
	"errors"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/pollnet/pollnet/pollrt"
)

// errNotPollable is what a wait reports for a descriptor the poller cannot
// watch, as internal/poll's ErrNotPollable.
var errNotPollable = errors.New("not pollable")

// mapPollErr turns pollrt's errors into the ones package net returns.
func mapPollErr(err error) error {
	switch err {
	case pollrt.ErrClosing:
		return net.ErrClosed
	case pollrt.ErrTimeout:
		return os.ErrDeadlineExceeded
	case pollrt.ErrNotPollable:
		return errNotPollable
	}
	return err
}

// mapCtxErr is package net's mapErr: a dial ended by its context reports
// "operation was canceled" or "i/o timeout", matching context.Canceled or
// context.DeadlineExceeded under errors.Is.
func mapCtxErr(err error) error {
	switch err {
	case context.Canceled:
		return errCanceled
	case context.DeadlineExceeded:
		return errTimeout
	}
	return err
}

type canceledError struct{}

func (canceledError) Error() string        { return "operation was canceled" }
func (canceledError) Is(target error) bool { return target == context.Canceled }

var errCanceled error = canceledError{}

type timeoutError struct{}

func (timeoutError) Error() string        { return "i/o timeout" }
func (timeoutError) Timeout() bool        { return true }
func (timeoutError) Temporary() bool      { return true }
func (timeoutError) Is(target error) bool { return target == context.DeadlineExceeded }

var errTimeout error = timeoutError{}

// setDeadline sets fd's deadline for mode; the fd must be open.
func (fd *netFD) setDeadline(t time.Time, mode pollrt.Mode) error {
	if err := fd.incref(); err != nil {
		return err
	}
	fd.pd.SetDeadline(t, mode)
	fd.decref()
	return nil
}

// SetDeadline sets the read and write deadlines, as net.Conn's: a zero t
// clears them; once a deadline passes, blocked and later calls fail with an
// error wrapping os.ErrDeadlineExceeded until it is moved.
func (c *Conn) SetDeadline(t time.Time) error { return c.setDeadline(t, pollrt.ReadWrite) }

// SetReadDeadline sets the deadline of Read calls, as net.Conn's.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.setDeadline(t, pollrt.Read) }

// SetWriteDeadline sets the deadline of Write calls, as net.Conn's. A Write
// that times out may have written part of its buffer.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.setDeadline(t, pollrt.Write) }

func (c *Conn) setDeadline(t time.Time, mode pollrt.Mode) error {
	return c.setError(c.fd.setDeadline(t, mode))
}

// SetDeadline sets the deadline of Accept calls; a zero t clears it. As in
// package net, its error (net.ErrClosed) is not wrapped in a *net.OpError.
func (l *Listener) SetDeadline(t time.Time) error {
	if l == nil || l.fd == nil {
		return syscall.EINVAL
	}
	return l.fd.setDeadline(t, pollrt.Read)
}
