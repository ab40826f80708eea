//go:build unix

package pollnet_test

import (
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/pollnet/pollnet"
	"github.com/stretchr/testify/require"
)

// msgConn is the message API of *net.UnixConn; *pollnet.Conn has it.
type msgConn interface {
	net.Conn
	ReadMsgUnix(b, oob []byte) (n, oobn, flags int, addr *net.UnixAddr, err error)
	WriteMsgUnix(b, oob []byte, addr *net.UnixAddr) (n, oobn int, err error)
}

// unixMsgPair returns a connected pair of Unix conns from listen and dial.
func unixMsgPair(t *testing.T, listen func(string, string) (net.Listener, error), dial func(string, string) (net.Conn, error)) (msgConn, msgConn) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "s")
	ln, err := listen("unix", path)
	require.NoError(t, err)
	defer ln.Close()
	c, err := dial("unix", path)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	s, err := ln.Accept()
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return c.(msgConn), s.(msgConn)
}

func TestMsgUnix(t *testing.T) {
	stacks := []struct {
		name   string
		listen func(string, string) (net.Listener, error)
		dial   func(string, string) (net.Conn, error)
	}{
		{"net", net.Listen, net.Dial},
		{"pollnet", pollnet.Listen, pollnet.Dial},
		{"pollnet-listener/net-dialer", pollnet.Listen, net.Dial},
	}
	for _, st := range stacks {
		t.Run(st.name, func(t *testing.T) {
			t.Run("rights", func(t *testing.T) {
				c, s := unixMsgPair(t, st.listen, st.dial)
				f, err := os.CreateTemp(t.TempDir(), "passed")
				require.NoError(t, err)
				defer f.Close()
				_, err = f.WriteString("through the fd")
				require.NoError(t, err)

				n, oobn, err := c.WriteMsgUnix([]byte("x"), syscall.UnixRights(int(f.Fd())), nil)
				require.NoError(t, err)
				require.Equal(t, 1, n)
				require.Equal(t, len(syscall.UnixRights(0)), oobn)

				b, oob := make([]byte, 8), make([]byte, syscall.CmsgSpace(4))
				n, oobn, _, addr, err := s.ReadMsgUnix(b, oob)
				require.NoError(t, err)
				require.Equal(t, 1, n)
				require.Nil(t, addr)
				msgs, err := syscall.ParseSocketControlMessage(oob[:oobn])
				require.NoError(t, err)
				require.Len(t, msgs, 1)
				fds, err := syscall.ParseUnixRights(&msgs[0])
				require.NoError(t, err)
				require.Len(t, fds, 1)
				got := os.NewFile(uintptr(fds[0]), "received")
				defer got.Close()
				buf := make([]byte, 64)
				n, err = got.ReadAt(buf, 0)
				require.ErrorIs(t, err, io.EOF)
				require.Equal(t, "through the fd", string(buf[:n]))
			})
			t.Run("deadline", func(t *testing.T) {
				c, s := unixMsgPair(t, st.listen, st.dial)
				require.NoError(t, s.SetReadDeadline(time.Now().Add(-time.Second)))
				_, _, _, _, err := s.ReadMsgUnix(make([]byte, 8), make([]byte, 64))
				require.ErrorIs(t, err, os.ErrDeadlineExceeded)
				var oe *net.OpError
				require.ErrorAs(t, err, &oe)
				require.Equal(t, "read", oe.Op)
				require.NoError(t, c.SetWriteDeadline(time.Now().Add(-time.Second)))
				_, _, err = c.WriteMsgUnix([]byte("x"), nil, nil)
				require.ErrorIs(t, err, os.ErrDeadlineExceeded)
			})
			t.Run("eof", func(t *testing.T) {
				c, s := unixMsgPair(t, st.listen, st.dial)
				require.NoError(t, c.Close())
				n, _, _, _, err := s.ReadMsgUnix(make([]byte, 8), nil)
				require.Zero(t, n)
				// As net: the EOF comes wrapped in a *net.OpError.
				var oe *net.OpError
				require.ErrorAs(t, err, &oe)
				require.True(t, errors.Is(err, io.EOF), "%v", err)
			})
		})
	}
}

// TestMsgUnixOnTCP: the Unix message methods fail on a TCP conn.
func TestMsgUnixOnTCP(t *testing.T) {
	ln, err := pollnet.ListenTCP("tcp4", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	defer ln.Close()
	c, err := pollnet.DialTCP("tcp4", nil, ln.Addr().(*net.TCPAddr))
	require.NoError(t, err)
	defer c.Close()
	_, _, _, _, err = c.ReadMsgUnix(make([]byte, 1), nil)
	require.ErrorIs(t, err, syscall.EINVAL)
	_, _, err = c.WriteMsgUnix([]byte("x"), nil, nil)
	require.ErrorIs(t, err, syscall.EINVAL)
}
