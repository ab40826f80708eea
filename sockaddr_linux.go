//go:build !pollnet_stdnet

package pollnet

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Address resolution and conversion, matching package net's choices and
// error values (*net.AddrError, *net.DNSError).

// resolveTCP resolves address for network ("tcp", "tcp4" or "tcp6") through
// r the way package net does for op ("dial" or
// "listen"): the addresses of the right family in the resolver's order. An
// empty host (or, when listening, an empty address) yields one address
// with a nil IP.
func resolveTCP(ctx context.Context, r *net.Resolver, op, network, address string) ([]*net.TCPAddr, error) {
	if address == "" {
		if op == "dial" {
			return nil, errMissingAddress
		}
		return []*net.TCPAddr{{}}, nil
	}
	host, service, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	port, err := r.LookupPort(ctx, network, service)
	if err != nil {
		return nil, err
	}
	if host == "" {
		return []*net.TCPAddr{{Port: port}}, nil
	}
	var ips []net.IPAddr
	if ip, err := netip.ParseAddr(host); err == nil {
		ips = []net.IPAddr{{IP: net.IP(ip.AsSlice()).To16(), Zone: ip.Zone()}}
	} else {
		// As package net: "tcp4" and "tcp6" ask for their family only (A or
		// AAAA queries), so a name without one fails as a lookup.
		ipNet := "ip"
		if network != "tcp" {
			ipNet = "ip" + network[3:]
		}
		found, err := r.LookupNetIP(ctx, ipNet, host)
		if err != nil {
			return nil, err
		}
		ips = make([]net.IPAddr, len(found))
		for i, a := range found {
			ips[i] = net.IPAddr{IP: net.IP(a.AsSlice()).To16(), Zone: a.Zone()}
		}
	}
	// As package net (go.dev/issue/18806): "::" also means 0.0.0.0, for
	// hosts that can bind IPv6 but not connect back to it, and for "tcp4".
	if len(ips) == 1 && ips[0].IP.Equal(net.IPv6unspecified) {
		ips = append(ips, net.IPAddr{IP: net.IPv4zero})
	}
	addrs := make([]*net.TCPAddr, 0, len(ips))
	for _, ip := range ips {
		is4 := ip.IP.To4() != nil
		if (network == "tcp4" && !is4) || (network == "tcp6" && (is4 || len(ip.IP) != net.IPv6len)) {
			continue
		}
		addrs = append(addrs, &net.TCPAddr{IP: ip.IP, Port: port, Zone: ip.Zone})
	}
	if len(addrs) == 0 {
		return nil, &net.AddrError{Err: "no suitable address found", Addr: host}
	}
	return addrs, nil
}

func (lc *ListenConfig) resolveListen(ctx context.Context, network, address string) ([]*net.TCPAddr, error) {
	return resolveTCP(ctx, net.DefaultResolver, "listen", network, address)
}

func (d *Dialer) resolveDial(ctx context.Context, network, address string) ([]*net.TCPAddr, error) {
	return resolveTCP(ctx, d.resolver(), "dial", network, address)
}

// firstIPv4 is the address package net listens on for a list: the first
// IPv4 one, else the first.
func firstIPv4(addrs []*net.TCPAddr) *net.TCPAddr {
	for _, a := range addrs {
		if a.IP == nil || a.IP.To4() != nil {
			return a
		}
	}
	return addrs[0]
}

var ipv4MappedSupport = sync.OnceValue(func() bool {
	s, err := unix.Socket(unix.AF_INET6, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(s)
	return unix.SetsockoptInt(s, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 0) == nil
})

func isIPv4(a *net.TCPAddr) bool {
	return a == nil || len(a.IP) == 0 || a.IP.To4() != nil
}

// tcpFamily is package net's favoriteAddrFamily: the socket family for a
// TCP socket, and whether it is IPv6-only. A "tcp" listener on a wildcard
// address is dual-stack.
func tcpFamily(network string, laddr, raddr *net.TCPAddr, listen bool) (family int, v6only bool) {
	switch network[len(network)-1] {
	case '4':
		return unix.AF_INET, false
	case '6':
		return unix.AF_INET6, true
	}
	if listen && (laddr == nil || len(laddr.IP) == 0 || laddr.IP.IsUnspecified()) {
		if ipv4MappedSupport() {
			return unix.AF_INET6, false
		}
		return unix.AF_INET, false
	}
	if isIPv4(laddr) && isIPv4(raddr) {
		return unix.AF_INET, false
	}
	return unix.AF_INET6, false
}

// tcpSockaddr converts a TCP address for a socket of family.
func tcpSockaddr(family int, a *net.TCPAddr) (unix.Sockaddr, error) {
	if a == nil {
		a = &net.TCPAddr{}
	}
	switch family {
	case unix.AF_INET:
		ip := a.IP
		if len(ip) == 0 {
			ip = net.IPv4zero
		}
		ip4 := ip.To4()
		if ip4 == nil {
			return nil, &net.AddrError{Err: "non-IPv4 address", Addr: ip.String()}
		}
		sa := &unix.SockaddrInet4{Port: a.Port}
		copy(sa.Addr[:], ip4)
		return sa, nil
	default:
		ip := a.IP
		if len(ip) == 0 || ip.Equal(net.IPv4zero) {
			ip = net.IPv6zero
		}
		ip6 := ip.To16()
		if ip6 == nil {
			return nil, &net.AddrError{Err: "non-IPv6 address", Addr: ip.String()}
		}
		sa := &unix.SockaddrInet6{Port: a.Port, ZoneId: zoneID(a.Zone)}
		copy(sa.Addr[:], ip6)
		return sa, nil
	}
}

func zoneID(zone string) uint32 {
	if zone == "" {
		return 0
	}
	if ifi, err := net.InterfaceByName(zone); err == nil {
		return uint32(ifi.Index)
	}
	n, _ := strconv.Atoi(zone)
	return uint32(n)
}

func zoneName(id uint32) string {
	if id == 0 {
		return ""
	}
	if ifi, err := net.InterfaceByIndex(int(id)); err == nil {
		return ifi.Name
	}
	return strconv.Itoa(int(id))
}

// sockaddrToAddr converts what the kernel reports into package net's
// address types, with the same IP lengths net uses (4 bytes for IPv4).
func sockaddrToAddr(sa unix.Sockaddr) net.Addr {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return &net.TCPAddr{IP: append(net.IP(nil), sa.Addr[:]...), Port: sa.Port}
	case *unix.SockaddrInet6:
		return &net.TCPAddr{IP: append(net.IP(nil), sa.Addr[:]...), Port: sa.Port, Zone: zoneName(sa.ZoneId)}
	case *unix.SockaddrUnix:
		return &net.UnixAddr{Name: sa.Name, Net: "unix"}
	}
	return nil
}

// Socket addresses the kernel reports are read with raw syscalls and
// decoded here: x/sys's decoder makes a getsockopt(SO_PROTOCOL) call for
// every IPv4 and IPv6 address (to tell L2TP sockets apart), which would
// cost an accepted or dialed conn two syscalls more than package net's.

// rawToAddr converts a socket address the kernel wrote into package net's
// address types, as sockaddrToAddr does; nil for other families. A Unix
// address with a leading NUL (abstract, or unnamed) reads as '@' there, as
// in package syscall.
func rawToAddr(rsa *unix.RawSockaddrAny) net.Addr {
	switch rsa.Addr.Family {
	case unix.AF_INET:
		pp := (*unix.RawSockaddrInet4)(unsafe.Pointer(rsa))
		return &net.TCPAddr{IP: append(net.IP(nil), pp.Addr[:]...), Port: netPort(pp.Port)}
	case unix.AF_INET6:
		pp := (*unix.RawSockaddrInet6)(unsafe.Pointer(rsa))
		return &net.TCPAddr{IP: append(net.IP(nil), pp.Addr[:]...), Port: netPort(pp.Port), Zone: zoneName(pp.Scope_id)}
	case unix.AF_UNIX:
		pp := (*unix.RawSockaddrUnix)(unsafe.Pointer(rsa))
		path := unsafe.Slice((*byte)(unsafe.Pointer(&pp.Path[0])), len(pp.Path))
		n := 1
		for n < len(path) && path[n] != 0 {
			n++
		}
		name := string(path[:n])
		if path[0] == 0 {
			name = "@" + name[1:]
		}
		return &net.UnixAddr{Name: name, Net: "unix"}
	}
	return nil
}

// netPort reads a port stored in network byte order.
func netPort(p uint16) int {
	b := (*[2]byte)(unsafe.Pointer(&p))
	return int(b[0])<<8 | int(b[1])
}

// sockname returns s's local address, or its peer's.
func sockname(s int, peer bool) (net.Addr, error) {
	trap := uintptr(unix.SYS_GETSOCKNAME)
	if peer {
		trap = unix.SYS_GETPEERNAME
	}
	var rsa unix.RawSockaddrAny
	l := uint32(unix.SizeofSockaddrAny)
	if _, _, e := unix.RawSyscall(trap, uintptr(s), uintptr(unsafe.Pointer(&rsa)), uintptr(unsafe.Pointer(&l))); e != 0 {
		return nil, e
	}
	return rawToAddr(&rsa), nil
}
