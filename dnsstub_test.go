package pollnet_test

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/net/dns/dnsmessage"
)

// dnsStub is a DNS server on 127.0.0.1 UDP answering A and AAAA queries
// for the names it was given (NXDOMAIN for others), so tests control what
// a name resolves to.
type dnsStub struct {
	pc    net.PacketConn
	names map[string][]netip.Addr // keyed by the name without its final dot
}

func startDNSStub(t *testing.T, names map[string][]netip.Addr) *dnsStub {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	require.NoError(t, err)
	s := &dnsStub{pc: pc, names: names}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.serve()
	}()
	t.Cleanup(func() { pc.Close(); wg.Wait() })
	return s
}

func (s *dnsStub) serve() {
	buf := make([]byte, 1500)
	for {
		n, from, err := s.pc.ReadFrom(buf)
		if err != nil {
			return
		}
		var q dnsmessage.Message
		if q.Unpack(buf[:n]) != nil || len(q.Questions) != 1 {
			continue
		}
		resp := dnsmessage.Message{
			Header:    dnsmessage.Header{ID: q.ID, Response: true, Authoritative: true, RecursionDesired: q.RecursionDesired, RecursionAvailable: true},
			Questions: q.Questions,
		}
		qq := q.Questions[0]
		addrs, ok := s.names[strings.TrimSuffix(strings.ToLower(qq.Name.String()), ".")]
		if !ok {
			resp.RCode = dnsmessage.RCodeNameError
		}
		for _, a := range addrs {
			hdr := dnsmessage.ResourceHeader{Name: qq.Name, Class: dnsmessage.ClassINET, TTL: 60}
			switch {
			case qq.Type == dnsmessage.TypeA && a.Is4():
				hdr.Type = dnsmessage.TypeA
				resp.Answers = append(resp.Answers, dnsmessage.Resource{Header: hdr, Body: &dnsmessage.AResource{A: a.As4()}})
			case qq.Type == dnsmessage.TypeAAAA && a.Is6():
				hdr.Type = dnsmessage.TypeAAAA
				resp.Answers = append(resp.Answers, dnsmessage.Resource{Header: hdr, Body: &dnsmessage.AAAAResource{AAAA: a.As16()}})
			}
		}
		out, err := resp.Pack()
		if err != nil {
			continue
		}
		s.pc.WriteTo(out, from)
	}
}

// resolver is a pure-Go resolver that asks only this stub.
func (s *dnsStub) resolver() *net.Resolver {
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "udp4", s.pc.LocalAddr().String())
		},
	}
}
