//go:build !unix && !windows

package pollnet

import (
	"errors"
	"syscall"
)

// Systems with neither unix sockets' peek nor Windows' zero-byte reads
// (js, wasip1, plan9): the readiness waits are not available.

var errNotTCP = errors.ErrUnsupported

func waitReadable(syscall.RawConn) error { return errors.ErrUnsupported }
func waitWritable(syscall.RawConn) error { return errors.ErrUnsupported }
func peerHungUp(uintptr) bool            { return false }
func watchHangup(*Conn)                  {}
