//go:build !linux

package main

import (
	"fmt"
	"os"
)

// The servers, the epoll client, CPU pinning and the /proc readings are all
// Linux's; elsewhere the command only says so, so that the module still
// builds for every platform pollnet supports.
func main() {
	fmt.Fprintln(os.Stderr, "pollbench: Linux only")
	os.Exit(2)
}
