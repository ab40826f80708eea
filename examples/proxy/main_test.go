//go:build linux

// The path under test, splice(2) between two pollnet conns, is Linux's.

package main

import (
	"bytes"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/pollnet/pollnet"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// bound is how long a test waits for something before it fails: an upper
// bound for a hang, never a measurement.
const bound = 2 * time.Minute

func testAddr(t *testing.T, network string) string {
	if network == "unix" {
		return filepath.Join(t.TempDir(), "s")
	}
	return "127.0.0.1:0"
}

// startProxy runs serve in front of a package-net echo backend. The
// returned stop closes both listeners, waits for serve and the backend's
// goroutines, and checks that no goroutine (the proxy's included) outlives
// them; call it once the test's clients are closed.
func startProxy(t *testing.T, network string) (addr string, stop func()) {
	t.Helper()
	back, err := net.Listen(network, testAddr(t, network))
	require.NoError(t, err)
	ln, err := pollnet.Listen(network, testAddr(t, network))
	require.NoError(t, err)
	// pollrt's poller goroutine starts with its first descriptor: the
	// goroutine baseline comes after Listen.
	baseline := goleak.IgnoreCurrent()

	var backend sync.WaitGroup
	backend.Go(func() {
		for {
			c, err := back.Accept()
			if err != nil {
				return
			}
			backend.Go(func() {
				defer c.Close() // passes the client's EOF back once all is echoed
				io.Copy(c, c)
			})
		}
	})
	served := make(chan error, 1)
	go func() { served <- serve(ln, network, back.Addr().String()) }()

	return ln.Addr().String(), func() {
		t.Helper()
		ln.Close()
		select {
		case err := <-served:
			require.ErrorIs(t, err, net.ErrClosed)
		case <-time.After(bound):
			t.Fatal("serve did not return after its listener was closed")
		}
		back.Close()
		// The echo goroutines end when the proxy closes its conns to the
		// backend; if it does not, the leak check below names them.
		waited := make(chan struct{})
		go func() {
			backend.Wait()
			close(waited)
		}()
		select {
		case <-waited:
		case <-time.After(10 * time.Second):
		}
		verifyNoLeaks(t, baseline)
	}
}

func verifyNoLeaks(t *testing.T, baseline goleak.Option) {
	t.Helper()
	var err error
	// Find retries for about half a second; on a loaded machine give the
	// proxy's goroutines longer to wind down.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		if err = goleak.Find(baseline); err == nil {
			return
		}
	}
	t.Error(err)
}

// TestProxy64MiB sends 64 MiB through the proxy to the echo backend and
// back, writing and reading at once, and compares SHA-256 digests of what
// went out and what came back. Both of the proxy's conns are pollnet
// conns, so each direction is spliced.
func TestProxy64MiB(t *testing.T) {
	const size = 64 << 20
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			addr, stop := startProxy(t, network)
			c, err := pollnet.Dial(network, addr)
			require.NoError(t, err)
			require.NoError(t, c.SetDeadline(time.Now().Add(bound)))

			sent := sha256.New()
			wrote := make(chan error, 1)
			go func() {
				// Pseudo-random bytes, so that lost, repeated or reordered
				// pieces change the digest, in writes of 1 B to 256 KiB.
				data := rand.NewChaCha8([32]byte{1})
				sizes := rand.New(rand.NewPCG(1, 2))
				buf := make([]byte, 256<<10)
				for left := size; left > 0; {
					p := buf[:min(1+sizes.IntN(len(buf)), left)]
					data.Read(p)
					sent.Write(p)
					if _, err := c.Write(p); err != nil {
						wrote <- err
						return
					}
					left -= len(p)
				}
				// The EOF goes through the proxy (CloseWrite) to the
				// backend, whose close comes back as our EOF.
				wrote <- c.(interface{ CloseWrite() error }).CloseWrite()
			}()
			got := sha256.New()
			n, err := io.Copy(got, c)
			require.NoError(t, err)
			require.NoError(t, <-wrote)
			require.EqualValues(t, size, n)
			require.True(t, bytes.Equal(sent.Sum(nil), got.Sum(nil)), "the data came back different")

			require.NoError(t, c.Close())
			stop()
		})
	}
}

// TestProxyClientAborts: a client that resets its conn mid-transfer ends
// both directions of its proxy, and the proxy's conn to the backend.
func TestProxyClientAborts(t *testing.T) {
	addr, stop := startProxy(t, "tcp")
	c, err := pollnet.Dial("tcp", addr)
	require.NoError(t, err)
	require.NoError(t, c.SetDeadline(time.Now().Add(bound)))
	msg := bytes.Repeat([]byte("x"), 64<<10)
	_, err = c.Write(msg)
	require.NoError(t, err)
	// Something came back: the proxy and the backend have the conn.
	_, err = io.ReadFull(c, make([]byte, 1))
	require.NoError(t, err)
	pc := c.(*pollnet.Conn)
	require.NoError(t, pc.SetLinger(0)) // Close sends a reset
	require.NoError(t, pc.Close())
	// stop's checks fail if the proxy's goroutines or the backend's echo
	// goroutine are still there.
	stop()
}
