package conformance

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestMain fails the run if goroutines started by the tests (directly, or by
// nettest or net/http on their behalf) are still running once all tests have
// finished. Goroutines a stack keeps for itself (a poller, say) are not
// counted: they are not created by test code.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaks := leakedGoroutines(waitBound); leaks != nil {
			fmt.Fprintf(os.Stderr, "FAIL: %d goroutine(s) left running by the tests:\n\n%s\n",
				len(leaks), strings.Join(leaks, "\n\n"))
			code = 1
		}
	}
	os.Exit(code)
}

// leakMarkers identify goroutines that belong to the tests.
var leakMarkers = []string{
	"github.com/pollnet/pollnet/conformance.",
	"golang.org/x/net/nettest.",
	"net/http.",
}

// leakedGoroutines waits up to timeout for the tests' goroutines to exit and
// returns the stacks of those still running.
func leakedGoroutines(timeout time.Duration) []string {
	deadline := time.Now().Add(timeout)
	for {
		leaks := testGoroutines()
		if len(leaks) == 0 || time.Now().After(deadline) {
			return leaks
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func testGoroutines() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var leaks []string
	// The first goroutine is this one (running TestMain).
	for _, g := range strings.Split(string(buf), "\n\n")[1:] {
		for _, m := range leakMarkers {
			if strings.Contains(g, m) {
				leaks = append(leaks, g)
				break
			}
		}
	}
	return leaks
}
