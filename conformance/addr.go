package conformance

import (
	"context"
	"net"
	"os"
	"strconv"
	"testing"
)

// listenEntry is one way of listening with a stack.
type listenEntry struct {
	name   string
	listen listenFunc
}

// dialEntry is one way of dialing with a stack.
type dialEntry struct {
	name string
	dial dialFunc
}

// implListenEntries are the ways an Impl listens: Listen with
// context.Background.
func implListenEntries(st stack) []listenEntry {
	return []listenEntry{{"Listen", st.listen}}
}

// implDialEntries are the ways an Impl dials: Dial with context.Background,
// and with a context carrying a deadline (what net.DialTimeout does).
func implDialEntries(st stack) []dialEntry {
	return []dialEntry{
		{"Dial", st.dial},
		{"Dial-ctx-with-timeout", func(network, address string) (net.Conn, error) {
			ctx, cancel := context.WithTimeout(context.Background(), waitBound)
			defer cancel()
			return st.impl.Dial(ctx, network, address)
		}},
	}
}

// listenAddresses: the usual listening addresses work, Addr() is a
// *net.TCPAddr with the port the kernel picked, and the listener is reachable
// on the loopback addresses it covers. Per the package net documentation, an
// empty or unspecified host with network "tcp" listens on all addresses,
// IPv4 and IPv6.
func listenAddresses(t *testing.T, st stack) {
	listenAddressesVia(t, st, implListenEntries(st))
}

// listenAddressesVia runs the listenAddresses cases through each of listens.
func listenAddressesVia(t *testing.T, st stack, listens []listenEntry) {
	const v4, v6 = "127.0.0.1", "::1"
	cases := []struct {
		network, address string
		ipv6             bool     // needs IPv6
		wantIP           string   // Addr().IP; "unspecified" or "loopback" for a class
		reach            []string // loopback IPs a dial must reach it on
	}{
		{"tcp", ":0", false, "unspecified", []string{v4, v6}},
		{"tcp", "0.0.0.0:0", false, "unspecified", []string{v4, v6}},
		{"tcp", "[::]:0", true, "unspecified", []string{v4, v6}},
		{"tcp", "127.0.0.1:0", false, v4, []string{v4}},
		{"tcp", "[::1]:0", true, v6, []string{v6}},
		{"tcp", "localhost:0", false, "loopback", nil},
		{"tcp4", ":0", false, "unspecified", []string{v4}},
		{"tcp4", "0.0.0.0:0", false, "unspecified", []string{v4}},
		{"tcp4", "127.0.0.1:0", false, v4, []string{v4}},
		{"tcp4", "localhost:0", false, v4, []string{v4}},
		{"tcp6", "[::]:0", true, "unspecified", []string{v6}},
		{"tcp6", "[::1]:0", true, v6, []string{v6}},
	}
	for _, tc := range cases {
		for _, le := range listens {
			t.Run(tc.network+"/"+tc.address+"/"+le.name, func(t *testing.T) {
				if tc.ipv6 {
					requireIPv6(t)
				}
				st.requireServes(t, tc.network)
				ln, err := le.listen(tc.network, tc.address)
				mustNoError(t, err)
				t.Cleanup(func() { ln.Close() })

				addr, ok := ln.Addr().(*net.TCPAddr)
				mustTrue(t, ok, "Addr() is %T, want *net.TCPAddr", ln.Addr())
				mustNotZero(t, addr.Port)
				switch tc.wantIP {
				case "unspecified":
					mustTrue(t, addr.IP.IsUnspecified(), "Addr() %v", addr)
				case "loopback":
					mustTrue(t, addr.IP.IsLoopback(), "Addr() %v", addr)
					tc.reach = []string{addr.IP.String()}
				default:
					mustEqual(t, tc.wantIP, addr.IP.String())
				}

				for _, ip := range tc.reach {
					if ip == v6 && !st.serves("tcp6") || ip == v4 && !st.serves("tcp4") {
						continue
					}
					target := net.JoinHostPort(ip, strconv.Itoa(addr.Port))
					c, s := connectTo(t, ln, st.dial, "tcp", target)
					mustEqual(t, target, c.RemoteAddr().String())
					mustEqual(t, addr.Port, tcpAddr(t, s.LocalAddr()).Port)
					writeString(t, c, "ping")
					readString(t, s, "ping")
				}
			})
		}
	}
}

// dialLocalhost: dialing "localhost:PORT" reaches a listener on each
// loopback address localhost resolves to (127.0.0.1, and ::1 where the hosts
// file lists it), through every dial entry point.
func dialLocalhost(t *testing.T, st stack) {
	dialLocalhostVia(t, st, implDialEntries(st))
}

// dialLocalhostVia runs the dialLocalhost cases through each of dials.
func dialLocalhostVia(t *testing.T, st stack, dials []dialEntry) {
	ips, err := net.DefaultResolver.LookupIPAddr(context.Background(), "localhost")
	mustNoError(t, err)
	resolves := map[string]bool{}
	for _, ip := range ips {
		resolves[ip.IP.String()] = true
	}
	for _, listenAt := range []struct{ network, ip string }{{"tcp4", "127.0.0.1"}, {"tcp6", "::1"}} {
		for _, d := range dials {
			t.Run(listenAt.ip+"/"+d.name, func(t *testing.T) {
				if listenAt.network == "tcp6" {
					requireIPv6(t)
				}
				if !resolves[listenAt.ip] {
					t.Skipf("localhost does not resolve to %s on this host (resolves to %v)", listenAt.ip, ips)
				}
				ln := listenLocal(t, st.listen, listenAt.network)
				port := tcpAddr(t, ln.Addr()).Port
				c, s := connectTo(t, ln, d.dial, "tcp", net.JoinHostPort("localhost", strconv.Itoa(port)))
				mustEqual(t, ln.Addr().String(), c.RemoteAddr().String())
				writeString(t, c, "ping")
				readString(t, s, "ping")
			})
		}
	}
}

// listenCancelledContextOnLiteral: as with net.ListenConfig.Listen, whose
// documentation says ctx is used only while resolving the address and does
// not affect the returned listener, a cancelled context does not stop
// listening on a literal address (nothing to resolve), and the listener keeps
// working.
func listenCancelledContextOnLiteral(t *testing.T, st stack) {
	forEachNetwork(t, st, func(t *testing.T, network string) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		ln, err := st.impl.Listen(ctx, network, localAddr(t, network))
		mustNoError(t, err)
		t.Cleanup(func() { ln.Close() })
		c, s := connect(t, ln, st.dial, network)
		writeString(t, c, "ping")
		readString(t, s, "ping")
	})
}

// unixSocketFile: a unix listener creates its socket file and removes it on
// Close.
func unixSocketFile(t *testing.T, st stack) {
	unixSocketFileVia(t, st, implListenEntries(st))
}

// unixSocketFileVia runs the unixSocketFile case through each of listens.
func unixSocketFileVia(t *testing.T, st stack, listens []listenEntry) {
	for _, le := range listens {
		t.Run(le.name, func(t *testing.T) {
			st.requireServes(t, "unix")
			path := sockPath(t)
			ln, err := le.listen("unix", path)
			mustNoError(t, err)
			t.Cleanup(func() { ln.Close() })
			mustEqual(t, &net.UnixAddr{Name: path, Net: "unix"}, ln.Addr())

			fi, err := os.Stat(path)
			mustNoError(t, err)
			mustNotZero(t, fi.Mode()&os.ModeSocket, "mode %v", fi.Mode())

			mustNoError(t, ln.Close())
			_, err = os.Stat(path)
			mustErrorIs(t, err, os.ErrNotExist, "socket file left behind after Close")

			// The path is free again.
			ln2, err := le.listen("unix", path)
			mustNoError(t, err)
			mustNoError(t, ln2.Close())
		})
	}
}

// connAddrs: LocalAddr and RemoteAddr have package net's types, and each
// end's view matches the other end's and the listener's.
func connAddrs(t *testing.T, st stack) {
	forEachNetwork(t, st, func(t *testing.T, network string) {
		c, s, ln := pairWith(t, st.listen, st.dial, network)
		for _, a := range []net.Addr{ln.Addr(), c.LocalAddr(), c.RemoteAddr(), s.LocalAddr(), s.RemoteAddr()} {
			mustNotNil(t, a)
		}
		requireAddr(t, ln.Addr(), s.LocalAddr(), "server local = listener")
		requireAddr(t, ln.Addr(), c.RemoteAddr(), "client remote = listener")
		requireAddr(t, c.LocalAddr(), s.RemoteAddr(), "client local = server remote")

		if network == "unix" {
			for _, a := range []net.Addr{c.LocalAddr(), c.RemoteAddr(), s.LocalAddr(), s.RemoteAddr()} {
				_, ok := a.(*net.UnixAddr)
				mustTrue(t, ok, "%T, want *net.UnixAddr", a)
				mustEqual(t, "unix", a.Network())
			}
			// The dialer's socket is unbound (unnamed); package
			// net on Linux reports its name as "@".
			mustEqual(t, &net.UnixAddr{Name: "@", Net: "unix"}, c.LocalAddr())
			return
		}
		want := loopbackIP[network]
		for _, a := range []net.Addr{c.LocalAddr(), c.RemoteAddr(), s.LocalAddr(), s.RemoteAddr()} {
			ta, ok := a.(*net.TCPAddr)
			mustTrue(t, ok, "%T, want *net.TCPAddr", a)
			mustEqual(t, "tcp", a.Network())
			mustTrue(t, want.Equal(ta.IP), "IP %v, want %v", ta.IP, want)
			mustNotZero(t, ta.Port)
		}
		mustNotEqual(t, c.LocalAddr().String(), c.RemoteAddr().String())
	})
}

var loopbackIP = map[string]net.IP{"tcp4": net.IPv4(127, 0, 0, 1), "tcp6": net.IPv6loopback}

// zeroLengthIO: Read and Write with an empty buffer return 0, nil without
// consuming or sending anything.
func zeroLengthIO(t *testing.T, st stack) {
	forEachNetwork(t, st, func(t *testing.T, network string) {
		c, s := pair(t, st, network)
		for _, buf := range [][]byte{nil, {}} {
			// Nothing pending: does not block.
			r := bounded(t, "zero-length Read", func() ioResult {
				n, err := c.Read(buf)
				return ioResult{n: n, err: err}
			}, c)
			mustZero(t, r.n)
			mustNoError(t, r.err)

			w := doWrite(t, c, buf)
			mustZero(t, w.n)
			mustNoError(t, w.err)
		}

		// Data pending: a zero-length Read leaves it in place.
		writeString(t, s, "ab")
		readString(t, c, "a")
		r := doRead(t, c, 0)
		mustZero(t, r.n)
		mustNoError(t, r.err)
		readString(t, c, "b")

		// Zero-length Writes sent nothing: s receives only "xyz".
		writeString(t, c, "xyz")
		mustNoError(t, c.Close())
		got := await(t, goDrain(t, s), "reading to EOF")
		requireEOF(t, got.err)
		mustEqual(t, int64(3), got.total)
	})
}

// optionalMethods: the conns and listeners a stack returns have the
// optional methods code reaches through interface assertions, as package
// net's *TCPConn, *UnixConn, *TCPListener and *UnixListener do.
func optionalMethods(t *testing.T, st stack) {
	forEachNetwork(t, st, func(t *testing.T, network string) {
		c, s := pair(t, st, network)
		for _, conn := range []net.Conn{c, s} {
			_, ok := conn.(closeWriter)
			mustTrue(t, ok, "%T has no CloseWrite method", conn)
			_, ok = conn.(closeReader)
			mustTrue(t, ok, "%T has no CloseRead method", conn)
		}
		ln := listenLocal(t, st.listen, network)
		_, ok := ln.(deadliner)
		mustTrue(t, ok, "%T has no SetDeadline method", ln)
	})
}

// tcpAddr returns a as a *net.TCPAddr, failing the test if it is not one.
func tcpAddr(t testing.TB, a net.Addr) *net.TCPAddr {
	t.Helper()
	ta, ok := a.(*net.TCPAddr)
	if !ok || ta == nil {
		t.Fatalf("address %v is a %T, want a *net.TCPAddr", a, a)
	}
	return ta
}
