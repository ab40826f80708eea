//go:build linux

package stress

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pollnet/pollnet"
	"github.com/pollnet/pollnet/pollrt"
)

// Helpers shared by every test of the package: endpoints, the watchdog,
// error classification, counters, the framing used to detect cross-talk,
// and the child-process harness.

// hangTimeout is how long any single operation may block before the
// watchdog declares a hang and fails the test with every goroutine's stack.
// Nothing legitimately comes near it, even under -race on a loaded 2-core box.
const hangTimeout = 10 * time.Second

// pollerFunc is the function of pollrt's permanent goroutines, one per
// poller; they are the only goroutines the leak checks ignore.
const pollerFunc = "github.com/pollnet/pollnet/pollrt.(*poller).run"

// pollerCount is the number of pollrt's pollers (and poller goroutines).
func pollerCount() int {
	var s pollrt.Stats
	pollrt.ReadStats(&s)
	return int(s.Pollers)
}

// ---------------------------------------------------------------------------
// Endpoints.

// streamNetworks are the networks every case runs over: TCP on 127.0.0.1
// and unix stream sockets.
var streamNetworks = []string{"tcp", "unix"}

// tempSockPath returns a unix socket path in a fresh short temporary
// directory (t.TempDir embeds the test name and can overflow sun_path's
// 108 bytes) and a function removing the directory.
func tempSockPath() (string, func(), error) {
	dir, err := os.MkdirTemp("", "pnstress")
	if err != nil {
		return "", nil, err
	}
	return filepath.Join(dir, "s"), func() { os.RemoveAll(dir) }, nil
}

// openListener returns a pollnet listener on 127.0.0.1 or on a unix
// socket in a fresh temporary directory, and a function that closes it
// and removes the directory. Code that opens listeners round after round
// (the soak) uses it; tests use listen.
func openListener(network string) (*pollnet.Listener, func(), error) {
	addr, remove := "127.0.0.1:0", func() {}
	if network == "unix" {
		var err error
		if addr, remove, err = tempSockPath(); err != nil {
			return nil, nil, err
		}
	}
	ln, err := pollnet.Listen(network, addr)
	if err != nil {
		remove()
		return nil, nil, err
	}
	return ln.(*pollnet.Listener), func() { ln.Close(); remove() }, nil
}

// listen returns a pollnet listener on loopback (or a temporary unix
// socket), closed when the test ends.
func listen(t testing.TB, network string) *pollnet.Listener {
	t.Helper()
	ln, release, err := openListener(network)
	if err != nil {
		t.Fatalf("pollnet.Listen(%s): %v", network, err)
	}
	t.Cleanup(release)
	return ln
}

// dial connects to ln with pollnet, bounded by hangTimeout.
func dial(ln net.Listener) (*pollnet.Conn, error) {
	a := ln.Addr()
	c, err := pollnet.DialTimeout(a.Network(), a.String(), hangTimeout)
	if err != nil {
		return nil, err
	}
	return c.(*pollnet.Conn), nil
}

// accept accepts one connection, failing after hangTimeout.
func accept(ln *pollnet.Listener) (*pollnet.Conn, error) {
	ln.SetDeadline(time.Now().Add(hangTimeout))
	defer ln.SetDeadline(time.Time{})
	c, err := ln.Accept()
	if err != nil {
		return nil, err
	}
	return c.(*pollnet.Conn), nil
}

// connect dials ln and accepts the connection: a connected pair with both
// ends on pollnet. ln must not be accepted from concurrently. The caller
// closes both conns.
func connect(ln *pollnet.Listener) (client, server *pollnet.Conn, err error) {
	client, err = dial(ln)
	if err != nil {
		return nil, nil, err
	}
	server, err = accept(ln)
	if err != nil {
		client.Close()
		return nil, nil, err
	}
	return client, server, nil
}

// mustConnect is connect failing the test on error; both ends are closed
// when the test ends (unless closed before).
func mustConnect(t testing.TB, ln *pollnet.Listener) (client, server *pollnet.Conn) {
	t.Helper()
	client, server, err := connect(ln)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// sysfd is the file descriptor number under c.
func sysfd(c syscall.Conn) int {
	rc, err := c.SyscallConn()
	if err != nil {
		return -1
	}
	fd := -1
	rc.Control(func(s uintptr) { fd = int(s) })
	return fd
}

// ---------------------------------------------------------------------------
// Process state: open fds, goroutines, pollrt.

// openFDs counts the process's open file descriptors.
func openFDs(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("counting fds: %v", err)
	}
	return len(ents) - 1 // ReadDir's own descriptor
}

// warmUp makes sure the descriptors opened once per process (pollrt's
// epoll and eventfd, the runtime's own poller) exist, so that counting fds
// before and after a test compares like with like.
func warmUp(t testing.TB) {
	t.Helper()
	ln, err := pollnet.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("warm-up: %v", err)
	}
	ln.Close()
}

// stats reads pollrt's counters.
func stats() pollrt.Stats {
	var s pollrt.Stats
	pollrt.ReadStats(&s)
	return s
}

// stacks returns every goroutine's stack.
func stacks() string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return string(buf[:n])
		}
		buf = make([]byte, 2*len(buf))
	}
}

// countGoroutines returns how many goroutines have fn in their stack.
func countGoroutines(fn string) int {
	n := 0
	for _, g := range strings.Split(stacks(), "\n\n") {
		if strings.Contains(g, "\n"+fn+"(") {
			n++
		}
	}
	return n
}

// ---------------------------------------------------------------------------
// Watchdog.

// await waits for done, failing the test with every goroutine's stack if
// it takes more than hangTimeout.
func await(t testing.TB, done <-chan struct{}, what string) {
	t.Helper()
	timer := time.NewTimer(hangTimeout)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		t.Fatalf("%s: still blocked after %v; all goroutines:\n%s", what, hangTimeout, stacks())
	}
}

// awaitGroup is await for a WaitGroup.
func awaitGroup(t testing.TB, wg *sync.WaitGroup, what string) {
	t.Helper()
	await(t, waitChan(wg), what)
}

func waitChan(wg *sync.WaitGroup) <-chan struct{} {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	return done
}

// watchdog fails a long-running section that stops making progress: if
// tick is not called for hangTimeout, it prints every goroutine's stack
// and panics, which fails the test binary instead of letting it hang until
// go test's global timeout. Sections whose total time is unbounded (a
// 64 MiB transfer under -race, a soak) use it; single waits use await.
type watchdog struct {
	what     string
	progress atomic.Int64
	extra    func() int64 // more progress to watch, may be nil
	stop     chan struct{}
	done     chan struct{}
}

// startWatchdog watches the progress reported by tick and, if not nil,
// by extra.
func startWatchdog(t testing.TB, what string, extra func() int64) *watchdog {
	w := &watchdog{what: what, extra: extra, stop: make(chan struct{}), done: make(chan struct{})}
	go w.run()
	t.Cleanup(w.Stop)
	return w
}

func (w *watchdog) load() int64 {
	n := w.progress.Load()
	if w.extra != nil {
		n += w.extra()
	}
	return n
}

func (w *watchdog) tick() { w.progress.Add(1) }

func (w *watchdog) Stop() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.done
}

func (w *watchdog) run() {
	defer close(w.done)
	t := time.NewTicker(hangTimeout)
	defer t.Stop()
	last := w.load()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
		}
		now := w.load()
		if now == last {
			fmt.Fprintf(os.Stderr, "watchdog: %s made no progress for %v; all goroutines:\n%s\n", w.what, hangTimeout, stacks())
			panic("watchdog: " + w.what + " hung")
		}
		last = now
	}
}

// ---------------------------------------------------------------------------
// Errors.

// errKind classifies an error by what users test it with.
func errKind(err error) string {
	var ne net.Error
	switch {
	case err == nil:
		return "ok"
	case err == io.EOF:
		return "EOF"
	case errors.Is(err, net.ErrClosed):
		return "closed"
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "deadline"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded):
		return "ctx-deadline"
	case errors.Is(err, syscall.ECONNRESET):
		return "ECONNRESET"
	case errors.Is(err, syscall.EPIPE):
		return "EPIPE"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "ECONNREFUSED"
	case errors.Is(err, syscall.ENOENT):
		return "ENOENT"
	case errors.Is(err, syscall.EMFILE):
		return "EMFILE"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	}
	return fmt.Sprintf("other(%T: %v)", err, err)
}

// expectErr checks that err is nil or of one of the allowed kinds and, if
// it is neither nil nor io.EOF, a *net.OpError with the given Op (package
// net's shape, which errors.Is users rely on). It returns a description of
// the violation, or "".
func expectErr(err error, op string, allowed ...string) string {
	if err == nil {
		return ""
	}
	kind := errKind(err)
	if !contains(allowed, kind) {
		return fmt.Sprintf("%s: error %q (%v), want one of %v", op, kind, err, allowed)
	}
	if err == io.EOF {
		return ""
	}
	var oe *net.OpError
	if !errors.As(err, &oe) {
		return fmt.Sprintf("%s: error %T (%v) is not a *net.OpError", op, err, err)
	}
	if oe.Op != op {
		return fmt.Sprintf("%s: *net.OpError.Op is %q (%v)", op, oe.Op, err)
	}
	return ""
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// kindCounts counts outcomes by kind; safe for concurrent use.
type kindCounts struct {
	mu sync.Mutex
	m  map[string]int
}

func (k *kindCounts) add(kind string) {
	k.mu.Lock()
	if k.m == nil {
		k.m = make(map[string]int)
	}
	k.m[kind]++
	k.mu.Unlock()
}

// addTo adds k's counts to dst, prefixing the kinds.
func (k *kindCounts) addTo(dst *kindCounts, prefix string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	dst.mu.Lock()
	defer dst.mu.Unlock()
	if dst.m == nil {
		dst.m = make(map[string]int)
	}
	for kind, n := range k.m {
		dst.m[prefix+kind] += n
	}
}

func (k *kindCounts) String() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	keys := make([]string, 0, len(k.m))
	for key := range k.m {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, key := range keys {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "%s=%d", key, k.m[key])
	}
	return b.String()
}

// failures collects test failures from many goroutines and reports the
// first few (a broken invariant tends to break thousands of times).
type failures struct {
	mu    sync.Mutex
	n     int
	first []string
}

func (f *failures) add(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	if len(f.first) < 10 {
		f.first = append(f.first, fmt.Sprintf(format, args...))
	}
}

func (f *failures) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n
}

// report fails t if anything was recorded.
func (f *failures) report(t testing.TB) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n > 0 {
		t.Errorf("%d failure(s); first %d:\n  %s", f.n, len(f.first), strings.Join(f.first, "\n  "))
	}
}

// ---------------------------------------------------------------------------
// Randomness.

// newRand returns a generator seeded from -seed or the clock, logging the
// seed so a failure can be replayed.
func newRand(t testing.TB) *rand.Rand {
	seed := *seedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("random seed %d (replay with -seed=%d)", seed, seed)
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

// fork derives an independent generator for another goroutine.
func fork(r *rand.Rand) *rand.Rand { return rand.New(rand.NewPCG(r.Uint64(), r.Uint64())) }

// jitter waits a random, usually tiny, time: none, a few yields, or up to
// max. It paces storms so that Close lands at varied points of an
// operation; it never decides an outcome.
func jitter(r *rand.Rand, max time.Duration) {
	switch r.IntN(4) {
	case 0:
	case 1:
		for i := r.IntN(20); i > 0; i-- {
			runtime.Gosched()
		}
	default:
		time.Sleep(time.Duration(r.Int64N(int64(max) + 1)))
	}
}

// ---------------------------------------------------------------------------
// Frames: a stream of self-describing records, so that a receiver detects
// any byte that is not its peer's next one (cross-talk, loss, duplication).

const frameSize = 32

// frame is sent as tag, seq, to, check (little endian): tag names the
// sending endpoint, to the receiving one, seq counts the sender's frames
// from 0, and check guards against frames torn and spliced together.
type frame struct{ tag, seq, to uint64 }

func (f frame) check() uint64 {
	x := f.tag*0x9e3779b97f4a7c15 ^ f.seq*0xc2b2ae3d27d4eb4f ^ f.to*0x165667b19e3779f9
	return x ^ x>>29
}

func (f frame) put(b []byte) {
	binary.LittleEndian.PutUint64(b[0:], f.tag)
	binary.LittleEndian.PutUint64(b[8:], f.seq)
	binary.LittleEndian.PutUint64(b[16:], f.to)
	binary.LittleEndian.PutUint64(b[24:], f.check())
}

// parseFrame decodes a frame and reports whether its check is intact.
func parseFrame(b []byte) (frame, bool) {
	f := frame{
		tag: binary.LittleEndian.Uint64(b[0:]),
		seq: binary.LittleEndian.Uint64(b[8:]),
		to:  binary.LittleEndian.Uint64(b[16:]),
	}
	return f, binary.LittleEndian.Uint64(b[24:]) == f.check()
}

// ---------------------------------------------------------------------------
// Child processes: the test binary re-executed with childEnv set runs one
// of the child modes from TestMain instead of the tests. Children talk to
// the parent in lines: commands on stdin, reports on stdout prefixed with
// childTag (anything else the child prints is passed through to the log).

const (
	childEnv = "POLLNET_STRESS_CHILD"
	childTag = "@stress "
)

type child struct {
	t      testing.TB
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string
	stderr bytes.Buffer
	exited chan struct{}
	err    error
}

// startChild runs the test binary in child mode with extra environment.
func startChild(t testing.TB, mode string, env ...string) *child {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	c := &child{t: t, lines: make(chan string, 64), exited: make(chan struct{})}
	c.cmd = exec.Command(exe)
	c.cmd.Env = append(append(os.Environ(), childEnv+"="+mode), env...)
	c.cmd.Stderr = &c.stderr
	if c.stdin, err = c.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
		c.err = c.cmd.Wait()
		close(c.exited)
	}()
	t.Cleanup(func() {
		c.stdin.Close()
		select {
		case <-c.exited:
		case <-time.After(hangTimeout):
			c.cmd.Process.Kill()
			<-c.exited
		}
	})
	return c
}

// expect waits up to limit for the child's next report starting with
// prefix and returns the rest of it. It fails the test if the child exits
// or reports a failure first.
func (c *child) expect(prefix string, limit time.Duration) string {
	c.t.Helper()
	timer := time.NewTimer(limit)
	defer timer.Stop()
	for {
		select {
		case line, ok := <-c.lines:
			if !ok {
				<-c.exited
				c.t.Fatalf("child exited (%v) while the parent waited for %q; its stderr:\n%s", c.err, prefix, c.stderr.String())
			}
			rest, tagged := strings.CutPrefix(line, childTag)
			if !tagged {
				c.t.Logf("child: %s", line)
				continue
			}
			if msg, failed := strings.CutPrefix(rest, "FAIL "); failed {
				c.t.Errorf("child: %s", msg)
				continue
			}
			if after, ok := strings.CutPrefix(rest, prefix); ok {
				return strings.TrimSpace(after)
			}
			c.t.Logf("child: %s", rest)
		case <-timer.C:
			c.t.Fatalf("child did not report %q within %v; its stderr so far:\n%s", prefix, limit, c.stderr.String())
		}
	}
}

// send writes a command line to the child.
func (c *child) send(cmd string) {
	c.t.Helper()
	if _, err := io.WriteString(c.stdin, cmd+"\n"); err != nil {
		c.t.Fatalf("telling the child %q: %v", cmd, err)
	}
}

// wait closes the child's stdin and requires it to exit successfully.
func (c *child) wait() {
	c.t.Helper()
	c.stdin.Close()
	for line := range c.lines {
		if rest, ok := strings.CutPrefix(line, childTag); ok {
			if msg, failed := strings.CutPrefix(rest, "FAIL "); failed {
				c.t.Errorf("child: %s", msg)
				continue
			}
			line = rest
		}
		c.t.Logf("child: %s", line)
	}
	<-c.exited
	if c.err != nil {
		c.t.Fatalf("child failed: %v; its stderr:\n%s", c.err, c.stderr.String())
	}
}

// Child side of the protocol.

var childIn = bufio.NewScanner(os.Stdin)

// say sends a report to the parent.
func say(format string, args ...any) {
	fmt.Printf(childTag+format+"\n", args...)
}

// childFailures counts the FAIL reports a child made: it exits non-zero
// if there were any.
var childFailures atomic.Int64

// sayFail reports a failure to the parent.
func sayFail(format string, args ...any) {
	childFailures.Add(1)
	say("FAIL "+format, args...)
}

// hear waits for the parent's next command; io.EOF when stdin closes.
func hear() (string, error) {
	if childIn.Scan() {
		return childIn.Text(), nil
	}
	if err := childIn.Err(); err != nil {
		return "", err
	}
	return "", io.EOF
}

// hearWant waits for a specific command.
func hearWant(want string) error {
	got, err := hear()
	if err != nil {
		return fmt.Errorf("waiting for %q from the parent: %w", want, err)
	}
	if got != want {
		return fmt.Errorf("parent said %q, want %q", got, want)
	}
	return nil
}

// childModes are the child entry points, registered by the tests' files.
var childModes = map[string]func() error{}

// runChild runs a child mode and returns the process exit code.
func runChild(mode string) int {
	fn, ok := childModes[mode]
	if !ok {
		fmt.Fprintf(os.Stderr, "unknown child mode %q\n", mode)
		return 2
	}
	if err := fn(); err != nil {
		sayFail("%v", err)
	}
	if childFailures.Load() > 0 {
		return 1
	}
	return 0
}
