package pollnet_test

import (
	"bytes"
	"io"
	"net"
	"testing"

	"github.com/pollnet/pollnet"
	"github.com/stretchr/testify/require"
)

// TestCopyLimited: ReadFrom through an *io.LimitedReader over a conn copies
// exactly the limit and counts it down, between any mix of pollnet and net
// conns, as io.CopyN needs.
func TestCopyLimited(t *testing.T) {
	type stack struct {
		name   string
		listen func(string, string) (net.Listener, error)
		dial   func(string, string) (net.Conn, error)
	}
	stacks := []stack{{"net", net.Listen, net.Dial}, {"pollnet", pollnet.Listen, pollnet.Dial}}
	pair := func(t *testing.T, st stack) (net.Conn, net.Conn) {
		ln, err := st.listen("tcp4", "127.0.0.1:0")
		require.NoError(t, err)
		defer ln.Close()
		c, err := st.dial("tcp4", ln.Addr().String())
		require.NoError(t, err)
		s, err := ln.Accept()
		require.NoError(t, err)
		t.Cleanup(func() { c.Close(); s.Close() })
		return c, s
	}
	payload := bytes.Repeat([]byte("0123456789"), 1<<14)
	for _, from := range stacks {
		for _, to := range stacks {
			t.Run(from.name+"->"+to.name, func(t *testing.T) {
				srcW, src := pair(t, from)
				dst, dstR := pair(t, to)
				go func() {
					srcW.Write(payload)
					srcW.Close()
				}()
				const limit = 100_000
				n, err := io.CopyN(dst, src, limit)
				require.NoError(t, err)
				require.Equal(t, int64(limit), n)
				lr := &io.LimitedReader{R: src, N: 10}
				n, err = dst.(io.ReaderFrom).ReadFrom(lr)
				require.NoError(t, err)
				require.Equal(t, int64(10), n)
				require.Zero(t, lr.N)
				require.NoError(t, dst.(interface{ CloseWrite() error }).CloseWrite())
				got, err := io.ReadAll(dstR)
				require.NoError(t, err)
				require.Equal(t, payload[:limit+10], got)
			})
		}
	}
}
