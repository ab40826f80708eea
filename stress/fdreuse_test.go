//go:build linux

package stress

import (
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pollnet/pollnet"
)

// TestFDReuseNoCrossTalk closes conns at random points of concurrent Reads
// and Writes while other goroutines keep opening conns, which the kernel
// gives the freed fd numbers. Each endpoint streams frames naming itself,
// its peer and a sequence number; a receiver must only ever see its peer's
// frames, in order, without gaps, until its stream ends. A Close that ran
// close(2) while another goroutine was still inside read(2) or write(2) on
// the number would let bytes reach, or be taken from, the conn that got
// the number next.
func TestFDReuseNoCrossTalk(t *testing.T) {
	pairs, concurrency := 3000, 48
	if testing.Short() {
		pairs = 600
	}
	for _, network := range streamNetworks {
		t.Run(network, func(t *testing.T) {
			start := time.Now()
			ct := newCrossTalk(listen(t, network), newRand(t).Uint64())
			ct.run(t, pairs, concurrency)
			ct.fail.report(t)
			s := ct.summary()
			t.Logf("%s: %d conns (%d pairs, %d at once), %d fd numbers reused, %d frames (%d MiB) verified, %d torn frames at stream ends; outcomes: %s; %s",
				network, s.conns, pairs, concurrency, s.reused, s.frames, s.frames*frameSize>>20, s.torn, ct.kinds.String(), elapsed(start))
			if s.reused == 0 {
				t.Errorf("no fd number was ever reused: the test proved nothing")
			}
			if s.frames == 0 {
				t.Errorf("no frame was verified")
			}
		})
	}
}

// crossTalk runs the endpoints of TestFDReuseNoCrossTalk (and of the soak).
type crossTalk struct {
	ln    *pollnet.Listener
	seed  uint64
	rands atomic.Uint64
	fail  failures
	kinds kindCounts

	tags   atomic.Uint64
	frames atomic.Int64
	torn   atomic.Int64
	conns  atomic.Int64

	fdMu   sync.Mutex
	fdSeen map[int]int

	tick func() // progress callback, may be nil
}

func newCrossTalk(ln *pollnet.Listener, seed uint64) *crossTalk {
	return &crossTalk{ln: ln, seed: seed, fdSeen: make(map[int]int), tick: func() {}}
}

type crossTalkSummary struct {
	conns, reused, frames, torn int64
}

func (ct *crossTalk) summary() crossTalkSummary {
	ct.fdMu.Lock()
	distinct := int64(len(ct.fdSeen))
	ct.fdMu.Unlock()
	conns := ct.conns.Load()
	return crossTalkSummary{conns: conns, reused: conns - distinct, frames: ct.frames.Load(), torn: ct.torn.Load()}
}

func (ct *crossTalk) rand() *rand.Rand {
	return rand.New(rand.NewPCG(ct.seed, ct.rands.Add(1)))
}

// run serves ln and runs pairs client endpoints, concurrency at a time,
// then closes ln and waits for every endpoint.
func (ct *crossTalk) run(t testing.TB, pairs, concurrency int) {
	var servers sync.WaitGroup
	acceptDone := make(chan struct{})
	go func() {
		defer close(acceptDone)
		for {
			c, err := ct.ln.Accept()
			if err != nil {
				if !errors.Is(err, net.ErrClosed) {
					ct.fail.add("Accept: %v", err)
				}
				return
			}
			servers.Add(1)
			go func() {
				defer servers.Done()
				ct.endpoint(c.(*pollnet.Conn), false, ct.rand())
			}()
		}
	}()

	var clients sync.WaitGroup
	var started atomic.Int64
	for range concurrency {
		clients.Add(1)
		go func() {
			defer clients.Done()
			r := ct.rand()
			// Stop opening pairs once something failed: the report is
			// what matters then.
			for started.Add(1) <= int64(pairs) && ct.fail.count() == 0 {
				c, err := dial(ct.ln)
				if err != nil {
					ct.fail.add("Dial: %v", err)
					return
				}
				ct.endpoint(c, true, r)
			}
		}()
	}
	awaitProgress(t, &clients, func() int64 { return ct.conns.Load() }, "client endpoints")
	ct.ln.Close()
	await(t, acceptDone, "accept loop after Close")
	awaitProgress(t, &servers, func() int64 { return ct.conns.Load() }, "server endpoints")
}

// awaitProgress waits for wg as long as progress keeps moving, failing with
// every goroutine's stack once it stalls for hangTimeout.
func awaitProgress(t testing.TB, wg *sync.WaitGroup, progress func() int64, what string) {
	t.Helper()
	done := waitChan(wg)
	last := progress()
	for {
		timer := time.NewTimer(hangTimeout)
		select {
		case <-done:
			timer.Stop()
			return
		case <-timer.C:
		}
		if now := progress(); now != last {
			last = now
			continue
		}
		t.Fatalf("%s: no progress for %v; all goroutines:\n%s", what, hangTimeout, stacks())
	}
}

func (ct *crossTalk) noteFD(c *pollnet.Conn) {
	fd := sysfd(c)
	ct.fdMu.Lock()
	ct.fdSeen[fd]++
	ct.fdMu.Unlock()
	ct.conns.Add(1)
}

// endpoint shakes hands with the peer (learning its tag), then writes
// frames, reads and checks the peer's, and closes the conn after a random
// delay, all at once.
func (ct *crossTalk) endpoint(c *pollnet.Conn, client bool, r *rand.Rand) {
	defer ct.tick()
	ct.noteFD(c)
	tag := ct.tags.Add(1)
	fd := sysfd(c)
	peer, ok := ct.handshake(c, client, tag)
	if !ok {
		c.Close()
		return
	}

	var wg sync.WaitGroup
	wg.Add(3)
	wr, rr, cr := fork(r), fork(r), fork(r)
	go func() {
		defer wg.Done()
		ct.writeFrames(c, tag, peer, wr)
	}()
	go func() {
		defer wg.Done()
		ct.readFrames(c, fd, tag, peer, rr)
	}()
	go func() {
		defer wg.Done()
		jitter(cr, time.Millisecond)
		if err := c.Close(); err != nil {
			ct.fail.add("Close: %v", err)
		}
	}()
	wg.Wait()
}

// handshake exchanges tags: the client sends {tag, 0, to: 0}, the server
// answers {tag, 0, to: client's tag}. It reports false if the stream ended
// first (recorded) or the peer's frame is wrong (a failure).
func (ct *crossTalk) handshake(c *pollnet.Conn, client bool, tag uint64) (peer uint64, ok bool) {
	c.SetDeadline(time.Now().Add(hangTimeout))
	defer c.SetDeadline(time.Time{})
	b := make([]byte, frameSize)
	send := func(f frame) bool {
		f.put(b)
		_, err := c.Write(b)
		return ct.handshakeErr(err, "write")
	}
	recv := func(want func(frame) bool, what string) (frame, bool) {
		_, err := io.ReadFull(c, b)
		if err == io.ErrUnexpectedEOF {
			err = io.EOF
		}
		if !ct.handshakeErr(err, "read") {
			return frame{}, false
		}
		f, intact := parseFrame(b)
		if !intact || !want(f) {
			ct.fail.add("endpoint %d on fd %d: handshake got %+v (intact %v), want %s", tag, sysfd(c), f, intact, what)
			return frame{}, false
		}
		return f, true
	}
	if client {
		if !send(frame{tag: tag}) {
			return 0, false
		}
		f, ok := recv(func(f frame) bool { return f.seq == 0 && f.to == tag }, "the answer to its hello")
		return f.tag, ok
	}
	f, ok := recv(func(f frame) bool { return f.seq == 0 && f.to == 0 }, "a hello")
	if !ok || !send(frame{tag: tag, to: f.tag}) {
		return 0, false
	}
	return f.tag, true
}

// handshakeErr reports whether a handshake step succeeded. The peer's own
// random Close can end a stream this early only with a reset or EOF;
// anything else (a timeout) is a failure.
func (ct *crossTalk) handshakeErr(err error, op string) bool {
	if err == nil {
		return true
	}
	if msg := expectErr(err, op, "EOF", "ECONNRESET", "EPIPE"); msg != "" {
		ct.fail.add("handshake %s", msg)
	}
	ct.kinds.add("handshake-" + op + "-" + errKind(err))
	return false
}

func (ct *crossTalk) writeFrames(c *pollnet.Conn, tag, peer uint64, r *rand.Rand) {
	buf := make([]byte, 64*frameSize)
	seq := uint64(1)
	// A random amount, so the Close lands before, during or after the
	// writes; verifying every frame under -race is what costs time.
	for limit := uint64(1 + r.IntN(4096)); seq <= limit; {
		n := 1 + r.IntN(64)
		for i := range n {
			frame{tag: tag, seq: seq + uint64(i), to: peer}.put(buf[i*frameSize:])
		}
		_, err := c.Write(buf[:n*frameSize])
		if err != nil {
			ct.kinds.add("write-" + errKind(err))
			if msg := expectErr(err, "write", "closed", "EPIPE", "ECONNRESET"); msg != "" {
				ct.fail.add("%s", msg)
			}
			return
		}
		seq += uint64(n)
	}
	ct.kinds.add("write-done")
}

func (ct *crossTalk) readFrames(c *pollnet.Conn, fd int, tag, peer uint64, r *rand.Rand) {
	buf := make([]byte, 8192)
	have := 0
	next := uint64(1)
	for {
		size := 1 + r.IntN(len(buf)-have)
		n, err := c.Read(buf[have : have+size])
		have += n
		off := 0
		for ; have-off >= frameSize; off += frameSize {
			f, intact := parseFrame(buf[off:])
			if !intact || f.tag != peer || f.to != tag || f.seq != next {
				ct.fail.add("conn on fd %d (endpoint %d, peer %d): frame %d is %+v (intact %v): cross-talk, loss or duplication",
					fd, tag, peer, next, f, intact)
				return
			}
			next++
			ct.frames.Add(1)
		}
		have = copy(buf, buf[off:have])
		if err != nil {
			ct.kinds.add("read-" + errKind(err))
			if msg := expectErr(err, "read", "EOF", "closed", "ECONNRESET"); msg != "" {
				ct.fail.add("%s", msg)
			}
			if have > 0 {
				ct.torn.Add(1) // a frame cut by the close: fine at the very end
			}
			return
		}
	}
}
