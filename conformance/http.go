package conformance

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
)

// httpEnv is an http.Server serving on a stack's listener and an http.Client
// dialing with the same stack.
type httpEnv struct {
	network string
	ln      net.Listener
	srv     *http.Server
	served  <-chan error // Serve's result
	client  *http.Client
	base    string // URL prefix for the client
	newConn atomic.Int32
	// release, when a handler for /block is running, lets it finish.
	blockStarted chan struct{}
	release      chan struct{}
}

const helloBody = "hello, conformance\n"

func newHTTPEnv(t *testing.T, st stack, network string) *httpEnv {
	t.Helper()
	e := &httpEnv{
		network:      network,
		ln:           listenLocal(t, st.listen, network),
		blockStarted: make(chan struct{}, 1),
		release:      make(chan struct{}),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/hello", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, helloBody)
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(w, r.Body)
	})
	mux.HandleFunc("/block", func(w http.ResponseWriter, r *http.Request) {
		e.blockStarted <- struct{}{}
		<-e.release
		io.WriteString(w, "released\n")
	})
	e.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: waitBound,
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				e.newConn.Add(1)
			}
		},
	}
	e.served = spawn(t, func() error { return e.srv.Serve(e.ln) }, e.srv)

	addr := e.ln.Addr().String()
	e.base = "http://" + addr
	if network == "unix" {
		e.base = "http://unix-socket"
	}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return st.impl.Dial(ctx, network, addr)
		},
		MaxIdleConnsPerHost: 1,
	}
	e.client = &http.Client{Transport: tr, Timeout: waitBound}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		e.srv.Close()
	})
	return e
}

// get fetches path and returns the body, checking the status; trace, if not
// nil, is attached to the request.
func (e *httpEnv) get(t *testing.T, path string, trace *httptrace.ClientTrace) string {
	t.Helper()
	ctx := context.Background()
	if trace != nil {
		ctx = httptrace.WithClientTrace(ctx, trace)
	}
	req, err := http.NewRequestWithContext(ctx, "GET", e.base+path, nil)
	mustNoError(t, err)
	resp, err := e.client.Do(req)
	mustNoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	mustNoError(t, err)
	mustEqual(t, http.StatusOK, resp.StatusCode)
	return string(body)
}

// shutdown runs Shutdown with a bounded context and checks Serve's result.
func (e *httpEnv) shutdown(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitBound)
	defer cancel()
	mustNoError(t, e.srv.Shutdown(ctx))
	mustErrorIs(t, await(t, e.served, "Serve after Shutdown"), http.ErrServerClosed)
}

// httpCases: net/http works on top of the stack, both as server (on the stack's
// listener) and as client (dialing through the stack), and with curl as an
// independent client.
func httpCases(t *testing.T, st stack) {
	forEachNetwork(t, st, func(t *testing.T, network string) {
		t.Run("get", func(t *testing.T) {
			e := newHTTPEnv(t, st, network)
			mustEqual(t, helloBody, e.get(t, "/hello", nil))
			e.shutdown(t)
		})

		t.Run("keep-alive-reuse", func(t *testing.T) {
			e := newHTTPEnv(t, st, network)
			var infos []httptrace.GotConnInfo
			trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { infos = append(infos, i) }}
			for range 3 {
				mustEqual(t, helloBody, e.get(t, "/hello", trace))
			}
			mustEqual(t, 3, len(infos), "GotConn calls")
			mustFalse(t, infos[0].Reused, "first request on a new connection")
			for i, info := range infos[1:] {
				mustTrue(t, info.Reused, "request %d reused the connection", i+2)
				mustTrue(t, info.WasIdle, "request %d", i+2)
				requireAddr(t, infos[0].Conn.LocalAddr(), info.Conn.LocalAddr(), "LocalAddr of the reused conn")
			}
			mustEqual(t, int32(1), e.newConn.Load(), "connections accepted by the server")
			e.shutdown(t)
		})

		t.Run("post-1MiB-echo", func(t *testing.T) {
			e := newHTTPEnv(t, st, network)
			body := pattern[:1<<20]
			resp, err := e.client.Post(e.base+"/echo", "application/octet-stream", bytes.NewReader(body))
			mustNoError(t, err)
			defer resp.Body.Close()
			mustEqual(t, http.StatusOK, resp.StatusCode)
			h := sha256.New()
			n, err := io.Copy(h, resp.Body)
			mustNoError(t, err)
			mustEqual(t, int64(len(body)), n)
			want := sha256.Sum256(body)
			mustEqual(t, want[:], h.Sum(nil))
			e.shutdown(t)
		})

		t.Run("shutdown-with-idle-conn", func(t *testing.T) {
			// Shutdown closes idle keep-alive connections and
			// returns; the client then sees the conn closed.
			e := newHTTPEnv(t, st, network)
			mustEqual(t, helloBody, e.get(t, "/hello", nil))
			e.shutdown(t)
			_, err := e.client.Get(e.base + "/hello")
			mustError(t, err, "request after Shutdown")
		})

		t.Run("shutdown-waits-for-active-request", func(t *testing.T) {
			e := newHTTPEnv(t, st, network)
			resp := spawn(t, func() error {
				r, err := e.client.Get(e.base + "/block")
				if err != nil {
					return err
				}
				defer r.Body.Close()
				b, err := io.ReadAll(r.Body)
				if err != nil {
					return err
				}
				if string(b) != "released\n" {
					return fmt.Errorf("body %q", b)
				}
				return nil
			})
			await(t, e.blockStarted, "handler start")
			ctx, cancel := context.WithTimeout(context.Background(), waitBound)
			defer cancel()
			shut := spawn(t, func() error { return e.srv.Shutdown(ctx) })
			requireNotDone(t, shut, "Shutdown with a request in flight")
			close(e.release)
			mustNoError(t, await(t, resp, "the in-flight request"))
			mustNoError(t, await(t, shut, "Shutdown"))
			mustErrorIs(t, await(t, e.served, "Serve after Shutdown"), http.ErrServerClosed)
		})

		t.Run("curl", func(t *testing.T) {
			curl, err := exec.LookPath("curl")
			if err != nil {
				t.Skip("curl binary not found in PATH")
			}
			e := newHTTPEnv(t, st, network)
			args := []string{"-q", "--silent", "--show-error", "--fail", "--noproxy", "*", "--max-time", "10", "--globoff"}
			base := e.base
			if network == "unix" {
				args = append(args, "--unix-socket", e.ln.Addr().String())
				base = "http://localhost"
			}
			// Two URLs in one invocation: curl reuses the connection.
			args = append(args, base+"/hello", base+"/hello")
			ctx, cancel := context.WithTimeout(context.Background(), 2*waitBound)
			defer cancel()
			cmd := exec.CommandContext(ctx, curl, args...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			mustNoError(t, err, "curl: %s (curl %s)", strings.TrimSpace(stderr.String()), strings.Join(args, " "))
			mustEqual(t, helloBody+helloBody, string(out))
			mustEqual(t, int32(1), e.newConn.Load(), "connections accepted from curl")
			e.shutdown(t)
		})
	})
}
