package pollrt

import "sync/atomic"

// Decision points of the wake protocol (park.go, and block in desc.go),
// where interleave_linux_test.go stops goroutines to run them in an order
// it chooses. In production no hook is set: each point costs one load and
// a branch that is never taken.
type hookPoint uint8

const (
	hookBlockBegun    hookPoint = iota // block: pdWait announced, before the recheck and commit
	hookParkEnter                      // park: before mu, before the role is chosen
	hookParkChosen                     // park, under mu: role chosen, follower counted, before the mode CAS
	hookParkRole                       // park: mu released, role settled
	hookFollowerTried                  // park: a follower's Do tried, before its withdraw
	hookFollowerRecv                   // park: a follower (or a waiter woken already) about to receive
	hookFollowerWoken                  // park: that receive returned
	hookLeadWait                       // park: the leader about to wait in the runtime's poller
	hookLeadPollEnter                  // leadPoll: the runtime reported the set readable
	hookLeadTryRecv                    // leadPoll: a trying leader, before its receive
	hookLeadDrained                    // leadPoll: after the drain, before the receive
	hookLeadPollBlock                  // leadPoll: returning false, about to park in the runtime's poller again
	hookLeadDone                       // park: the leader's wait returned
	hookTakeBack                       // park: a finished Do about to take its waiter back (may receive)
	hookUnlead                         // unlead: before mu, before the hand-off
	hookWakeEnter                      // wakeFrom: before the mode swap
	hookWakeSent                       // wakeFrom: sent, before the follower count or the break
	hookDrainEnter                     // drain: before drainMu
	hookRunPollEnter                   // runPoll: the poller goroutine woken on the set
	hookRunPollExit                    // runPoll: about to report, then park again or let go
	numHookPoints
)

// interleaveHook, when set (only by tests), is called at each hookPoint by
// the goroutine that reaches it.
var interleaveHook atomic.Pointer[func(hookPoint)]

// hook reports reaching pt to the test's scheduler, if one is installed.
func hook(pt hookPoint) {
	if h := interleaveHook.Load(); h != nil {
		(*h)(pt)
	}
}
