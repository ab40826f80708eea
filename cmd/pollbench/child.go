//go:build linux

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pollnet/pollnet"
	"github.com/pollnet/pollnet/pollrt"
	"golang.org/x/sys/unix"
)

// The child is selected by environment rather than by a flag so that the
// same dispatch works from a test binary, whose own flag parsing would reject
// an unknown flag before TestMain could see it.
const (
	envServe = "POLLBENCH_SERVE"      // impl name
	envMode  = "POLLBENCH_MODE"       // "echo" or "http"
	envProf  = "POLLBENCH_CPUPROFILE" // directory for the child's CPU profile (-cpuprofile)
)

// The parent talks to a child over its stdin and stdout. The child writes
// its address as the first line of stdout; after that the parent may write
// a request line to stdin and the child answers with one line on stdout:
//
//	stats  → pollrt.Stats as JSON, "error: ..." if it cannot
//
// The parent asks only between measurements, so answering costs the
// measured server nothing. EOF on stdin ends the child.
const reqStats = "stats"

// serveChild is the whole life of a server child process: listen on a fresh
// loopback port, announce it on stdout, serve until stdin reaches EOF.
func serveChild(name, mode string) int {
	raiseNoFile()
	im, ok := findImpl(name)
	if !ok {
		fmt.Fprintf(os.Stderr, "pollbench child: unknown impl %q\n", name)
		return 2
	}
	ln, err := im.listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintf(os.Stderr, "pollbench child: %s listen: %v\n", name, err)
		return 1
	}
	if _, err := fmt.Fprintln(os.Stdout, ln.Addr().String()); err != nil {
		return 1
	}
	// Stdin is a pipe held by the parent. EOF means the parent closed it or
	// died, and either way nobody will ever measure this server again.
	stop := func() {}
	if dir := os.Getenv(envProf); dir != "" {
		var err error
		if stop, err = startProfile(dir, name, mode); err != nil {
			fmt.Fprintf(os.Stderr, "pollbench child: %v\n", err)
			return 1
		}
		defer stop() // a serve loop that fails returns
	}
	go func() {
		answer(os.Stdin, os.Stdout)
		stop()
		os.Exit(0)
	}()
	switch mode {
	case "echo":
		handle := im.handle
		if handle == nil {
			handle = echo
		}
		serveEcho(ln, handle)
	case "http":
		serveHTTP(ln)
	default:
		fmt.Fprintf(os.Stderr, "pollbench child: unknown mode %q\n", mode)
		return 2
	}
	return 0
}

// startProfile writes the child's CPU profile, for its whole life, to a
// file in dir named after the impl, mode and pid; stop ends it (once).
func startProfile(dir, name, mode string) (stop func(), err error) {
	f, err := os.Create(filepath.Join(dir, fmt.Sprintf("%s-%s-%d.pprof", strings.ReplaceAll(name, "+", "-"), mode, os.Getpid())))
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	var once sync.Once
	return func() { once.Do(func() { pprof.StopCPUProfile(); f.Close() }) }, nil
}

// answer serves the parent's requests, one a line from in, until in ends.
// A reply is a single write of one line, so a reader never sees half of it.
func answer(in io.Reader, out io.Writer) {
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		var reply []byte
		switch req := sc.Text(); req {
		case reqStats:
			var st pollrt.Stats
			pollrt.ReadStats(&st)
			b, err := json.Marshal(&st)
			if err != nil {
				reply = fmt.Appendf(nil, "error: %v", err)
			} else {
				reply = b
			}
		default:
			reply = fmt.Appendf(nil, "error: unknown request %q", req)
		}
		if _, err := out.Write(append(reply, '\n')); err != nil {
			return
		}
	}
}

// serveEcho is the goroutine-per-connection echo server, the same for every
// impl but for the per-conn handler (echo, unless an impl sets its own).
// Accept errors such as EMFILE are retried with a short backoff, as
// net/http does, so one resource hiccup does not end the server.
func serveEcho(ln net.Listener, handle func(net.Conn)) {
	var backoff time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		go handle(c)
	}
}

func echo(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// echoBufs lends echoWaitRead its read buffers, one per message in flight
// rather than one per conn.
var echoBufs = sync.Pool{New: func() any {
	b := make([]byte, 4096)
	return &b
}}

// echoWaitRead is echo for a server that holds no buffer while its conn is
// idle: it parks in pollnet's WaitRead, which consumes nothing, and borrows
// a buffer only once a message has arrived, returning it before it waits
// again. A server parked in Read must own its buffer for as long as it
// waits, so the idle workload shows the difference as RSS per conn.
func echoWaitRead(c net.Conn) {
	defer c.Close()
	pc, ok := c.(*pollnet.Conn)
	if !ok {
		// Serving plain echo under this variant's name would report the
		// wrong server's figures; failing the conn fails the measurement.
		fmt.Fprintf(os.Stderr, "pollbench child: waitread: %T has no WaitRead\n", c)
		return
	}
	ctx := context.Background() // no Done channel: WaitRead registers nothing
	for {
		if err := pc.WaitRead(ctx); err != nil {
			return
		}
		bp := echoBufs.Get().(*[]byte)
		n, err := c.Read(*bp)
		var werr error
		if n > 0 {
			_, werr = c.Write((*bp)[:n])
		}
		echoBufs.Put(bp)
		if err != nil || werr != nil {
			return
		}
	}
}

var helloBody = []byte("hello, world\n")

// serveHTTP runs net/http on the impl's listener with a handler small enough
// that the server's I/O path dominates.
func serveHTTP(ln net.Listener) {
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			w.Header().Set("Content-Length", strconv.Itoa(len(helloBody)))
			_, _ = w.Write(helloBody)
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	_ = srv.Serve(ln)
}

// raiseNoFile lifts the soft RLIMIT_NOFILE to the hard limit, since the idle
// workload holds thousands of sockets on each side. Go already does this at
// start-up on Linux; doing it explicitly keeps the tool independent of that.
func raiseNoFile() {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return
	}
	if rl.Cur < rl.Max {
		rl.Cur = rl.Max
		_ = unix.Setrlimit(unix.RLIMIT_NOFILE, &rl)
	}
}

// child is a running server process as seen from the parent.
type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines <-chan string // the child's stdout, a line at a time; closed at EOF
	addr  string
	pid   int
}

// startChild re-executes this binary as a server for im in the given mode.
// With cpu >= 0 the child is forked from a thread pinned to that CPU, so the
// child and every thread it ever creates inherit the one-CPU affinity (and
// its runtime sizes GOMAXPROCS to 1 accordingly).
func startChild(ctx context.Context, im impl, mode string, cpu int, stderr io.Writer) (*child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, exe)
	cmd.Env = append(os.Environ(), envServe+"="+im.name, envMode+"="+mode)
	cmd.Stderr = stderr
	// Belt and braces for a parent killed with SIGKILL: the kernel kills the
	// child too (stdin EOF would also end it, a moment later).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = 2 * time.Second
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := startMaybePinned(cmd, cpu); err != nil {
		return nil, err
	}
	lines := make(chan string, 1)
	c := &child{cmd: cmd, stdin: stdin, lines: lines, pid: cmd.Process.Pid}
	go func() {
		defer close(lines)
		// The child writes only its address and one line per request, so
		// the buffer holds every line someone waits for. Anything else
		// (an answer that came after its request timed out) is dropped:
		// this goroutine must keep draining, or a child writing to a
		// full pipe would block.
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case lines <- strings.TrimSpace(sc.Text()):
			default:
			}
		}
	}()
	select {
	case s := <-lines:
		if s == "" {
			c.stop()
			return nil, fmt.Errorf("%s %s server exited before announcing its address", im.name, mode)
		}
		c.addr = s
	case <-time.After(10 * time.Second):
		c.stop()
		return nil, fmt.Errorf("%s %s server did not announce its address in 10s", im.name, mode)
	case <-ctx.Done():
		c.stop()
		return nil, ctx.Err()
	}
	return c, nil
}

// startMaybePinned starts cmd, from a thread pinned to cpu when cpu >= 0.
// exec forks on the calling OS thread, which LockOSThread makes ours.
func startMaybePinned(cmd *exec.Cmd, cpu int) error {
	if cpu < 0 {
		return cmd.Start()
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	restore, err := pinThread(cpu)
	if err != nil {
		return err
	}
	defer restore()
	return cmd.Start()
}

// pinThread pins the calling OS thread (which must be locked) to cpu and
// returns a function restoring its previous affinity.
func pinThread(cpu int) (func(), error) {
	var old, set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		return nil, fmt.Errorf("sched_getaffinity: %w", err)
	}
	set.Set(cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return nil, fmt.Errorf("pin to cpu %d: %w", cpu, err)
	}
	return func() { _ = unix.SchedSetaffinity(0, &old) }, nil
}

// firstCPU is the lowest CPU this process may run on, the one -pin uses.
func firstCPU() (int, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return 0, err
	}
	for i := range 1024 {
		if set.IsSet(i) {
			return i, nil
		}
	}
	return 0, errors.New("empty CPU affinity set")
}

// stats asks the child for its pollrt.Stats. Call it only outside a
// measured interval: the child's answer takes a goroutine and a few
// syscalls of the server's time.
func (c *child) stats(ctx context.Context) (*pollrt.Stats, error) {
	// An unread line is an answer that came after its request timed out;
	// it must not be taken for this request's.
	select {
	case <-c.lines:
	default:
	}
	if _, err := io.WriteString(c.stdin, reqStats+"\n"); err != nil {
		return nil, fmt.Errorf("stats request: %w", err)
	}
	t := time.NewTimer(5 * time.Second)
	defer t.Stop()
	select {
	case s, ok := <-c.lines:
		if !ok {
			return nil, errors.New("stats: server exited")
		}
		if msg, isErr := strings.CutPrefix(s, "error: "); isErr {
			return nil, fmt.Errorf("stats: server: %s", msg)
		}
		var st pollrt.Stats
		if err := json.Unmarshal([]byte(s), &st); err != nil {
			return nil, fmt.Errorf("stats: %w", err)
		}
		return &st, nil
	case <-t.C:
		return nil, errors.New("stats: no answer in 5s")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// stop closes the child's stdin, which ends it, and kills it if it has not
// exited within two seconds.
func (c *child) stop() {
	_ = c.stdin.Close()
	done := make(chan struct{})
	go func() {
		_ = c.cmd.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		_ = c.cmd.Process.Kill()
		<-done
	}
}

// rssKiB reads VmRSS of process pid, in KiB.
func rssKiB(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) >= 1 {
				return strconv.ParseInt(f[0], 10, 64)
			}
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}
