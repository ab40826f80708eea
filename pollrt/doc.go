// Package pollrt is pollnet's poll runtime: Go's integrated network poller
// (runtime/netpoll.go) rebuilt in user space, without cgo or linkname.
//
// A [PollDesc] is opened for each non-blocking file descriptor. The goroutine
// that gets EAGAIN from a read or write calls [PollDesc.Prepare] before the
// syscall and [PollDesc.Wait] after it; Wait parks the goroutine on the
// descriptor's read or write semaphore until the poller sees the fd become
// ready, the direction's deadline passes, or the descriptor is evicted.
//
//	pd, err := pollrt.Open(fd)          // fd must be non-blocking
//	for {
//		if err := pd.Prepare(pollrt.Read); err != nil { ... }
//		n, err := unix.Read(fd, buf)
//		if err != unix.EAGAIN { ... }
//		if err := pd.Wait(pollrt.Read); err != nil { ... } // ErrTimeout, ErrClosing
//	}
//	pd.Evict()   // wake every waiter with ErrClosing
//	pd.Close()   // once every Wait returned: deregister the fd
//
// [PollDesc.Do] is the same loop with the syscall passed in as an
// [Attempt]: when the goroutine will poll its set itself, Do makes the
// attempt inside the wait, after the runtime watches the set, which saves
// the epoll_wait calls such a wait would otherwise make (pollnet's Read,
// Write and Accept use it):
//
//	if err := pd.Prepare(pollrt.Read); err != nil { ... }
//	err := pd.Do(pollrt.Read, op) // op.Try() reads once; false on EAGAIN
//
// The descriptor is registered edge-triggered for reading and writing once,
// at Open, and never re-armed, so callers must retry the syscall until it
// returns EAGAIN before waiting again, as package net does.
//
// # Contract
//
// pollrt works for any descriptor epoll accepts: sockets, pipes, ttys,
// eventfds, inotify and signalfd descriptors. The caller keeps owning the
// fd: it makes it non-blocking before Open, opens it once, and closes it
// after Close.
//
//   - One goroutine at a time may wait (Wait, Do, WaitOnce) in each
//     direction; the caller serialises readers and writers (pollnet's fd
//     mutex does). A second waiter, and a Prepare while a goroutine waits,
//     get [ErrBusy] and change nothing.
//   - Any goroutine may call SetDeadline, Interrupt, Evict, PeerClosed and
//     Done at any time.
//   - Close once every wait has returned (Evict makes them return). A Close
//     that finds a waiter wakes it with [ErrClosing] and returns ErrBusy,
//     the fd still registered; a later Close completes.
//   - A closed descriptor stays closed: its methods return ErrClosing (its
//     Done channel is closed), and the next Open gets a new PollDesc. A nil
//     *PollDesc, or one not returned by Open, behaves the same.
//   - A Mode a method does not take gives [ErrBadMode].
//
// No misuse panics. An Attempt must neither panic nor block: it runs
// inside the wait, perhaps while its goroutine polls the set for others.
// Prepare, Wait and Do allocate nothing, nor does SetDeadline once the
// direction has had a deadline.
//
// Descriptors are spread over a few epoll sets ([SetPollers]; listeners,
// opened with [OpenLong], share one of their own). A goroutine that parks
// in a set nobody polls polls it itself, parked in the Go runtime's poller
// on the epoll fd, so the runtime wakes it directly when its fd is ready;
// goroutines parking in a set already polled wait to be woken by whoever
// polls it, a waiter or the set's poller goroutine (park.go).
//
// On platforms without a backend (anything but Linux today) Open returns
// [ErrNotSupported].
package pollrt
