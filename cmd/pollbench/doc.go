// Command pollbench compares server implementations (the standard library's
// net and pollnet) on loopback, side by side in one run.
//
// Every implementation serves the same goroutine-per-connection echo server
// (and a net/http variant) from its own child process, a re-execution of
// this binary; the parent is the one client that drives every server the
// same way, with implementations interleaved over several rounds so that
// drift of a noisy machine hits them alike. One variant, pollnet+waitread,
// differs in its handler instead (it waits with pollnet's WaitRead and
// borrows a buffer per message) and is measured in the idle workload only,
// where the memory that saves shows. After the table, pollbench prints the
// pollrt statistics each pollnet server reported at the end of its measured
// window; -cpuprofile DIR also writes each server's CPU profile, for
// go tool pprof. Run with -h for the flags.
package main
