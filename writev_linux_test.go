//go:build linux && !pollnet_stdnet

package pollnet_test

import (
	"bytes"
	"io"
	"net"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestWriteBuffersAllocs: after its first call, WriteBuffers reuses the
// conn's iovecs, so a vectored write allocates nothing, as package net's
// writev.
func TestWriteBuffersAllocs(t *testing.T) {
	c, s := tcpPair(t)
	const pieces, size = 16, 8
	drained := make(chan int64, 1)
	go func() {
		n, _ := io.Copy(io.Discard, s)
		drained <- n
	}()
	orig := make(net.Buffers, pieces)
	for i := range orig {
		orig[i] = bytes.Repeat([]byte{'a' + byte(i)}, size)
	}
	bufs := make(net.Buffers, pieces)
	write := func() {
		copy(bufs, orig) // WriteBuffers consumes the slice it is given
		v := bufs
		n, err := c.WriteBuffers(&v)
		if err != nil || n != pieces*size || len(v) != 0 {
			t.Errorf("WriteBuffers = %d, %v, %d buffers left; want %d, nil, 0", n, err, len(v), pieces*size)
		}
	}
	const runs = 100
	allocs := testing.AllocsPerRun(runs, write) // AllocsPerRun calls write once more to warm up
	require.Zero(t, allocs, "allocations per WriteBuffers")
	require.NoError(t, c.CloseWrite())
	require.Equal(t, int64((runs+1)*pieces*size), <-drained)
}
