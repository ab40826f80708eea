package pollrt

// Stats are the poll runtime's counters, cumulative since the process
// started unless noted.
type Stats struct {
	Open     uint64 // descriptors open now
	Opened   uint64 // Open calls that succeeded or failed after taking a slot
	Closed   uint64 // descriptors closed
	Slots    uint64 // size of the slot table: the most descriptors ever open at once
	Polls    uint64 // netpoll calls
	Events   uint64 // events delivered to open descriptors
	Stale    uint64 // events dropped because their fd had been closed
	Wakeups  uint64 // parked goroutines woken by readiness
	Timeouts uint64 // deadlines expired by their timer
	Breaks   uint64 // netpollBreak calls that wrote to the break descriptor
	Handoffs uint64 // times the poller goroutine took the lead for channel-parked waiters
}

// ReadStats fills s with the current counters. It allocates nothing; the
// counters are kept by the poller goroutine and the open/close paths, so
// waits pay nothing for them.
func ReadStats(s *Stats) {
	slots.mu.Lock()
	*s = Stats{Opened: slots.opened, Closed: slots.closed, Open: slots.opened - slots.closed}
	slots.mu.Unlock()
	if p := slots.all.Load(); p != nil {
		s.Slots = uint64(len(*p))
	}
	s.Timeouts = timeoutsFired.Load()
	if p := started.Load(); p != nil {
		p.stats.addTo(s)
	}
}
