//go:build linux && !pollnet_stdnet

package pollnet

import (
	"net"
	"sync"
	"sync/atomic"
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

func (fd *netFD) readLock() error {
	if !fd.mu.incref() {
		return net.ErrClosed
	}
	fd.mu.rmu.Lock()
	if fd.mu.closed() {
		fd.readUnlock()
		return net.ErrClosed
	}
	return nil
}

func (fd *netFD) readUnlock() {
	fd.mu.rmu.Unlock()
	fd.decref()
}

func (fd *netFD) writeLock() error {
	if !fd.mu.incref() {
		return net.ErrClosed
	}
	fd.mu.wmu.Lock()
	if fd.mu.closed() {
		fd.writeUnlock()
		return net.ErrClosed
	}
	return nil
}

func (fd *netFD) writeUnlock() {
	fd.mu.wmu.Unlock()
	fd.decref()
}
