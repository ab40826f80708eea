package conformance

import (
	"os"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCloseWrite: CloseWrite sends EOF to the peer after the data written so
// far, the half-closed side can still read the peer's reply, and its own
// Writes fail with EPIPE.
func TestCloseWrite(t *testing.T) {
	forEachNetwork(t, func(t *testing.T, st stack, network string) {
		for _, side := range []string{"client", "server"} {
			t.Run(side, func(t *testing.T) {
				a, b := pair(t, st, network)
				if side == "server" {
					a, b = b, a
				}
				cw, ok := a.(closeWriter)
				require.True(t, ok, "%T has no CloseWrite method", a)

				writeString(t, a, "request")
				require.NoError(t, cw.CloseWrite())

				// b reads the data, then io.EOF itself, repeatedly.
				got := await(t, goDrain(t, b), "reading to EOF")
				requireEOF(t, got.err)
				require.Equal(t, int64(len("request")), got.total)
				requireEOF(t, doRead(t, b, 10).err)

				// b can still write and a can still read.
				writeString(t, b, "response")
				readString(t, a, "response")
				require.NoError(t, b.Close())
				r := await(t, goRead(t, a, 10), "Read after the peer closed")
				requireEOF(t, r.err)

				// a's write side is shut down.
				w := doWrite(t, a, []byte("more"))
				require.Zero(t, w.n)
				requireConnOpError(t, a, w.err, "write", network)
				require.ErrorIs(t, w.err, syscall.EPIPE)
				var se *os.SyscallError
				require.ErrorAs(t, w.err, &se)
				require.Equal(t, "write", se.Syscall)
			})
		}
	})
}

// TestCloseRead: after CloseRead, Read returns io.EOF (with nothing pending)
// and the conn can still write. On unix sockets the peer's Writes then fail
// with EPIPE; on Linux TCP they still succeed (shutdown(SHUT_RD) sends
// nothing to the peer), so that is not asserted for TCP.
func TestCloseRead(t *testing.T) {
	forEachNetwork(t, func(t *testing.T, st stack, network string) {
		for _, side := range []string{"client", "server"} {
			t.Run(side, func(t *testing.T) {
				a, b := pair(t, st, network)
				if side == "server" {
					a, b = b, a
				}
				cr, ok := a.(closeReader)
				require.True(t, ok, "%T has no CloseRead method", a)
				require.NoError(t, cr.CloseRead())

				r := await(t, goRead(t, a, 10), "Read after CloseRead")
				require.Zero(t, r.n)
				requireEOF(t, r.err)

				writeString(t, a, "still writing")
				readString(t, b, "still writing")

				if network == "unix" {
					err := doWrite(t, b, []byte("x")).err
					requireConnOpError(t, b, err, "write", network)
					require.ErrorIs(t, err, syscall.EPIPE)
				}
			})
		}
	})
}
