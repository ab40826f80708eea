package pollhttptrace_test

import (
	"context"
	"fmt"
	"net"
	"net/http/httptrace"
	"path/filepath"
	"sync"
	"testing"

	"github.com/pollnet/pollnet"
	_ "github.com/pollnet/pollnet/pollhttptrace"
	"github.com/stretchr/testify/require"
)

// recorder collects a ClientTrace's connect events as strings.
type recorder struct {
	mu     sync.Mutex
	events []string
}

func (r *recorder) trace() *httptrace.ClientTrace {
	return &httptrace.ClientTrace{
		ConnectStart: func(network, addr string) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.events = append(r.events, fmt.Sprintf("start %s %s", network, addr))
		},
		ConnectDone: func(network, addr string, err error) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.events = append(r.events, fmt.Sprintf("done %s %s %v", network, addr, err))
		},
	}
}

// TestConnectEvents: a pollnet dial reports the same ConnectStart and
// ConnectDone events as a net dial, for successes and failures.
func TestConnectEvents(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	// A port that refuses: a listener closed at once.
	closed, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	refused := closed.Addr().String()
	closed.Close()
	path := filepath.Join(t.TempDir(), "s")
	uln, err := net.Listen("unix", path)
	require.NoError(t, err)
	defer uln.Close()

	for _, tc := range []struct{ name, network, address string }{
		{"tcp", "tcp", ln.Addr().String()},
		{"tcp4-refused", "tcp4", refused},
		{"unix", "unix", path},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got [2][]string
			for i, dial := range []func(context.Context, string, string) (net.Conn, error){
				(&net.Dialer{}).DialContext,
				(&pollnet.Dialer{}).DialContext,
			} {
				var r recorder
				ctx := httptrace.WithClientTrace(context.Background(), r.trace())
				c, err := dial(ctx, tc.network, tc.address)
				if err == nil {
					c.Close()
				}
				got[i] = r.events
			}
			require.NotEmpty(t, got[0])
			require.Equal(t, got[0], got[1])
		})
	}
}
