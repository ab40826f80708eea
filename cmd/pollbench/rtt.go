//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"golang.org/x/sys/unix"
)

const rttMsgSize = 64

// newLatencyHist records nanoseconds from 1ns to one minute at three
// significant digits: sub-microsecond resolution where loopback round trips
// live, and no clipping of a pathological stall.
func newLatencyHist() *hdrhistogram.Histogram {
	return hdrhistogram.New(1, int64(time.Minute), 3)
}

type rttConn struct {
	fd      int
	sent    int64 // when the in-flight message was first written, ns since base
	rOff    int   // bytes of the echo received so far
	wOff    int   // bytes of the message written so far
	wantOut bool  // EPOLLOUT registered for a short write
}

// runRTT drives nconns closed-loop ping-pong connections of 64-byte messages
// from raw non-blocking sockets in a single epoll loop on one locked OS
// thread. Going below net.Conn keeps the client's cost per round trip a few
// syscalls, so the server, not the client's runtime, is what is measured.
// The first warmup of the run is discarded. With cpu >= 0 the client thread
// is pinned to that CPU for the run. mark, if not nil, is called on the
// client thread as the measured window opens and as it closes.
func runRTT(ctx context.Context, addr string, nconns int, warmup, dur time.Duration, cpu int, mark func()) (*hdrhistogram.Histogram, float64, error) {
	sa, family, err := sockaddr(addr)
	if err != nil {
		return nil, 0, err
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if cpu >= 0 {
		restore, err := pinThread(cpu)
		if err != nil {
			return nil, 0, err
		}
		defer restore()
	}

	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, 0, fmt.Errorf("epoll_create1: %w", err)
	}
	defer unix.Close(epfd)

	conns := make([]rttConn, nconns)
	for i := range conns {
		conns[i].fd = -1
	}
	defer func() {
		for _, c := range conns {
			if c.fd >= 0 {
				closeRST(c.fd)
			}
		}
	}()

	// Connect everything first, non-blocking, so a full accept queue cannot
	// hang the thread: the whole phase is bounded by connectTimeout.
	for i := range conns {
		fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return nil, 0, fmt.Errorf("socket %d of %d: %w", i+1, nconns, err)
		}
		conns[i].fd = fd
		// Without TCP_NODELAY a 64-byte write can sit in Nagle's buffer
		// waiting for a delayed ACK, adding ~40ms to a round trip.
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		if err := unix.Connect(fd, sa); err != nil && !errors.Is(err, unix.EINPROGRESS) {
			return nil, 0, fmt.Errorf("connect %d of %d: %w", i+1, nconns, err)
		}
		ev := unix.EpollEvent{Events: unix.EPOLLOUT, Fd: int32(i)}
		if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
			return nil, 0, fmt.Errorf("epoll_ctl: %w", err)
		}
	}
	events := make([]unix.EpollEvent, 512)
	connected := make([]bool, nconns)
	pending := nconns
	deadline := time.Now().Add(connectTimeout)
	for pending > 0 {
		if err := ctx.Err(); err != nil {
			return nil, 0, err
		}
		if time.Now().After(deadline) {
			return nil, 0, fmt.Errorf("rtt: only %d of %d connections established in %v", nconns-pending, nconns, connectTimeout)
		}
		n, err := unix.EpollWait(epfd, events, 100)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return nil, 0, fmt.Errorf("epoll_wait: %w", err)
		}
		for _, ev := range events[:n] {
			i := ev.Fd
			if connected[i] {
				continue
			}
			c := &conns[i]
			soerr, err := unix.GetsockoptInt(c.fd, unix.SOL_SOCKET, unix.SO_ERROR)
			if err == nil && soerr != 0 {
				err = unix.Errno(soerr)
			}
			if err != nil {
				return nil, 0, fmt.Errorf("connect %s: %w", addr, err)
			}
			connected[i] = true
			pending--
			ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: i}
			if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_MOD, c.fd, &ev); err != nil {
				return nil, 0, fmt.Errorf("epoll_ctl: %w", err)
			}
		}
	}

	var msg [rttMsgSize]byte
	for i := range msg {
		msg[i] = byte('a' + i%26)
	}
	var rbuf [rttMsgSize]byte
	hist := newLatencyHist()
	base := time.Now()
	now := func() int64 { return int64(time.Since(base)) }
	warmEnd, end := int64(warmup), int64(warmup+dur)
	var count int64
	inWindow := false
	if mark == nil {
		mark = func() {}
	}

	// write sends (the rest of) c's message; a short write is finished when
	// epoll reports the socket writable. With one 64-byte message in flight
	// per connection that essentially never happens, but it must be correct.
	write := func(i int32) error {
		c := &conns[i]
		n, err := unix.Write(c.fd, msg[c.wOff:])
		if err != nil && !errors.Is(err, unix.EAGAIN) {
			return fmt.Errorf("write: %w", err)
		}
		c.wOff += max(n, 0)
		want := c.wOff < rttMsgSize
		if want != c.wantOut {
			c.wantOut = want
			ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: i}
			if want {
				ev.Events |= unix.EPOLLOUT
			}
			if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_MOD, c.fd, &ev); err != nil {
				return fmt.Errorf("epoll_ctl: %w", err)
			}
		}
		return nil
	}
	send := func(i int32) error {
		c := &conns[i]
		c.sent = now()
		c.wOff = 0
		return write(i)
	}

	for i := range conns {
		if err := send(int32(i)); err != nil {
			return nil, 0, err
		}
	}
	for {
		t := now()
		if t >= end {
			break
		}
		if !inWindow && t >= warmEnd {
			inWindow = true
			mark()
		}
		if err := ctx.Err(); err != nil {
			return nil, 0, err
		}
		timeout := min(int((end-t)/int64(time.Millisecond))+1, 100)
		n, err := unix.EpollWait(epfd, events, timeout)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return nil, 0, fmt.Errorf("epoll_wait: %w", err)
		}
		for _, ev := range events[:n] {
			i := ev.Fd
			c := &conns[i]
			if ev.Events&unix.EPOLLOUT != 0 && c.wantOut {
				if err := write(i); err != nil {
					return nil, 0, err
				}
			}
			if ev.Events&(unix.EPOLLIN|unix.EPOLLERR|unix.EPOLLHUP) == 0 {
				continue
			}
			m, err := unix.Read(c.fd, rbuf[:rttMsgSize-c.rOff])
			if err != nil {
				if errors.Is(err, unix.EAGAIN) {
					continue
				}
				return nil, 0, fmt.Errorf("read: %w", err)
			}
			if m == 0 {
				return nil, 0, errors.New("rtt: server closed a connection")
			}
			c.rOff += m
			if c.rOff < rttMsgSize {
				continue
			}
			c.rOff = 0
			t := now()
			// Count by completion time, so the rate covers exactly the
			// window; a message sent during warm-up that completes inside
			// the window is a valid latency sample too.
			if t >= warmEnd && t < end {
				hist.RecordValue(t - c.sent)
				count++
			}
			if t < end {
				if err := send(i); err != nil {
					return nil, 0, err
				}
			}
		}
	}
	if inWindow {
		mark()
	}
	return hist, float64(count) / dur.Seconds(), nil
}

const connectTimeout = 10 * time.Second

// threadCPU is the CPU time, user plus system, of the calling OS thread.
func threadCPU() time.Duration {
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_THREAD, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// processCPU is the CPU time, user plus system, of process pid so far, at
// the kernel's clock-tick resolution (10ms), from /proc/PID/stat.
func processCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, field 2, may contain spaces; fields resume after
	// its closing parenthesis with field 3, so utime (14) and stime (15)
	// are the 12th and 13th there.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("bad /proc/%d/stat", pid)
	}
	const clkTck = 100 // USER_HZ, fixed at 100 on Linux for userspace
	return time.Duration(ut+st) * time.Second / clkTck, nil
}

// closeRST closes fd with SO_LINGER 0: the kernel sends RST and keeps no
// TIME_WAIT entry, so thousands of short-lived client sockets per run cannot
// exhaust the loopback ephemeral port range.
func closeRST(fd int) {
	_ = unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
	_ = unix.Close(fd)
}

func sockaddr(addr string) (unix.Sockaddr, int, error) {
	ta, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return nil, 0, err
	}
	if ip4 := ta.IP.To4(); ip4 != nil {
		sa := &unix.SockaddrInet4{Port: ta.Port}
		copy(sa.Addr[:], ip4)
		return sa, unix.AF_INET, nil
	}
	sa := &unix.SockaddrInet6{Port: ta.Port}
	copy(sa.Addr[:], ta.IP.To16())
	if ta.Zone != "" {
		if ifi, err := net.InterfaceByName(ta.Zone); err == nil {
			sa.ZoneId = uint32(ifi.Index)
		}
	}
	return sa, unix.AF_INET6, nil
}
