package pollrt

import (
	"sync"
	"sync/atomic"
)

// slotTable numbers the open PollDescs. Epoll events name a descriptor by
// its slot index and seq (never a Go pointer), so the poller looks slots up
// without a lock: all is replaced, never modified below its length, when
// the table grows. Freed slots are reused last-in first-out, so the table
// only grows to the largest number of descriptors open at once.
//
// A slot gets a new PollDesc on every Open; the one it served before stays
// closed for good, so a caller still holding it gets ErrClosing rather than
// another fd's waits (see Close).
type slotTable struct {
	all atomic.Pointer[[]*slot]

	mu     sync.Mutex // guards free and the counters
	free   []uint32   // indices of the slots no open descriptor holds
	opened uint64
	closed uint64
}

// slot holds the PollDesc that serves it now, or served it last.
type slot struct{ pd atomic.Pointer[PollDesc] }

var slots slotTable

// alloc returns a new PollDesc in a free slot. Its fdseq continues the
// slot's previous descriptor's, so that events tagged for that one stay
// stale.
func (t *slotTable) alloc() *PollDesc {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.opened++
	if n := len(t.free); n > 0 {
		i := t.free[n-1]
		t.free = t.free[:n-1]
		s := (*t.all.Load())[i]
		pd := newPollDesc(i)
		pd.fdseq.Store(s.pd.Load().fdseq.Load())
		s.pd.Store(pd)
		return pd
	}
	// Only here: all escapes (its address is stored).
	var all []*slot
	if p := t.all.Load(); p != nil {
		all = *p
	}
	pd := newPollDesc(uint32(len(all)))
	s := &slot{}
	s.pd.Store(pd)
	// Appending in place is safe: readers never index past the length they
	// loaded.
	all = append(all, s)
	t.all.Store(&all)
	return pd
}

// release frees pd's slot; pd must no longer be open.
func (t *slotTable) release(pd *PollDesc) {
	t.mu.Lock()
	t.closed++
	t.free = append(t.free, pd.slot)
	t.mu.Unlock()
}

// lookup returns the descriptor in slot if it still serves the fd whose
// events are tagged seq, nil for a stale event.
func (t *slotTable) lookup(slot, seq uint32) *PollDesc {
	p := t.all.Load()
	if p == nil || int(slot) >= len(*p) {
		return nil
	}
	pd := (*p)[slot].pd.Load()
	if pd.fdseq.Load() != seq {
		return nil
	}
	return pd
}
