//go:build linux

package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The child is selected by environment rather than by a flag so that the
// same dispatch works from a test binary, whose own flag parsing would reject
// an unknown flag before TestMain could see it.
const (
	envServe = "POLLBENCH_SERVE" // impl name
	envMode  = "POLLBENCH_MODE"  // "echo" or "http"
)

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
	// Stdin is a pipe held by the parent. EOF means the parent closed it or
	// died, and either way nobody will ever measure this server again.
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	if _, err := fmt.Fprintln(os.Stdout, ln.Addr().String()); err != nil {
		return 1
	}
	switch mode {
	case "echo":
		serveEcho(ln)
	case "http":
		serveHTTP(ln)
	default:
		fmt.Fprintf(os.Stderr, "pollbench child: unknown mode %q\n", mode)
		return 2
	}
	return 0
}

// serveEcho is the goroutine-per-connection echo server, identical for every
// impl. Accept errors such as EMFILE are retried with a short backoff, as
// net/http does, so one resource hiccup does not end the server.
func serveEcho(ln net.Listener) {
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
		go echo(c)
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
	c := &child{cmd: cmd, stdin: stdin, pid: cmd.Process.Pid}

	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(stdout).ReadString('\n')
		line <- strings.TrimSpace(s)
		// The child writes nothing more; drain so it can never block on a
		// full pipe.
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case s := <-line:
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
