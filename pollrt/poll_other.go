//go:build !linux

package pollrt

import "time"

// poller is a stub where pollrt has no backend: Open reports ErrNotSupported.
type poller struct{ stats pollerStats }

func newPoller() (*poller, error)                            { return nil, ErrNotSupported }
func (p *poller) run()                                       {}
func (p *poller) netpollopen(fd int, slot, seq uint32) error { return ErrNotSupported }
func (p *poller) netpollclose(fd int) error                  { return ErrNotSupported }
func (p *poller) netpollIsPollDescriptor(fd int) bool        { return false }
func (p *poller) netpollBreak()                              {}
func (p *poller) netpoll(delay time.Duration) int            { return 0 }
func (p *poller) close()                                     {}

func (p *poller) park(s *sema, a Attempt, tried bool) bool {
	s.w.slept = false
	if a != nil && !tried && a.Try() {
		s.takeBack()
		return true
	}
	<-s.w.ch
	return false
}
func (p *poller) wake(w *waiter) { p.wakeFrom(w, nil) }
func (p *poller) wakeFrom(w, self *waiter) {
	if w != nil {
		w.ch <- struct{}{}
	}
}
func (p *poller) delivers() bool { return false }
func (p *poller) watch()         {}
func (p *poller) unwatch()       {}
func (p *poller) pollIfIdle()    {}
