//go:build linux

// Package peers runs the pollnet conformance kit against net.Conn and
// net.Listener implementations from other projects, each in a child process
// so that one that hangs or panics cannot stop the others, and reports how
// many cases of each theme pass, fail and skip.
//
// It is a module of its own so that pollnet gains none of these
// dependencies. Failures of the implementations are results, not test
// failures: go test passes while it reports them, and fails only if package
// net or pollnet fails a case (the harness or the kit would then be broken).
//
//	GOWORK=off go test -count=1 -timeout 60m -v .      # every theme and network
//	GOWORK=off go test -short -count=1 -v .            # tcp4, a few themes
//	PEERS_TABLE=$PWD/table.md GOWORK=off go test ...   # also write the Markdown table
package peers
