// Package pollhttptrace makes pollnet's dials report the connect events of
// a net/http/httptrace.ClientTrace (ConnectStart, ConnectDone), as package
// net's dials do. Import it for its side effect:
//
//	import _ "github.com/pollnet/pollnet/pollhttptrace"
//
// pollnet does not do this itself because net/http/httptrace brings
// crypto/tls and many other packages into every program that imports it
// (about 1.5 MB of binary); a program using net/http links them anyway.
package pollhttptrace

import (
	"context"
	"net/http/httptrace"

	"github.com/pollnet/pollnet/internal/dialtrace"
)

func init() {
	dialtrace.Register(func(ctx context.Context) *dialtrace.Hooks {
		t := httptrace.ContextClientTrace(ctx)
		if t == nil || (t.ConnectStart == nil && t.ConnectDone == nil) {
			return nil
		}
		return &dialtrace.Hooks{ConnectStart: t.ConnectStart, ConnectDone: t.ConnectDone}
	})
}
