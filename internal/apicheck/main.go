// Command apicheck uses every exported name of package pollnet, each with
// the type it must have, so that building it for a platform proves the
// whole API exists there with the same signatures (CI cross-builds it).
// Run, it exercises a TCP and a Unix conn on loopback.
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/pollnet/pollnet"
	_ "github.com/pollnet/pollnet/pollhttptrace"
	"github.com/pollnet/pollnet/pollrt"
)

// The package's functions.
var (
	_ func(network, address string) (net.Listener, error)                     = pollnet.Listen
	_ func(network, address string) (net.Conn, error)                         = pollnet.Dial
	_ func(network, address string, timeout time.Duration) (net.Conn, error)  = pollnet.DialTimeout
	_ func(*os.File) (net.Conn, error)                                        = pollnet.FileConn
	_ func(*os.File) (net.Listener, error)                                    = pollnet.FileListener
	_ func(network string, laddr *net.TCPAddr) (*pollnet.Listener, error)     = pollnet.ListenTCP
	_ func(network string, laddr, raddr *net.TCPAddr) (*pollnet.Conn, error)  = pollnet.DialTCP
	_ func(network string, laddr *net.UnixAddr) (*pollnet.Listener, error)    = pollnet.ListenUnix
	_ func(network string, laddr, raddr *net.UnixAddr) (*pollnet.Conn, error) = pollnet.DialUnix
)

// Dialer and ListenConfig: fields and methods.
var (
	_ = pollnet.Dialer{
		Timeout:         time.Second,
		Deadline:        time.Time{},
		LocalAddr:       (*net.TCPAddr)(nil),
		KeepAlive:       0,
		KeepAliveConfig: net.KeepAliveConfig{},
		Control:         func(network, address string, c syscall.RawConn) error { return nil },
		ControlContext:  func(ctx context.Context, network, address string, c syscall.RawConn) error { return nil },
		Resolver:        (*net.Resolver)(nil),
		FallbackDelay:   0,
	}
	_ func(*pollnet.Dialer, string, string) (net.Conn, error)                                               = (*pollnet.Dialer).Dial
	_ func(*pollnet.Dialer, context.Context, string, string) (net.Conn, error)                              = (*pollnet.Dialer).DialContext
	_ func(*pollnet.Dialer, context.Context, string, netip.AddrPort, netip.AddrPort) (*pollnet.Conn, error) = (*pollnet.Dialer).DialTCP
	_ func(*pollnet.Dialer, context.Context, string, *net.UnixAddr, *net.UnixAddr) (*pollnet.Conn, error)   = (*pollnet.Dialer).DialUnix
	_ func(*pollnet.Dialer) bool                                                                            = (*pollnet.Dialer).MultipathTCP
	_ func(*pollnet.Dialer, bool)                                                                           = (*pollnet.Dialer).SetMultipathTCP

	_ = pollnet.ListenConfig{
		Control:         func(network, address string, c syscall.RawConn) error { return nil },
		KeepAlive:       0,
		KeepAliveConfig: net.KeepAliveConfig{},
	}
	_ func(*pollnet.ListenConfig, context.Context, string, string) (net.Listener, error) = (*pollnet.ListenConfig).Listen
	_ func(*pollnet.ListenConfig) bool                                                   = (*pollnet.ListenConfig).MultipathTCP
	_ func(*pollnet.ListenConfig, bool)                                                  = (*pollnet.ListenConfig).SetMultipathTCP
)

// Listener's methods.
var (
	_ net.Listener                                     = (*pollnet.Listener)(nil)
	_ func(*pollnet.Listener) (net.Conn, error)        = (*pollnet.Listener).Accept
	_ func(*pollnet.Listener) (*pollnet.Conn, error)   = (*pollnet.Listener).AcceptTCP
	_ func(*pollnet.Listener) (*pollnet.Conn, error)   = (*pollnet.Listener).AcceptUnix
	_ func(*pollnet.Listener) net.Addr                 = (*pollnet.Listener).Addr
	_ func(*pollnet.Listener) error                    = (*pollnet.Listener).Close
	_ func(*pollnet.Listener) (*os.File, error)        = (*pollnet.Listener).File
	_ func(*pollnet.Listener, time.Time) error         = (*pollnet.Listener).SetDeadline
	_ func(*pollnet.Listener, bool)                    = (*pollnet.Listener).SetUnlinkOnClose
	_ func(*pollnet.Listener) (syscall.RawConn, error) = (*pollnet.Listener).SyscallConn
)

// Conn's methods.
var (
	_ net.Conn                                                                  = (*pollnet.Conn)(nil)
	_ io.ReaderFrom                                                             = (*pollnet.Conn)(nil)
	_ io.WriterTo                                                               = (*pollnet.Conn)(nil)
	_ func(*pollnet.Conn) error                                                 = (*pollnet.Conn).Close
	_ func(*pollnet.Conn) error                                                 = (*pollnet.Conn).CloseRead
	_ func(*pollnet.Conn) error                                                 = (*pollnet.Conn).CloseWrite
	_ func(*pollnet.Conn) <-chan struct{}                                       = (*pollnet.Conn).Done
	_ func(*pollnet.Conn) (*os.File, error)                                     = (*pollnet.Conn).File
	_ func(*pollnet.Conn) net.Addr                                              = (*pollnet.Conn).LocalAddr
	_ func(*pollnet.Conn) (bool, error)                                         = (*pollnet.Conn).MultipathTCP
	_ func(*pollnet.Conn) bool                                                  = (*pollnet.Conn).PeerClosed
	_ func(*pollnet.Conn, []byte) (int, error)                                  = (*pollnet.Conn).Read
	_ func(*pollnet.Conn, io.Reader) (int64, error)                             = (*pollnet.Conn).ReadFrom
	_ func(*pollnet.Conn, []byte, []byte) (int, int, int, *net.UnixAddr, error) = (*pollnet.Conn).ReadMsgUnix
	_ func(*pollnet.Conn) net.Addr                                              = (*pollnet.Conn).RemoteAddr
	_ func(*pollnet.Conn, time.Time) error                                      = (*pollnet.Conn).SetDeadline
	_ func(*pollnet.Conn, bool) error                                           = (*pollnet.Conn).SetKeepAlive
	_ func(*pollnet.Conn, net.KeepAliveConfig) error                            = (*pollnet.Conn).SetKeepAliveConfig
	_ func(*pollnet.Conn, time.Duration) error                                  = (*pollnet.Conn).SetKeepAlivePeriod
	_ func(*pollnet.Conn, int) error                                            = (*pollnet.Conn).SetLinger
	_ func(*pollnet.Conn, bool) error                                           = (*pollnet.Conn).SetNoDelay
	_ func(*pollnet.Conn, int) error                                            = (*pollnet.Conn).SetReadBuffer
	_ func(*pollnet.Conn, time.Time) error                                      = (*pollnet.Conn).SetReadDeadline
	_ func(*pollnet.Conn, int) error                                            = (*pollnet.Conn).SetWriteBuffer
	_ func(*pollnet.Conn, time.Time) error                                      = (*pollnet.Conn).SetWriteDeadline
	_ func(*pollnet.Conn) (syscall.RawConn, error)                              = (*pollnet.Conn).SyscallConn
	_ func(*pollnet.Conn, context.Context) error                                = (*pollnet.Conn).WaitRead
	_ func(*pollnet.Conn, context.Context) error                                = (*pollnet.Conn).WaitWrite
	_ func(*pollnet.Conn, []byte) (int, error)                                  = (*pollnet.Conn).Write
	_ func(*pollnet.Conn, *net.Buffers) (int64, error)                          = (*pollnet.Conn).WriteBuffers
	_ func(*pollnet.Conn, []byte, []byte, *net.UnixAddr) (int, int, error)      = (*pollnet.Conn).WriteMsgUnix
	_ func(*pollnet.Conn, io.Writer) (int64, error)                             = (*pollnet.Conn).WriteTo
)

// pollrt's statistics, which read zeros where no pollrt runs.
var _ func(*pollrt.Stats) = pollrt.ReadStats

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "apicheck:", err)
		os.Exit(1)
	}
	fmt.Println("apicheck: ok")
}

// run echoes over a TCP and a Unix conn from the typed constructors and
// waits for readiness on each.
func run() error {
	ln, err := pollnet.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return err
	}
	defer ln.Close()
	c, err := pollnet.DialTCP("tcp", nil, ln.Addr().(*net.TCPAddr))
	if err != nil {
		return err
	}
	defer c.Close()
	s, err := ln.AcceptTCP()
	if err != nil {
		return err
	}
	defer s.Close()
	if err := echo(c, s); err != nil {
		return fmt.Errorf("tcp: %w", err)
	}

	dir, err := os.MkdirTemp("", "apicheck")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ua := &net.UnixAddr{Name: filepath.Join(dir, "s"), Net: "unix"}
	uln, err := pollnet.ListenUnix("unix", ua)
	if err != nil {
		return err
	}
	defer uln.Close()
	uc, err := pollnet.DialUnix("unix", nil, ua)
	if err != nil {
		return err
	}
	defer uc.Close()
	us, err := uln.AcceptUnix()
	if err != nil {
		return err
	}
	defer us.Close()
	if err := echo(uc, us); err != nil {
		return fmt.Errorf("unix: %w", err)
	}
	var st pollrt.Stats
	pollrt.ReadStats(&st)
	return nil
}

func echo(c, s *pollnet.Conn) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.WaitWrite(ctx); err != nil {
		return err
	}
	v := net.Buffers{[]byte("pi"), []byte("ng")}
	if _, err := c.WriteBuffers(&v); err != nil {
		return err
	}
	if err := s.WaitRead(ctx); err != nil {
		return err
	}
	b := make([]byte, 4)
	if _, err := io.ReadFull(s, b); err != nil {
		return err
	}
	if string(b) != "ping" {
		return fmt.Errorf("read %q", b)
	}
	if s.PeerClosed() {
		return fmt.Errorf("PeerClosed before the peer closed")
	}
	c.Close()
	// Read to the EOF first: on Windows that is how a hangup is seen.
	if rest, err := io.ReadAll(s); err != nil || len(rest) != 0 {
		return fmt.Errorf("after the peer closed: %q, %v", rest, err)
	}
	if !s.PeerClosed() {
		return fmt.Errorf("PeerClosed false after EOF")
	}
	select {
	case <-s.Done():
	case <-ctx.Done():
		return fmt.Errorf("Done not closed after the peer closed")
	}
	return nil
}
