//go:build linux && !pollnet_stdnet

package pollnet

// Hooks for splice_linux_test.go (package pollnet_test).

// SplicedBytes returns the bytes splice has moved since the process began.
func SplicedBytes() int64 { return spliced.Load() }

// SentfileBytes returns the bytes sendfile has moved since the process began.
func SentfileBytes() int64 { return sentfile.Load() }

// CloseIdleSplicePipes closes the pipes pooled for reuse, so that tests can
// count file descriptors.
func CloseIdleSplicePipes() {
	pipePool.mu.Lock()
	idle := pipePool.idle
	pipePool.idle = nil
	pipePool.mu.Unlock()
	for _, p := range idle {
		p.close()
	}
}

// RawSplice and RawSendfile are the real system calls, for hooks to call.
var (
	RawSplice   = rawSplice
	RawSendfile = rawSendfile
)

// SetSpliceHook makes every splice(2) call go to h until restore is called.
func SetSpliceHook(h func(out, in, max int) (int, error)) (restore func()) {
	testHookSplice.Store(&h)
	return func() { testHookSplice.Store(nil) }
}

// SetSendfileHook makes every sendfile(2) call go to h until restore is called.
func SetSendfileHook(h func(out, in, count int) (int, error)) (restore func()) {
	testHookSendfile.Store(&h)
	return func() { testHookSendfile.Store(nil) }
}
