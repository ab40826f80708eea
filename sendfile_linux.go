//go:build linux && !pollnet_stdnet

package pollnet

import (
	"os"
	"sync/atomic"

	"github.com/pollnet/pollnet/pollrt"
	"golang.org/x/sys/unix"
)

// testHookSendfile, when set, replaces sendfile(2) (tests inject refusals).
var testHookSendfile atomic.Pointer[func(out, in, count int) (int, error)]

func sendfile(out, in, count int) (int, error) {
	if h := testHookSendfile.Load(); h != nil {
		return (*h)(out, in, count)
	}
	return rawSendfile(out, in, count)
}

// rawSendfile sends from in's file offset, which it advances.
func rawSendfile(out, in, count int) (int, error) {
	n, err := unix.Sendfile(out, in, nil, count)
	if n < 0 {
		n = 0
	}
	return n, err
}

// sendFile copies from f, a regular file, to the socket with sendfile(2),
// from f's offset: size bytes, or to the end of the file if size is 0. It
// runs under f's read lock (f's RawConn), as package net's sendFile. f's
// offset advances by the bytes sent, so when fallback reports that the
// kernel refused, a user-space copy from f goes on where sendfile stopped.
func (fd *netFD) sendFile(f *os.File, size int64) (written int64, err error, fallback bool) {
	sc, err := f.SyscallConn()
	if err != nil {
		return 0, nil, true
	}
	var serr error
	err = sc.Read(func(src uintptr) bool {
		written, serr, fallback = fd.sendFileLocked(int(src), size)
		return true
	})
	if err == nil {
		err = serr
	}
	return written, err, fallback
}

func (fd *netFD) sendFileLocked(src int, size int64) (written int64, err error, fallback bool) {
	var serr error
	err = fd.doLocked(pollrt.Write, func() bool {
		for size == 0 || written < size {
			chunk := maxRW
			if size > 0 {
				chunk = int(min(size-written, int64(chunk)))
			}
			n, err := sendfile(fd.sysfd, src, chunk)
			if n > 0 {
				written += int64(n)
				sentfile.Add(int64(n))
				continue
			}
			switch {
			case err == nil:
				return true // end of file
			case err == unix.EINTR:
			case err == unix.EAGAIN:
				return false
			case refused(err):
				fallback = true
				return true
			default:
				serr = os.NewSyscallError("sendfile", err)
				return true
			}
		}
		return true
	})
	if err != nil {
		return written, err, false
	}
	return written, serr, fallback
}
