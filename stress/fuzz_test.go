//go:build linux

package stress

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pollnet/pollnet"
)

// FuzzListenDial feeds fuzzed networks and addresses to pollnet.Listen and
// pollnet.Dial and to package net's, and requires the same outcome: both
// succeed, or both fail with errors of the same shape (the same chain of
// error types, the same *net.OpError Op and Net, the same errno, the same
// *net.AddrError or *net.DNSError text). Neither may panic.
//
// Addresses may use tokens the harness replaces: $PORT4 and $PORT6 (ports
// of listeners on 127.0.0.1 and [::1]), $CLOSED (a port nobody listens
// on), $SOCK (a listening unix socket) and $DIR (a temporary directory).
// Nothing leaves the host: name resolution is confined to /etc/hosts (the
// resolver's DNS dialer always fails), a dial happens only when every
// address the host resolves to is loopback (or, for an empty host, the
// local system) and the port is one of the harness's, a unix address only
// when it is inside the temporary directory; listening likewise.
//
// The seed corpus is in testdata/fuzz/FuzzListenDial: one file per case,
// named for it; the defect-* files are differences from package net that
// fuzzing found.
func FuzzListenDial(f *testing.F) {
	h := newFuzzHarness(f)
	f.Fuzz(func(t *testing.T, network, address string) {
		h.check(t, network, address)
	})
}

// fuzzHarness holds the listeners fuzzed dials may reach.
type fuzzHarness struct {
	dir                  string
	ports                map[int]bool // ports dials and listens may use
	replacer             *strings.Replacer
	mu                   sync.Mutex // serialises Listen comparisons (they bind the same addresses)
	resolver, prevResolv *net.Resolver
}

func newFuzzHarness(f *testing.F) *fuzzHarness {
	h := &fuzzHarness{ports: map[int]bool{0: true}}
	var err error
	if h.dir, err = os.MkdirTemp("", "pnfuzz"); err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { os.RemoveAll(h.dir) })

	// Listeners that accept and close whatever connects.
	serve := func(network, address string) net.Listener {
		ln, err := net.Listen(network, address)
		if err != nil {
			f.Fatalf("harness listener %s %s: %v", network, address, err)
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		f.Cleanup(func() { ln.Close(); <-done })
		return ln
	}
	port := func(ln net.Listener) int { return ln.Addr().(*net.TCPAddr).Port }
	p4 := port(serve("tcp4", "127.0.0.1:0"))
	p6 := 0
	if ln, err := net.Listen("tcp6", "[::1]:0"); err == nil {
		ln.Close()
		p6 = port(serve("tcp6", "[::1]:0"))
	}
	closedLn, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	closed := port(closedLn)
	closedLn.Close()
	sock := filepath.Join(h.dir, "s")
	serve("unix", sock)
	for _, p := range []int{p4, p6, closed} {
		h.ports[p] = true
	}
	h.replacer = strings.NewReplacer("$PORT4", strconv.Itoa(p4), "$PORT6", strconv.Itoa(p6),
		"$CLOSED", strconv.Itoa(closed), "$SOCK", sock, "$DIR", h.dir)

	// Names resolve through /etc/hosts only: the resolver's DNS dialer
	// fails, for package net and pollnet alike (pollnet resolves through
	// net.DefaultResolver).
	h.resolver = &net.Resolver{PreferGo: true, Dial: func(context.Context, string, string) (net.Conn, error) {
		return nil, errors.New("fuzz harness: no DNS")
	}}
	h.prevResolv = net.DefaultResolver
	net.DefaultResolver = h.resolver
	f.Cleanup(func() { net.DefaultResolver = h.prevResolv })
	return h
}

// check compares pollnet and package net on one input.
func (h *fuzzHarness) check(t *testing.T, network, address string) {
	address = h.replacer.Replace(address)
	if !h.allowed(network, address) {
		t.Skip("not a loopback or harness address")
	}

	h.mu.Lock()
	pl, perr := pollnet.Listen(network, address)
	if perr == nil {
		pl.Close()
	}
	nl, nerr := net.Listen(network, address)
	if nerr == nil {
		nl.Close()
	}
	h.mu.Unlock()
	if msg := sameShape(perr, nerr); msg != "" {
		t.Errorf("Listen(%q, %q): %s", network, address, msg)
	}

	const timeout = 2 * time.Second
	pc, perr := pollnet.DialTimeout(network, address, timeout)
	if perr == nil {
		pc.Close()
	}
	nc, nerr := net.DialTimeout(network, address, timeout)
	if nerr == nil {
		nc.Close()
	}
	if msg := sameShape(perr, nerr); msg != "" {
		t.Errorf("Dial(%q, %q): %s", network, address, msg)
	}
}

// allowed reports whether listening on and dialing address can only touch
// the harness: loopback, the local system on a harness port, or a unix
// socket in the harness's directory. Inputs that fail before touching the
// network (unknown networks, malformed addresses) are allowed too.
func (h *fuzzHarness) allowed(network, address string) bool {
	afnet, _, hasProto := strings.Cut(network, ":")
	switch afnet {
	case "tcp", "tcp4", "tcp6":
		if hasProto {
			return true // "tcp:x" is an unknown network to both
		}
	case "unix":
		if hasProto {
			return true
		}
		if address == "" {
			return true // unbound: listening autobinds, dialing fails
		}
		clean := filepath.Clean(address)
		return strings.HasPrefix(clean, h.dir+string(filepath.Separator)) && !strings.ContainsRune(address, 0)
	case "udp", "udp4", "udp6", "ip", "ip4", "ip6", "unixgram", "unixpacket":
		return false // pollnet hands these to package net unchanged
	default:
		return true // unknown network: both fail at once
	}
	host, service, err := net.SplitHostPort(address)
	if err != nil {
		return true // both fail parsing it
	}
	port, err := h.resolver.LookupPort(context.Background(), afnet, service)
	if err != nil {
		return true // both fail resolving the port (from /etc/services)
	}
	if !h.ports[port] {
		return false
	}
	if host == "" {
		return true // the local system, on a harness port
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	ips, err := h.resolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return true // both fail resolving it, without DNS
	}
	for _, ip := range ips {
		if ip = ip.Unmap(); !ip.IsLoopback() && !ip.IsUnspecified() {
			return false
		}
	}
	return true
}

// sameShape compares two errors' shapes, returning "" if they match.
func sameShape(pollnetErr, netErr error) string {
	if (pollnetErr == nil) != (netErr == nil) {
		return fmt.Sprintf("pollnet: %v; net: %v", pollnetErr, netErr)
	}
	if pollnetErr == nil {
		return ""
	}
	p, n := errShape(pollnetErr), errShape(netErr)
	if !reflect.DeepEqual(p, n) {
		return fmt.Sprintf("error shapes differ:\n  pollnet: %v\n           %v\n  net:     %v\n           %v", pollnetErr, p, netErr, n)
	}
	return ""
}

// errShape describes an error chain by type, with the fields that tell
// errors of one type apart.
func errShape(err error) []string {
	var shape []string
	for err != nil {
		s := fmt.Sprintf("%T", err)
		switch e := err.(type) {
		case *net.OpError:
			s += fmt.Sprintf("{Op:%s Net:%s}", e.Op, e.Net)
		case *os.SyscallError:
			s += "{" + e.Syscall + "}"
		case syscall.Errno:
			s += fmt.Sprintf("(%d)", int(e))
		case *net.AddrError:
			s += "{" + e.Err + "}"
		case *net.DNSError:
			s += fmt.Sprintf("{%s NotFound:%v Timeout:%v}", e.Err, e.IsNotFound, e.IsTimeout)
		case *net.ParseError:
			s += "{" + e.Type + "}"
		}
		shape = append(shape, s)
		err = errors.Unwrap(err)
	}
	return shape
}
