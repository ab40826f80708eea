package pollnet_test

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/pollnet/pollnet"
)

// stacks for the side-by-side benchmarks.
var benchStacks = []struct {
	name   string
	listen func(network, address string) (net.Listener, error)
	dial   func(network, address string) (net.Conn, error)
}{
	{"net", net.Listen, net.Dial},
	{"pollnet", pollnet.Listen, pollnet.Dial},
}

func benchAddr(b *testing.B, network string) string {
	if network == "unix" {
		return b.TempDir() + "/s"
	}
	return "127.0.0.1:0"
}

// echoServer accepts one conn and echoes it until it closes.
func echoServer(b *testing.B, ln net.Listener) {
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 64)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			if _, err := c.Write(buf[:n]); err != nil {
				return
			}
		}
	}()
}

// BenchmarkPingPong is a 64-byte round trip over one conn: two wakeups per
// op, one in the client and one in the server. It must not allocate.
func BenchmarkPingPong(b *testing.B) {
	for _, network := range []string{"tcp", "unix"} {
		for _, st := range benchStacks {
			b.Run(network+"/"+st.name, func(b *testing.B) { pingPong(b, st.listen, st.dial, network, false) })
		}
	}
}

// BenchmarkReadWriteDeadline is PingPong with a deadline set before every
// Read and Write, as net/http servers do.
func BenchmarkReadWriteDeadline(b *testing.B) {
	for _, st := range benchStacks {
		b.Run(st.name, func(b *testing.B) { pingPong(b, st.listen, st.dial, "tcp", true) })
	}
}

func pingPong(b *testing.B, listen func(string, string) (net.Listener, error), dial func(string, string) (net.Conn, error), network string, deadlines bool) {
	ln, err := listen(network, benchAddr(b, network))
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	echoServer(b, ln)
	c, err := dial(network, ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	msg := make([]byte, 64)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if deadlines {
			c.SetWriteDeadline(time.Now().Add(time.Minute))
		}
		if _, err := c.Write(msg); err != nil {
			b.Fatal(err)
		}
		if deadlines {
			c.SetReadDeadline(time.Now().Add(time.Minute))
		}
		if _, err := io.ReadFull(c, msg); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAcceptDial is the cost of one connection: dial, accept, close
// both ends.
func BenchmarkAcceptDial(b *testing.B) {
	for _, st := range benchStacks {
		b.Run(st.name, func(b *testing.B) {
			ln, err := st.listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			defer ln.Close()
			accepted := make(chan net.Conn, 1)
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						close(accepted)
						return
					}
					accepted <- c
				}
			}()
			addr := ln.Addr().String()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				c, err := st.dial("tcp", addr)
				if err != nil {
					b.Fatal(err)
				}
				s := <-accepted
				c.(interface{ SetLinger(int) error }).SetLinger(0) // no TIME_WAIT pile-up
				c.Close()
				s.Close()
			}
		})
	}
}
