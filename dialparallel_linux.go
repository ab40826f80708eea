//go:build linux && !pollnet_stdnet

package pollnet

import (
	"context"
	"net"
	"time"
)

// dialAddrs dials the resolved addresses as package net's dialParallel: for
// "tcp" with both families present, the family of the first address
// (primaries) first, the other (fallbacks) after the fallback delay unless
// the primaries have failed by then; the first conn wins and the loser is
// closed. Errors are *net.OpError values; when both families fail, the
// primaries' error is returned.
func (d *Dialer) dialAddrs(ctx context.Context, network string, la *net.TCPAddr, addrs []*net.TCPAddr) (*Conn, error) {
	var primaries, fallbacks []*net.TCPAddr
	if d.dualStack() && network == "tcp" {
		primaries, fallbacks = partitionFamily(addrs)
	} else {
		primaries = addrs
	}
	if len(fallbacks) == 0 {
		return d.dialSerial(ctx, network, la, primaries)
	}

	type result struct {
		c       *Conn
		err     error
		primary bool
		done    bool
	}
	returned := make(chan struct{})
	defer close(returned)
	results := make(chan result) // unbuffered: a racer hands over or closes
	race := func(ctx context.Context, primary bool) {
		ras := primaries
		if !primary {
			ras = fallbacks
		}
		c, err := d.dialSerial(ctx, network, la, ras)
		select {
		case results <- result{c: c, err: err, primary: primary, done: true}:
		case <-returned:
			if c != nil {
				c.Close()
			}
		}
	}

	var primary, fallback result
	// Returning cancels the racer still dialing.
	primaryCtx, primaryCancel := context.WithCancel(ctx)
	defer primaryCancel()
	go race(primaryCtx, true)

	fallbackTimer := time.NewTimer(d.fallbackDelay())
	defer fallbackTimer.Stop()
	fallbackCtx, fallbackCancel := context.WithCancel(ctx)
	defer fallbackCancel()
	for {
		select {
		case <-fallbackTimer.C:
			go race(fallbackCtx, false)
		case res := <-results:
			if res.err == nil {
				return res.c, nil
			}
			if res.primary {
				primary = res
			} else {
				fallback = res
			}
			if primary.done && fallback.done {
				return nil, primary.err
			}
			if res.primary && fallbackTimer.Stop() {
				// The primaries failed before the delay was up: start
				// the fallbacks now.
				fallbackTimer.Reset(0)
			}
		}
	}
}

// partitionFamily splits addrs into those of the first address's family
// and the others, keeping the resolver's order in each.
func partitionFamily(addrs []*net.TCPAddr) (primaries, fallbacks []*net.TCPAddr) {
	first := isIPv4(addrs[0])
	for _, a := range addrs {
		if isIPv4(a) == first {
			primaries = append(primaries, a)
		} else {
			fallbacks = append(fallbacks, a)
		}
	}
	return primaries, fallbacks
}
