package pollrt

import (
	"math"
	"time"
)

// epoch anchors nanotime to the monotonic clock the runtime's timers use.
var epoch = time.Now()

// nanotime is the clock deadlines are kept in. It starts at 1 so that a
// deadline is never 0 (which means "none").
func nanotime() int64 { return int64(time.Since(epoch)) + 1 }

// SetDeadline sets the deadline of mode (Read, Write or ReadWrite) to t.
// A zero t clears it. A t in the past expires it at once: the waiter of that
// direction, if any, and every later wait fail with ErrTimeout until the
// deadline is set again. Moving a deadline while a goroutine waits applies
// to that wait. Each direction's timer is reused; SetDeadline allocates
// nothing once the direction has had a deadline. It returns ErrBadMode for
// another mode, and ErrClosing, doing nothing, once pd is evicted.
func (pd *PollDesc) SetDeadline(t time.Time, mode Mode) error {
	if pd == nil {
		return ErrClosing
	}
	if mode != Read && mode != Write && mode != ReadWrite {
		return ErrBadMode
	}
	var d int64
	var dur time.Duration
	if !t.IsZero() {
		dur = time.Until(t)
		if dur <= 0 {
			d = -1
		} else if d = nanotime() + int64(dur); d < 0 {
			d = math.MaxInt64
		}
	}
	pd.mu.Lock()
	if !pd.open || pd.closing {
		pd.mu.Unlock()
		return ErrClosing
	}
	if mode == Read || mode == ReadWrite {
		pd.setDirDeadline(Read, d, dur)
	}
	if mode == Write || mode == ReadWrite {
		pd.setDirDeadline(Write, d, dur)
	}
	pd.publishInfo()
	var rw, ww *waiter
	if pd.rd < 0 {
		rw = pd.rs.unblock(false)
	}
	if pd.wd < 0 {
		ww = pd.ws.unblock(false)
	}
	p := pd.p
	pd.mu.Unlock()
	countWake(&rtStats.wakeTimeout, rw, ww)
	p.wake(rw)
	p.wake(ww)
	return nil
}

func (pd *PollDesc) readDeadline()  { pd.deadlineFired(Read) }
func (pd *PollDesc) writeDeadline() { pd.deadlineFired(Write) }

// dir returns mode's deadline, seq, the seq its timer was armed with, and
// its timer.
func (pd *PollDesc) dir(mode Mode) (d *int64, seq, tseq *uint32, t **time.Timer) {
	if mode == Read {
		return &pd.rd, &pd.rseq, &pd.rtseq, &pd.rt
	}
	return &pd.wd, &pd.wseq, &pd.wtseq, &pd.wt
}

// setDirDeadline stores mode's deadline d, due in dur, bumps its seq and
// arms its timer (made on first use, reused after) or stops it. Call with
// pd.mu held.
func (pd *PollDesc) setDirDeadline(mode Mode, d int64, dur time.Duration) {
	dl, seq, tseq, t := pd.dir(mode)
	*dl = d
	*seq++
	switch {
	case d <= 0:
		if *t != nil {
			(*t).Stop()
		}
	case *t != nil:
		*tseq = *seq
		(*t).Reset(dur)
	default:
		*tseq = *seq
		f := pd.readDeadline
		if mode == Write {
			f = pd.writeDeadline
		}
		*t = time.AfterFunc(dur, f)
	}
}

// deadlineFired runs on a timer. A timer whose deadline was moved or cleared
// since it was armed (its seq is stale, or the deadline lies ahead) does
// nothing: the Reset or Stop that moved it is in charge now. Timers can fire
// concurrently with a Reset, hence both checks under the lock.
func (pd *PollDesc) deadlineFired(mode Mode) {
	d, seq, tseq, t := pd.dir(mode)
	s := pd.sema(mode)
	pd.mu.Lock()
	if !pd.open || *tseq != *seq || *d <= 0 {
		pd.mu.Unlock()
		return
	}
	if left := *d - nanotime(); left > 0 {
		(*t).Reset(time.Duration(left))
		pd.mu.Unlock()
		return
	}
	*d = -1
	pd.publishInfo()
	w := s.unblock(false)
	p := pd.p
	pd.mu.Unlock()
	rtStats.timeouts.Add(1)
	countWake(&rtStats.wakeTimeout, w)
	p.wake(w)
}

// stopTimers stops both deadline timers. Call with pd.mu held.
func (pd *PollDesc) stopTimers() {
	if pd.rt != nil {
		pd.rt.Stop()
	}
	if pd.wt != nil {
		pd.wt.Stop()
	}
}
