package pollrt

// Peer hangup: the poller already receives EPOLLRDHUP (the peer shut down
// its sending side or closed) and EPOLLHUP; recording them lets callers ask
// whether a connection is still alive without reading from it, and be told
// when it stops being alive (golang/go#15735, #27315). Data that arrived
// before the hangup stays readable: nothing here consumes it.

// PeerClosed reports whether the peer has hung up: it closed the
// connection or shut down its writing side. It turns true when the poller
// delivers the hangup event, which follows the peer's FIN or RST without
// any Read. It makes no syscall while some goroutine polls the
// descriptor's epoll set (one waits in it, or a Done channel is watched);
// otherwise it polls the set once, without blocking.
func (pd *PollDesc) PeerClosed() bool {
	if pd == nil {
		return false
	}
	if pd.info.Load()&infoHangup != 0 {
		return true
	}
	pd.p.pollIfIdle()
	return pd.info.Load()&infoHangup != 0
}

// Done returns a channel that is closed when the peer hangs up or pd is
// evicted. It is made on first use; descriptors that never call Done pay
// nothing. Until it is closed, the descriptor's epoll set is polled
// continuously, so waits in that set are woken through the poller
// goroutine rather than directly (see park.go). The channel of a
// closed descriptor is closed.
func (pd *PollDesc) Done() <-chan struct{} {
	if pd == nil {
		return closedChan
	}
	pd.mu.Lock()
	defer pd.mu.Unlock()
	if pd.done == nil {
		pd.done = make(chan struct{})
		if pd.hangup || pd.closing || !pd.open {
			pd.doneClosed = true
			close(pd.done)
		} else {
			pd.p.watch()
		}
	}
	return pd.done
}

// closedChan is Done's channel for a nil PollDesc.
var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// setHangup records a hangup event for the fd tagged seq.
func (pd *PollDesc) setHangup(seq uint32) {
	pd.mu.Lock()
	if pd.open && pd.fdseq.Load() == seq && !pd.hangup {
		pd.hangup = true
		pd.publishInfo()
		pd.closeDone()
	}
	pd.mu.Unlock()
}

// closeDone closes the Done channel if it was made. Call with pd.mu held.
func (pd *PollDesc) closeDone() {
	if pd.done != nil && !pd.doneClosed {
		pd.doneClosed = true
		pd.p.unwatch() // first, so a receiver from done sees the set unwatched
		close(pd.done)
	}
}
