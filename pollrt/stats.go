package pollrt

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// LatencyBuckets is the number of wake-up latency buckets in Stats.
const LatencyBuckets = 24

// Stats are the poll runtime's counters, cumulative since the process
// started unless noted.
type Stats struct {
	Open    uint64 // descriptors open now
	Opened  uint64 // descriptors opened (failed Opens included)
	Closed  uint64 // descriptors closed
	Slots   uint64 // size of the slot table: the most descriptors ever open at once
	Pollers uint64 // epoll sets: SetPollers' count, plus one for OpenLong
	Polls   uint64 // non-blocking epoll_wait calls by whoever polled the sets
	Events  uint64 // events delivered to open descriptors (Events/Polls: events per poll)
	Stale   uint64 // events dropped because their fd had been closed
	Breaks  uint64 // netpollBreak calls that wrote to the break descriptor

	// Leads counts waits in which the parked goroutine polled its epoll set
	// itself, so the runtime woke it directly; the other waits were woken
	// by the goroutine polling the set. Handoffs counts leaders that passed
	// the set to the poller goroutine because other waiters remained.
	Leads    uint64
	Handoffs uint64

	Waits         uint64 // goroutines that parked in Wait or WaitOnce
	WakeReady     uint64 // parked goroutines woken by readiness
	WakeTimeout   uint64 // parked goroutines woken by an expired deadline
	WakeClose     uint64 // parked goroutines woken by Evict
	WakeInterrupt uint64 // parked goroutines woken by Interrupt
	Timeouts      uint64 // deadlines expired by their timer

	// WakeLatency is a histogram of the time from the moment a poller saw
	// a waiter's fd ready to the moment the woken goroutine ran. Bucket 0
	// counts latencies under 512ns, bucket i (0 < i < LatencyBuckets-1)
	// those in [2^(i+8), 2^(i+9)) ns, the last bucket the rest (over 2s).
	WakeLatency [LatencyBuckets]uint64
}

// LatencyQuantile returns an upper bound of the q-quantile (0 < q <= 1) of
// WakeLatency: the upper edge of the bucket it falls in. It returns 0 when
// there is no sample, or s is nil.
func (s *Stats) LatencyQuantile(q float64) time.Duration {
	if s == nil {
		return 0
	}
	var total uint64
	for _, n := range s.WakeLatency {
		total += n
	}
	if total == 0 {
		return 0
	}
	rank := uint64(q * float64(total))
	if rank == 0 {
		rank = 1
	}
	var seen uint64
	for i, n := range s.WakeLatency {
		seen += n
		if seen >= rank {
			return time.Duration(1) << (i + 9)
		}
	}
	return time.Duration(1) << (LatencyBuckets + 8)
}

// rtStats are the counters kept outside the poller.
var rtStats struct {
	waits, wakeTimeout, wakeClose, wakeInterrupt, timeouts atomic.Uint64
	latency                                                [LatencyBuckets]atomic.Uint64
}

func recordWakeLatency(ns int64) {
	b := 0
	if ns >= 512 {
		b = min(bits.Len64(uint64(ns))-9, LatencyBuckets-1)
	}
	rtStats.latency[b].Add(1)
}

// ReadStats fills s with the current counters; a nil s is left alone. It
// allocates nothing.
func ReadStats(s *Stats) {
	if s == nil {
		return
	}
	slots.mu.Lock()
	*s = Stats{Opened: slots.opened, Closed: slots.closed, Open: slots.opened - slots.closed}
	slots.mu.Unlock()
	if p := slots.all.Load(); p != nil {
		s.Slots = uint64(len(*p))
	}
	s.Waits = rtStats.waits.Load()
	s.WakeTimeout = rtStats.wakeTimeout.Load()
	s.WakeClose = rtStats.wakeClose.Load()
	s.WakeInterrupt = rtStats.wakeInterrupt.Load()
	s.Timeouts = rtStats.timeouts.Load()
	for i := range s.WakeLatency {
		s.WakeLatency[i] = rtStats.latency[i].Load()
	}
	if ps := pollers.Load(); ps != nil {
		s.Pollers = uint64(len(*ps))
		for _, p := range *ps {
			p.stats.addTo(s)
		}
	}
}
