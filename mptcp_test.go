package pollnet_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"testing"

	"github.com/pollnet/pollnet"
	"github.com/stretchr/testify/require"
)

// TestMultipathTCPSettings: the defaults and SetMultipathTCP are those of
// net.Dialer and net.ListenConfig.
func TestMultipathTCPSettings(t *testing.T) {
	var nd net.Dialer
	var pd pollnet.Dialer
	var nlc net.ListenConfig
	var plc pollnet.ListenConfig
	require.Equal(t, nd.MultipathTCP(), pd.MultipathTCP(), "dialer default")
	require.Equal(t, nlc.MultipathTCP(), plc.MultipathTCP(), "listener default")
	for _, use := range []bool{true, false} {
		nd.SetMultipathTCP(use)
		pd.SetMultipathTCP(use)
		nlc.SetMultipathTCP(use)
		plc.SetMultipathTCP(use)
		require.Equal(t, use, pd.MultipathTCP())
		require.Equal(t, use, plc.MultipathTCP())
	}
}

// TestMultipathTCPConns: for each combination of MPTCP on the listener and
// the dialer, pollnet's conns report what net's report (true only where the
// kernel has MPTCP and both ends asked for it), and carry bytes.
func TestMultipathTCPConns(t *testing.T) {
	type mptcpConn interface {
		net.Conn
		MultipathTCP() (bool, error)
	}
	for _, tc := range []struct{ listen, dial bool }{{false, false}, {true, false}, {false, true}, {true, true}} {
		t.Run(fmt.Sprintf("listen=%v/dial=%v", tc.listen, tc.dial), func(t *testing.T) {
			var got [2][2]bool // [net, pollnet][dialed, accepted]
			for i, pollnetSide := range []bool{false, true} {
				var ln net.Listener
				var c net.Conn
				var err error
				if pollnetSide {
					var lc pollnet.ListenConfig
					lc.SetMultipathTCP(tc.listen)
					ln, err = lc.Listen(context.Background(), "tcp4", "127.0.0.1:0")
					require.NoError(t, err)
					var d pollnet.Dialer
					d.SetMultipathTCP(tc.dial)
					c, err = d.Dial("tcp4", ln.Addr().String())
				} else {
					var lc net.ListenConfig
					lc.SetMultipathTCP(tc.listen)
					ln, err = lc.Listen(context.Background(), "tcp4", "127.0.0.1:0")
					require.NoError(t, err)
					var d net.Dialer
					d.SetMultipathTCP(tc.dial)
					c, err = d.Dial("tcp4", ln.Addr().String())
				}
				require.NoError(t, err)
				s, err := ln.Accept()
				require.NoError(t, err)
				echoOnce(t, c, s)
				got[i][0], err = c.(mptcpConn).MultipathTCP()
				require.NoError(t, err)
				got[i][1], err = s.(mptcpConn).MultipathTCP()
				require.NoError(t, err)
				c.Close()
				s.Close()
				ln.Close()
			}
			t.Logf("listen %v dial %v: net %v, pollnet %v", tc.listen, tc.dial, got[0], got[1])
			require.Equal(t, got[0], got[1])
		})
	}
}

// TestMultipathTCPCopy: an MPTCP conn (both ends asked for it) carries an
// io.Copy to and from pollnet conns intact, whether or not the kernel
// splices MPTCP sockets.
func TestMultipathTCPCopy(t *testing.T) {
	var lc pollnet.ListenConfig
	lc.SetMultipathTCP(true)
	var d pollnet.Dialer
	d.SetMultipathTCP(true)
	pair := func() (net.Conn, net.Conn) {
		ln, err := lc.Listen(context.Background(), "tcp4", "127.0.0.1:0")
		require.NoError(t, err)
		defer ln.Close()
		c, err := d.Dial("tcp4", ln.Addr().String())
		require.NoError(t, err)
		s, err := ln.Accept()
		require.NoError(t, err)
		t.Cleanup(func() { c.Close(); s.Close() })
		return c, s
	}
	srcW, src := pair()
	dst, dstR := pair()
	payload := bytes.Repeat([]byte("mptcp "), 100_000)
	go func() {
		srcW.Write(payload)
		srcW.Close()
	}()
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(dstR)
		got <- b
	}()
	n, err := io.Copy(dst, src)
	require.NoError(t, err)
	require.Equal(t, int64(len(payload)), n)
	require.NoError(t, dst.(*pollnet.Conn).CloseWrite())
	require.True(t, bytes.Equal(payload, <-got))
}
