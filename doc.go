// Package pollnet is a drop-in replacement for package net's TCP and Unix
// stream sockets, running on pollnet's own user-space network poller
// (package pollrt) instead of the one inside the Go runtime.
//
// A server switches by changing one line, net.Listen to pollnet.Listen; it
// gets the same interfaces (net.Listener, net.Conn), the same errors
// (net.ErrClosed, os.ErrDeadlineExceeded, *net.OpError) and the same
// deadline behaviour. Code written against package net's typed API
// switches the same way: ListenTCP, DialTCP, ListenUnix, DialUnix,
// (*Dialer).DialTCP and DialUnix, AcceptTCP, AcceptUnix, ReadMsgUnix and
// WriteMsgUnix have net's names, parameters and errors and return *Conn
// and *Listener.
//
// *Conn and *Listener, with every method, exist on every platform. On
// platforms without a pollrt backend (anything but Linux today), and on
// Linux when built with the pollnet_stdnet tag, they wrap package net's
// conns and listeners and run on the Go runtime's poller; the methods
// beyond package net (WaitRead, WaitWrite, PeerClosed, Done) keep their
// contracts there, as their comments say, and pollrt.ReadStats reads zeros.
package pollnet
