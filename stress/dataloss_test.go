//go:build linux

package stress

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/pollnet/pollnet"
)

// TestNoDataLoss streams 64 MiB (8 MiB with -short) of random bytes with
// writes of random sizes from 1 B to 256 KiB and reads of random sizes,
// and compares SHA-256 sums and byte counts: every byte a Write reported
// as written before CloseWrite or Close must arrive, in order. Duplex
// streams run both directions at once and end with CloseWrite; simplex
// ones end with a plain Close right after the last Write.
func TestNoDataLoss(t *testing.T) {
	size := int64(64 << 20)
	if testing.Short() {
		size = 8 << 20
	}
	cases := []struct {
		name   string
		duplex bool
	}{
		{"duplex/close-write", true},
		{"simplex/close", false},
	}
	for _, network := range streamNetworks {
		for _, tc := range cases {
			t.Run(network+"/"+tc.name, func(t *testing.T) {
				r := newRand(t)
				start := time.Now()
				client, server := mustConnect(t, listen(t, network))
				wd := startWatchdog(t, "stream "+network+"/"+tc.name, nil)
				type result struct {
					n   int64
					sum [sha256.Size]byte
					err error
				}
				var wg sync.WaitGroup
				var sent, recv [2]result
				stream := func(i int, from, to *pollnet.Conn) {
					wr, rr := fork(r), fork(r)
					wg.Add(2)
					go func() {
						defer wg.Done()
						sent[i].n, sent[i].sum, sent[i].err = writeStream(from, size, wr, wd, tc.duplex)
					}()
					go func() {
						defer wg.Done()
						recv[i].n, recv[i].sum, recv[i].err = readStream(to, rr, wd)
					}()
				}
				stream(0, client, server)
				if tc.duplex {
					stream(1, server, client)
				}
				wg.Wait()
				streams := 1
				if tc.duplex {
					streams = 2
				}
				for i := range streams {
					s, rcv := sent[i], recv[i]
					if s.err != nil || rcv.err != nil {
						t.Errorf("stream %d: writer: %v; reader: %v", i, s.err, rcv.err)
						continue
					}
					if rcv.n != s.n || rcv.sum != s.sum {
						t.Errorf("stream %d: wrote %d bytes (sha256 %x), read %d bytes (sha256 %x)", i, s.n, s.sum[:8], rcv.n, rcv.sum[:8])
					}
				}
				t.Logf("%d stream(s) of %d MiB verified by SHA-256 in %s", streams, size>>20, elapsed(start))
			})
		}
	}
}

// chunkSize picks a write or read size from 1 B to 256 KiB, spread over
// the orders of magnitude so small and large calls mix.
func chunkSize(r *rand.Rand) int {
	switch r.IntN(4) {
	case 0:
		return 1 + r.IntN(16)
	case 1:
		return 1 + r.IntN(4<<10)
	case 2:
		return 1 + r.IntN(64<<10)
	}
	return 1 + r.IntN(256<<10)
}

// writeStream writes size random bytes in random chunks, then CloseWrite
// (halfClose) or Close, and returns what it wrote and its sum.
func writeStream(c *pollnet.Conn, size int64, r *rand.Rand, wd *watchdog, halfClose bool) (int64, [sha256.Size]byte, error) {
	h := sha256.New()
	var seed [32]byte
	for i := 0; i < len(seed); i += 8 {
		binary.LittleEndian.PutUint64(seed[i:], r.Uint64())
	}
	src := rand.NewChaCha8(seed)
	buf := make([]byte, 256<<10)
	var sent int64
	for sent < size {
		n := int(min(int64(chunkSize(r)), size-sent))
		src.Read(buf[:n])
		h.Write(buf[:n])
		m, err := c.Write(buf[:n])
		sent += int64(m)
		wd.tick()
		if err != nil || m != n {
			return sent, [sha256.Size]byte(h.Sum(nil)), fmt.Errorf("Write(%d bytes) at %d: %d, %v", n, sent, m, err)
		}
	}
	var err error
	if halfClose {
		err = c.CloseWrite()
	} else {
		err = c.Close()
	}
	return sent, [sha256.Size]byte(h.Sum(nil)), err
}

// readStream reads until io.EOF in random chunks and returns the count and
// sum of what it read.
func readStream(c *pollnet.Conn, r *rand.Rand, wd *watchdog) (int64, [sha256.Size]byte, error) {
	h := sha256.New()
	buf := make([]byte, 256<<10)
	var got int64
	for {
		n, err := c.Read(buf[:chunkSize(r)])
		h.Write(buf[:n])
		got += int64(n)
		wd.tick()
		if err == io.EOF {
			return got, [sha256.Size]byte(h.Sum(nil)), nil
		}
		if err != nil {
			return got, [sha256.Size]byte(h.Sum(nil)), fmt.Errorf("Read at %d: %v", got, err)
		}
	}
}
