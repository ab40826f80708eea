package pollnet

import (
	"os"
	"strings"
)

// mptcpStatus is a Dialer's or ListenConfig's Multipath TCP choice: the
// default (package net's, which GODEBUG can change) until SetMultipathTCP.
type mptcpStatus uint8

const (
	mptcpDefault mptcpStatus = iota
	mptcpOn
	mptcpOff
)

func (m *mptcpStatus) set(use bool) {
	if use {
		*m = mptcpOn
	} else {
		*m = mptcpOff
	}
}

// get reports whether MPTCP is asked for; listen selects the listeners'
// default (on) over the dialers' (off). GODEBUG's multipathtcp setting is
// read from the environment as package net reads it: 0 off, 1 on, 2 on for
// listeners only (the default), 3 on for dialers only. A //go:debug line
// or go.mod godebug setting is not seen here.
func (m mptcpStatus) get(listen bool) bool {
	switch m {
	case mptcpOn:
		return true
	case mptcpOff:
		return false
	}
	switch godebugMPTCP() {
	case "0":
		return false
	case "1":
		return true
	case "3":
		return !listen
	}
	return listen
}

func godebugMPTCP() string {
	v := ""
	for _, kv := range strings.Split(os.Getenv("GODEBUG"), ",") {
		if val, ok := strings.CutPrefix(kv, "multipathtcp="); ok {
			v = val // the last setting wins, as in internal/godebug
		}
	}
	return v
}
