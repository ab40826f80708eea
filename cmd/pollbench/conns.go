//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// dialFunc is the client library's dial, chosen by -client.
type dialFunc func(ctx context.Context, network, address string) (net.Conn, error)

// ioTimeout bounds every single client I/O step, so a wedged server turns
// into an error instead of a hung benchmark.
const ioTimeout = 5 * time.Second

// setLinger0 makes Close send RST and leave no TIME_WAIT behind (see
// closeRST). Conns that cannot do it are closed normally.
func setLinger0(c net.Conn) {
	if l, ok := c.(interface{ SetLinger(int) error }); ok {
		_ = l.SetLinger(0)
	}
}

func dialTimeout(ctx context.Context, dial dialFunc, addr string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, ioTimeout)
	defer cancel()
	return dial(ctx, "tcp", addr)
}

// sleepCtx sleeps for d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

const streamChunk = 64 << 10

// runStream has each of nconns connections write 64 KiB chunks as fast as
// the server echoes them back, and reports echoed MB/s (1e6 bytes) over the
// window after warm-up. Writer and reader are separate goroutines so TCP
// flow control, not a lock-step protocol, is what paces the transfer.
// mark is called as the window opens and as it closes, before the conns
// are closed.
func runStream(ctx context.Context, dial dialFunc, addr string, nconns int, warmup, dur time.Duration, mark func()) (float64, error) {
	conns := make([]net.Conn, 0, nconns)
	closeAll := func() {
		for _, c := range conns {
			setLinger0(c)
			_ = c.Close()
		}
	}
	for range nconns {
		c, err := dialTimeout(ctx, dial, addr)
		if err != nil {
			closeAll()
			return 0, err
		}
		conns = append(conns, c)
	}
	var echoed atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, 2*nconns)
	stopping := make(chan struct{})
	report := func(err error) {
		select {
		case <-stopping: // errors from our own Close are expected
		default:
			errc <- err
		}
	}
	chunk := make([]byte, streamChunk)
	for _, c := range conns {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for {
				_ = c.SetWriteDeadline(time.Now().Add(ioTimeout))
				if _, err := c.Write(chunk); err != nil {
					report(fmt.Errorf("stream write: %w", err))
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			buf := make([]byte, streamChunk)
			for {
				_ = c.SetReadDeadline(time.Now().Add(ioTimeout))
				n, err := c.Read(buf)
				echoed.Add(int64(n))
				if err != nil {
					report(fmt.Errorf("stream read: %w", err))
					return
				}
			}
		}()
	}
	err := sleepCtx(ctx, warmup)
	b0, t0 := echoed.Load(), time.Now()
	if err == nil {
		mark()
		err = sleepCtx(ctx, dur)
	}
	b1, t1 := echoed.Load(), time.Now()
	if err == nil {
		mark()
	}
	close(stopping)
	closeAll()
	wg.Wait() // Close unblocks every Read and Write; deadlines bound the rest
	select {
	case e := <-errc:
		return 0, e
	default:
	}
	if err != nil {
		return 0, err
	}
	return float64(b1-b0) / 1e6 / t1.Sub(t0).Seconds(), nil
}

// churnWorkers is how many client goroutines dial concurrently in churn:
// enough to keep a server's accept path busy while the round trip of one
// connection is in flight, few enough not to measure the client's scheduler.
const churnWorkers = 8

// runChurn repeatedly dials, echoes one byte and closes (with RST, so no
// TIME_WAIT accumulates) from churnWorkers goroutines, and reports completed
// connections per second over the window after warm-up, plus how many
// attempts failed and the first failure. mark is called as the window
// opens and as it closes.
func runChurn(ctx context.Context, dial dialFunc, addr string, warmup, dur time.Duration, mark func()) (rate float64, failed int, firstErr error, err error) {
	start := time.Now()
	warmEnd, end := start.Add(warmup), start.Add(warmup+dur)
	var done, nfailed atomic.Int64
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	for range churnWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			one := []byte{'x'}
			buf := make([]byte, 1)
			for ctx.Err() == nil && time.Now().Before(end) {
				err := churnOnce(ctx, dial, addr, one, buf)
				t := time.Now()
				if err != nil {
					nfailed.Add(1)
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					// Do not spin on a refusing server.
					_ = sleepCtx(ctx, time.Millisecond)
					continue
				}
				if !t.Before(warmEnd) && t.Before(end) {
					done.Add(1)
				}
			}
		}()
	}
	if sleepCtx(ctx, time.Until(warmEnd)) == nil {
		mark()
		if sleepCtx(ctx, time.Until(end)) == nil {
			mark()
		}
	}
	wg.Wait()
	failed = int(nfailed.Load())
	if err := ctx.Err(); err != nil {
		return 0, failed, firstErr, err
	}
	if done.Load() == 0 {
		err := firstErr
		if err == nil {
			err = errors.New("no connection completed")
		}
		return 0, failed, firstErr, fmt.Errorf("churn: %w", err)
	}
	return float64(done.Load()) / dur.Seconds(), failed, firstErr, nil
}

func churnOnce(ctx context.Context, dial dialFunc, addr string, one, buf []byte) error {
	c, err := dialTimeout(ctx, dial, addr)
	if err != nil {
		return err
	}
	defer c.Close()
	setLinger0(c)
	_ = c.SetDeadline(time.Now().Add(ioTimeout))
	if _, err := c.Write(one); err != nil {
		return err
	}
	_, err = io.ReadFull(c, buf)
	return err
}

// idleResult is what the idle workload measures.
type idleResult struct {
	beforeKiB, afterKiB int64
	perConnBytes        float64
}

// runIdle opens n connections to the server whose pid is given, makes each
// do one 1-byte echo (so the server has certainly accepted it and its
// goroutine has run, read and gone back to waiting: a server that reads
// into a buffer of its own holds it from then on), lets them sit, and reports the
// server's RSS growth per connection. measured is called once RSS is read,
// while the conns are still open.
func runIdle(ctx context.Context, dial dialFunc, addr string, pid, n int, measured func()) (idleResult, error) {
	var r idleResult
	// Let the fresh child finish starting up so its RSS is a stable baseline.
	if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
		return r, err
	}
	before, err := rssKiB(pid)
	if err != nil {
		return r, err
	}
	conns := make([]net.Conn, n)
	defer func() {
		for _, c := range conns {
			if c != nil {
				setLinger0(c)
				_ = c.Close()
			}
		}
	}()
	// A few dialers in parallel: the client is not what is measured here and
	// 5,000 sequential handshakes would dominate the run.
	const workers = 8
	var next atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, workers)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			one, buf := []byte{'x'}, make([]byte, 1)
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				c, err := dialTimeout(ctx, dial, addr)
				if err != nil {
					errc <- fmt.Errorf("idle conn %d of %d: %w", i+1, n, err)
					return
				}
				conns[i] = c
				_ = c.SetDeadline(time.Now().Add(ioTimeout))
				if _, err = c.Write(one); err == nil {
					_, err = io.ReadFull(c, buf)
				}
				if err != nil {
					errc <- fmt.Errorf("idle conn %d of %d: %w", i+1, n, err)
					return
				}
				_ = c.SetDeadline(time.Time{})
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errc:
		return r, err
	default:
	}
	if err := ctx.Err(); err != nil {
		return r, err
	}
	if err := sleepCtx(ctx, 200*time.Millisecond); err != nil {
		return r, err
	}
	after, err := rssKiB(pid)
	if err != nil {
		return r, err
	}
	measured()
	r.beforeKiB, r.afterKiB = before, after
	r.perConnBytes = float64(after-before) * 1024 / float64(n)
	return r, nil
}
