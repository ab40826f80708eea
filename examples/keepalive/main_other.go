//go:build !linux

package main

import (
	"fmt"
	"os"
)

// The server parks conns with (*pollnet.Conn).WaitRead, which exists only
// where pollnet has its own poller (Linux). Elsewhere pollnet hands out
// package net's conns, which cannot wait without a buffered Read; this file
// keeps the module building there.
func main() {
	fmt.Fprintln(os.Stderr, "keepalive: needs Linux (pollnet's WaitRead)")
	os.Exit(1)
}
