//go:build linux

package pollnet_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/pollnet/pollnet"
	"github.com/pollnet/pollnet/pollrt"
	"github.com/stretchr/testify/require"
)

// tcpPair returns a connected pollnet client and server conn on 127.0.0.1.
func tcpPair(t *testing.T) (client, server *pollnet.Conn) {
	t.Helper()
	ln, err := pollnet.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	c, err := pollnet.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	s := <-accepted
	require.NotNil(t, s)
	t.Cleanup(func() { c.Close(); s.Close() })
	return c.(*pollnet.Conn), s.(*pollnet.Conn)
}

func result(f func() error) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- f() }()
	return ch
}

func within(t *testing.T, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("call did not return within 10s")
		return nil
	}
}

func TestWaitRead(t *testing.T) {
	cases := []struct {
		name  string
		setup func(t *testing.T, c, s *pollnet.Conn, cancel context.CancelFunc) // makes the blocked WaitRead on s return
		check func(t *testing.T, err error, s *pollnet.Conn)
	}{
		{"data", func(t *testing.T, c, s *pollnet.Conn, _ context.CancelFunc) {
			_, err := c.Write([]byte("ping"))
			require.NoError(t, err)
		}, func(t *testing.T, err error, s *pollnet.Conn) {
			require.NoError(t, err)
			buf := make([]byte, 4)
			_, err = io.ReadFull(s, buf)
			require.NoError(t, err)
			require.Equal(t, "ping", string(buf), "WaitRead consumed data")
		}},
		{"eof", func(t *testing.T, c, s *pollnet.Conn, _ context.CancelFunc) {
			require.NoError(t, c.CloseWrite())
		}, func(t *testing.T, err error, s *pollnet.Conn) {
			require.NoError(t, err)
			_, err = s.Read(make([]byte, 1))
			require.Equal(t, io.EOF, err)
		}},
		{"deadline", func(t *testing.T, c, s *pollnet.Conn, _ context.CancelFunc) {
			require.NoError(t, s.SetReadDeadline(time.Now().Add(20*time.Millisecond)))
		}, func(t *testing.T, err error, s *pollnet.Conn) {
			require.ErrorIs(t, err, os.ErrDeadlineExceeded)
			var ne net.Error
			require.True(t, errors.As(err, &ne) && ne.Timeout())
		}},
		{"context", func(t *testing.T, c, s *pollnet.Conn, cancel context.CancelFunc) {
			cancel()
		}, func(t *testing.T, err error, s *pollnet.Conn) {
			require.ErrorIs(t, err, context.Canceled)
			// The cancelled wait left nothing behind: a Read blocks and then
			// gets data as usual.
			require.NoError(t, s.SetReadDeadline(time.Now().Add(30*time.Millisecond)))
			_, err = s.Read(make([]byte, 1))
			require.ErrorIs(t, err, os.ErrDeadlineExceeded)
		}},
		{"close", func(t *testing.T, c, s *pollnet.Conn, _ context.CancelFunc) {
			require.NoError(t, s.Close())
		}, func(t *testing.T, err error, s *pollnet.Conn) {
			require.ErrorIs(t, err, net.ErrClosed)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, s := tcpPair(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := result(func() error { return s.WaitRead(ctx) })
			tc.setup(t, c, s, cancel)
			tc.check(t, within(t, done), s)
		})
	}
	t.Run("cancelled-before", func(t *testing.T) {
		_, s := tcpPair(t)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		require.ErrorIs(t, s.WaitRead(ctx), context.Canceled)
	})
	t.Run("ready-before", func(t *testing.T) {
		c, s := tcpPair(t)
		_, err := c.Write([]byte("x"))
		require.NoError(t, err)
		require.NoError(t, within(t, result(func() error { return s.WaitRead(context.Background()) })))
		require.NoError(t, within(t, result(func() error { return s.WaitRead(context.Background()) })), "a second wait sees the same byte")
	})
}

func TestWaitWrite(t *testing.T) {
	c, s := tcpPair(t)
	require.NoError(t, c.WaitWrite(context.Background()), "a fresh conn is writable")
	// Fill the send path until a write times out, then WaitWrite blocks
	// until the peer reads.
	require.NoError(t, c.SetWriteBuffer(16<<10))
	require.NoError(t, s.SetReadBuffer(16<<10))
	buf := make([]byte, 64<<10)
	for {
		c.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
		if _, err := c.Write(buf); err != nil {
			require.ErrorIs(t, err, os.ErrDeadlineExceeded)
			break
		}
	}
	require.ErrorIs(t, c.WaitWrite(context.Background()), os.ErrDeadlineExceeded)
	require.NoError(t, c.SetWriteDeadline(time.Time{}))
	done := result(func() error { return c.WaitWrite(context.Background()) })
	go io.Copy(io.Discard, s)
	require.NoError(t, within(t, done))
}

func TestPeerClosedAndDone(t *testing.T) {
	for _, how := range []string{"close", "close-write", "reset"} {
		t.Run(how, func(t *testing.T) {
			c, s := tcpPair(t)
			done := s.Done()
			require.False(t, s.PeerClosed())
			_, err := c.Write([]byte("bye"))
			require.NoError(t, err)
			closed := time.Now()
			switch how {
			case "close":
				require.NoError(t, c.Close())
			case "close-write":
				require.NoError(t, c.CloseWrite())
			case "reset":
				require.NoError(t, c.SetLinger(0))
				require.NoError(t, c.Close())
			}
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("Done not closed after the peer hung up")
			}
			require.True(t, s.PeerClosed())
			t.Logf("hangup seen %v after the peer's %s, with no Read", time.Since(closed), how)
			if how != "reset" {
				// Data sent before the hangup is still there.
				got, err := io.ReadAll(s)
				require.NoError(t, err)
				require.Equal(t, "bye", string(got))
			}
		})
	}
	t.Run("without-done", func(t *testing.T) {
		// No goroutine waits and no Done channel is open: PeerClosed alone
		// must still notice.
		c, s := tcpPair(t)
		require.NoError(t, c.Close())
		deadline := time.Now().Add(10 * time.Second)
		for !s.PeerClosed() {
			require.True(t, time.Now().Before(deadline), "PeerClosed never turned true")
			runtime.Gosched()
		}
	})
	t.Run("local-close", func(t *testing.T) {
		_, s := tcpPair(t)
		done := s.Done()
		require.NoError(t, s.Close())
		select {
		case <-done:
		default:
			t.Fatal("Close did not close Done")
		}
		require.True(t, s.PeerClosed(), "a closed conn has no live peer")
		<-s.Done()
	})
}

// BenchmarkIdleConnMemory holds conns whose server goroutine waits for a
// request, the way a keep-alive server does, and reports memory per idle
// conn (heap plus goroutine stacks, both ends of the conn): parked in Read
// through a 4 KiB bufio.Reader of its own, as net/http's conns are, or in
// WaitRead with no reader until data arrives. b.N is the number of conns.
func BenchmarkIdleConnMemory(b *testing.B) {
	for _, mode := range []string{"bufio-read", "waitread"} {
		b.Run(mode, func(b *testing.B) {
			ln, err := pollnet.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			defer ln.Close()
			var parked sync.WaitGroup
			serve := func(c net.Conn) {
				pc := c.(*pollnet.Conn)
				if mode == "waitread" {
					parked.Done()
					if pc.WaitRead(context.Background()) != nil {
						return
					}
					bufio.NewReaderSize(pc, 4096).ReadByte()
					return
				}
				br := bufio.NewReaderSize(pc, 4096)
				parked.Done()
				br.ReadByte()
			}
			memory := func() uint64 {
				runtime.GC()
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				return ms.HeapAlloc + ms.StackInuse
			}
			clients := make([]net.Conn, 0, b.N)
			servers := make([]net.Conn, 0, b.N)
			defer func() {
				for _, c := range clients {
					c.Close()
				}
				for _, c := range servers {
					c.Close()
				}
			}()
			waits := func() uint64 {
				var s pollrt.Stats
				pollrt.ReadStats(&s)
				return s.Waits
			}
			before, waitsBefore := memory(), waits()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				c, err := pollnet.Dial("tcp", ln.Addr().String())
				if err != nil {
					b.Fatal(err)
				}
				clients = append(clients, c)
				s, err := ln.Accept()
				if err != nil {
					b.Fatal(err)
				}
				servers = append(servers, s)
				parked.Add(1)
				go serve(s)
			}
			parked.Wait()
			// Measure once every server goroutine is parked in the poller.
			for deadline := time.Now().Add(10 * time.Second); waits()-waitsBefore < uint64(b.N); runtime.Gosched() {
				if time.Now().After(deadline) {
					b.Fatal("server goroutines did not all park")
				}
			}
			b.StopTimer()
			after := memory()
			// Client conns are the same in both modes; what differs is the
			// server's buffers.
			b.ReportMetric(float64(after-before)/float64(b.N), "B/conn")
		})
	}
}
