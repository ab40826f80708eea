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
//	pd.Close()   // once no goroutine is inside Wait: deregister the fd
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
// Only one goroutine may wait per direction at a time; the caller serialises
// readers and writers (pollnet's fd mutex does).
//
// Descriptors are spread over a few epoll sets ([SetPollers]; listeners,
// opened with [OpenLong], share one of their own). A goroutine that parks
// in a set nobody polls polls it itself, parked in the Go runtime's poller
// on the epoll fd, so the runtime wakes it directly when its fd is ready;
// goroutines parking in a set already polled wait to be woken by whoever
// polls it, a waiter or the set's poller goroutine (park_linux.go).
//
// On platforms without a backend (anything but Linux today) Open returns
// [ErrNotSupported].
package pollrt
