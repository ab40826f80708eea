// Command keepalive is a line-protocol server for clients that keep their
// connection open and idle for long stretches between requests, built on
// pollnet's readiness waits so that an idle connection holds no read
// buffer.
//
// A classic keep-alive server parks each connection's goroutine in a Read
// through a bufio.Reader of its own, so every idle connection pins a read
// buffer (net/http: 4 KiB) for as long as it stays idle. This server parks
// in (*pollnet.Conn).WaitRead instead, which consumes nothing, and takes a
// buffer from a sync.Pool only once bytes arrive; it hands the buffer back
// before it parks again. That saves the buffer, about 4 KB, per idle conn:
// go test -run '^$' -bench IdleConnMemory -benchtime 3000x . in the module
// root measured 4.8 KB per idle conn parked in WaitRead against 8.9 KB for
// one parked in a buffered Read (both ends of each conn, heap plus
// goroutine stacks, 3,000 conns; docs/performance.md). A parked conn
// here also holds its idle timer and the registration of the cancellable
// context WaitRead watches, about 0.5 KB more, the price of the idle
// timeout and of the prompt shutdown.
//
// A request may arrive in several TCP segments. When a read ends inside a
// line, the bytes read so far live only in the buffer, so the buffer stays
// with the connection, across further WaitReads, until the line is
// complete; it goes back to the pool only when nothing is buffered.
//
// Protocol: one request per line ("\n" or "\r\n"), one reply line per
// request, in order; requests may be pipelined.
//
//	PING        -> PONG
//	ECHO text   -> text
//	SLEEP ms    -> SLEPT ms, after ms milliseconds (up to 60000): a stand-in
//	               for slow work, such as a call to a backend
//	QUIT        -> BYE, and the server closes the connection
//	anything else -> ERR ...
//
// Timeouts (-idle): a connection with nothing buffered is closed after
// -idle without a request, and a request must be complete within -idle of
// its first byte; replies get -idle to be written. The idle timeout is a
// read deadline, which WaitRead honours (it returns os.ErrDeadlineExceeded).
//
// A SLEEP is abandoned as soon as the client hangs up: the handler waits on
// the conn's Done channel, which pollnet closes on the hangup event it
// already receives, with no Read. As with net/http's request context, a
// client that shuts down its sending side (CloseWrite) counts as gone.
//
// SIGINT or SIGTERM stops the server gracefully: it stops accepting,
// cancels the context its WaitReads run under, so parked connections
// return at once and are closed, lets requests in progress finish for up
// to -grace, then closes whatever is left and exits.
//
//	go run ./examples/keepalive -addr 127.0.0.1:7000 -idle 30s -stats 5s
//	nc 127.0.0.1 7000     # then type PING, ECHO hello, SLEEP 2000, QUIT
package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pollnet/pollnet"
)

// bufSize is the read buffer, which bounds a request line (with its "\n").
// 4 KiB as in net/http and the README's measurement.
const bufSize = 4096

// maxSleep bounds SLEEP, so that a request cannot hold its goroutine and
// buffer for ever.
const maxSleep = 60000 // ms

func main() {
	addr := flag.String("addr", "127.0.0.1:7000", "address to listen on")
	idle := flag.Duration("idle", time.Minute, "close a conn that sends no request for this long; also the time a request has to arrive complete and its reply to be written (0: no limit)")
	grace := flag.Duration("grace", 5*time.Second, "on SIGINT/SIGTERM, how long requests in progress get before their conns are closed")
	every := flag.Duration("stats", 0, "log conns, parked conns and read buffers in use this often (0: never)")
	flag.Parse()

	ln, err := pollnet.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	s := newServer(*idle, *grace)
	if *every > 0 {
		go s.logStats(ctx, *every)
	}
	log.Printf("keepalive server on %s (idle timeout %v)", ln.Addr(), *idle)
	if err := s.serve(ctx, ln); err != nil {
		log.Fatal(err)
	}
	log.Print("shut down")
}

// server serves the line protocol on pollnet conns.
type server struct {
	idle  time.Duration // idle, request and write timeout; 0: none
	grace time.Duration // on shutdown, time left to requests in progress

	bufs sync.Pool // of *buffers

	mu    sync.Mutex
	conns map[*pollnet.Conn]struct{} // open conns, for shutdown
	wg    sync.WaitGroup             // one per conn goroutine

	stats stats
}

// stats are gauges and counters for watching the server, and for its tests
// to follow its progress without sleeping.
type stats struct {
	conns    atomic.Int64 // open conns
	parked   atomic.Int64 // conns in WaitRead: idle, or holding a partial request
	buffers  atomic.Int64 // buffers taken from the pool and not returned
	sleeping atomic.Int64 // requests in SLEEP
	bytesIn  atomic.Int64 // request bytes read
}

// buffers are what a conn holds only while it has a request in hand.
type buffers struct {
	in  [bufSize]byte // request bytes; the unfinished line starts at in[0]
	out []byte        // replies not yet written
}

func newServer(idle, grace time.Duration) *server {
	s := &server{idle: idle, grace: grace, conns: make(map[*pollnet.Conn]struct{})}
	s.bufs.New = func() any { return new(buffers) }
	return s
}

// serve accepts conns on ln and serves them until ctx is done, then shuts
// down (see the package comment) and returns nil once every conn is closed
// and its goroutine has ended. If Accept fails for good it shuts down the
// same way and returns the error. serve closes ln.
func (s *server) serve(ctx context.Context, ln net.Listener) error {
	// Conns run under their own context so that a failing listener shuts
	// them down too.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Closing the listener is what ends a blocked Accept.
	closed := make(chan struct{})
	stopClose := context.AfterFunc(ctx, func() {
		ln.Close()
		close(closed)
	})

	var err error
	for {
		c, aerr := ln.Accept()
		if aerr != nil {
			if ctx.Err() != nil {
				break // shutting down: ln was closed for that
			}
			if ne, ok := aerr.(net.Error); ok && ne.Temporary() {
				time.Sleep(10 * time.Millisecond) // out of fds (EMFILE): back off
				continue
			}
			err = aerr
			break
		}
		pc, ok := c.(*pollnet.Conn)
		if !ok { // pollnet.Listen gives *pollnet.Conn for "tcp"; guard anyway
			log.Printf("%v: not a pollnet conn (%T)", c.RemoteAddr(), c)
			c.Close()
			continue
		}
		s.mu.Lock()
		s.conns[pc] = struct{}{}
		s.mu.Unlock()
		s.stats.conns.Add(1)
		s.wg.Go(func() {
			defer s.closeConn(pc)
			s.serveConn(ctx, pc)
		})
	}
	if !stopClose() {
		<-closed // it ran: let it finish, so no goroutine outlives serve
	}
	ln.Close()
	s.shutdown(cancel)
	return err
}

// shutdown ends every conn and waits for their goroutines. Cancelling the
// context wakes the conns parked in WaitRead (they close at once) and the
// ones in SLEEP (they reply "ERR shutting down"). A conn can still be
// blocked writing to a client that does not read: after the grace period
// Close wakes it.
func (s *server) shutdown(cancel context.CancelFunc) {
	cancel()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	t := time.NewTimer(s.grace)
	defer t.Stop()
	select {
	case <-done:
		return
	case <-t.C:
	}
	s.mu.Lock()
	left := make([]*pollnet.Conn, 0, len(s.conns))
	for c := range s.conns {
		left = append(left, c)
	}
	s.mu.Unlock()
	// Closed outside mu: Close waits for the conn's blocked calls to
	// return, and their goroutines take mu on the way out (closeConn).
	for _, c := range left {
		c.Close()
	}
	<-done
}

// closeConn closes c and forgets it.
func (s *server) closeConn(c *pollnet.Conn) {
	c.Close()
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.stats.conns.Add(-1)
}

// serveConn serves requests on c until the client leaves, times out, sends
// something wrong or QUIT, or the server shuts down.
func (s *server) serveConn(ctx context.Context, c *pollnet.Conn) {
	var (
		b      *buffers // nil while nothing is buffered: the idle state
		filled int      // b.in[:filled] is an unfinished request line
		rearm  = true   // the next wait starts an idle period or a request
	)
	defer func() {
		if b != nil {
			s.putBuffers(b)
		}
	}()
	for ctx.Err() == nil {
		if rearm {
			// A wait for the next request (the idle timeout), or for the
			// rest of one that began in the last read: -idle from now.
			// A conn waiting for more of a request begun before the last
			// read keeps that request's deadline, so a client trickling a
			// line byte by byte gets -idle for the whole line, not per byte.
			s.setReadDeadline(c)
		}
		s.stats.parked.Add(1)
		err := c.WaitRead(ctx)
		s.stats.parked.Add(-1)
		if err != nil {
			// os.ErrDeadlineExceeded (idle or request timeout), the
			// context's error (shutdown) or net.ErrClosed: all end the conn.
			return
		}
		if b == nil {
			// A request begins: from its first byte it has -idle to arrive.
			s.setReadDeadline(c)
			b = s.getBuffers()
		}
		// WaitRead saw data, EOF or an error pending, and nobody else
		// reads c, so this Read does not block.
		n, rerr := c.Read(b.in[filled:])
		s.stats.bytesIn.Add(int64(n))
		// b.in[:filled] held no '\n': only the new bytes need scanning.
		start, from := 0, filled
		filled += n
		keep := true
		for keep {
			i := bytes.IndexByte(b.in[from:filled], '\n')
			if i < 0 {
				break
			}
			end := from + i
			keep = s.handle(ctx, c, b, b.in[start:end])
			start, from = end+1, end+1
		}
		if keep {
			// Move the unfinished line, if any, to the front.
			filled = copy(b.in[:], b.in[start:filled])
			switch {
			case rerr != nil:
				// EOF ends the conn; a last line without its "\n" is
				// still a request (as bufio.Scanner treats it). Other
				// errors (reset) leave nobody to reply to.
				if rerr == io.EOF && filled > 0 {
					s.handle(ctx, c, b, b.in[:filled])
				}
				keep = false
			case filled == len(b.in):
				b.out = append(b.out, "ERR line too long\n"...)
				keep = false
			}
		}
		// One write for all the replies to this read's requests.
		if !s.flush(c, b) || !keep {
			return
		}
		// A request completed (start > 0; a read with n > 0 that left
		// nothing buffered completed one too): the next wait is for a new
		// one.
		rearm = start > 0
		if filled == 0 {
			// Nothing buffered: the buffers go back before the conn
			// parks, which is the point of this server.
			s.putBuffers(b)
			b = nil
		}
	}
}

// handle serves one request line (without its "\n"), appending its reply
// to b.out. It reports whether the conn stays open. line points into b.in
// and is valid only during the call.
func (s *server) handle(ctx context.Context, c *pollnet.Conn, b *buffers, line []byte) bool {
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	cmd, arg, _ := bytes.Cut(line, []byte{' '})
	switch string(cmd) { // the conversion does not allocate in a switch
	case "PING":
		b.out = append(b.out, "PONG\n"...)
	case "ECHO":
		b.out = append(append(b.out, arg...), '\n')
	case "SLEEP":
		return s.sleep(ctx, c, b, arg)
	case "QUIT":
		b.out = append(b.out, "BYE\n"...)
		return false
	default:
		b.out = append(b.out, "ERR unknown command\n"...)
	}
	return true
}

// sleep is the slow request: it waits for the given milliseconds unless
// the client goes away or the server shuts down first.
func (s *server) sleep(ctx context.Context, c *pollnet.Conn, b *buffers, arg []byte) bool {
	ms, err := strconv.Atoi(string(arg))
	if err != nil || ms < 0 || ms > maxSleep {
		b.out = append(b.out, "ERR SLEEP takes milliseconds, 0 to 60000\n"...)
		return true
	}
	// Replies to the requests before this one go out now, not after it.
	if !s.flush(c, b) {
		return false
	}
	// A client that hung up after sending its request (its FIN may have
	// arrived with it) gets no work done: PeerClosed makes no syscall.
	if c.PeerClosed() {
		return false
	}
	s.stats.sleeping.Add(1)
	defer s.stats.sleeping.Add(-1)
	t := time.NewTimer(time.Duration(ms) * time.Millisecond)
	defer t.Stop()
	select {
	case <-t.C:
		b.out = strconv.AppendInt(append(b.out, "SLEPT "...), int64(ms), 10)
		b.out = append(b.out, '\n')
		return true
	case <-c.Done():
		// The client hung up mid-request: stop working for it. Done is
		// made on first use, so only conns that reach a slow request pay
		// for the channel; idle ones do not.
		return false
	case <-ctx.Done():
		b.out = append(b.out, "ERR shutting down\n"...)
		return false
	}
}

// flush writes b.out and empties it. It reports whether the write worked.
func (s *server) flush(c *pollnet.Conn, b *buffers) bool {
	if len(b.out) == 0 {
		return true
	}
	if s.idle > 0 {
		// A client that does not read its replies would otherwise hold
		// the conn, its goroutine and its buffers for ever.
		c.SetWriteDeadline(time.Now().Add(s.idle))
	}
	_, err := c.Write(b.out)
	b.out = b.out[:0]
	return err == nil
}

func (s *server) setReadDeadline(c *pollnet.Conn) {
	if s.idle > 0 {
		c.SetReadDeadline(time.Now().Add(s.idle))
	}
}

func (s *server) getBuffers() *buffers {
	s.stats.buffers.Add(1)
	return s.bufs.Get().(*buffers)
}

func (s *server) putBuffers(b *buffers) {
	s.stats.buffers.Add(-1)
	if cap(b.out) > 64<<10 {
		// Many pipelined requests with long replies grew it: do not keep
		// that much in the pool.
		b.out = nil
	}
	b.out = b.out[:0]
	s.bufs.Put(b)
}

// logStats logs the gauges every period until ctx is done: with many idle
// clients, "parked" is close to "conns" while "buffers" stays near the
// number of requests in progress.
func (s *server) logStats(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			log.Printf("conns %d, parked %d, buffers %d, sleeping %d, bytes in %d",
				s.stats.conns.Load(), s.stats.parked.Load(), s.stats.buffers.Load(),
				s.stats.sleeping.Load(), s.stats.bytesIn.Load())
		}
	}
}
