//go:build linux && !pollnet_stdnet

package pollnet_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pollnet/pollnet"
)

// Tests of the zero-copy ReadFrom/WriteTo (splice_linux.go,
// sendfile_linux.go). The counters pollnet.SplicedBytes and
// pollnet.SentfileBytes prove which path a copy took; the tests are not
// parallel so that the counters only move for the copy under test.

const (
	zcChunk     = 64 << 10 // the first chunk of a flow
	zcWaitLimit = 10 * time.Second
)

// zcBlock is the test stream's period: random bytes, a length that is not
// a power of two, so a lost or repeated pipe- or page-sized piece shifts
// the stream and changes its hash.
var zcBlock = sync.OnceValue(func() []byte {
	b := make([]byte, 1<<20+4093)
	rand.NewChaCha8([32]byte{'p', 'o', 'l', 'l', 'n', 'e', 't'}).Read(b)
	return b
})

// zcWriteStream writes bytes [off, off+size) of the test stream to w, and
// to h if h is not nil.
func zcWriteStream(w io.Writer, off, size int64, h hash.Hash) error {
	blk := zcBlock()
	for end := off + size; off < end; {
		chunk := blk[off%int64(len(blk)):]
		if rem := end - off; int64(len(chunk)) > rem {
			chunk = chunk[:rem]
		}
		if h != nil {
			h.Write(chunk)
		}
		n, err := w.Write(chunk)
		off += int64(n)
		if err != nil {
			return err
		}
	}
	return nil
}

// zcStream returns bytes [off, off+size) of the test stream.
func zcStream(off, size int64) []byte {
	var b bytes.Buffer
	zcWriteStream(&b, off, size, nil)
	return b.Bytes()
}

// zcHashCount reads r to EOF (or error) and returns the SHA-256 and count.
func zcHashCount(r io.Reader) ([]byte, int64, error) {
	h := sha256.New()
	buf := make([]byte, 256<<10)
	var n int64
	for {
		m, err := r.Read(buf)
		h.Write(buf[:m])
		n += int64(m)
		if err == io.EOF {
			return h.Sum(nil), n, nil
		}
		if err != nil {
			return h.Sum(nil), n, err
		}
	}
}

// onceThenRefused wraps raw (splice or sendfile) for the calls mine
// selects: the first moves at most limit bytes, stored in moved, and every
// later one fails with EINVAL, as a kernel refusing the copy would.
func onceThenRefused(raw func(out, in, n int) (int, error), mine func(out, in int) bool, limit int, moved *atomic.Int64) func(out, in, n int) (int, error) {
	return func(out, in, n int) (int, error) {
		if !mine(out, in) {
			return raw(out, in, n)
		}
		if moved.Load() > 0 {
			return 0, syscall.EINVAL
		}
		m, err := raw(out, in, min(n, limit))
		moved.Store(int64(m))
		return m, err
	}
}

func zcSum(b []byte) []byte { s := sha256.Sum256(b); return s[:] }

type zcCloseWriter interface{ CloseWrite() error }

// zcEnv owns a test's sockets and goroutines, and checks on cleanup that
// no file descriptor leaked.
type zcEnv struct {
	t   testing.TB
	dir string
	wg  sync.WaitGroup

	mu      sync.Mutex
	closers []io.Closer
	nsock   int
}

var zcWarm sync.Once

func zcFDs(tb testing.TB) []string {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		tb.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		l, err := os.Readlink("/proc/self/fd/" + e.Name())
		if err != nil {
			continue // the directory ReadDir read, closed since
		}
		out = append(out, e.Name()+"->"+l)
	}
	return out
}

func newZCEnv(tb testing.TB) *zcEnv { return newZCEnvFDs(tb, true) }

// newZCEnvFDs is newZCEnv, checking fds only if checkFDs: package net's
// splice keeps its pipes in a sync.Pool until a GC, so a test that lets
// package net splice cannot count fds.
func newZCEnvFDs(tb testing.TB, checkFDs bool) *zcEnv {
	// Start both pollers (pollnet's and the runtime's) before counting.
	zcWarm.Do(func() {
		for _, s := range []struct {
			listen func(string, string) (net.Listener, error)
			dial   func(string, string) (net.Conn, error)
		}{{net.Listen, net.Dial}, {pollnet.Listen, pollnet.Dial}} {
			ln, err := s.listen("tcp", "127.0.0.1:0")
			if err != nil {
				tb.Fatal(err)
			}
			c, err := s.dial("tcp", ln.Addr().String())
			if err != nil {
				tb.Fatal(err)
			}
			a, err := ln.Accept()
			if err != nil {
				tb.Fatal(err)
			}
			a.Close()
			c.Close()
			ln.Close()
		}
	})
	pollnet.CloseIdleSplicePipes()
	before := zcFDs(tb)
	dir, err := os.MkdirTemp("", "zc")
	if err != nil {
		tb.Fatal(err)
	}
	e := &zcEnv{t: tb, dir: dir}
	tb.Cleanup(func() {
		e.closeAll()
		e.wg.Wait()
		os.RemoveAll(dir)
		pollnet.CloseIdleSplicePipes()
		if !checkFDs {
			return
		}
		// Compare sets, not counts: a pipe of package net's splice pool
		// that the GC closes during the test is not a leak of ours.
		was := make(map[string]bool)
		for _, fd := range before {
			was[fd] = true
		}
		var leaked []string
		for _, fd := range zcFDs(tb) {
			if !was[fd] {
				leaked = append(leaked, fd)
			}
		}
		if len(leaked) > 0 {
			tb.Errorf("fd leak: %v open now, not before the test (before: %v)", leaked, before)
		}
	})
	return e
}

func (e *zcEnv) add(c io.Closer) {
	e.mu.Lock()
	e.closers = append(e.closers, c)
	e.mu.Unlock()
}

func (e *zcEnv) closeAll() {
	e.mu.Lock()
	cs := e.closers
	e.closers = nil
	e.mu.Unlock()
	for _, c := range cs {
		c.Close()
	}
}

// goFn runs f in a goroutine that cleanup waits for.
func (e *zcEnv) goFn(f func()) {
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		f()
	}()
}

func (e *zcEnv) listen(kind, network string) net.Listener {
	addr := "127.0.0.1:0"
	if network == "unix" {
		e.mu.Lock()
		e.nsock++
		addr = filepath.Join(e.dir, fmt.Sprint("s", e.nsock))
		e.mu.Unlock()
	}
	listen := net.Listen
	if kind == "pollnet" {
		listen = pollnet.Listen
	}
	ln, err := listen(network, addr)
	if err != nil {
		e.t.Fatal(err)
	}
	e.add(ln)
	return ln
}

// pair returns the two ends of a new connection: the one accepted by a
// listener of lnKind ("net" or "pollnet") and the one dialed by dialKind.
func (e *zcEnv) pair(lnKind, dialKind, network string) (accepted, dialed net.Conn) {
	ln := e.listen(lnKind, network)
	dial := net.Dial
	if dialKind == "pollnet" {
		dial = pollnet.Dial
	}
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := ln.Accept()
		ch <- res{c, err}
	}()
	d, err := dial(network, ln.Addr().String())
	r := <-ch
	ln.Close()
	if d != nil {
		e.add(d)
	}
	if r.c != nil {
		e.add(r.c)
	}
	if err != nil || r.err != nil {
		e.t.Fatalf("pair: dial %v, accept %v", err, r.err)
	}
	zcCheckKind(e.t, r.c, lnKind)
	zcCheckKind(e.t, d, dialKind)
	return r.c, d
}

func zcCheckKind(tb testing.TB, c net.Conn, kind string) {
	_, isPollnet := c.(*pollnet.Conn)
	if isPollnet != (kind == "pollnet") {
		tb.Fatalf("conn is %T, want a %s conn", c, kind)
	}
}

type zcResult struct {
	n   int64
	err error
}

func zcWait[T any](tb testing.TB, what string, ch <-chan T) T {
	tb.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(zcWaitLimit):
		tb.Fatalf("%s: still blocked after %v", what, zcWaitLimit)
		panic("unreachable")
	}
}

// zcCopy is how a test moves src to dst: through io.Copy, or by calling
// the pollnet conn's ReadFrom (dst) or WriteTo (src) directly.
type zcCopy string

func (m zcCopy) do(dst, src net.Conn) (int64, error) {
	switch m {
	case "readfrom":
		return dst.(*pollnet.Conn).ReadFrom(src)
	case "writeto":
		return src.(*pollnet.Conn).WriteTo(dst)
	}
	return io.Copy(dst, src)
}

// TestSpliceProxy runs a 64 MiB stream each way through a proxy: client ->
// A, copy(B, A), B -> backend, which echoes; copy(A, B) brings it back.
// Every byte the proxy moves must go through splice.
func TestSpliceProxy(t *testing.T) {
	size := int64(64 << 20)
	if testing.Short() {
		size = 8 << 20
	}
	cases := []struct {
		name        string
		netA, kindA string
		netB, kindB string
		copy        zcCopy
	}{
		{"pollnet-pollnet/tcp", "tcp", "pollnet", "tcp", "pollnet", "io.Copy"},
		{"pollnet-pollnet/unix", "unix", "pollnet", "unix", "pollnet", "io.Copy"},
		{"pollnet-pollnet/tcp/ReadFrom", "tcp", "pollnet", "tcp", "pollnet", "readfrom"},
		{"pollnet-pollnet/tcp-to-unix", "tcp", "pollnet", "unix", "pollnet", "io.Copy"},
		{"pollnet<-net/tcp", "tcp", "net", "tcp", "pollnet", "io.Copy"},
		{"pollnet<-net/unix", "unix", "net", "unix", "pollnet", "io.Copy"},
		{"net<-pollnet/tcp", "tcp", "pollnet", "tcp", "net", "io.Copy"},
		{"net<-pollnet/unix", "unix", "pollnet", "unix", "net", "io.Copy"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newZCEnv(t)
			A, client := e.pair(tc.kindA, "net", tc.netA)
			S, B := e.pair("net", tc.kindB, tc.netB)

			e.goFn(func() { // backend: echo, in user space (package net's
				// splice would keep pipes in its pool, upsetting the fd count)
				io.Copy(struct{ io.Writer }{S}, struct{ io.Reader }{S})
				S.(zcCloseWriter).CloseWrite()
			})
			before := pollnet.SplicedBytes()
			up, down := make(chan zcResult, 1), make(chan zcResult, 1)
			e.goFn(func() {
				n, err := tc.copy.do(B, A)
				B.(zcCloseWriter).CloseWrite()
				up <- zcResult{n, err}
			})
			e.goFn(func() {
				n, err := tc.copy.do(A, B)
				A.(zcCloseWriter).CloseWrite()
				down <- zcResult{n, err}
			})
			sent := sha256.New()
			werr := make(chan error, 1)
			e.goFn(func() {
				err := zcWriteStream(client, 0, size, sent)
				if err == nil {
					err = client.(zcCloseWriter).CloseWrite()
				}
				werr <- err
			})
			got, n, err := zcHashCount(client)
			if err != nil {
				t.Fatalf("client read: %v after %d bytes", err, n)
			}
			if err := <-werr; err != nil {
				t.Fatalf("client write: %v", err)
			}
			for _, r := range []struct {
				dir string
				ch  chan zcResult
			}{{"A->B", up}, {"B->A", down}} {
				res := zcWait(t, r.dir, r.ch)
				if res.err != nil || res.n != size {
					t.Errorf("copy %s = %d, %v; want %d, nil", r.dir, res.n, res.err, size)
				}
			}
			if n != size || !bytes.Equal(got, sent.Sum(nil)) {
				t.Fatalf("client got %d bytes, sha256 %x; sent %d, sha256 %x", n, got, size, sent.Sum(nil))
			}
			if d := pollnet.SplicedBytes() - before; d != 2*size {
				t.Errorf("spliced %d bytes, want %d (both directions)", d, 2*size)
			}
		})
	}
}

// TestSpliceLimitedReader: a copy from an io.LimitedReader stops at N and
// leaves the rest of the stream in the source.
func TestSpliceLimitedReader(t *testing.T) {
	const N, extra = 3<<20 + 17, 4093
	for _, tc := range []struct {
		name, network, kindA string
		refuse               bool // splice refused after one drain
	}{
		{"pollnet/tcp", "tcp", "pollnet", false},
		{"pollnet/unix", "unix", "pollnet", false},
		{"net/tcp", "tcp", "net", false},
		{"net/unix", "unix", "net", false},
		{"pollnet/tcp/refused-midway", "tcp", "pollnet", true},
		{"net/tcp/refused-midway", "tcp", "net", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newZCEnv(t)
			A, client := e.pair(tc.kindA, "net", tc.network)
			S, B := e.pair("net", "pollnet", tc.network)
			wantSpliced := func() int64 { return N }
			if tc.refuse {
				// The user-space rest of the copy must honour N too.
				srcfd := zcSysfd(t, A)
				var moved atomic.Int64
				defer pollnet.SetSpliceHook(onceThenRefused(pollnet.RawSplice,
					func(out, in int) bool { return in == srcfd }, zcChunk, &moved))()
				wantSpliced = moved.Load
			}
			want := zcStream(0, N+extra)
			e.goFn(func() {
				client.Write(want)
				client.(zcCloseWriter).CloseWrite()
			})
			backend := make(chan []byte, 1)
			e.goFn(func() {
				b, _ := io.ReadAll(S)
				backend <- b
			})
			before := pollnet.SplicedBytes()
			dst := B.(*pollnet.Conn)

			if n, err := dst.ReadFrom(io.LimitReader(A, 0)); n != 0 || err != nil {
				t.Fatalf("ReadFrom(LimitReader(A, 0)) = %d, %v", n, err)
			}
			lr := &io.LimitedReader{R: A, N: N}
			if n, err := dst.ReadFrom(lr); n != N || err != nil || lr.N != 0 {
				t.Fatalf("ReadFrom(LimitedReader N=%d) = %d, %v, N left %d; want %d, nil, 0", N, n, err, lr.N, N)
			}
			if d := pollnet.SplicedBytes() - before; d != wantSpliced() || d == 0 {
				t.Errorf("spliced %d bytes, want %d", d, wantSpliced())
			}
			rest, err := io.ReadAll(A)
			if err != nil || !bytes.Equal(rest, want[N:]) {
				t.Errorf("source kept %d bytes (%v), want the %d after N", len(rest), err, extra)
			}
			// io.Copy reaches ReadFrom with the LimitedReader too.
			if n, err := io.Copy(B, io.LimitReader(A, 10)); n != 0 || err != nil {
				t.Errorf("io.Copy(B, LimitReader(A at EOF)) = %d, %v", n, err)
			}
			B.(zcCloseWriter).CloseWrite()
			if got := zcWait(t, "backend", backend); !bytes.Equal(got, want[:N]) {
				t.Errorf("backend got %d bytes, want the first %d of the stream", len(got), N)
			}
		})
	}
}

// TestSendfile: ReadFrom of a regular file uses sendfile.
func TestSendfile(t *testing.T) {
	const size = 8 << 20
	const off, limit = 12345, 1<<20 + 3
	e0 := newZCEnv(t)
	path := filepath.Join(e0.dir, "data")
	if err := os.WriteFile(path, zcStream(0, size), 0o600); err != nil {
		t.Fatal(err)
	}
	full := zcStream(0, size)

	cases := []struct {
		name     string
		network  string
		prepare  func(f *os.File) // seek, etc.
		copy     func(t *testing.T, dst *pollnet.Conn, f *os.File) (int64, error)
		want     []byte
		sendfile int64 // bytes sendfile must move
		offset   int64 // f's offset afterwards
	}{
		{"ReadFrom/tcp", "tcp", nil,
			func(t *testing.T, d *pollnet.Conn, f *os.File) (int64, error) { return d.ReadFrom(f) },
			full, size, size},
		{"ReadFrom/unix", "unix", nil,
			func(t *testing.T, d *pollnet.Conn, f *os.File) (int64, error) { return d.ReadFrom(f) },
			full, size, size},
		{"io.Copy/tcp", "tcp", nil, // via os.File.WriteTo's wrapper
			func(t *testing.T, d *pollnet.Conn, f *os.File) (int64, error) { return io.Copy(d, f) },
			full, size, size},
		{"LimitedReader-at-offset/tcp", "tcp",
			func(f *os.File) { f.Seek(off, io.SeekStart) },
			func(t *testing.T, d *pollnet.Conn, f *os.File) (int64, error) {
				lr := &io.LimitedReader{R: f, N: limit}
				n, err := d.ReadFrom(lr)
				if lr.N != 0 {
					t.Errorf("LimitedReader.N = %d after the copy, want 0", lr.N)
				}
				return n, err
			},
			full[off : off+limit], limit, off + limit},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newZCEnv(t)
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			e.add(f)
			if tc.prepare != nil {
				tc.prepare(f)
			}
			S, B := e.pair("net", "pollnet", tc.network)
			backend := make(chan []byte, 1)
			e.goFn(func() {
				b, _ := io.ReadAll(S)
				backend <- b
			})
			sf, sp := pollnet.SentfileBytes(), pollnet.SplicedBytes()
			n, err := tc.copy(t, B.(*pollnet.Conn), f)
			if n != int64(len(tc.want)) || err != nil {
				t.Fatalf("copy = %d, %v; want %d, nil", n, err, len(tc.want))
			}
			B.Close()
			if got := zcWait(t, "backend", backend); !bytes.Equal(got, tc.want) {
				t.Fatalf("backend got %d bytes (sha256 %x), want %d (%x)", len(got), zcSum(got), len(tc.want), zcSum(tc.want))
			}
			if d := pollnet.SentfileBytes() - sf; d != tc.sendfile {
				t.Errorf("sendfile moved %d bytes, want %d", d, tc.sendfile)
			}
			if d := pollnet.SplicedBytes() - sp; d != 0 {
				t.Errorf("splice moved %d bytes, want 0", d)
			}
			if pos, _ := f.Seek(0, io.SeekCurrent); pos != tc.offset {
				t.Errorf("file offset %d after the copy, want %d", pos, tc.offset)
			}
		})
	}

	// The kernel refuses sendfile after the first 64 KiB: the copy goes on
	// in user space from where sendfile stopped.
	t.Run("refused-midway", func(t *testing.T) {
		e := newZCEnv(t)
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		e.add(f)
		S, B := e.pair("net", "pollnet", "tcp")
		dstfd := zcSysfd(t, B)
		var first atomic.Int64 // bytes the one allowed sendfile moved
		defer pollnet.SetSendfileHook(onceThenRefused(pollnet.RawSendfile,
			func(out, in int) bool { return out == dstfd }, zcChunk, &first))()
		backend := make(chan []byte, 1)
		e.goFn(func() {
			b, _ := io.ReadAll(S)
			backend <- b
		})
		sf := pollnet.SentfileBytes()
		if n, err := B.(*pollnet.Conn).ReadFrom(f); n != size || err != nil {
			t.Fatalf("ReadFrom = %d, %v; want %d, nil", n, err, size)
		}
		B.Close()
		if got := zcWait(t, "backend", backend); !bytes.Equal(got, full) {
			t.Fatalf("backend got %d bytes, want %d intact", len(got), size)
		}
		if d := pollnet.SentfileBytes() - sf; d == 0 || d != first.Load() {
			t.Errorf("sendfile moved %d bytes, want %d (its one allowed call), > 0", d, first.Load())
		}
	})

	// A pipe is not a regular file: plain copy.
	t.Run("pipe-not-regular", func(t *testing.T) {
		e := newZCEnv(t)
		pr, pw, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		e.add(pr)
		e.add(pw)
		e.goFn(func() {
			pw.Write(full[:1<<20])
			pw.Close()
		})
		S, B := e.pair("net", "pollnet", "tcp")
		backend := make(chan []byte, 1)
		e.goFn(func() {
			b, _ := io.ReadAll(S)
			backend <- b
		})
		sf, sp := pollnet.SentfileBytes(), pollnet.SplicedBytes()
		if n, err := B.(*pollnet.Conn).ReadFrom(pr); n != 1<<20 || err != nil {
			t.Fatalf("ReadFrom(pipe) = %d, %v", n, err)
		}
		B.Close()
		if got := zcWait(t, "backend", backend); !bytes.Equal(got, full[:1<<20]) {
			t.Fatalf("backend got %d bytes, want 1 MiB intact", len(got))
		}
		if pollnet.SentfileBytes() != sf || pollnet.SplicedBytes() != sp {
			t.Errorf("a pipe source went through sendfile or splice")
		}
	})
}

// zcSysfd returns c's file descriptor number (valid while c is open).
func zcSysfd(tb testing.TB, c net.Conn) int {
	rc, err := c.(syscall.Conn).SyscallConn()
	if err != nil {
		tb.Fatal(err)
	}
	fd := -1
	rc.Control(func(s uintptr) { fd = int(s) })
	return fd
}

// zcFlow is client -> A, copy(B, A) running in the background, B -> S, with
// the first zcChunk bytes already through: the copy is under way. A splice
// hook watches the copy's system calls on A and B, so that a test can wait
// until the copy is parked waiting for A (srcIdle) or for B (dstFull)
// before it acts.
type zcFlow struct {
	client, A, B, S net.Conn
	done            chan zcResult

	mu      sync.Mutex
	changed chan struct{} // closed and replaced when the state changes
	srcIdle bool          // the last splice from A said EAGAIN
	dstFull bool          // the last splice to B said EAGAIN
}

func (e *zcEnv) startFlow(network, kindA, kindB string, copy zcCopy) *zcFlow {
	f := &zcFlow{done: make(chan zcResult, 1), changed: make(chan struct{})}
	f.A, f.client = e.pair(kindA, "net", network)
	f.S, f.B = e.pair("net", kindB, network)
	srcfd, dstfd := zcSysfd(e.t, f.A), zcSysfd(e.t, f.B)
	e.t.Cleanup(pollnet.SetSpliceHook(func(out, in, max int) (int, error) {
		n, err := pollnet.RawSplice(out, in, max)
		if in == srcfd || out == dstfd {
			f.mu.Lock()
			if in == srcfd {
				f.srcIdle = err == syscall.EAGAIN
			} else {
				f.dstFull = err == syscall.EAGAIN
			}
			close(f.changed)
			f.changed = make(chan struct{})
			f.mu.Unlock()
		}
		return n, err
	}))
	e.goFn(func() {
		n, err := copy.do(f.B, f.A)
		f.done <- zcResult{n, err}
	})
	want := zcStream(0, zcChunk)
	if _, err := f.client.Write(want); err != nil {
		e.t.Fatal(err)
	}
	got := make([]byte, zcChunk)
	if _, err := io.ReadFull(f.S, got); err != nil || !bytes.Equal(got, want) {
		e.t.Fatalf("first chunk through the proxy: %v", err)
	}
	return f
}

// waitFor blocks until cond (called under f.mu) holds. The copy's last
// splice before it parks is the one that sets the state, so once it holds
// the copy is parked, or about to park, in a wait on the poller.
func (f *zcFlow) waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	timeout := time.After(zcWaitLimit)
	for {
		f.mu.Lock()
		ok, ch := cond(), f.changed
		f.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-timeout:
			tb.Fatalf("the copy never got to %s", what)
		}
	}
}

// waitSrcIdle waits until the copy waits for A to send.
func (f *zcFlow) waitSrcIdle(tb testing.TB) {
	f.waitFor(tb, "wait for the source", func() bool { return f.srcIdle })
}

// waitDstFull waits until the copy waits for B to drain.
func (f *zcFlow) waitDstFull(tb testing.TB) {
	f.waitFor(tb, "wait for the destination", func() bool { return f.dstFull })
}

// flood makes the client send until its conn fails.
func (e *zcEnv) flood(c net.Conn) {
	e.goFn(func() { zcWriteStream(c, zcChunk, 1<<40, nil) })
}

// zcCheckErr checks the error that ended a copy: a *net.OpError of the
// pollnet conn's method (ReadFrom or WriteTo) wrapping target.
func zcCheckErr(t *testing.T, err error, op string, target error) {
	t.Helper()
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != op {
		t.Errorf("copy error %#v (%v), want a *net.OpError with Op %q", err, err, op)
	}
	if !errors.Is(err, target) {
		t.Errorf("copy error %v does not match %v", err, target)
	}
	if target == os.ErrDeadlineExceeded {
		if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
			t.Errorf("copy error %v: Timeout() is not true", err)
		}
	}
}

// TestSpliceDeadlineClose: deadlines of both conns end a splice with
// os.ErrDeadlineExceeded, a Close of either with net.ErrClosed, promptly.
func TestSpliceDeadlineClose(t *testing.T) {
	kinds := []struct {
		name         string
		kindA, kindB string
		copy         zcCopy
	}{
		{"pollnet-pollnet/WriteTo", "pollnet", "pollnet", "writeto"},
		{"pollnet-pollnet/ReadFrom", "pollnet", "pollnet", "readfrom"},
		{"pollnet<-net/ReadFrom", "net", "pollnet", "readfrom"},
		{"net<-pollnet/WriteTo", "pollnet", "net", "writeto"},
	}
	scenarios := []struct {
		name string
		run  func(t *testing.T, e *zcEnv, f *zcFlow, op string)
	}{
		{"src-read-deadline-past", func(t *testing.T, e *zcEnv, f *zcFlow, op string) {
			f.waitSrcIdle(t)
			f.A.SetReadDeadline(time.Now())
			res := zcWait(t, "copy", f.done)
			zcCheckErr(t, res.err, op, os.ErrDeadlineExceeded)
			if res.n != zcChunk {
				t.Errorf("copy moved %d bytes, want %d", res.n, zcChunk)
			}
		}},
		{"src-read-deadline-timer", func(t *testing.T, e *zcEnv, f *zcFlow, op string) {
			f.waitSrcIdle(t)
			f.A.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
			res := zcWait(t, "copy", f.done)
			zcCheckErr(t, res.err, op, os.ErrDeadlineExceeded)
		}},
		{"dst-write-deadline", func(t *testing.T, e *zcEnv, f *zcFlow, op string) {
			e.flood(f.client) // S reads no more: B fills up
			f.waitDstFull(t)
			f.B.SetWriteDeadline(time.Now())
			res := zcWait(t, "copy", f.done)
			zcCheckErr(t, res.err, op, os.ErrDeadlineExceeded)
			zcCheckDelivered(t, f, res.n)
		}},
		{"close-src", func(t *testing.T, e *zcEnv, f *zcFlow, op string) {
			f.waitSrcIdle(t)
			zcWait(t, "Close(A)", zcAsync(f.A.Close))
			res := zcWait(t, "copy", f.done)
			zcCheckErr(t, res.err, op, net.ErrClosed)
			if res.n != zcChunk {
				t.Errorf("copy moved %d bytes, want %d", res.n, zcChunk)
			}
		}},
		{"close-dst-while-full", func(t *testing.T, e *zcEnv, f *zcFlow, op string) {
			e.flood(f.client)
			f.waitDstFull(t)
			zcWait(t, "Close(B)", zcAsync(f.B.Close))
			res := zcWait(t, "copy", f.done)
			zcCheckErr(t, res.err, op, net.ErrClosed)
			zcCheckDelivered(t, f, res.n)
		}},
		{"close-dst-while-waiting-for-src", func(t *testing.T, e *zcEnv, f *zcFlow, op string) {
			// The copy waits for A; Close(B) must not wait for it.
			f.waitSrcIdle(t)
			zcWait(t, "Close(B)", zcAsync(f.B.Close))
			// The copy sees it with the next bytes from A.
			f.client.Write([]byte{1})
			res := zcWait(t, "copy", f.done)
			zcCheckErr(t, res.err, op, net.ErrClosed)
			if res.n != zcChunk {
				t.Errorf("copy moved %d bytes, want %d", res.n, zcChunk)
			}
		}},
	}
	for _, network := range []string{"tcp", "unix"} {
		for _, k := range kinds {
			for _, sc := range scenarios {
				t.Run(network+"/"+k.name+"/"+sc.name, func(t *testing.T) {
					e := newZCEnv(t)
					f := e.startFlow(network, k.kindA, k.kindB, k.copy)
					sc.run(t, e, f, string(k.copy))
				})
			}
		}
	}
}

func zcAsync(f func() error) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- f() }()
	return ch
}

// zcCheckDelivered checks that the count a failed copy returned is what
// reached the backend: every byte B accepted, no more.
func zcCheckDelivered(t *testing.T, f *zcFlow, n int64) {
	t.Helper()
	f.client.Close()
	f.B.Close()
	got, m, err := zcHashCount(f.S)
	if err != nil {
		t.Fatalf("backend read: %v", err)
	}
	m += zcChunk // read by startFlow
	if m != n {
		t.Errorf("copy reported %d bytes, the backend received %d", n, m)
	}
	h := sha256.New()
	zcWriteStream(io.Discard, zcChunk, m-zcChunk, h)
	if !bytes.Equal(got, h.Sum(nil)) {
		t.Errorf("the backend's %d bytes are not the stream's", m)
	}
}

// TestSpliceFallback: sources and destinations splice cannot serve, and a
// kernel that refuses splice part-way, still copy every byte, in order.
func TestSpliceFallback(t *testing.T) {
	const size = 4 << 20
	want := zcStream(0, size)

	t.Run("bytes.Reader-source", func(t *testing.T) {
		e := newZCEnv(t)
		S, B := e.pair("net", "pollnet", "tcp")
		backend := make(chan []byte, 1)
		e.goFn(func() {
			b, _ := io.ReadAll(S)
			backend <- b
		})
		sp, sf := pollnet.SplicedBytes(), pollnet.SentfileBytes()
		if n, err := io.Copy(B, bytes.NewReader(want)); n != size || err != nil {
			t.Fatalf("io.Copy = %d, %v", n, err)
		}
		B.Close()
		if got := zcWait(t, "backend", backend); !bytes.Equal(got, want) {
			t.Fatalf("backend got %d bytes, want %d intact", len(got), size)
		}
		if pollnet.SplicedBytes() != sp || pollnet.SentfileBytes() != sf {
			t.Errorf("a bytes.Reader went through splice or sendfile")
		}
	})

	t.Run("bytes.Buffer-destination", func(t *testing.T) {
		e := newZCEnv(t)
		A, client := e.pair("pollnet", "net", "tcp")
		e.goFn(func() {
			client.Write(want)
			client.Close()
		})
		sp := pollnet.SplicedBytes()
		var buf bytes.Buffer
		if n, err := A.(*pollnet.Conn).WriteTo(&buf); n != size || err != nil {
			t.Fatalf("WriteTo = %d, %v", n, err)
		}
		if !bytes.Equal(buf.Bytes(), want) {
			t.Fatalf("got %d bytes, want %d intact", buf.Len(), size)
		}
		if pollnet.SplicedBytes() != sp {
			t.Errorf("a bytes.Buffer destination went through splice")
		}
	})

	// refusals: the hook returns EINVAL for this test's sockets, as a
	// kernel without splice support for them would.
	refusals := []struct {
		name string
		// hook returns the splice hook for the sockets srcfd and dstfd; it
		// stores in moved the bytes splice still moves.
		hook func(srcfd, dstfd int, moved *atomic.Int64) func(out, in, max int) (int, error)
	}{
		{"drain-refused-at-once", func(srcfd, dstfd int, _ *atomic.Int64) func(int, int, int) (int, error) {
			return func(out, in, max int) (int, error) {
				if in == srcfd {
					return 0, syscall.EINVAL
				}
				return pollnet.RawSplice(out, in, max)
			}
		}},
		// One drain succeeds, the next is refused (the pipe is empty then).
		{"drain-refused-later", func(srcfd, dstfd int, moved *atomic.Int64) func(int, int, int) (int, error) {
			return onceThenRefused(pollnet.RawSplice, func(out, in int) bool { return in == srcfd }, zcChunk, moved)
		}},
		// The pump moves at most 1000 bytes, then is refused with the rest
		// of the drained bytes in the pipe: they must reach B first.
		{"pump-refused-with-data-in-pipe", func(srcfd, dstfd int, moved *atomic.Int64) func(int, int, int) (int, error) {
			return onceThenRefused(pollnet.RawSplice, func(out, in int) bool { return out == dstfd }, 1000, moved)
		}},
	}
	kinds := []struct {
		name         string
		kindA, kindB string
		copy         zcCopy
	}{
		{"pollnet-pollnet/WriteTo", "pollnet", "pollnet", "writeto"},
		{"pollnet-pollnet/ReadFrom", "pollnet", "pollnet", "readfrom"},
		{"pollnet<-net/ReadFrom", "net", "pollnet", "readfrom"},
		{"net<-pollnet/WriteTo", "pollnet", "net", "writeto"},
	}
	for _, r := range refusals {
		for _, k := range kinds {
			t.Run(r.name+"/"+k.name, func(t *testing.T) {
				e := newZCEnv(t)
				A, client := e.pair(k.kindA, "net", "tcp")
				S, B := e.pair("net", k.kindB, "tcp")
				var moved atomic.Int64
				defer pollnet.SetSpliceHook(r.hook(zcSysfd(t, A), zcSysfd(t, B), &moved))()
				e.goFn(func() {
					client.Write(want)
					client.(zcCloseWriter).CloseWrite()
				})
				backend := make(chan []byte, 1)
				e.goFn(func() {
					b, _ := io.ReadAll(S)
					backend <- b
				})
				sp := pollnet.SplicedBytes()
				n, err := k.copy.do(B, A)
				if n != size || err != nil {
					t.Fatalf("copy = %d, %v; want %d, nil", n, err, size)
				}
				B.Close()
				got := zcWait(t, "backend", backend)
				if !bytes.Equal(got, want) {
					i := 0
					for i < len(got) && i < len(want) && got[i] == want[i] {
						i++
					}
					t.Fatalf("backend got %d bytes, want %d intact (first difference at %d)", len(got), size, i)
				}
				if d := pollnet.SplicedBytes() - sp; d != moved.Load() {
					t.Errorf("spliced %d bytes, want %d", d, moved.Load())
				}
			})
		}
	}
}

// TestSpliceEcho: io.Copy(c, c), the echo server's loop, splices from a
// conn to itself.
func TestSpliceEcho(t *testing.T) {
	const size = 8 << 20
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			e := newZCEnv(t)
			c, client := e.pair("pollnet", "net", network)
			before := pollnet.SplicedBytes()
			echoed := make(chan zcResult, 1)
			e.goFn(func() {
				n, err := io.Copy(c, c)
				c.(zcCloseWriter).CloseWrite()
				echoed <- zcResult{n, err}
			})
			sent := sha256.New()
			wrote := make(chan struct{})
			e.goFn(func() {
				defer close(wrote)
				zcWriteStream(client, 0, size, sent)
				client.(zcCloseWriter).CloseWrite()
			})
			got, n, err := zcHashCount(client)
			<-wrote
			if res := zcWait(t, "echo", echoed); res.n != size || res.err != nil {
				t.Errorf("io.Copy(c, c) = %d, %v; want %d, nil", res.n, res.err, size)
			}
			if err != nil || n != size || !bytes.Equal(got, sent.Sum(nil)) {
				t.Fatalf("client got %d bytes (%v), sha256 %x; want %d, %x", n, err, got, size, sent.Sum(nil))
			}
			if d := pollnet.SplicedBytes() - before; d != size {
				t.Errorf("spliced %d bytes, want %d", d, size)
			}
		})
	}
}

// TestSpliceClosedDestination: a copy to a closed conn fails with
// net.ErrClosed before it takes anything from the source.
func TestSpliceClosedDestination(t *testing.T) {
	for _, k := range []struct {
		name         string
		kindA, kindB string
		copy         zcCopy
	}{
		{"pollnet-pollnet/WriteTo", "pollnet", "pollnet", "writeto"},
		{"pollnet-pollnet/ReadFrom", "pollnet", "pollnet", "readfrom"},
		{"pollnet<-net/ReadFrom", "net", "pollnet", "readfrom"},
		{"net<-pollnet/WriteTo", "pollnet", "net", "writeto"},
	} {
		t.Run(k.name, func(t *testing.T) {
			e := newZCEnv(t)
			A, client := e.pair(k.kindA, "net", "tcp")
			_, B := e.pair("net", k.kindB, "tcp")
			if _, err := client.Write([]byte("hello")); err != nil {
				t.Fatal(err)
			}
			B.Close()
			n, err := k.copy.do(B, A)
			if n != 0 {
				t.Errorf("copy moved %d bytes to a closed conn", n)
			}
			zcCheckErr(t, err, string(k.copy), net.ErrClosed)
			buf := make([]byte, 5)
			if _, err := io.ReadFull(A, buf); err != nil || string(buf) != "hello" {
				t.Errorf("source after the failed copy: %q, %v; want \"hello\"", buf, err)
			}
		})
	}
}

// BenchmarkProxy measures a stream through a one-way proxy, client -> A,
// io.Copy(B, A), B -> sink, 16 MiB per op: with pollnet conns on the proxy
// (splice), the same copy forced through user space, and package net's
// conns (its own splice). Client and sink are package net in all three.
func BenchmarkProxy(b *testing.B) {
	const perOp = 16 << 20
	for _, network := range []string{"tcp", "unix"} {
		for _, mode := range []string{"net", "pollnet", "pollnet-buffered"} {
			b.Run(network+"/"+mode, func(b *testing.B) {
				e := newZCEnvFDs(b, mode != "net")
				kind := "pollnet"
				if mode == "net" {
					kind = "net"
				}
				A, client := e.pair(kind, "net", network)
				S, B := e.pair("net", kind, network)
				proxied := make(chan struct{})
				e.goFn(func() {
					defer close(proxied)
					if mode == "pollnet-buffered" {
						io.Copy(struct{ io.Writer }{B}, struct{ io.Reader }{A})
					} else {
						io.Copy(B, A)
					}
					B.Close()
				})
				done := make(chan struct{}, 1)
				e.goFn(func() { // sink: a signal per perOp bytes
					buf := make([]byte, 1<<20)
					var got int64
					for {
						n, err := S.Read(buf)
						got += int64(n)
						for got >= perOp {
							got -= perOp
							done <- struct{}{}
						}
						if err != nil {
							return
						}
					}
				})
				src := zcStream(0, perOp)
				sp := pollnet.SplicedBytes()
				b.SetBytes(perOp)
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if _, err := client.Write(src); err != nil {
						b.Fatal(err)
					}
					<-done
				}
				b.StopTimer()
				client.Close()
				<-proxied
				if d := pollnet.SplicedBytes() - sp; mode == "pollnet" && d != int64(b.N)*perOp {
					b.Errorf("the proxy spliced %d bytes, want %d", d, int64(b.N)*perOp)
				}
			})
		}
	}
}
