package pollnet

import (
	"context"
	"net"
	"os"
	"syscall"
	"time"
)

// Dialer holds options for connecting, with the meaning of net.Dialer's
// fields of the same names. The zero value dials with no timeout and with
// keep-alive on (15s).
//
// Names resolve through Resolver (nil: net.DefaultResolver). As net.Dialer,
// a "tcp" dial to a name with IPv4 and IPv6 addresses races the two
// families (RFC 6555, "Happy Eyeballs"): the family of the resolver's first
// address first, the other after FallbackDelay; within a family the
// addresses are tried in order, each given a share of the time left (at
// least 2s where there is that much).
type Dialer struct {
	// Timeout bounds a whole dial, name resolution included. Zero: none.
	Timeout time.Duration
	// Deadline is an absolute bound on a dial; the earlier of Timeout and
	// Deadline applies. Zero: none.
	Deadline time.Time
	// LocalAddr is the local address to dial from (*net.TCPAddr or
	// *net.UnixAddr); nil picks one.
	LocalAddr net.Addr
	// KeepAlive is the TCP keep-alive period: 0 means 15s, < 0 turns
	// keep-alive off. Ignored when KeepAliveConfig.Enable is true.
	KeepAlive time.Duration
	// KeepAliveConfig, when Enable is true, configures keep-alive in full.
	KeepAliveConfig net.KeepAliveConfig
	// Control, if not nil, is called after the socket is created and before
	// it connects, with the network ("tcp4", "tcp6" or "unix") and address.
	Control func(network, address string, c syscall.RawConn) error
	// ControlContext is Control with the dial's context; it wins over
	// Control when both are set.
	ControlContext func(ctx context.Context, network, address string, c syscall.RawConn) error
	// Resolver, if not nil, looks up names; nil means net.DefaultResolver.
	Resolver *net.Resolver
	// FallbackDelay is how long a "tcp" dial waits for the first family's
	// attempt before it starts dialing the other family: 0 means 300ms, < 0
	// disables the race (the addresses are tried one after another).
	FallbackDelay time.Duration

	mptcp mptcpStatus
}

// Dial connects to address on network ("tcp", "tcp4", "tcp6", "unix"; other
// networks are passed to package net).
func (d *Dialer) Dial(network, address string) (net.Conn, error) {
	return d.DialContext(context.Background(), network, address)
}

// DialContext connects to address on network using ctx. Cancelling ctx
// interrupts a dial in progress; an established connection is not affected
// by ctx afterwards. A dial ended by ctx reports an error matching
// context.Canceled or context.DeadlineExceeded under errors.Is.
func (d *Dialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	if ctx == nil {
		panic("pollnet: DialContext with a nil context")
	}
	if deadline := d.deadline(ctx, time.Now()); !deadline.IsZero() {
		if old, ok := ctx.Deadline(); !ok || deadline.Before(old) {
			var cancel context.CancelFunc
			ctx, cancel = context.WithDeadline(ctx, deadline)
			defer cancel()
		}
	}
	return d.dialContext(ctx, network, address)
}

// deadline is the earliest of now+Timeout, Deadline and ctx's deadline.
func (d *Dialer) deadline(ctx context.Context, now time.Time) (earliest time.Time) {
	if d.Timeout != 0 {
		earliest = now.Add(d.Timeout)
	}
	if cd, ok := ctx.Deadline(); ok && (earliest.IsZero() || cd.Before(earliest)) {
		earliest = cd
	}
	if !d.Deadline.IsZero() && (earliest.IsZero() || d.Deadline.Before(earliest)) {
		earliest = d.Deadline
	}
	return earliest
}

func (d *Dialer) netDialer() *net.Dialer {
	nd := &net.Dialer{Timeout: d.Timeout, Deadline: d.Deadline, LocalAddr: d.LocalAddr,
		KeepAlive: d.KeepAlive, KeepAliveConfig: d.KeepAliveConfig,
		Control: d.Control, ControlContext: d.ControlContext,
		Resolver: d.Resolver, FallbackDelay: d.FallbackDelay}
	if d.mptcp != mptcpDefault {
		nd.SetMultipathTCP(d.mptcp == mptcpOn)
	}
	return nd
}

func (d *Dialer) resolver() *net.Resolver {
	if d.Resolver != nil {
		return d.Resolver
	}
	return net.DefaultResolver
}

// fallbackDelay is package net's: 300ms unless FallbackDelay says otherwise.
func (d *Dialer) fallbackDelay() time.Duration {
	if d.FallbackDelay > 0 {
		return d.FallbackDelay
	}
	return 300 * time.Millisecond
}

// dualStack reports whether "tcp" dials race the two address families.
func (d *Dialer) dualStack() bool { return d.FallbackDelay >= 0 }

// MultipathTCP reports whether dials will use Multipath TCP (MPTCP), as
// (*net.Dialer).MultipathTCP: off unless SetMultipathTCP turned it on or
// GODEBUG has multipathtcp=1 or 3. Where the kernel has no MPTCP a dial
// falls back to TCP, whatever this reports.
func (d *Dialer) MultipathTCP() bool { return d.mptcp.get(false) }

// SetMultipathTCP asks dials to use MPTCP (use true) or plain TCP, as
// (*net.Dialer).SetMultipathTCP; it overrides the default and GODEBUG.
func (d *Dialer) SetMultipathTCP(use bool) { d.mptcp.set(use) }

// ListenConfig holds options for listening, as net.ListenConfig.
type ListenConfig struct {
	// Control, if not nil, is called after the socket is created and before
	// it is bound, with the network ("tcp4", "tcp6" or "unix") and address.
	Control func(network, address string, c syscall.RawConn) error
	// KeepAlive is the keep-alive period of accepted TCP conns: 0 means
	// 15s, < 0 turns keep-alive off.
	KeepAlive time.Duration
	// KeepAliveConfig, when Enable is true, configures keep-alive of
	// accepted conns in full.
	KeepAliveConfig net.KeepAliveConfig

	mptcp mptcpStatus
}

// MultipathTCP reports whether TCP listeners will use Multipath TCP
// (MPTCP), as (*net.ListenConfig).MultipathTCP: on unless SetMultipathTCP
// turned it off or GODEBUG has multipathtcp=0 or 3. Where the kernel has no
// MPTCP a listener falls back to TCP, whatever this reports; an accepted
// conn uses MPTCP only if its client asked for it.
func (lc *ListenConfig) MultipathTCP() bool { return lc.mptcp.get(true) }

// SetMultipathTCP asks TCP listeners to use MPTCP (use true) or plain
// TCP, as (*net.ListenConfig).SetMultipathTCP.
func (lc *ListenConfig) SetMultipathTCP(use bool) { lc.mptcp.set(use) }

// Listen announces on the local address: networks "tcp", "tcp4", "tcp6"
// and "unix" run on pollnet's poller, others are passed to package net.
// Addresses mean what they mean to net.Listen (":0", "[::]:0",
// "127.0.0.1:0", "localhost:8080", a socket path).
func (lc *ListenConfig) Listen(ctx context.Context, network, address string) (net.Listener, error) {
	return lc.listen(ctx, network, address)
}

func (lc *ListenConfig) netListenConfig() *net.ListenConfig {
	nlc := &net.ListenConfig{Control: lc.Control, KeepAlive: lc.KeepAlive, KeepAliveConfig: lc.KeepAliveConfig}
	if lc.mptcp != mptcpDefault {
		nlc.SetMultipathTCP(lc.mptcp == mptcpOn)
	}
	return nlc
}

// Listen is net.Listen on pollnet's poller: change net.Listen to
// pollnet.Listen and the server keeps working.
func Listen(network, address string) (net.Listener, error) {
	var lc ListenConfig
	return lc.Listen(context.Background(), network, address)
}

// Dial is net.Dial on pollnet's poller.
func Dial(network, address string) (net.Conn, error) {
	var d Dialer
	return d.Dial(network, address)
}

// DialTimeout is net.DialTimeout on pollnet's poller: timeout bounds the
// whole dial, name resolution included.
func DialTimeout(network, address string, timeout time.Duration) (net.Conn, error) {
	d := Dialer{Timeout: timeout}
	return d.Dial(network, address)
}

// FileConn returns a connection on a duplicate of f's socket, as
// net.FileConn; closing one does not affect the other. Stream sockets run
// on pollnet's poller, others are passed to package net.
func FileConn(f *os.File) (net.Conn, error) { return fileConn(f) }

// FileListener returns a listener on a duplicate of f's listening socket,
// as net.FileListener.
func FileListener(f *os.File) (net.Listener, error) { return fileListener(f) }
