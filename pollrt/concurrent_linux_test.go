//go:build linux

package pollrt

import (
	"errors"
	"math/rand"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// TestSemaphoreConcurrent runs the real thing: a reader waiting on a
// socketpair while one goroutine writes and another moves the read
// deadline (past, cleared, far, a few microseconds ahead), then a close.
// It checks what a user relies on: no lost wakeup (every byte written is
// read, with no deadline set, without hanging), ErrTimeout only when a
// deadline could have expired during that wait, and ErrClosing only after
// Evict.
func TestSemaphoreConcurrent(t *testing.T) {
	const rounds, bytes, moves = 20, 300, 300
	for r := 0; r < rounds; r++ {
		pd, a, b := socketpair(t)
		rng := rand.New(rand.NewSource(int64(r)))

		var (
			mayExpire atomic.Bool   // a deadline set may be expired now
			expiries  atomic.Uint64 // deadlines set that could expire
			evicted   atomic.Bool
			gotAll    atomic.Bool // the reader has read every byte
			writes    sync.WaitGroup
		)
		writes.Add(2)
		go func() { // writer
			defer writes.Done()
			for i := 0; i < bytes; i++ {
				if _, err := unix.Write(b, []byte{byte(i)}); err != nil {
					t.Errorf("write: %v", err)
					return
				}
				if i%7 == 0 {
					runtime.Gosched()
				}
			}
		}()
		go func() { // deadline mover
			defer writes.Done()
			for i := 0; i < moves; i++ {
				switch rng.Intn(4) {
				case 0:
					mayExpire.Store(true)
					expiries.Add(1)
					pd.SetDeadline(time.Now().Add(-time.Second), Read)
				case 1:
					mayExpire.Store(true)
					expiries.Add(1)
					pd.SetDeadline(time.Now().Add(time.Duration(rng.Intn(50))*time.Microsecond), Read)
				case 2:
					pd.SetDeadline(time.Time{}, Read)
					mayExpire.Store(false)
				default:
					pd.SetDeadline(time.Now().Add(time.Hour), Read)
					mayExpire.Store(false)
				}
				runtime.Gosched()
			}
			pd.SetDeadline(time.Time{}, Read)
			mayExpire.Store(false)
		}()

		readerDone := make(chan error, 1)
		go func() { // reader
			var buf [64]byte
			got := 0
			for {
				before, could := expiries.Load(), mayExpire.Load()
				err := pd.Prepare(Read)
				if err == nil {
					var n int
					n, err = unix.Read(a, buf[:])
					if n > 0 {
						for i := 0; i < n; i++ {
							if buf[i] != byte(got+i) {
								readerDone <- errors.New("bytes out of order")
								return
							}
						}
						got += n
						continue
					}
					if err != unix.EAGAIN {
						readerDone <- err
						return
					}
					if got == bytes {
						gotAll.Store(true)
					}
					err = pd.Wait(Read)
				}
				if errors.Is(err, ErrClosing) && got == bytes && evicted.Load() {
					readerDone <- nil // everything arrived, then Evict ended the wait
					return
				}
				switch {
				case err == nil:
				case errors.Is(err, ErrTimeout):
					if !could && expiries.Load() == before {
						readerDone <- errors.New("ErrTimeout with no deadline that could expire")
						return
					}
					runtime.Gosched()
				default:
					readerDone <- err
					return
				}
			}
		}()

		writes.Wait()
		// The reader must now read every byte and park. Evict wakes it.
		deadline := time.Now().Add(20 * time.Second)
		for !gotAll.Load() || !parkedNow(&pd.rs) {
			select {
			case err := <-readerDone:
				t.Fatalf("round %d: reader ended early: %v", r, err)
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d: reader did not reach the end of the data (lost wakeup?)", r)
			}
			runtime.Gosched()
		}
		evicted.Store(true)
		pd.Evict()
		select {
		case err := <-readerDone:
			require.NoError(t, err, "round %d", r)
		case <-time.After(20 * time.Second):
			t.Fatalf("round %d: reader still blocked after Evict", r)
		}
	}
}

// parkedNow reports whether a goroutine is parked on s.
func parkedNow(s *sema) bool { return s.state.Load() == &s.w }
