// Package pollnet is a drop-in replacement for package net's TCP and Unix
// stream sockets, running on pollnet's own user-space network poller
// (package pollrt) instead of the one inside the Go runtime.
//
// A server switches by changing one line, net.Listen to pollnet.Listen; it
// gets the same interfaces (net.Listener, net.Conn), the same errors
// (net.ErrClosed, os.ErrDeadlineExceeded, *net.OpError) and the same
// deadline behaviour. On platforms without a pollrt backend (anything but
// Linux today) pollnet uses package net.
package pollnet
