//go:build linux

package stress

import (
	"flag"
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

var (
	soakFlag  = flag.Duration("soak", 0, "run TestSoak for this long, e.g. -soak=10m (0: skip it)")
	seedFlag  = flag.Uint64("seed", 0, "seed of the random choices (0: from the clock; every test logs its seed)")
	scaleFlag = flag.Int("scale", 0, "connections TestScale holds at once (0: 10000, or 1000 with -short)")
)

// TestMain raises the soft fd limit to the hard one, dispatches child
// processes (the test binary re-executed by a test), and fails the run if
// any goroutine but pollrt's poller outlives the tests.
func TestMain(m *testing.M) {
	if err := raiseFDLimit(); err != nil {
		fmt.Fprintf(os.Stderr, "raising RLIMIT_NOFILE: %v\n", err)
	}
	if mode := os.Getenv(childEnv); mode != "" {
		os.Exit(runChild(mode))
	}
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction(pollerFunc))
}

// raiseFDLimit sets the soft RLIMIT_NOFILE to the hard limit.
func raiseFDLimit() error {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return err
	}
	if rl.Cur < rl.Max {
		rl.Cur = rl.Max
		return syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
	}
	return nil
}

// fdLimit returns the soft RLIMIT_NOFILE.
func fdLimit() uint64 {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0
	}
	return rl.Cur
}

// elapsed formats a duration for logs.
func elapsed(since time.Time) string { return time.Since(since).Round(time.Millisecond).String() }
