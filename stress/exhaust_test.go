//go:build linux

package stress

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pollnet/pollnet"
)

func init() { childModes["emfile"] = emfileChild }

const (
	// emfileLimit is the child's RLIMIT_NOFILE.
	emfileLimit = 64
	// emfileWindow is how long the child stays out of fds with clients
	// waiting; it paces the measurement, it decides nothing.
	emfileWindow = 1500 * time.Millisecond
	// emfileConns is how many conns (and HTTP requests) wait meanwhile.
	emfileConns = 5
)

// TestFDExhaustion runs a server in a child process whose RLIMIT_NOFILE is
// 64 and uses up every descriptor while clients (in this process) wait in
// its backlogs. Accept must fail with a net.Error whose Temporary() is true
// and that matches syscall.EMFILE, without panicking or spinning (the
// child's CPU time, its Accept calls and pollrt's polls during the
// exhaustion are bounded), Dial must fail the same way, and once the fds
// are freed both a hand-written accept loop and an http.Server on
// pollnet.Listen serve every waiting client.
func TestFDExhaustion(t *testing.T) {
	c := startChild(t, "emfile")
	addrs := strings.Fields(c.expect("ready", time.Minute))
	if len(addrs) < 2 {
		t.Fatalf("child's ready report lacks the addresses: %q", addrs)
	}
	echoAddr, httpAddr := addrs[0], addrs[1]

	// Clients queue up in the backlogs (the kernel completes their
	// handshakes) while the child has no fd to accept them with.
	var echoConns, httpConns []net.Conn
	for i := range emfileConns {
		ec, err := pollnet.DialTimeout("tcp", echoAddr, hangTimeout)
		if err != nil {
			t.Fatalf("dial the echo listener: %v", err)
		}
		defer ec.Close()
		fmt.Fprintf(ec, "hello %d\n", i)
		echoConns = append(echoConns, ec)

		hc, err := pollnet.DialTimeout("tcp", httpAddr, hangTimeout)
		if err != nil {
			t.Fatalf("dial the HTTP listener: %v", err)
		}
		defer hc.Close()
		fmt.Fprintf(hc, "GET /req%d HTTP/1.1\r\nHost: stress\r\nConnection: close\r\n\r\n", i)
		httpConns = append(httpConns, hc)
	}
	c.send("dialed")
	t.Logf("exhausted: %s", c.expect("exhausted", time.Minute))
	t.Logf("freed: %s", c.expect("freed", time.Minute))

	for i, ec := range echoConns {
		ec.SetDeadline(time.Now().Add(hangTimeout))
		line, err := bufio.NewReader(ec).ReadString('\n')
		if want := fmt.Sprintf("echo hello %d\n", i); err != nil || line != want {
			t.Errorf("echo conn %d after recovery: %q, %v; want %q", i, line, err, want)
		}
	}
	for i, hc := range httpConns {
		hc.SetDeadline(time.Now().Add(hangTimeout))
		resp, err := http.ReadResponse(bufio.NewReader(hc), nil)
		if err != nil {
			t.Errorf("HTTP request %d after recovery: %v", i, err)
			continue
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := fmt.Sprintf("served /req%d", i); resp.StatusCode != 200 || err != nil || string(body) != want {
			t.Errorf("HTTP request %d: %s %q, %v; want 200 %q", i, resp.Status, body, err, want)
		}
	}
	c.send("done")
	t.Logf("child: %s", c.expect("stats", time.Minute))
	c.wait()
}

// emfileChild is the child side of TestFDExhaustion.
func emfileChild() error {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return err
	}
	rl.Cur = emfileLimit
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return err
	}

	// A hand-written accept loop that backs off on temporary errors the way
	// net/http does, and checks each error's shape.
	ln, err := pollnet.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	var acceptCalls, acceptTemp, accepted atomic.Int64
	var loops sync.WaitGroup
	loops.Add(1)
	go func() {
		defer loops.Done()
		backoff := time.Duration(0)
		for {
			acceptCalls.Add(1)
			c, err := ln.Accept()
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				var ne net.Error
				if !errors.As(err, &ne) || !ne.Temporary() || !errors.Is(err, syscall.EMFILE) {
					sayFail("Accept error %T %v: want a temporary net.Error matching EMFILE", err, err)
				} else if msg := expectErr(err, "accept", "EMFILE"); msg != "" {
					sayFail("%s", msg)
				}
				acceptTemp.Add(1)
				backoff = min(max(2*backoff, 5*time.Millisecond), 100*time.Millisecond)
				time.Sleep(backoff)
				continue
			}
			backoff = 0
			accepted.Add(1)
			loops.Add(1)
			go func() {
				defer loops.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(hangTimeout))
				line, err := bufio.NewReader(c).ReadString('\n')
				if err != nil {
					sayFail("echo read: %v", err)
					return
				}
				io.WriteString(c, "echo "+line)
			}()
		}
	}()

	// An http.Server on pollnet, counting its Accept calls and the retries
	// it logs.
	hln, err := pollnet.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	cl := &countingListener{Listener: hln}
	var httpLog logCounter
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "served "+r.URL.Path)
		}),
		ErrorLog: log.New(&httpLog, "", 0),
	}
	loops.Add(1)
	go func() {
		defer loops.Done()
		if err := srv.Serve(cl); err != http.ErrServerClosed {
			sayFail("http.Server.Serve: %v", err)
		}
	}()

	// Use up every descriptor. Fill again after short pauses: a descriptor
	// something held for a moment (the runtime starting up) is taken too.
	var fillers []int
	defer func() {
		for _, fd := range fillers {
			syscall.Close(fd)
		}
	}()
	for pass := range 4 {
		if pass > 0 {
			time.Sleep(50 * time.Millisecond)
		}
		for {
			fd, err := syscall.Dup(2)
			if err == syscall.EMFILE {
				break
			}
			if err != nil {
				return fmt.Errorf("dup: %v", err)
			}
			fillers = append(fillers, fd)
		}
	}
	say("ready %s %s (%d fds held by fillers)", ln.Addr(), hln.Addr(), len(fillers))
	if err := hearWant("dialed"); err != nil {
		return err
	}

	// Out of fds with clients waiting: measure what the process does.
	var ru0, ru1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	calls0, temp0, http0, retries0, polls0 := acceptCalls.Load(), acceptTemp.Load(), cl.calls.Load(), httpLog.retries.Load(), stats().Polls
	t0 := time.Now()

	// Dial and Listen fail the same way, without panicking.
	for what, f := range map[string]func() error{
		"Dial": func() error {
			c, err := pollnet.Dial("tcp", ln.Addr().String())
			if err == nil {
				c.Close()
			}
			return err
		},
		"Listen": func() error {
			l, err := pollnet.Listen("tcp", "127.0.0.1:0")
			if err == nil {
				l.Close()
			}
			return err
		},
	} {
		err := f()
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Temporary() || !errors.Is(err, syscall.EMFILE) {
			sayFail("%s while out of fds: %v; want a temporary net.Error matching EMFILE", what, err)
		}
	}

	time.Sleep(emfileWindow)
	wall := time.Since(t0)
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	cpu := time.Duration(syscall.TimevalToNsec(ru1.Utime) + syscall.TimevalToNsec(ru1.Stime) -
		syscall.TimevalToNsec(ru0.Utime) - syscall.TimevalToNsec(ru0.Stime))
	calls, temp := acceptCalls.Load()-calls0, acceptTemp.Load()-temp0
	httpCalls, retries, polls := cl.calls.Load()-http0, httpLog.retries.Load()-retries0, stats().Polls-polls0
	say("exhausted for %v: cpu %v, Accept calls %d (%d temporary EMFILE), http.Server Accept calls %d (%d retries logged), pollrt polls %d, conns accepted %d",
		wall.Round(time.Millisecond), cpu.Round(time.Millisecond), calls, temp, httpCalls, retries, polls, accepted.Load())

	// A busy loop anywhere (in pollnet's Accept, in the poller, in a caller
	// whose back-off never sees a temporary error) burns a whole core and
	// calls Accept millions of times; backing off uses next to nothing.
	maxCalls := int64(wall / (5 * time.Millisecond))
	switch {
	case accepted.Load() != 0:
		sayFail("%d conns accepted with no fd to put them in", accepted.Load())
	case temp == 0:
		sayFail("Accept reported no EMFILE error while the process was out of fds")
	case calls > maxCalls || httpCalls > maxCalls:
		sayFail("Accept called %d times (http.Server: %d) in %v: a busy loop (bound %d)", calls, httpCalls, wall, maxCalls)
	case retries == 0:
		sayFail("http.Server logged no Accept retry: it did not see a temporary error")
	case cpu > wall/2:
		sayFail("the process used %v of CPU in %v out of fds: a busy loop", cpu, wall)
	case polls > 1000:
		sayFail("pollrt polled %d times in %v with nothing to do", polls, wall)
	}

	// Free the descriptors: both servers must take the waiting clients.
	for _, fd := range fillers {
		syscall.Close(fd)
	}
	fillers = nil
	say("freed")
	if err := hearWant("done"); err != nil {
		return err
	}
	srv.Close()
	ln.Close()
	loops.Wait()
	say("stats accepted %d echo conns, http.Server logged %d retries in all", accepted.Load(), httpLog.retries.Load())
	if accepted.Load() != emfileConns {
		sayFail("accepted %d echo conns, want %d", accepted.Load(), emfileConns)
	}
	return nil
}

// countingListener counts Accept calls.
type countingListener struct {
	net.Listener
	calls atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	l.calls.Add(1)
	return l.Listener.Accept()
}

// logCounter counts the Accept retries net/http logs ("http: Accept
// error: ...; retrying in 5ms") for EMFILE.
type logCounter struct {
	retries atomic.Int64
	other   atomic.Int64
}

func (l *logCounter) Write(p []byte) (int, error) {
	s := string(p)
	if strings.Contains(s, "Accept error") && strings.Contains(s, "too many open files") && strings.Contains(s, "retrying") {
		l.retries.Add(1)
	} else {
		l.other.Add(1)
		say("http.Server log: %s", strings.TrimSpace(s))
	}
	return len(p), nil
}
