package pollrt

import (
	"sync"
	"sync/atomic"
)

// slotTable owns every PollDesc. Epoll events name a descriptor by its slot
// index (never a Go pointer), so the poller looks slots up without a lock:
// all is replaced, never modified below its length, when the table grows.
// Freed descriptors are reused last-in first-out, so the table only grows
// to the largest number of descriptors open at once.
type slotTable struct {
	all atomic.Pointer[[]*PollDesc]

	mu     sync.Mutex // guards free and the counters
	free   []*PollDesc
	opened uint64
	closed uint64
}

var slots slotTable

func (t *slotTable) alloc() *PollDesc {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.opened++
	if n := len(t.free); n > 0 {
		pd := t.free[n-1]
		t.free[n-1] = nil
		t.free = t.free[:n-1]
		return pd
	}
	var all []*PollDesc
	if p := t.all.Load(); p != nil {
		all = *p
	}
	// Appending in place is safe: readers never index past the length they
	// loaded.
	all = append(all, newPollDesc(uint32(len(all))))
	t.all.Store(&all)
	return all[len(all)-1]
}

func (t *slotTable) release(pd *PollDesc) {
	t.mu.Lock()
	t.closed++
	t.free = append(t.free, pd)
	t.mu.Unlock()
}

// lookup returns the descriptor in slot if it still serves the fd whose
// events are tagged seq, nil for a stale event.
func (t *slotTable) lookup(slot, seq uint32) *PollDesc {
	p := t.all.Load()
	if p == nil || int(slot) >= len(*p) {
		return nil
	}
	pd := (*p)[slot]
	if pd.fdseq.Load() != seq {
		return nil
	}
	return pd
}
