module github.com/pollnet/pollnet/conformance/peers

go 1.26.2

require (
	github.com/cloudwego/netpoll v0.7.2
	github.com/hashicorp/yamux v0.1.2
	github.com/pollnet/pollnet v0.0.0
	github.com/xtaci/smux v1.5.58
)

require (
	github.com/bytedance/gopkg v0.1.1 // indirect
	github.com/cloudwego/gopkg v0.1.4 // indirect
	golang.org/x/net v0.62.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
)

replace github.com/pollnet/pollnet => ../..
