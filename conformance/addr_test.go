package conformance

import (
	"context"
	"net"
	"os"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/net/nettest"
)

// listenEntry is one way of listening with a stack.
type listenEntry struct {
	name   string
	listen func(st stack, network, address string) (net.Listener, error)
}

var listenEntries = []listenEntry{
	{"Listen", func(st stack, network, address string) (net.Listener, error) {
		return st.listen(network, address)
	}},
	{"ListenContext", func(st stack, network, address string) (net.Listener, error) {
		return st.listenContext(context.Background(), network, address)
	}},
}

// TestListenAddresses: the usual listening addresses work, Addr() is a
// *net.TCPAddr with the port the kernel picked, and the listener is reachable
// on the loopback addresses it covers. Per the package net documentation, an
// empty or unspecified host with network "tcp" listens on all addresses,
// IPv4 and IPv6.
func TestListenAddresses(t *testing.T) {
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
	for _, st := range stacks {
		t.Run(st.name, func(t *testing.T) {
			for _, tc := range cases {
				for _, le := range listenEntries {
					t.Run(tc.network+"/"+tc.address+"/"+le.name, func(t *testing.T) {
						if tc.ipv6 {
							requireIPv6(t)
						}
						ln, err := le.listen(st, tc.network, tc.address)
						require.NoError(t, err)
						t.Cleanup(func() { ln.Close() })

						addr, ok := ln.Addr().(*net.TCPAddr)
						require.True(t, ok, "Addr() is %T, want *net.TCPAddr", ln.Addr())
						require.NotZero(t, addr.Port)
						switch tc.wantIP {
						case "unspecified":
							require.True(t, addr.IP.IsUnspecified(), "Addr() %v", addr)
						case "loopback":
							require.True(t, addr.IP.IsLoopback(), "Addr() %v", addr)
							tc.reach = []string{addr.IP.String()}
						default:
							require.Equal(t, tc.wantIP, addr.IP.String())
						}

						for _, ip := range tc.reach {
							if ip == v6 && !nettest.SupportsIPv6() {
								continue
							}
							target := net.JoinHostPort(ip, strconv.Itoa(addr.Port))
							c, s := connectTo(t, ln, st.dial, "tcp", target)
							require.Equal(t, target, c.RemoteAddr().String())
							require.Equal(t, addr.Port, s.LocalAddr().(*net.TCPAddr).Port)
							writeString(t, c, "ping")
							readString(t, s, "ping")
						}
					})
				}
			}
		})
	}
}

// TestDialLocalhost: dialing "localhost:PORT" reaches a listener on each
// loopback address localhost resolves to (127.0.0.1, and ::1 where the hosts
// file lists it), through every dial entry point.
func TestDialLocalhost(t *testing.T) {
	ips, err := net.DefaultResolver.LookupIPAddr(context.Background(), "localhost")
	require.NoError(t, err)
	resolves := map[string]bool{}
	for _, ip := range ips {
		resolves[ip.IP.String()] = true
	}
	dials := []struct {
		name string
		dial func(st stack) dialFunc
	}{
		{"Dial", func(st stack) dialFunc { return st.dial }},
		{"DialTimeout", func(st stack) dialFunc {
			return func(n, a string) (net.Conn, error) { return st.dialTimeout(n, a, waitBound) }
		}},
		{"DialContext", func(st stack) dialFunc {
			return func(n, a string) (net.Conn, error) { return st.dialContext(context.Background(), n, a) }
		}},
	}
	for _, st := range stacks {
		t.Run(st.name, func(t *testing.T) {
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
						port := ln.Addr().(*net.TCPAddr).Port
						c, s := connectTo(t, ln, d.dial(st), "tcp", net.JoinHostPort("localhost", strconv.Itoa(port)))
						require.Equal(t, ln.Addr().String(), c.RemoteAddr().String())
						writeString(t, c, "ping")
						readString(t, s, "ping")
					})
				}
			}
		})
	}
}

// TestListenContextIgnoresCancelOnLiteral: per its documentation, ListenConfig.Listen
// uses ctx only while resolving the address and it does not affect the
// returned listener, so a cancelled context does not stop listening on a
// literal address (nothing to resolve), and the listener keeps working.
func TestListenContextIgnoresCancelOnLiteral(t *testing.T) {
	forEachNetwork(t, func(t *testing.T, st stack, network string) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		ln, err := st.listenContext(ctx, network, localAddr(t, network))
		require.NoError(t, err)
		t.Cleanup(func() { ln.Close() })
		c, s := connect(t, ln, st.dial, network)
		writeString(t, c, "ping")
		readString(t, s, "ping")
	})
}

// TestUnixSocketFile: a unix listener creates its socket file and removes it on
// Close.
func TestUnixSocketFile(t *testing.T) {
	for _, st := range stacks {
		t.Run(st.name, func(t *testing.T) {
			for _, le := range listenEntries {
				t.Run(le.name, func(t *testing.T) {
					path := sockPath(t)
					ln, err := le.listen(st, "unix", path)
					require.NoError(t, err)
					t.Cleanup(func() { ln.Close() })
					require.Equal(t, &net.UnixAddr{Name: path, Net: "unix"}, ln.Addr())

					fi, err := os.Stat(path)
					require.NoError(t, err)
					require.NotZero(t, fi.Mode()&os.ModeSocket, "mode %v", fi.Mode())

					require.NoError(t, ln.Close())
					_, err = os.Stat(path)
					require.ErrorIs(t, err, os.ErrNotExist, "socket file left behind after Close")

					// The path is free again.
					ln2, err := le.listen(st, "unix", path)
					require.NoError(t, err)
					require.NoError(t, ln2.Close())
				})
			}
		})
	}
}

// TestConnAddrs: LocalAddr and RemoteAddr have package net's types, and each
// end's view matches the other end's and the listener's.
func TestConnAddrs(t *testing.T) {
	forEachNetwork(t, func(t *testing.T, st stack, network string) {
		c, s, ln := pairWith(t, st.listen, st.dial, network)
		for _, a := range []net.Addr{ln.Addr(), c.LocalAddr(), c.RemoteAddr(), s.LocalAddr(), s.RemoteAddr()} {
			require.NotNil(t, a)
		}
		requireAddr(t, ln.Addr(), s.LocalAddr(), "server local = listener")
		requireAddr(t, ln.Addr(), c.RemoteAddr(), "client remote = listener")
		requireAddr(t, c.LocalAddr(), s.RemoteAddr(), "client local = server remote")

		if network == "unix" {
			for _, a := range []net.Addr{c.LocalAddr(), c.RemoteAddr(), s.LocalAddr(), s.RemoteAddr()} {
				require.IsType(t, &net.UnixAddr{}, a)
				require.Equal(t, "unix", a.Network())
			}
			// The dialer's socket is unbound (unnamed); package
			// net on Linux reports its name as "@".
			require.Equal(t, &net.UnixAddr{Name: "@", Net: "unix"}, c.LocalAddr())
			return
		}
		want := loopbackIP[network]
		for _, a := range []net.Addr{c.LocalAddr(), c.RemoteAddr(), s.LocalAddr(), s.RemoteAddr()} {
			ta, ok := a.(*net.TCPAddr)
			require.True(t, ok, "%T, want *net.TCPAddr", a)
			require.Equal(t, "tcp", a.Network())
			require.True(t, want.Equal(ta.IP), "IP %v, want %v", ta.IP, want)
			require.NotZero(t, ta.Port)
		}
		require.NotEqual(t, c.LocalAddr().String(), c.RemoteAddr().String())
	})
}

var loopbackIP = map[string]net.IP{"tcp4": net.IPv4(127, 0, 0, 1), "tcp6": net.IPv6loopback}

// TestZeroLengthIO: Read and Write with an empty buffer return 0, nil without
// consuming or sending anything.
func TestZeroLengthIO(t *testing.T) {
	forEachNetwork(t, func(t *testing.T, st stack, network string) {
		c, s := pair(t, st, network)
		for _, buf := range [][]byte{nil, {}} {
			// Nothing pending: does not block.
			r := bounded(t, "zero-length Read", func() ioResult {
				n, err := c.Read(buf)
				return ioResult{n: n, err: err}
			}, c)
			require.Zero(t, r.n)
			require.NoError(t, r.err)

			w := doWrite(t, c, buf)
			require.Zero(t, w.n)
			require.NoError(t, w.err)
		}

		// Data pending: a zero-length Read leaves it in place.
		writeString(t, s, "ab")
		readString(t, c, "a")
		r := doRead(t, c, 0)
		require.Zero(t, r.n)
		require.NoError(t, r.err)
		readString(t, c, "b")

		// Zero-length Writes sent nothing: s receives only "xyz".
		writeString(t, c, "xyz")
		require.NoError(t, c.Close())
		got := await(t, goDrain(t, s), "reading to EOF")
		requireEOF(t, got.err)
		require.Equal(t, int64(3), got.total)
	})
}

// TestOptionalMethods: the conns and listeners a stack returns have the
// optional methods code reaches through interface assertions, as package
// net's *TCPConn, *UnixConn, *TCPListener and *UnixListener do.
func TestOptionalMethods(t *testing.T) {
	forEachNetwork(t, func(t *testing.T, st stack, network string) {
		c, s := pair(t, st, network)
		for _, conn := range []net.Conn{c, s} {
			require.Implements(t, (*closeWriter)(nil), conn)
			require.Implements(t, (*closeReader)(nil), conn)
		}
		require.Implements(t, (*deadliner)(nil), listenLocal(t, st.listen, network))
	})
}
