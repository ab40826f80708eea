//go:build linux && !pollnet_stdnet

package pollnet

import (
	"strconv"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// mptcpSupport is what package net probes once: whether the kernel makes
// MPTCP sockets, and whether it has SOL_MPTCP (5.16 and later), which tells
// a conn that fell back to TCP from one still on MPTCP.
var mptcpSupport = sync.OnceValues(func() (available, hasSOLMPTCP bool) {
	s, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, unix.IPPROTO_MPTCP)
	switch err {
	case unix.EPROTONOSUPPORT, unix.EINVAL: // no MPTCP: >= 5.6, < 5.6
		return false, false
	case nil:
		unix.Close(s)
	}
	// Another error: MPTCP may work later (as package net assumes).
	return true, kernelAtLeast(5, 16)
})

func mptcpSupported() bool { a, _ := mptcpSupport(); return a }

func kernelAtLeast(major, minor int) bool {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return false
	}
	rel := unix.ByteSliceToString(u.Release[:])
	parts := strings.SplitN(rel, ".", 3)
	if len(parts) < 2 {
		return false
	}
	ma, _ := strconv.Atoi(parts[0])
	mi, _ := strconv.Atoi(strings.TrimRightFunc(parts[1], func(r rune) bool { return r < '0' || r > '9' }))
	return ma > major || ma == major && mi >= minor
}

// MultipathTCP reports whether the conn uses Multipath TCP, as
// (*net.TCPConn).MultipathTCP: false for a plain TCP conn, a Unix conn, or
// an MPTCP conn that fell back to TCP (when the kernel can tell, 5.16 on).
func (c *Conn) MultipathTCP() (bool, error) {
	if !c.ok() {
		return false, syscall.EINVAL
	}
	available, hasSOL := mptcpSupport()
	if !available || c.fd.family == unix.AF_UNIX {
		return false, nil
	}
	if err := c.fd.incref(); err != nil {
		return false, nil
	}
	defer c.fd.decref()
	if hasSOL {
		// MPTCP_INFO fails with EOPNOTSUPP (IPv4) or ENOPROTOOPT (IPv6)
		// once the conn has fallen back to TCP.
		_, err := unix.GetsockoptInt(c.fd.sysfd, unix.SOL_MPTCP, mptcpInfo)
		return err != unix.EOPNOTSUPP && err != unix.ENOPROTOOPT, nil
	}
	proto, _ := unix.GetsockoptInt(c.fd.sysfd, unix.SOL_SOCKET, unix.SO_PROTOCOL)
	return proto == unix.IPPROTO_MPTCP, nil
}

// mptcpInfo is MPTCP_INFO, which golang.org/x/sys/unix does not name.
const mptcpInfo = 1
