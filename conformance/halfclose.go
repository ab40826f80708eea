package conformance

import (
	"net"
	"os"
	"syscall"
	"testing"
)

// closeWrite: CloseWrite sends EOF to the peer after the data written so
// far, the half-closed side can still read the peer's reply, and its own
// Writes fail with EPIPE.
func closeWrite(t *testing.T, st stack) {
	forEachSide(t, st, func(t *testing.T, network string, a, b net.Conn) {
		cw, ok := a.(closeWriter)
		mustTrue(t, ok, "%T has no CloseWrite method", a)

		writeString(t, a, "request")
		mustNoError(t, cw.CloseWrite())

		// b reads the data, then io.EOF itself, repeatedly.
		got := await(t, goDrain(t, b), "reading to EOF")
		requireEOF(t, got.err)
		mustEqual(t, int64(len("request")), got.total)
		requireEOF(t, doRead(t, b, 10).err)

		// b can still write and a can still read.
		writeString(t, b, "response")
		readString(t, a, "response")
		mustNoError(t, b.Close())
		r := await(t, goRead(t, a, 10), "Read after the peer closed")
		requireEOF(t, r.err)

		// a's write side is shut down.
		w := doWrite(t, a, []byte("more"))
		mustZero(t, w.n)
		requireConnOpError(t, a, w.err, "write", network)
		mustErrorIs(t, w.err, syscall.EPIPE)
		var se *os.SyscallError
		mustErrorAs(t, w.err, &se)
		mustEqual(t, "write", se.Syscall)
	})
}

// closeRead: after CloseRead, Read returns io.EOF (with nothing pending)
// and the conn can still write. On unix sockets the peer's Writes then fail
// with EPIPE; on Linux TCP they still succeed (shutdown(SHUT_RD) sends
// nothing to the peer), so that is not asserted for TCP.
func closeRead(t *testing.T, st stack) {
	forEachSide(t, st, func(t *testing.T, network string, a, b net.Conn) {
		cr, ok := a.(closeReader)
		mustTrue(t, ok, "%T has no CloseRead method", a)
		mustNoError(t, cr.CloseRead())

		r := await(t, goRead(t, a, 10), "Read after CloseRead")
		mustZero(t, r.n)
		requireEOF(t, r.err)

		writeString(t, a, "still writing")
		readString(t, b, "still writing")

		if network == "unix" {
			err := doWrite(t, b, []byte("x")).err
			requireConnOpError(t, b, err, "write", network)
			mustErrorIs(t, err, syscall.EPIPE)
		}
	})
}
