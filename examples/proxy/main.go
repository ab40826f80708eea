// Command proxy is a TCP proxy on pollnet: it accepts connections on
// -listen and connects each to -backend, copying both ways with io.Copy.
// Between two pollnet conns io.Copy ends in (*pollnet.Conn).WriteTo, which
// splices: the bytes go socket -> pipe -> socket inside the kernel and
// never through this process's memory.
//
//	go run ./examples/echo -addr 127.0.0.1:7000 &
//	go run ./examples/proxy -listen 127.0.0.1:8000 -backend 127.0.0.1:7000 &
//	printf 'hello\n' | nc -q1 127.0.0.1 8000
//
// Either address may be a Unix socket path with -net unix (both ends use
// the same network).
package main

import (
	"errors"
	"flag"
	"io"
	"log"
	"net"
	"sync"
	"time"

	"github.com/pollnet/pollnet"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8000", "address to accept clients on")
	backend := flag.String("backend", "127.0.0.1:7000", "address of the backend")
	network := flag.String("net", "tcp", `network of both addresses: "tcp" or "unix"`)
	flag.Parse()

	ln, err := pollnet.Listen(*network, *listen)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("proxy %s -> %s", ln.Addr(), *backend)
	log.Fatal(serve(ln, *network, *backend))
}

// serve accepts clients on ln and proxies each to addr on network until
// Accept fails for good (ln closed, for one), and returns that error.
// Proxies in progress go on after it returns.
func serve(ln net.Listener, network, addr string) error {
	for {
		c, err := ln.Accept()
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Temporary() {
				time.Sleep(10 * time.Millisecond) // out of fds: back off
				continue
			}
			return err
		}
		go proxy(c, network, addr)
	}
}

// proxy copies client <-> backend until both directions are done. When one
// side finishes sending, its EOF is passed on with CloseWrite so that
// half-closed protocols work.
func proxy(client net.Conn, network, addr string) {
	defer client.Close()
	back, err := pollnet.DialTimeout(network, addr, 10*time.Second)
	if err != nil {
		log.Printf("%v: %v", client.RemoteAddr(), err)
		return
	}
	defer back.Close()

	var wg sync.WaitGroup
	pipe := func(dst, src net.Conn) {
		defer wg.Done()
		if _, err := io.Copy(dst, src); err != nil {
			if !errors.Is(err, net.ErrClosed) { // closed by the other direction
				log.Printf("%v -> %v: %v", src.RemoteAddr(), dst.RemoteAddr(), err)
			}
			// The other direction cannot go on either: wake it.
			client.Close()
			back.Close()
			return
		}
		dst.(interface{ CloseWrite() error }).CloseWrite()
	}
	wg.Add(2)
	go pipe(back, client)
	go pipe(client, back)
	wg.Wait()
}
