package pollnet_test

import (
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/pollnet/pollnet"
	"github.com/stretchr/testify/require"
)

// TestFileSockets: FileListener and FileConn serve stream sockets of every
// family with the addresses package net reports for them, and the conns
// carry data.
func TestFileSockets(t *testing.T) {
	for _, tc := range []struct{ network, addr string }{
		{"tcp4", "127.0.0.1:0"},
		{"tcp6", "[::1]:0"},
		{"unix", filepath.Join(t.TempDir(), "s")},
	} {
		t.Run(tc.network, func(t *testing.T) {
			nl, err := net.Listen(tc.network, tc.addr)
			require.NoError(t, err)
			defer nl.Close()
			f, err := nl.(interface{ File() (*os.File, error) }).File()
			require.NoError(t, err)
			ln, err := pollnet.FileListener(f)
			f.Close()
			require.NoError(t, err)
			defer ln.Close()
			require.IsType(t, &pollnet.Listener{}, ln)
			require.Equal(t, nl.Addr(), ln.Addr())

			nc, err := net.Dial(nl.Addr().Network(), nl.Addr().String())
			require.NoError(t, err)
			defer nc.Close()
			sc, err := ln.Accept()
			require.NoError(t, err)
			defer sc.Close()

			f, err = nc.(interface{ File() (*os.File, error) }).File()
			require.NoError(t, err)
			c, err := pollnet.FileConn(f)
			f.Close()
			require.NoError(t, err)
			defer c.Close()
			require.IsType(t, &pollnet.Conn{}, c)
			require.Equal(t, nc.LocalAddr(), c.LocalAddr())
			require.Equal(t, nc.RemoteAddr(), c.RemoteAddr())

			_, err = c.Write([]byte("ping"))
			require.NoError(t, err)
			buf := make([]byte, 4)
			_, err = io.ReadFull(sc, buf)
			require.NoError(t, err)
			require.Equal(t, "ping", string(buf))
		})
	}
}
