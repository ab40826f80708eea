// Package dialtrace carries the connect events of net/http/httptrace from
// package pollhttptrace, which imports net/http/httptrace, to package
// pollnet, which does not: importing it would link crypto/tls and ~90
// more packages into every program that uses pollnet.
package dialtrace

import (
	"context"
	"sync/atomic"
)

// Hooks are the events of one dial's trace; either may be nil.
type Hooks struct {
	ConnectStart func(network, addr string)
	ConnectDone  func(network, addr string, err error)
}

var lookup atomic.Pointer[func(context.Context) *Hooks]

// Register installs the function that finds a context's hooks.
func Register(f func(context.Context) *Hooks) { lookup.Store(&f) }

// FromContext returns ctx's hooks, or nil when there are none or nothing
// is registered.
func FromContext(ctx context.Context) *Hooks {
	if f := lookup.Load(); f != nil {
		return (*f)(ctx)
	}
	return nil
}
