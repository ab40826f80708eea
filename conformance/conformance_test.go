package conformance

import (
	"testing"

	"github.com/pollnet/pollnet"
)

// pollnetImpl is pollnet through the entry points Impl has room for:
// ListenConfig.Listen and Dialer.DialContext.
func pollnetImpl() Impl {
	return Impl{
		Name:   "pollnet",
		Listen: (&pollnet.ListenConfig{}).Listen,
		Dial:   (&pollnet.Dialer{}).DialContext,
	}
}

// TestReference runs the kit on package net: every case must pass there, or
// the case does not describe package net's behaviour.
func TestReference(t *testing.T) {
	Run(t, Reference())
}

// TestPollnet runs the kit on pollnet, which must behave like package net.
func TestPollnet(t *testing.T) {
	Run(t, pollnetImpl())
}
