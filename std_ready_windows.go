//go:build windows

package pollnet

import (
	"os"
	"syscall"
)

// Readiness without pollrt on Windows, where sockets complete I/O through
// completion ports and there is no non-blocking peek to ask with.

var errNotTCP error = os.NewSyscallError("setsockopt", syscall.EOPNOTSUPP)

// waitReadable waits with the zero-byte read package net's RawConn.Read
// makes between calls of its function: it completes when data, EOF or an
// error is pending, and consumes nothing. The read deadline applies.
func waitReadable(rc syscall.RawConn) error {
	first := true
	return rc.Read(func(uintptr) bool {
		if first {
			first = false
			return false
		}
		return true
	})
}

// waitWritable cannot wait: Windows has no way to ask whether a send would
// block, and package net's sends never report that they would. It returns
// at once unless the conn is closed.
func waitWritable(rc syscall.RawConn) error {
	return rc.Write(func(uintptr) bool { return true })
}

// peerHungUp cannot tell without reading on Windows: PeerClosed and Done
// see a hangup once a Read has returned io.EOF or a connection error.
func peerHungUp(uintptr) bool { return false }

func watchHangup(*Conn) {}
