//go:build unix && (!linux || pollnet_stdnet)

package pollnet

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// Readiness without pollrt on unix systems: the Go runtime's poller waits
// (through SyscallConn) and a non-consuming check decides.

// errNotTCP is what a TCP option on a Unix socket fails with, as the
// setsockopt call does on Linux.
var errNotTCP error = os.NewSyscallError("setsockopt", syscall.EOPNOTSUPP)

// waitReadable waits, under net's read lock, until a recv with MSG_PEEK
// of one byte would not block: data, EOF or an error is pending.
func waitReadable(rc syscall.RawConn) error {
	return rc.Read(func(fd uintptr) bool {
		var b [1]byte
		for {
			_, _, err := unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK)
			if err == unix.EINTR {
				continue
			}
			return err != unix.EAGAIN
		}
	})
}

// waitWritable waits, under net's write lock, until poll(2) reports the
// socket writable (or failed).
func waitWritable(rc syscall.RawConn) error {
	return rc.Write(func(fd uintptr) bool {
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
		for {
			n, err := unix.Poll(pfd, 0)
			if err == unix.EINTR {
				continue
			}
			return n > 0 || err != nil
		}
	})
}

// watchHangup waits for the peer's hangup on a duplicate of the conn's
// descriptor, registered with the runtime's poller on its own, so that it
// holds none of the conn's locks; Close ends it by closing the duplicate.
func watchHangup(c *Conn) {
	rc, err := c.SyscallConn()
	if err != nil {
		return
	}
	dup, derr := -1, error(nil)
	if err := rc.Control(func(fd uintptr) {
		// Under ForkLock, as package os does where there is no
		// F_DUPFD_CLOEXEC everywhere: no child inherits the duplicate.
		syscall.ForkLock.RLock()
		defer syscall.ForkLock.RUnlock()
		if dup, derr = unix.Dup(int(fd)); derr == nil {
			unix.CloseOnExec(dup)
		}
	}); err != nil || derr != nil {
		return // closed, or out of descriptors: Read and Close still end Done
	}
	f := os.NewFile(uintptr(dup), "pollnet-hangup") // non-blocking: pollable
	if !c.hup.setWatch(f) {
		return
	}
	frc, err := f.SyscallConn()
	if err != nil {
		return
	}
	if frc.Read(func(fd uintptr) bool { return peerHungUp(fd) }) == nil {
		c.hup.set()
	}
}
