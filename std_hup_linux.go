//go:build linux && pollnet_stdnet

package pollnet

import "golang.org/x/sys/unix"

// peerHungUp reports whether the peer has closed or shut down its writing
// side, or the connection failed, even with unread data before that:
// poll(2) with POLLRDHUP.
func peerHungUp(fd uintptr) bool {
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN | unix.POLLRDHUP}}
	for {
		n, err := unix.Poll(pfd, 0)
		if err == unix.EINTR {
			continue
		}
		return n > 0 && pfd[0].Revents&(unix.POLLRDHUP|unix.POLLHUP|unix.POLLERR) != 0
	}
}
