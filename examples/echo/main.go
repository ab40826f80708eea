// Command echo is a TCP echo server on pollnet. It is package net's classic
// goroutine-per-connection server with one line changed: pollnet.Listen in
// place of net.Listen.
//
//	go run ./examples/echo -addr 127.0.0.1:7000
//	printf 'hello\n' | nc -q1 127.0.0.1 7000
package main

import (
	"flag"
	"io"
	"log"

	"github.com/pollnet/pollnet"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:7000", "address to listen on")
	flag.Parse()

	ln, err := pollnet.Listen("tcp", *addr) // was: net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("echo server on %s", ln.Addr())
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go func() {
			defer c.Close()
			io.Copy(c, c)
		}()
	}
}
