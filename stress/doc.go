// Package stress holds pollnet's stress and fault suite. It contains no
// library code: everything is in its _test.go files.
//
// Every test runs on loopback TCP or unix sockets only, is bounded in time,
// and closes the descriptors and goroutines it opens (TestMain fails the
// run if any goroutine but pollrt's poller is left). A watchdog turns any
// operation blocked for more than 10 s into a failure with every
// goroutine's stack.
//
//   - TestFDReuseNoCrossTalk: conns closed at random points of their reads
//     and writes while new conns take the freed fd numbers; every byte a
//     receiver sees is its own peer's next one.
//   - TestLeaks: 10,000 dial/accept/echo/close cycles, orderly or reset,
//     closed from either side; fds, goroutines and pollrt's descriptors
//     are back to where they started, and the slot table stays small.
//   - TestScale: 10,000 connections held at once, each with a verified echo
//     (the clients live in a child process, so each process needs ~10,000
//     fds rather than 20,000).
//   - TestFDExhaustion: in a child process with RLIMIT_NOFILE 64, Accept
//     reports a temporary EMFILE error without spinning, an http.Server
//     keeps serving through it, and both recover once fds are free.
//   - TestPeerResetsMidWrite, TestPeerHalfCloses, TestPeerNeverReads,
//     TestPeerSilent, TestSlowloris, TestResetFloodBeforeAccept: hostile
//     and broken peers (resets mid-write and mid-read, half-closes, peers
//     that never read or never write, trickles, connections reset before
//     Accept).
//   - TestCloseStorm: Close (for Dial: a context cancellation) landing at
//     random points of Read, Write, Accept, Dial and SetDeadline, thousands
//     of times; every call returns, with success or one of the errors
//     package net documents.
//   - TestDeadlineStorm: deadlines moved at random thousands of times under
//     running reads and writes; timed-out calls are retried from where they
//     stopped and both streams arrive intact.
//   - TestConcurrentClose: two goroutines closing one conn (or listener)
//     at once, in a child process since the failure mode is a panic.
//   - TestCanceledDialLeavesOthersAlone: a cancelled DialContext must not
//     touch the conn that reuses its poll descriptor.
//   - TestNoDataLoss: 64 MiB streams in both directions at once, random
//     write sizes, SHA-256 verified, over tcp and unix.
//   - FuzzListenDial: pollnet.Listen and pollnet.Dial against package net
//     for fuzzed networks and addresses (loopback and temporary unix
//     sockets only; names are never sent to DNS); seed corpus in
//     testdata/fuzz/FuzzListenDial.
//   - TestSoak: all of the above mixed for -soak=<duration>, with periodic
//     reports of throughput, errors by kind, fds and goroutines.
//
// Run with:
//
//	go test -race ./stress/                      # the suite (about a minute on 2 cores)
//	go test -race -short ./stress/               # smaller figures
//	go test ./stress/ -run Soak -soak=10m -v     # soak
//	go test ./stress/ -run '^$' -fuzz FuzzListenDial -fuzztime 1m
package stress
