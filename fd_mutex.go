//go:build linux && !pollnet_stdnet

package pollnet

import (
	"net"
	"sync"
	"sync/atomic"

	"github.com/pollnet/pollnet/pollrt"
)

// fdMutex is the reference-counted lock that keeps a file descriptor alive
// while an operation uses it (internal/poll's fdMutex, in user space).
//
// state holds the closed bit and the number of references. Every operation
// takes a reference; reads also hold rmu and writes wmu, which serialise
// readers among themselves and writers among themselves (pollrt allows one
// waiter per direction). Close sets the closed bit and evicts the poll
// descriptor, which wakes the operations blocked in pollrt; they return,
// drop their references, and whoever drops the last one closes the fd. So
// close(2) never runs while another goroutine is inside read(2) or write(2)
// on the same number, and a new socket that the kernel gives that number
// can never see the old conn's bytes.
//
// Operations queued on rmu or wmu behind a blocked one are not woken by
// Close: they get the lock when the blocked operation returns, see the
// closed bit and fail with net.ErrClosed.
type fdMutex struct {
	state atomic.Uint64
	rmu   sync.Mutex
	wmu   sync.Mutex
	// closing is waited on by the Close that set the closed bit, until the
	// last reference is gone and the fd is closed.
	closing sync.WaitGroup
}

const (
	mutexClosed = 1 << 0
	mutexRef    = 1 << 1
	mutexRefMax = ^uint64(0) &^ mutexClosed
)

// incref takes a reference; it fails once the fd is closed.
func (mu *fdMutex) incref() bool {
	for {
		old := mu.state.Load()
		if old&mutexClosed != 0 {
			return false
		}
		if old+mutexRef >= mutexRefMax {
			panic("pollnet: too many concurrent operations on one conn")
		}
		if mu.state.CompareAndSwap(old, old+mutexRef) {
			return true
		}
	}
}

// increfAndClose sets the closed bit and takes a reference that the closer
// drops once it has evicted the poll descriptor. It fails if the fd was
// closed already.
func (mu *fdMutex) increfAndClose() bool {
	for {
		old := mu.state.Load()
		if old&mutexClosed != 0 {
			return false
		}
		if mu.state.CompareAndSwap(old, (old|mutexClosed)+mutexRef) {
			return true
		}
	}
}

// decref drops a reference and reports whether the fd is closed and that
// was the last one: the caller must then destroy the fd.
func (mu *fdMutex) decref() bool {
	return mu.state.Add(^uint64(mutexRef-1)) == mutexClosed
}

func (mu *fdMutex) closed() bool { return mu.state.Load()&mutexClosed != 0 }

// The fd's lock helpers: they take a reference and, for reads and writes,
// the direction's lock, and return net.ErrClosed once the fd is closed.

func (fd *netFD) incref() error {
	if !fd.mu.incref() {
		return net.ErrClosed
	}
	return nil
}

func (fd *netFD) decref() {
	if fd.mu.decref() {
		fd.destroy()
	}
}

// lock takes a reference and the lock of mode's direction: rmu for
// pollrt.Read, wmu for pollrt.Write.
func (fd *netFD) lock(mode pollrt.Mode) error {
	if !fd.mu.incref() {
		return net.ErrClosed
	}
	fd.mu.dir(mode).Lock()
	if fd.mu.closed() {
		fd.unlock(mode)
		return net.ErrClosed
	}
	return nil
}

// unlock releases what lock(mode) took.
func (fd *netFD) unlock(mode pollrt.Mode) {
	fd.mu.dir(mode).Unlock()
	fd.decref()
}

// dir returns the lock that serialises the operations in mode.
func (mu *fdMutex) dir(mode pollrt.Mode) *sync.Mutex {
	if mode == pollrt.Write {
		return &mu.wmu
	}
	return &mu.rmu
}

func (fd *netFD) readLock() error  { return fd.lock(pollrt.Read) }
func (fd *netFD) readUnlock()      { fd.unlock(pollrt.Read) }
func (fd *netFD) writeLock() error { return fd.lock(pollrt.Write) }
func (fd *netFD) writeUnlock()     { fd.unlock(pollrt.Write) }
