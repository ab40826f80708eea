package pollnet

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestFallbackDelayDefaults(t *testing.T) {
	for _, tc := range []struct {
		set       time.Duration
		delay     time.Duration
		dualStack bool
	}{
		{0, 300 * time.Millisecond, true},
		{time.Second, time.Second, true},
		{-1, 300 * time.Millisecond, false},
	} {
		d := Dialer{FallbackDelay: tc.set}
		require.Equal(t, tc.delay, d.fallbackDelay(), "FallbackDelay %v", tc.set)
		require.Equal(t, tc.dualStack, d.dualStack(), "FallbackDelay %v", tc.set)
	}
}
