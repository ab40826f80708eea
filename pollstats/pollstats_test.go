package pollstats_test

import (
	"encoding/json"
	"expvar"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/pollnet/pollnet"
	"github.com/pollnet/pollnet/pollstats"
	"github.com/stretchr/testify/require"
)

// published counts the names tests have published: expvar keeps them for the
// process's life, and -count reruns the tests in it.
var published atomic.Int32

func TestHandlerServesCounters(t *testing.T) {
	// Traffic through pollnet, so the counters move.
	ln, err := pollnet.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: pollstats.Handler()}
	go srv.Serve(ln)
	defer srv.Close()

	client := &http.Client{Transport: &http.Transport{DialContext: (&pollnet.Dialer{}).DialContext}}
	defer client.CloseIdleConnections()
	var got pollstats.Snapshot
	for i := 0; i < 2; i++ {
		resp, err := client.Get("http://" + ln.Addr().String() + "/")
		require.NoError(t, err)
		require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(body, &got))
	}
	require.Positive(t, got.Opened)
	require.Positive(t, got.Open)
	require.Positive(t, got.Pollers)
	require.Positive(t, got.Waits, "the server waited for the requests")

	name := fmt.Sprintf("pollnet_test_%d", published.Add(1))
	pollstats.Publish(name)
	require.Contains(t, expvar.Get(name).String(), `"Opened"`)
}
