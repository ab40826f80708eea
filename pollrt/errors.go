package pollrt

import "errors"

// Poll error codes, as in runtime/netpoll.go. A wait returns them in this
// priority: closing, then the direction's deadline, then (reads only) an
// error event seen on the fd. Prepare returns only the first two (see
// PollDesc.Prepare).
const (
	pollNoError        = 0 // no error
	pollErrClosing     = 1 // descriptor is closing (Evict was called)
	pollErrTimeout     = 2 // the direction's deadline passed
	pollErrNotPollable = 3 // epoll refused the fd, or reported an error event on it
)

// Errors returned by PollDesc's methods and Open. pollnet maps them to the
// standard library's: ErrClosing to net.ErrClosed, ErrTimeout to
// os.ErrDeadlineExceeded.
var (
	// ErrClosing reports that the descriptor was evicted (the conn is closing).
	ErrClosing = errors.New("pollrt: use of closed poll descriptor")
	// ErrTimeout reports that the direction's deadline passed.
	ErrTimeout = errors.New("pollrt: i/o deadline exceeded")
	// ErrNotPollable reports an fd the poller cannot watch (a regular file,
	// for example), or a read that found nothing on a descriptor whose last
	// event was an error alone.
	ErrNotPollable = errors.New("pollrt: not pollable")
	// ErrNotSupported is returned by Open on platforms without a backend.
	ErrNotSupported = errors.New("pollrt: no poller backend on this platform")
	// ErrBusy reports a Prepare or wait that met another goroutine
	// waiting in the same direction, which changed nothing, or a Close
	// that met a waiter, which evicted the descriptor but left it open:
	// the caller must serialise waits per direction, and close once they
	// returned.
	ErrBusy = errors.New("pollrt: another goroutine waits on the poll descriptor")
	// ErrBadMode reports a Mode the method does not take.
	ErrBadMode = errors.New("pollrt: mode must be Read or Write (or ReadWrite where allowed)")
)

var pollErrors = [...]error{
	pollNoError:        nil,
	pollErrClosing:     ErrClosing,
	pollErrTimeout:     ErrTimeout,
	pollErrNotPollable: ErrNotPollable,
}

func errorOf(code int) error { return pollErrors[code] }
