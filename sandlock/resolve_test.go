package sandlock

import (
	"encoding/binary"
	"net/netip"
	"slices"
	"testing"
)

func TestHostsLookup(t *testing.T) {
	hosts := "127.0.0.1 localhost\n::1 localhost ip6-localhost # comment\n10.0.0.5 Svc.Example svc\n# 10.9.9.9 svc\nbad line\n"
	for _, tc := range []struct {
		name string
		want []string
	}{
		{"localhost", []string{"127.0.0.1", "::1"}},
		{"svc", []string{"10.0.0.5"}},
		{"svc.example.", []string{"10.0.0.5"}},
		{"other", nil},
	} {
		var got []string
		for _, a := range hostsLookup(hosts, tc.name) {
			got = append(got, a.String())
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestResolvConf(t *testing.T) {
	c := parseResolvConf("nameserver 10.0.0.1\nnameserver bad\nsearch a.example b.example\noptions ndots:2 edns0\n")
	if len(c.servers) != 1 || c.servers[0] != netip.MustParseAddr("10.0.0.1") || c.ndots != 2 {
		t.Fatalf("%+v", c)
	}
	if got := c.candidates("h.x"); !slices.Equal(got, []string{"h.x.a.example", "h.x.b.example", "h.x"}) {
		t.Errorf("h.x: %v", got)
	}
	if got := c.candidates("h.x.y"); !slices.Equal(got, []string{"h.x.y", "h.x.y.a.example", "h.x.y.b.example"}) {
		t.Errorf("h.x.y: %v", got)
	}
	if got := c.candidates("abs."); !slices.Equal(got, []string{"abs"}) {
		t.Errorf("abs.: %v", got)
	}
	if d := parseResolvConf(""); len(d.servers) != 2 || d.ndots != 1 {
		t.Errorf("defaults: %+v", d)
	}
}

// dnsReply builds an answer to q with the given records (a compressed
// name pointing at the question).
func dnsReply(q []byte, rcode byte, rrs ...[]byte) []byte {
	m := append([]byte(nil), q...)
	m[2] |= 0x80
	m[3] = 0x80 | rcode
	binary.BigEndian.PutUint16(m[6:], uint16(len(rrs)))
	for _, rd := range rrs {
		typ := uint16(dnsTypeA)
		if len(rd) == 16 {
			typ = dnsTypeAAAA
		}
		m = append(m, 0xc0, 12)
		m = binary.BigEndian.AppendUint16(m, typ)
		m = binary.BigEndian.AppendUint16(m, dnsClassIN)
		m = binary.BigEndian.AppendUint32(m, 60)
		m = binary.BigEndian.AppendUint16(m, uint16(len(rd)))
		m = append(m, rd...)
	}
	return m
}

func TestDNSAnswer(t *testing.T) {
	q, err := dnsQuery(0x1234, "svc.example", dnsTypeA)
	if err != nil {
		t.Fatal(err)
	}
	v6 := netip.MustParseAddr("fd00::1").As16()
	as, rcode, err := dnsAnswer(dnsReply(q, 0, []byte{10, 0, 0, 1}, v6[:]), 0x1234)
	if err != nil || rcode != 0 || len(as) != 2 || as[0].String() != "10.0.0.1" || as[1].String() != "fd00::1" {
		t.Fatalf("%v %d %v", as, rcode, err)
	}
	if _, _, err := dnsAnswer(dnsReply(q, 0), 0x4321); err == nil {
		t.Error("wrong id accepted")
	}
	if _, rcode, _ := dnsAnswer(dnsReply(q, 3), 0x1234); rcode != 3 {
		t.Errorf("rcode %d, want 3", rcode)
	}
	if _, err := dnsQuery(1, "a..b", dnsTypeA); err == nil {
		t.Error("empty label accepted")
	}
}

// FuzzDNSAnswer: any bytes either fail to parse or give addresses of the
// right sizes; never a panic or a read out of bounds.
func FuzzDNSAnswer(f *testing.F) {
	q, _ := dnsQuery(7, "a.example", dnsTypeA)
	f.Add(dnsReply(q, 0, []byte{1, 2, 3, 4}))
	f.Add(dnsReply(q, 3))
	f.Add([]byte{0, 7, 0x80, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0xc0, 12})
	f.Fuzz(func(t *testing.T, m []byte) {
		as, _, err := dnsAnswer(m, 7)
		if err != nil && len(as) > 0 {
			t.Fatal("addresses with an error")
		}
		for _, a := range as {
			if !a.IsValid() {
				t.Fatal("invalid address")
			}
		}
	})
}
