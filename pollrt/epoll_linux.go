//go:build linux

package pollrt

import (
	"os"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// breakTag is the event data of the break descriptor; no slot has it.
const breakTag = ^uint64(0)

// pollSet is the epoll backend's set (park.go lists the seam).
//
// Nobody blocks in epoll_wait. The epoll fd is itself pollable, so it is
// handed to the Go runtime (os.NewFile on the non-blocking epoll fd); the
// goroutine that polls the set parks in the runtime's poller through
// SyscallConn().Read, holding no OS thread and no P, and drains the set
// with zero-timeout epoll_wait calls when the runtime reports it readable.
// A goroutine blocked in epoll_wait would hold a thread in a syscall with
// the waiters it woke queued behind it.
type pollSet struct {
	epfd    int
	breakfd int               // eventfd for netpollBreak
	wakeSig atomic.Uint32     // 1 while a break is pending: coalesces breaks
	events  []unix.EpollEvent // used only by the holder of poller.drainMu
	file    *os.File          // epfd as the runtime sees it; kept so it is never finalised
	rc      syscall.RawConn   // file's RawConn: waiting on it parks in the runtime's poller
}

// init makes s an epoll set with a break descriptor in it, both
// close-on-exec.
func (s *pollSet) init() error {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return os.NewSyscallError("epoll_create1", err)
	}
	bfd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return os.NewSyscallError("eventfd", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN}
	setTag(&ev, breakTag)
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, bfd, &ev); err != nil {
		unix.Close(bfd)
		unix.Close(epfd)
		return os.NewSyscallError("epoll_ctl", err)
	}
	if err := unix.SetNonblock(epfd, true); err != nil {
		unix.Close(bfd)
		unix.Close(epfd)
		return os.NewSyscallError("fcntl", err)
	}
	s.epfd, s.breakfd, s.events = epfd, bfd, make([]unix.EpollEvent, 128)
	s.file = os.NewFile(uintptr(epfd), "pollrt-epoll")
	if s.rc, err = s.file.SyscallConn(); err != nil {
		s.file.Close()
		unix.Close(bfd)
		return err
	}
	return nil
}

// close releases a set that never started serving, or a test's.
func (p *pollSet) close() {
	p.file.Close()
	unix.Close(p.breakfd)
}

func setTag(ev *unix.EpollEvent, tag uint64) {
	ev.Fd = int32(uint32(tag))
	ev.Pad = int32(uint32(tag >> 32))
}

func tagOf(ev *unix.EpollEvent) uint64 {
	return uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
}

// netpollopen registers fd edge-triggered for reading, writing and peer
// hangup, tagged with its slot and seq. It is called once per fd. epoll
// refuses regular files and directories with EPERM: ErrNotPollable.
func (p *poller) netpollopen(fd int, slot, seq uint32) error {
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET}
	setTag(&ev, uint64(slot)|uint64(seq)<<32)
	switch err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err {
	case nil:
		return nil
	case unix.EPERM:
		return ErrNotPollable
	default:
		return os.NewSyscallError("epoll_ctl", err)
	}
}

// netpollclose removes fd from the epoll set. It must happen before the fd
// is closed: a dup of the fd would otherwise keep it in the set.
func (p *poller) netpollclose(fd int) error {
	return unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, fd, nil)
}

// netpollIsPollDescriptor reports whether fd is one of the poller's own.
func (p *poller) netpollIsPollDescriptor(fd int) bool {
	return fd == p.epfd || fd == p.breakfd
}

// netpollBreak wakes a netpoll blocked in epoll_wait. Breaks made while one
// is pending are coalesced into it.
func (p *poller) netpollBreak() {
	if !p.wakeSig.CompareAndSwap(0, 1) {
		return
	}
	p.stats.breaks.Add(1)
	one := uint64(1)
	for {
		_, err := unix.Write(p.breakfd, (*[8]byte)(unsafe.Pointer(&one))[:])
		if err != unix.EINTR {
			// EAGAIN means the counter is full: a wakeup is pending anyway.
			return
		}
	}
}

// breakPending reports whether a break was made and not yet taken.
func (p *poller) breakPending() bool { return p.wakeSig.Load() != 0 }

// waitSet parks in the runtime's poller on the epoll fd, calling f each
// time the runtime reports it readable, until f reports true. Each new
// event makes the edge-triggered epoll fd readable anew, drained or not.
func (p *poller) waitSet(f func(uintptr) bool) error { return p.rc.Read(f) }

// poll delivers the pending events without blocking, for the leader self
// (see pollEvents). It reports whether there may be more.
func (p *poller) poll(self *waiter, lead bool) bool {
	return p.pollEvents(0, self, lead) == len(p.events)
}

// takeBreak consumes a pending break. Only the set's leader calls it.
func (p *poller) takeBreak() {
	var buf [8]byte
	unix.Read(p.breakfd, buf[:])
	p.wakeSig.Store(0)
}

// netpoll waits for events and delivers them: delay < 0 blocks until there
// is one (or a break), 0 only polls, > 0 blocks at most delay. It returns the
// number of events epoll_wait reported, len(p.events) meaning "maybe more".
func (p *poller) netpoll(delay time.Duration) int { return p.pollEvents(delay, nil, true) }

// pollEvents is netpoll for the leader self (nil: not a waiter), or, with
// lead false, for a pass, which leaves the break to the leader.
func (p *poller) pollEvents(delay time.Duration, self *waiter, lead bool) int {
	var n int
	var errno unix.Errno
	if delay == 0 {
		// A zero-timeout epoll_wait never blocks: skip the scheduler's
		// syscall bookkeeping.
		r, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(p.epfd),
			uintptr(unsafe.Pointer(&p.events[0])), uintptr(len(p.events)), 0, 0, 0)
		n, errno = int(r), e
	} else {
		ms := -1
		if delay > 0 {
			ms = int(min((delay+time.Millisecond-1)/time.Millisecond, 1e9))
		}
		var err error
		n, err = unix.EpollWait(p.epfd, p.events, ms)
		if err != nil {
			errno = err.(unix.Errno)
		}
	}
	p.stats.polls.Add(1)
	if errno != 0 {
		// EINTR: report nothing; callers loop. Nothing else can fail for a
		// valid epoll fd and buffer.
		return 0
	}
	p.deliver(p.events[:n], self, lead)
	return n
}

// deliver hands the events epoll_wait reported to their descriptors.
func (p *poller) deliver(events []unix.EpollEvent, self *waiter, lead bool) {
	for i := range events {
		ev := &events[i]
		tag := tagOf(ev)
		if tag == breakTag {
			if lead {
				// A pass leaves it: the break stays readable,
				// level-triggered, until the leader takes it.
				p.takeBreak()
			}
			continue
		}
		var mode Mode
		if ev.Events&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
			mode += Read
		}
		if ev.Events&(unix.EPOLLOUT|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
			mode += Write
		}
		if mode != 0 {
			p.netpollready(uint32(tag), uint32(tag>>32), mode, ev.Events == unix.EPOLLERR,
				ev.Events&(unix.EPOLLRDHUP|unix.EPOLLHUP) != 0, self)
		}
	}
}
