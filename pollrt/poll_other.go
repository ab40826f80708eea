//go:build !linux

package pollrt

// pollSet is a stub where pollrt has no backend: init fails, so Open
// reports ErrNotSupported and none of the methods below is called. They
// are the seam a backend implements (park.go).
type pollSet struct{}

func (p *pollSet) init() error                               { return ErrNotSupported }
func (p *pollSet) close()                                    {}
func (p *poller) netpollopen(fd int, slot, seq uint32) error { return ErrNotSupported }
func (p *poller) netpollclose(fd int) error                  { return ErrNotSupported }
func (p *poller) netpollIsPollDescriptor(fd int) bool        { return false }
func (p *poller) waitSet(f func(uintptr) bool) error         { return ErrNotSupported }
func (p *poller) poll(self *waiter, lead bool) bool          { return false }
func (p *poller) netpollBreak()                              {}
func (p *poller) takeBreak()                                 {}
func (p *poller) breakPending() bool                         { return false }
