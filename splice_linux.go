//go:build linux && !pollnet_stdnet

package pollnet

import (
	"io"
	"net"
	"os"
	"reflect"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/pollnet/pollnet/pollrt"
	"golang.org/x/sys/unix"
)

// Zero-copy ReadFrom and WriteTo.
//
// Between two stream sockets the bytes go through a pipe with splice(2),
// socket -> pipe ("drain") then pipe -> socket ("pump"), as in
// internal/poll's Splice; they never enter user space. Either socket may be
// a pollnet conn, waited on with its pollrt descriptor under the fd's read or
// write lock as fd.go's loops do, or a package-net *net.TCPConn or stream
// *net.UnixConn, waited on in the runtime's poller through its RawConn.
//
// Invariants:
//   - The pipe is empty when a drain starts: a pump always moves all of
//     what the drain put in it before the next drain. So a drain's EAGAIN
//     means the source has no data, and a pump's EAGAIN means the
//     destination is full.
//   - Only one conn is locked at a time: the drain holds the source's read
//     lock, the pump the destination's write lock, never both. A Close of
//     either conn (which waits for the conn's operations to return) is
//     never held up by a wait on the other conn.
//   - When the kernel refuses splice (EINVAL, ENOSYS, EOPNOTSUPP) the bytes
//     already in the pipe are written to the destination in user space
//     before the copy goes on in user space: no byte read from the source is
//     dropped.
//
// A wait on one conn is not interrupted by a Close of the other: a copy
// waiting for the source to send notices that the destination was closed
// when the next bytes arrive (package net behaves the same). A copy ended
// by an error of the destination (closed, reset, write deadline) loses the
// bytes it had read from the source but not written, as a user-space
// io.Copy does; the count it returns is what the destination accepted.

// Bytes moved by splice (to a destination) and by sendfile since start.
// Tests read them to prove that the zero-copy path was taken.
var (
	spliced  atomic.Int64
	sentfile atomic.Int64
)

const (
	// maxSpliceSize caps one drain: the pipe's size, 1 MiB (the default
	// /proc/sys/fs/pipe-max-size), as in internal/poll.
	maxSpliceSize = 1 << 20
	// spliceFlags: SPLICE_F_NONBLOCK keeps the pipe side from blocking (the
	// sockets are non-blocking anyway); SPLICE_F_MOVE is a hint.
	spliceFlags = unix.SPLICE_F_NONBLOCK | unix.SPLICE_F_MOVE
	// maxIdlePipes bounds the pipes kept for reuse (two fds each).
	maxIdlePipes = 16
)

// testHookSplice, when set, replaces splice(2); tests use it to make the
// kernel "refuse" chosen descriptors.
var testHookSplice atomic.Pointer[func(out, in, max int) (int, error)]

// splice moves up to max bytes from in to out; one of them is a pipe.
func splice(out, in, max int) (int, error) {
	if h := testHookSplice.Load(); h != nil {
		return (*h)(out, in, max)
	}
	return rawSplice(out, in, max)
}

func rawSplice(out, in, max int) (int, error) {
	n, err := unix.Splice(in, nil, out, nil, max, spliceFlags)
	if n < 0 {
		n = 0
	}
	return int(n), err
}

// refused reports a syscall error meaning "not supported for these
// descriptors": the call moved nothing, and a user-space copy can take over.
func refused(err error) bool {
	return err == unix.EINVAL || err == unix.ENOSYS || err == unix.EOPNOTSUPP
}

// readFrom is (*Conn).ReadFrom without the error wrapping.
func (c *Conn) readFrom(r io.Reader) (int64, error) {
	if err := c.fd.incref(); err != nil {
		// Read nothing from r for a closed conn.
		return 0, err
	}
	c.fd.decref()

	orig := r
	remain := int64(1<<63 - 1)
	lr, _ := r.(*io.LimitedReader)
	if lr != nil {
		if lr.N <= 0 {
			return 0, nil
		}
		remain, r = lr.N, lr.R
	}
	if u, ok := unwrapStd(r).(io.Reader); ok {
		r = u
	}

	var n int64
	var err error
	var fallback bool
	if src, ok := spliceEndOf(r); ok {
		n, err, fallback = spliceCopy(spliceEnd{fd: c.fd}, src, c, remain)
	} else if f, ok := r.(*os.File); ok && isRegular(f) {
		size := remain
		if lr == nil {
			size = 0 // to the end of the file
		}
		n, err, fallback = c.fd.sendFile(f, size)
	} else {
		return io.Copy(writerOnly{c}, orig)
	}
	if lr != nil {
		lr.N = remain - n
	}
	if !fallback {
		return n, err
	}
	m, err := copyRest(c, r, lr)
	return n + m, err
}

func isRegular(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode().IsRegular()
}

// writeTo is (*Conn).WriteTo without the error wrapping.
func (c *Conn) writeTo(w io.Writer) (int64, error) {
	if dst, ok := spliceEndOf(unwrapStd(w)); ok {
		n, err, fallback := spliceCopy(dst, spliceEnd{fd: c.fd}, w, 1<<63-1)
		if !fallback {
			return n, err
		}
		m, err := copyRest(w, c, nil)
		return n + m, err
	}
	return io.Copy(w, readerOnly{c})
}

// copyRest finishes a copy in user space after the kernel refused: all of
// r, or what lr (whose R is r) still allows.
func copyRest(w io.Writer, r io.Reader, lr *io.LimitedReader) (int64, error) {
	if lr != nil {
		r = lr
	}
	// Hide ReadFrom and WriteTo, which would try the kernel again.
	return io.Copy(writerOnly{w}, readerOnly{r})
}

// unwrapStd returns the *net.TCPConn or *os.File inside the wrappers that
// package net and package os hand to io.Copy to hide their own WriteTo or
// ReadFrom (net.tcpConnWithoutWriteTo and friends). io.Copy(pollnetConn,
// tcpConn) calls tcpConn.WriteTo, which calls pollnetConn.ReadFrom with
// such a wrapper; unwrapping it lets that copy splice too. Those wrappers
// only hide a method, so the conn or file inside reads the same bytes.
func unwrapStd(x any) any {
	t := reflect.TypeOf(x)
	if t == nil || t.Kind() != reflect.Struct {
		return x
	}
	var field string
	switch t.PkgPath() {
	case "net":
		if t.Name() != "tcpConnWithoutWriteTo" && t.Name() != "tcpConnWithoutReadFrom" {
			return x
		}
		field = "TCPConn"
	case "os":
		if t.Name() != "fileWithoutWriteTo" {
			return x
		}
		field = "File"
	default:
		return x
	}
	v := reflect.ValueOf(x).FieldByName(field)
	if !v.IsValid() || !v.CanInterface() {
		return x
	}
	switch inner := v.Interface().(type) {
	case *net.TCPConn:
		if inner != nil {
			return inner
		}
	case *os.File:
		if inner != nil {
			return inner
		}
	}
	return x
}

// spliceEnd is one side of a splice: a pollnet conn (fd) or a package-net
// stream conn reached through its RawConn (rc).
type spliceEnd struct {
	fd *netFD
	rc syscall.RawConn
}

// spliceEndOf returns the splice end of x if it is a stream socket that
// splice can serve: a pollnet *Conn, a *net.TCPConn, a stream *net.UnixConn.
func spliceEndOf(x any) (spliceEnd, bool) {
	switch v := x.(type) {
	case *Conn:
		if v.ok() {
			return spliceEnd{fd: v.fd}, true
		}
	case *net.TCPConn:
		if v != nil {
			if rc, err := v.SyscallConn(); err == nil {
				return spliceEnd{rc: rc}, true
			}
		}
	case *net.UnixConn:
		// Only "unix" (SOCK_STREAM): splicing a datagram or seqpacket
		// socket would merge or split its messages.
		if v == nil {
			break
		}
		rc, err := v.SyscallConn()
		if err != nil {
			break
		}
		typ := -1
		if rc.Control(func(s uintptr) {
			typ, err = unix.GetsockoptInt(int(s), unix.SOL_SOCKET, unix.SO_TYPE)
		}) == nil && err == nil && typ == unix.SOCK_STREAM {
			return spliceEnd{rc: rc}, true
		}
	}
	return spliceEnd{}, false
}

// spliceCopy moves up to remain bytes from src to dst, until src's EOF,
// through a pipe. It returns the bytes written to dst. fallback reports
// that the kernel refused splice (or no pipe could be made): the caller
// copies the rest in user space. Any bytes the pipe held then have been
// written to dst through w, dst's io.Writer.
func spliceCopy(dst, src spliceEnd, w io.Writer, remain int64) (written int64, err error, fallback bool) {
	// Take nothing from src for a destination that is closed already.
	if err := dst.check(); err != nil {
		return 0, err, false
	}
	p, err := getPipe()
	if err != nil {
		return 0, nil, true
	}
	defer putPipe(p)
	for remain > 0 {
		n, err := src.drain(p.w, int(min(remain, maxSpliceSize)))
		if err != nil {
			if refused(err) {
				return written, nil, true
			}
			return written, wrapSyscall("splice", err), false
		}
		if n == 0 {
			return written, nil, false // EOF
		}
		p.data = n
		m, err := dst.pump(p.r, n)
		p.data -= m
		written += int64(m)
		remain -= int64(m)
		spliced.Add(int64(m))
		if err != nil {
			if !refused(err) {
				return written, wrapSyscall("splice", err), false
			}
			// Hand the bytes already taken from src to dst, then let
			// the caller go on in user space.
			m, err := p.flushTo(w)
			written += int64(m)
			if err != nil {
				return written, err, false
			}
			return written, nil, true
		}
	}
	return written, nil, false
}

// check returns net.ErrClosed if the conn is closed.
func (e spliceEnd) check() error {
	if e.fd != nil {
		if err := e.fd.incref(); err != nil {
			return err
		}
		e.fd.decref()
		return nil
	}
	return rawErr(e.rc.Control(func(uintptr) {}))
}

// wait calls try with the socket until it reports done, waiting for
// readiness in mode between calls: for a pollnet conn, fd.Read's and
// fd.Write's loop (doLocked); for a package-net conn, its RawConn's. The
// errors of the wait are returned bare (net.ErrClosed,
// os.ErrDeadlineExceeded).
func (e spliceEnd) wait(mode pollrt.Mode, try func(s int) bool) error {
	if e.fd != nil {
		return e.fd.doLocked(mode, func() bool { return try(e.fd.sysfd) })
	}
	f := func(s uintptr) bool { return try(int(s)) }
	if mode == pollrt.Read {
		return rawErr(e.rc.Read(f))
	}
	return rawErr(e.rc.Write(f))
}

// drain moves at most max bytes from the socket into the pipe whose write
// end is pw, waiting for the socket to be readable. (0, nil) is EOF. Errors
// are returned bare: a syscall's errno, net.ErrClosed,
// os.ErrDeadlineExceeded.
func (e spliceEnd) drain(pw, max int) (int, error) {
	var n int
	var serr error
	err := e.wait(pollrt.Read, func(s int) bool {
		for {
			n, serr = splice(pw, s, max)
			if serr != unix.EINTR {
				return serr != unix.EAGAIN
			}
		}
	})
	if err != nil {
		return 0, err
	}
	return n, serr
}

// pump moves the n bytes the pipe whose read end is pr holds into the
// socket, waiting for it to be writable. It returns how many it moved.
func (e spliceEnd) pump(pr, n int) (int, error) {
	written := 0
	var serr error
	err := e.wait(pollrt.Write, func(s int) bool {
		for written < n {
			m, err := splice(s, pr, n-written)
			if m > 0 {
				written += m
				continue
			}
			switch err {
			case unix.EINTR:
				continue
			case unix.EAGAIN:
				return false // wait for writability
			case nil:
				err = io.ErrShortWrite // cannot happen: the pipe holds data
			}
			serr = err
			return true
		}
		return true
	})
	if err != nil {
		return written, err
	}
	return written, serr
}

// rawErr unwraps the *net.OpError a package-net RawConn puts around the
// error of its wait (net.ErrClosed, os.ErrDeadlineExceeded), so that
// ReadFrom and WriteTo wrap it once, like pollnet's own waits.
func rawErr(err error) error {
	if oe, ok := err.(*net.OpError); ok && (oe.Op == "raw-read" || oe.Op == "raw-write" || oe.Op == "raw-control") {
		return oe.Err
	}
	return err
}

// doLocked runs try, waiting in mode while it reports false (EAGAIN),
// under the direction's lock: fd.Read's and fd.Write's loop, for the
// kernel copies' syscalls. Its errors are net.ErrClosed and mapPollErr's.
func (fd *netFD) doLocked(mode pollrt.Mode, try func() bool) error {
	if err := fd.lock(mode); err != nil {
		return err
	}
	defer fd.unlock(mode)
	if err := fd.pd.Prepare(mode); err != nil {
		return mapPollErr(err)
	}
	return mapPollErr(fd.pd.Do(mode, tryFunc(try)))
}

// tryFunc is a function as a pollrt.Attempt.
type tryFunc func() bool

func (f tryFunc) Try() bool { return f() }

// splicePipe is a non-blocking pipe and the count of bytes it holds.
type splicePipe struct {
	r, w int
	data int
}

// pipePool keeps up to maxIdlePipes empty pipes; a pipe that does not fit,
// or still holds data, is closed.
var pipePool struct {
	mu   sync.Mutex
	idle []*splicePipe
}

func getPipe() (*splicePipe, error) {
	pipePool.mu.Lock()
	if n := len(pipePool.idle); n > 0 {
		p := pipePool.idle[n-1]
		pipePool.idle[n-1] = nil
		pipePool.idle = pipePool.idle[:n-1]
		pipePool.mu.Unlock()
		return p, nil
	}
	pipePool.mu.Unlock()
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		return nil, os.NewSyscallError("pipe2", err)
	}
	// One drain fills the pipe; a smaller pipe (the call fails beyond
	// pipe-max-size or the user's pipe quota) only costs more syscalls.
	unix.FcntlInt(uintptr(fds[1]), unix.F_SETPIPE_SZ, maxSpliceSize)
	return &splicePipe{r: fds[0], w: fds[1]}, nil
}

func putPipe(p *splicePipe) {
	if p.data == 0 {
		pipePool.mu.Lock()
		if len(pipePool.idle) < maxIdlePipes {
			pipePool.idle = append(pipePool.idle, p)
			pipePool.mu.Unlock()
			return
		}
		pipePool.mu.Unlock()
	}
	p.close()
}

func (p *splicePipe) close() {
	unix.Close(p.r)
	unix.Close(p.w)
}

// flushTo writes the bytes the pipe holds to w, in user space. It returns
// how many w accepted.
func (p *splicePipe) flushTo(w io.Writer) (int, error) {
	buf := make([]byte, min(p.data, 64<<10))
	written := 0
	for p.data > 0 {
		n, err := unix.Read(p.r, buf[:min(p.data, len(buf))])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return written, os.NewSyscallError("read", err)
		}
		if n <= 0 {
			return written, io.ErrUnexpectedEOF // cannot happen: the pipe holds p.data bytes
		}
		p.data -= n
		m, err := w.Write(buf[:n])
		written += m
		if err != nil {
			return written, err
		}
	}
	return written, nil
}
