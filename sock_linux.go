//go:build !pollnet_stdnet

package pollnet

import (
	"context"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Socket creation, listening, dialing and file conversion for the networks
// pollnet serves; any other network goes to package net unchanged.

func ours(network string) bool {
	switch network {
	case "tcp", "tcp4", "tcp6", "unix":
		return true
	}
	return false
}

// socket makes a non-blocking, close-on-exec stream socket.
// proto is 0, or IPPROTO_MPTCP.
func socket(family int, v6only bool, proto int) (int, error) {
	s, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, proto)
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
	}
	if family == unix.AF_INET6 {
		if err := unix.SetsockoptInt(s, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, boolint(v6only)); err != nil {
			unix.Close(s)
			return -1, os.NewSyscallError("setsockopt", err)
		}
	}
	return s, nil
}

// ctrlNetwork is the network name Control functions see.
func (fd *netFD) ctrlNetwork() string {
	switch {
	case fd.net == "unix", strings.HasSuffix(fd.net, "4"), strings.HasSuffix(fd.net, "6"):
		return fd.net
	case fd.family == unix.AF_INET:
		return fd.net + "4"
	}
	return fd.net + "6"
}

var listenBacklog = sync.OnceValue(func() int {
	b, err := os.ReadFile("/proc/sys/net/core/somaxconn")
	if err != nil {
		return unix.SOMAXCONN
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || n <= 0 {
		return unix.SOMAXCONN
	}
	return min(n, 1<<16-1) // the kernel keeps the backlog in 16 bits
})

func (lc *ListenConfig) listen(ctx context.Context, network, address string) (net.Listener, error) {
	if !ours(network) {
		return lc.netListenConfig().Listen(ctx, network, address)
	}
	var la net.Addr
	var l *Listener
	var err error
	if network == "unix" {
		ua, rerr := net.ResolveUnixAddr(network, address)
		if rerr != nil {
			return nil, &net.OpError{Op: "listen", Net: network, Err: rerr}
		}
		la = ua
		l, err = lc.listenUnixAddr(ctx, network, ua, address)
	} else {
		addrs, rerr := lc.resolveListen(ctx, network, address)
		if rerr != nil {
			return nil, &net.OpError{Op: "listen", Net: network, Err: rerr}
		}
		ta := firstIPv4(addrs)
		la = ta
		l, err = lc.listenTCPAddr(ctx, network, ta)
	}
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Addr: la, Err: err}
	}
	return l, nil
}

// listenTCPAddr listens on ta; its error is the cause, not yet wrapped in
// a *net.OpError.
func (lc *ListenConfig) listenTCPAddr(ctx context.Context, network string, ta *net.TCPAddr) (*Listener, error) {
	family, v6only := tcpFamily(network, ta, nil, true)
	sa, err := tcpSockaddr(family, ta)
	if err != nil {
		return nil, err
	}
	var fd *netFD
	if lc.MultipathTCP() && mptcpSupported() {
		// As package net: any MPTCP failure retries with plain TCP.
		fd, err = lc.bindListen(ctx, network, family, v6only, unix.IPPROTO_MPTCP, sa, ta.String())
	}
	if fd == nil {
		fd, err = lc.bindListen(ctx, network, family, v6only, 0, sa, ta.String())
	}
	if err != nil {
		return nil, err
	}
	return &Listener{fd: fd, keepAlive: lc.KeepAlive, kaConfig: lc.KeepAliveConfig}, nil
}

// listenUnixAddr listens on ua (ctrlAddr is what Control sees); a listener
// made here removes its socket file on Close, as package net's.
func (lc *ListenConfig) listenUnixAddr(ctx context.Context, network string, ua *net.UnixAddr, ctrlAddr string) (*Listener, error) {
	fd, err := lc.bindListen(ctx, network, unix.AF_UNIX, false, 0, &unix.SockaddrUnix{Name: ua.Name}, ctrlAddr)
	if err != nil {
		return nil, err
	}
	return &Listener{fd: fd, unlink: true}, nil
}

// bindListen creates, binds and registers a listening socket.
func (lc *ListenConfig) bindListen(ctx context.Context, network string, family int, v6only bool, proto int, sa unix.Sockaddr, ctrlAddr string) (*netFD, error) {
	s, err := socket(family, v6only, proto)
	if err != nil {
		return nil, err
	}
	fd := newFD(s, family, network)
	if family != unix.AF_UNIX {
		if err := unix.SetsockoptInt(s, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
			fd.Close()
			return nil, os.NewSyscallError("setsockopt", err)
		}
	}
	if lc.Control != nil {
		if err := lc.Control(fd.ctrlNetwork(), ctrlAddr, &rawConn{fd: fd}); err != nil {
			fd.Close()
			return nil, err
		}
	}
	if err := unix.Bind(s, sa); err != nil {
		fd.Close()
		return nil, os.NewSyscallError("bind", err)
	}
	if err := unix.Listen(s, listenBacklog()); err != nil {
		fd.Close()
		return nil, os.NewSyscallError("listen", err)
	}
	if err := fd.initListener(); err != nil {
		fd.Close()
		return nil, err
	}
	if fd.laddr, err = sockname(s, false); err != nil {
		fd.Close()
		return nil, os.NewSyscallError("getsockname", err)
	}
	return fd, nil
}

func (d *Dialer) dialContext(ctx context.Context, network, address string) (net.Conn, error) {
	if !ours(network) {
		return d.netDialer().DialContext(ctx, network, address)
	}
	if network == "unix" {
		if address == "" {
			return nil, &net.OpError{Op: "dial", Net: network, Err: errMissingAddress}
		}
		ra, err := net.ResolveUnixAddr(network, address)
		if err != nil {
			return nil, &net.OpError{Op: "dial", Net: network, Err: err}
		}
		var la *net.UnixAddr
		if d.LocalAddr != nil {
			var ok bool
			if la, ok = d.LocalAddr.(*net.UnixAddr); !ok {
				return nil, &net.OpError{Op: "dial", Net: network, Source: d.LocalAddr, Addr: ra,
					Err: &net.AddrError{Err: "mismatched local address type", Addr: d.LocalAddr.String()}}
			}
		}
		if err := ctx.Err(); err != nil {
			return nil, &net.OpError{Op: "dial", Net: network, Source: d.LocalAddr, Addr: ra, Err: mapCtxErr(err)}
		}
		return d.dialTraced(ctx, network, ra, func() (*Conn, error) {
			c, err := d.dialUnixAddr(ctx, network, la, ra)
			if err != nil {
				return nil, &net.OpError{Op: "dial", Net: network, Source: d.LocalAddr, Addr: ra, Err: err}
			}
			return c, nil
		})
	}

	addrs, err := d.resolveDial(ctx, network, address)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	var la *net.TCPAddr
	if d.LocalAddr != nil {
		var ok bool
		if la, ok = d.LocalAddr.(*net.TCPAddr); !ok {
			return nil, &net.OpError{Op: "dial", Net: network, Source: d.LocalAddr, Addr: addrs[0],
				Err: &net.AddrError{Err: "mismatched local address type", Addr: d.LocalAddr.String()}}
		}
	}
	c, err := d.dialAddrs(ctx, network, la, addrs)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// dialSerial tries addrs in order, each within its share of the time
// left, and returns the first conn or the first error as a *net.OpError.
func (d *Dialer) dialSerial(ctx context.Context, network string, la *net.TCPAddr, addrs []*net.TCPAddr) (*Conn, error) {
	var firstErr error
	for i, ra := range addrs {
		if err := ctx.Err(); err != nil {
			return nil, &net.OpError{Op: "dial", Net: network, Source: d.LocalAddr, Addr: ra, Err: mapCtxErr(err)}
		}
		dialCtx := ctx
		if deadline, ok := ctx.Deadline(); ok {
			partial, err := partialDeadline(time.Now(), deadline, len(addrs)-i)
			if err != nil {
				if firstErr == nil {
					firstErr = &net.OpError{Op: "dial", Net: network, Source: d.LocalAddr, Addr: ra, Err: err}
				}
				break
			}
			if partial.Before(deadline) {
				var cancel context.CancelFunc
				dialCtx, cancel = context.WithDeadline(ctx, partial)
				defer cancel()
			}
		}
		c, err := d.dialTraced(dialCtx, network, ra, func() (*Conn, error) {
			c, err := d.dialTCPAddr(dialCtx, network, la, ra)
			if err != nil {
				return nil, &net.OpError{Op: "dial", Net: network, Source: d.LocalAddr, Addr: ra, Err: err}
			}
			return c, nil
		})
		if err == nil {
			return c, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	if firstErr == nil {
		firstErr = &net.OpError{Op: "dial", Net: network, Source: d.LocalAddr, Err: errMissingAddress}
	}
	return nil, firstErr
}

// partialDeadline is package net's: an equal share of the time left for
// each remaining address, at least 2s when there is that much.
func partialDeadline(now, deadline time.Time, addrsRemaining int) (time.Time, error) {
	left := deadline.Sub(now)
	if left <= 0 {
		return time.Time{}, errTimeout
	}
	share := left / time.Duration(addrsRemaining)
	const saneMinimum = 2 * time.Second
	if share < saneMinimum {
		share = min(left, saneMinimum)
	}
	return now.Add(share), nil
}

// dialTCPAddr dials ra from la (nil: any), over MPTCP when the Dialer asks
// for it and the kernel has it; its error is the cause, not yet wrapped.
func (d *Dialer) dialTCPAddr(ctx context.Context, network string, la, ra *net.TCPAddr) (*Conn, error) {
	family, v6only := tcpFamily(network, la, ra, false)
	rsa, err := tcpSockaddr(family, ra)
	if err != nil {
		return nil, err
	}
	var lsa unix.Sockaddr
	if la != nil {
		if lsa, err = tcpSockaddr(family, la); err != nil {
			return nil, err
		}
	}
	if d.MultipathTCP() && mptcpSupported() {
		if c, err := d.dialOne(ctx, network, family, v6only, unix.IPPROTO_MPTCP, lsa, rsa, ra.String()); err == nil {
			return c, nil
		}
		// As package net: any MPTCP failure (sysctl net.mptcp.enabled=0,
		// a security module) retries with plain TCP.
	}
	return d.dialOne(ctx, network, family, v6only, 0, lsa, rsa, ra.String())
}

// dialUnixAddr dials ra from la (nil: unbound).
func (d *Dialer) dialUnixAddr(ctx context.Context, network string, la, ra *net.UnixAddr) (*Conn, error) {
	var lsa unix.Sockaddr
	if la != nil && la.Name != "" {
		lsa = &unix.SockaddrUnix{Name: la.Name}
	}
	return d.dialOne(ctx, network, unix.AF_UNIX, false, 0, lsa, &unix.SockaddrUnix{Name: ra.Name}, ra.String())
}

// dialOne creates a socket, binds it to lsa if set, and connects it to rsa.
func (d *Dialer) dialOne(ctx context.Context, network string, family int, v6only bool, proto int, lsa, rsa unix.Sockaddr, ctrlAddr string) (*Conn, error) {
	s, err := socket(family, v6only, proto)
	if err != nil {
		return nil, err
	}
	fd := newFD(s, family, network)
	if d.ControlContext != nil || d.Control != nil {
		rc := &rawConn{fd: fd}
		if d.ControlContext != nil {
			err = d.ControlContext(ctx, fd.ctrlNetwork(), ctrlAddr, rc)
		} else {
			err = d.Control(fd.ctrlNetwork(), ctrlAddr, rc)
		}
		if err != nil {
			fd.Close()
			return nil, err
		}
	}
	if lsa != nil {
		if err := unix.Bind(s, lsa); err != nil {
			fd.Close()
			return nil, os.NewSyscallError("bind", err)
		}
	}
	if err := fd.connect(ctx, rsa); err != nil {
		fd.Close()
		return nil, err
	}
	fd.laddr, _ = sockname(s, false)
	if fd.raddr, err = sockname(s, true); err != nil {
		fd.raddr = sockaddrToAddr(rsa)
	}
	return newConn(fd, d.KeepAlive, d.KeepAliveConfig), nil
}

// fileSocket duplicates f's fd as a non-blocking stream socket netFD (a
// listener's if listener is set), or reports ok false for anything pollnet
// does not serve.
func fileSocket(f *os.File, listener bool) (fd *netFD, ok bool, err error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, false, err
	}
	var ns int
	var cerr error
	if err := rc.Control(func(sysfd uintptr) {
		ns, cerr = unix.FcntlInt(sysfd, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return nil, false, err
	}
	if cerr != nil {
		return nil, false, os.NewSyscallError("fcntl", cerr)
	}
	typ, err := unix.GetsockoptInt(ns, unix.SOL_SOCKET, unix.SO_TYPE)
	if err != nil {
		unix.Close(ns)
		return nil, false, os.NewSyscallError("getsockopt", err)
	}
	laddr, err := sockname(ns, false)
	if err != nil {
		unix.Close(ns)
		return nil, false, os.NewSyscallError("getsockname", err)
	}
	var family int
	var network string
	switch a := laddr.(type) {
	case *net.TCPAddr: // rawToAddr keeps the family's IP length
		family, network = unix.AF_INET, "tcp"
		if len(a.IP) == net.IPv6len {
			family = unix.AF_INET6
		}
	case *net.UnixAddr:
		family, network = unix.AF_UNIX, "unix"
	}
	if typ != unix.SOCK_STREAM || network == "" {
		unix.Close(ns)
		return nil, false, nil
	}
	if err := unix.SetNonblock(ns, true); err != nil {
		unix.Close(ns)
		return nil, false, os.NewSyscallError("setnonblock", err)
	}
	fd = newFD(ns, family, network)
	init := fd.init
	if listener {
		init = fd.initListener
	}
	if err := init(); err != nil {
		fd.Close()
		return nil, false, err
	}
	fd.laddr = laddr
	return fd, true, nil
}

func fileConn(f *os.File) (net.Conn, error) {
	fd, ok, err := fileSocket(f, false)
	if err != nil {
		return nil, &net.OpError{Op: "file", Net: "file+net", Source: nil, Addr: fileAddr(f.Name()), Err: err}
	}
	if !ok {
		return net.FileConn(f)
	}
	if raddr, err := sockname(fd.sysfd, true); err == nil {
		fd.raddr = raddr
	}
	if family := fd.family; family == unix.AF_UNIX {
		return &Conn{fd: fd}, nil
	}
	// As net.FileConn: a TCP conn gets package net's defaults, Nagle off
	// and keep-alive with the default 15s idle time.
	return newConn(fd, 0, net.KeepAliveConfig{}), nil
}

func fileListener(f *os.File) (net.Listener, error) {
	fd, ok, err := fileSocket(f, true)
	if err != nil {
		return nil, &net.OpError{Op: "file", Net: "file+net", Source: nil, Addr: fileAddr(f.Name()), Err: err}
	}
	if !ok {
		return net.FileListener(f)
	}
	if acc, err := unix.GetsockoptInt(fd.sysfd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN); err != nil || acc == 0 {
		fd.Close()
		return nil, &net.OpError{Op: "file", Net: "file+net", Source: nil, Addr: fileAddr(f.Name()), Err: syscall.EINVAL}
	}
	return &Listener{fd: fd}, nil
}

// fileAddr is package net's address for errors about an *os.File.
type fileAddr string

func (fileAddr) Network() string  { return "file+net" }
func (f fileAddr) String() string { return string(f) }
