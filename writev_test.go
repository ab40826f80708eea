package pollnet_test

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"testing"

	"github.com/pollnet/pollnet"
	"github.com/stretchr/testify/require"
)

// TestWriteBuffers: WriteBuffers writes every piece, in order, consumes v,
// and counts as net.Buffers.WriteTo on a *net.TCPConn does.
func TestWriteBuffers(t *testing.T) {
	for _, tc := range []struct {
		name   string
		pieces int
		size   int
	}{
		{"empty", 0, 0},
		{"empty-pieces", 5, 0},
		{"64x100", 64, 100},
		{"2000x3", 2000, 3},    // more than one sendmsg's worth of buffers
		{"4x1MiB", 4, 1 << 20}, // more than the socket buffer
	} {
		t.Run(tc.name, func(t *testing.T) {
			var want bytes.Buffer
			var v net.Buffers
			for i := range tc.pieces {
				p := bytes.Repeat([]byte{byte('a' + i%26)}, tc.size)
				want.Write(p)
				v = append(v, p)
			}
			netV := append(net.Buffers(nil), v...)

			for _, side := range []struct {
				name  string
				write func(net.Conn, *net.Buffers) (int64, error)
				v     *net.Buffers
			}{
				{"pollnet", func(c net.Conn, v *net.Buffers) (int64, error) { return c.(*pollnet.Conn).WriteBuffers(v) }, &v},
				{"net", func(c net.Conn, v *net.Buffers) (int64, error) { return v.WriteTo(c) }, &netV},
			} {
				t.Run(side.name, func(t *testing.T) {
					var ln net.Listener
					var err error
					var dial func(string, string) (net.Conn, error)
					if side.name == "pollnet" {
						ln, err = pollnet.Listen("tcp4", "127.0.0.1:0")
						dial = pollnet.Dial
					} else {
						ln, err = net.Listen("tcp4", "127.0.0.1:0")
						dial = net.Dial
					}
					require.NoError(t, err)
					defer ln.Close()
					c, err := dial("tcp4", ln.Addr().String())
					require.NoError(t, err)
					defer c.Close()
					s, err := ln.Accept()
					require.NoError(t, err)
					defer s.Close()
					got := make(chan []byte, 1)
					go func() {
						b, _ := io.ReadAll(s)
						got <- b
					}()
					n, err := side.write(c, side.v)
					require.NoError(t, err)
					require.Equal(t, int64(want.Len()), n)
					if want.Len() > 0 {
						require.Empty(t, *side.v, "v is consumed")
					} else {
						// As net: only empty buffers: nothing is sent or consumed.
						require.Len(t, *side.v, tc.pieces)
					}
					require.NoError(t, c.(interface{ CloseWrite() error }).CloseWrite())
					b := <-got
					require.Equal(t, want.Len(), len(b))
					require.True(t, bytes.Equal(want.Bytes(), b), fmt.Sprintf("%d bytes differ", len(b)))
				})
			}
		})
	}
}

// TestWriteBuffersClosed: on a closed conn WriteBuffers fails with
// net.ErrClosed and leaves v alone.
func TestWriteBuffersClosed(t *testing.T) {
	ln, err := pollnet.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	c, err := pollnet.Dial("tcp4", ln.Addr().String())
	require.NoError(t, err)
	require.NoError(t, c.Close())
	v := net.Buffers{[]byte("a"), []byte("b")}
	n, err := c.(*pollnet.Conn).WriteBuffers(&v)
	require.Zero(t, n)
	require.ErrorIs(t, err, net.ErrClosed)
	require.Len(t, v, 2)
}
