//go:build !pollnet_stdnet

package pollnet

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// TestSocknameMatchesXSys: the addresses pollnet decodes itself are the ones
// x/sys's decoder gives (which pollnet used before, and which match package
// net's), for every family and kind of name pollnet serves.
func TestSocknameMatchesXSys(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name   string
		family int
		bind   unix.Sockaddr // nil: leave unbound (an unnamed Unix socket)
	}{
		{"ipv4", unix.AF_INET, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}},
		{"ipv6", unix.AF_INET6, &unix.SockaddrInet6{Addr: [16]byte{15: 1}}},
		{"ipv4-mapped", unix.AF_INET6, &unix.SockaddrInet6{Addr: [16]byte{10: 0xff, 11: 0xff, 12: 127, 15: 1}}},
		{"unix path", unix.AF_UNIX, &unix.SockaddrUnix{Name: filepath.Join(dir, "s")}},
		{"unix abstract", unix.AF_UNIX, &unix.SockaddrUnix{Name: fmt.Sprintf("@pollnet-test-%d", os.Getpid())}},
		{"unix unnamed", unix.AF_UNIX, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := unix.Socket(tc.family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
			require.NoError(t, err)
			defer unix.Close(s)
			if tc.bind != nil {
				require.NoError(t, unix.Bind(s, tc.bind))
			}
			want, err := unix.Getsockname(s)
			require.NoError(t, err)
			got, err := sockname(s, false)
			require.NoError(t, err)
			require.Equal(t, sockaddrToAddr(want), got)
		})
	}
	t.Run("peer", func(t *testing.T) {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		require.NoError(t, err)
		defer unix.Close(fds[0])
		defer unix.Close(fds[1])
		want, err := unix.Getpeername(fds[0])
		require.NoError(t, err)
		got, err := sockname(fds[0], true)
		require.NoError(t, err)
		require.Equal(t, sockaddrToAddr(want), got)
	})
	t.Run("error", func(t *testing.T) {
		_, err := sockname(-1, false)
		require.ErrorIs(t, err, unix.EBADF)
	})
}
