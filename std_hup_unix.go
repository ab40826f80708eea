//go:build unix && !linux

package pollnet

import "golang.org/x/sys/unix"

// peerHungUp reports whether a one-byte recv with MSG_PEEK sees EOF or a
// connection error. Without Linux's POLLRDHUP a hangup behind unread data
// is not visible: it shows once that data has been read.
func peerHungUp(fd uintptr) bool {
	var b [1]byte
	for {
		n, _, err := unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK)
		switch err {
		case unix.EINTR:
			continue
		case nil:
			return n == 0
		case unix.EAGAIN:
			return false
		}
		return true
	}
}
