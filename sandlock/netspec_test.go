package sandlock

import (
	"encoding/json"
	"errors"
	"net/netip"
	"strings"
	"testing"
)

// TestParseNetSpecMalformed: every malformed spec is an error that quotes
// the spec (through PolicyError) and says what is wrong.
func TestParseNetSpecMalformed(t *testing.T) {
	for _, tc := range []struct {
		spec string
		deny bool
		want string
	}{
		{"", false, "empty spec"},
		{"   ", false, "empty spec"},
		{" host:80", false, "leading or trailing space"},
		{"10.0.0.0/33:80", false, "prefix length /33 is out of range for IPv4 (0-32)"},
		{"[fd00::/129]:80", false, "prefix length /129 is out of range for IPv6 (0-128)"},
		{"10.0.0.0/x", false, `invalid prefix length "x"`},
		{"10.0.0.0/", false, `invalid prefix length ""`},
		{"host:70000", false, "port 70000 is out of range (1-65535)"},
		{"host:1234567", false, "port 1234567 is out of range (1-65535)"},
		{"host:0", false, "port 0 is not a destination"},
		{"::1:80", false, "ambiguous IPv6 address: write [::1]:80 for a port, [::1:80] for the address"},
		{"2001:db8::1:443", false, "ambiguous IPv6 address"},
		{"fd00::/8:80", false, "an IPv6 address with a port must be bracketed: [fd00::/8]:80"},
		{"[::1", false, "missing ] after IPv6 address"},
		{"[]:80", false, "empty []"},
		{"[::1]80", false, `unexpected "80" after ]`},
		{"[10.0.0.1]:80", false, "[10.0.0.1] is not an IPv6 address"},
		{"[zz::1]:80", false, `invalid address "zz::1"`},
		{"ftp://h:1", false, `unknown scheme "ftp://" (want tcp://, udp:// or icmp://)`},
		{"tcp://", false, `nothing after "tcp://"`},
		{"h:80-70", false, "port range 80-70 is reversed"},
		{"h:1,,2", false, `empty item in port list "1,,2"`},
		{"h:", false, "empty port list after ':'"},
		{"h:,", false, `empty item in port list ","`},
		{"h:*,80", false, "cannot mix * with ports"},
		{"h:http", false, `invalid port "http"`},
		{"h:-5", false, `invalid port ""`},
		{"h:5-", false, `invalid port ""`},
		{"icmp://h:1", false, "icmp rules take no port"},
		{"icmp://:1", false, "icmp rules take no port"},
		{"10.0.0.256:80", false, `invalid address "10.0.0.256"`},
		{"fe80::1%eth0", false, "address zones"},
		{"bad host:80", false, "invalid character ' ' in host name"},
		{"-x.com:80", false, `invalid host name "-x.com"`},
		{"a..b:80", false, `invalid host name "a..b"`},
		{"a:b:c", false, "is neither host:port nor an IPv6 address"},
		{"[::ffff:10.0.0.0/95]", false, "prefix /95 of an IPv4-mapped address"},
		{"example.com:443", true, "deny targets must be IP addresses or CIDRs"},
		{"udp://localhost", true, "deny targets must be IP addresses or CIDRs"},
	} {
		t.Run(tc.spec, func(t *testing.T) {
			field := "network.allow"
			if tc.deny {
				field = "network.deny"
			}
			_, err := parseNetSpecs(field, []string{tc.spec}, tc.deny)
			var pe *PolicyError
			if !errors.As(err, &pe) {
				t.Fatalf("parse %q: %v, want a *PolicyError", tc.spec, err)
			}
			msg := err.Error()
			if !strings.Contains(msg, quote(tc.spec)) || !strings.Contains(msg, field) || !strings.Contains(msg, tc.want) {
				t.Fatalf("parse %q: %q, want the field, the quoted spec and %q", tc.spec, msg, tc.want)
			}
		})
	}
}

func TestParseNetSpec(t *testing.T) {
	type want struct {
		protos netProto
		any    bool
		prefix string
		host   string
		ports  []portRange
	}
	tu := protoTCP | protoUDP
	for _, tc := range []struct {
		spec string
		want want
	}{
		{"*", want{protos: tu, any: true}},
		{"*:*", want{protos: tu, any: true}},
		{":*", want{protos: tu, any: true}},
		{":443", want{protos: tu, any: true, ports: []portRange{{443, 443}}}},
		{"tcp://*:80,443", want{protos: protoTCP, any: true, ports: []portRange{{80, 80}, {443, 443}}}},
		{"udp://*", want{protos: protoUDP, any: true}},
		{"icmp://*", want{protos: protoICMP, any: true}},
		{"icmp://10.0.0.1", want{protos: protoICMP, prefix: "10.0.0.1/32"}},
		{"TCP://h", want{protos: protoTCP, host: "h"}},
		{"Example.COM.:443", want{protos: tu, host: "example.com", ports: []portRange{{443, 443}}}},
		{"127.0.0.1:8000-8100,8050-8200,9000", want{protos: tu, prefix: "127.0.0.1/32", ports: []portRange{{8000, 8200}, {9000, 9000}}}},
		{"10.1.2.3/8", want{protos: tu, prefix: "10.0.0.0/8"}},
		{"10.0.0.0/8:22", want{protos: tu, prefix: "10.0.0.0/8", ports: []portRange{{22, 22}}}},
		{"::1", want{protos: tu, prefix: "::1/128"}},
		{"fe80::1", want{protos: tu, prefix: "fe80::1/128"}},
		{"fd00::/8", want{protos: tu, prefix: "fd00::/8"}},
		{"[::1]:80", want{protos: tu, prefix: "::1/128", ports: []portRange{{80, 80}}}},
		{"[fd00::/8]:1-2", want{protos: tu, prefix: "fd00::/8", ports: []portRange{{1, 2}}}},
		{"[::ffff:127.0.0.1]:80", want{protos: tu, prefix: "127.0.0.1/32", ports: []portRange{{80, 80}}}},
		{"[::ffff:10.0.0.0/104]", want{protos: tu, prefix: "10.0.0.0/8"}},
		{"h:1,2,3", want{protos: tu, host: "h", ports: []portRange{{1, 3}}}},
		{"h:65535", want{protos: tu, host: "h", ports: []portRange{{65535, 65535}}}},
	} {
		t.Run(tc.spec, func(t *testing.T) {
			r, err := parseNetSpec(tc.spec, false)
			if err != nil {
				t.Fatal(err)
			}
			w := tc.want
			var prefix string
			if r.prefix.IsValid() {
				prefix = r.prefix.String()
			}
			if r.protos != w.protos || r.anyAddr != w.any || prefix != w.prefix || r.host != w.host ||
				len(r.ports) != len(w.ports) {
				t.Fatalf("%q = %+v, want %+v", tc.spec, r, w)
			}
			for i := range w.ports {
				if r.ports[i] != w.ports[i] {
					t.Fatalf("%q ports %v, want %v", tc.spec, r.ports, w.ports)
				}
			}
		})
	}
}

func TestNetModelAllows(t *testing.T) {
	a := netip.MustParseAddr
	resolve := func(h string) ([]netip.Addr, error) {
		if h == "svc" {
			return []netip.Addr{a("::ffff:10.1.1.1"), a("10.1.1.1"), a("fd00::5")}, nil
		}
		return nil, errors.New("no such host")
	}
	for _, tc := range []struct {
		name   string
		net    Network
		proto  netProto
		addr   string
		port   uint16
		allows bool
	}{
		{"exact v4", Network{Allow: []string{"127.0.0.1:80"}}, protoTCP, "127.0.0.1", 80, true},
		{"same port other loopback", Network{Allow: []string{"127.0.0.1:80"}}, protoTCP, "127.0.0.2", 80, false},
		{"other port", Network{Allow: []string{"127.0.0.1:80"}}, protoTCP, "127.0.0.1", 81, false},
		{"mapped destination", Network{Allow: []string{"127.0.0.1:80"}}, protoTCP, "::ffff:127.0.0.1", 80, true},
		{"mapped rule", Network{Allow: []string{"[::ffff:127.0.0.1]:80"}}, protoTCP, "127.0.0.1", 80, true},
		{"0.0.0.0 is not loopback", Network{Allow: []string{"127.0.0.1"}}, protoTCP, "0.0.0.0", 80, false},
		{"udp-only rule, tcp", Network{Allow: []string{"udp://*:53"}}, protoTCP, "1.1.1.1", 53, false},
		{"udp-only rule, udp", Network{Allow: []string{"udp://*:53"}}, protoUDP, "1.1.1.1", 53, true},
		{"icmp not implied", Network{Allow: []string{"*"}}, protoICMP, "1.1.1.1", 0, false},
		{"icmp rule", Network{Allow: []string{"icmp://1.1.1.1"}}, protoICMP, "1.1.1.1", 0, true},
		{"cidr", Network{Allow: []string{"10.0.0.0/8:22"}}, protoTCP, "10.200.0.1", 22, true},
		{"host pinned v4", Network{Allow: []string{"svc:443"}}, protoTCP, "10.1.1.1", 443, true},
		{"host pinned v6", Network{Allow: []string{"svc:443"}}, protoUDP, "fd00::5", 443, true},
		{"host other addr", Network{Allow: []string{"svc:443"}}, protoTCP, "10.1.1.2", 443, false},
		{"deny mode other", Network{Deny: []string{"10.0.0.0/8"}}, protoTCP, "1.1.1.1", 443, true},
		{"deny mode listed", Network{Deny: []string{"10.0.0.0/8"}}, protoUDP, "10.2.3.4", 53, false},
		{"deny mode tcp only", Network{Deny: []string{"tcp://10.0.0.0/8"}}, protoUDP, "10.2.3.4", 53, true},
		{"deny port", Network{Deny: []string{"1.1.1.1:25"}}, protoTCP, "1.1.1.1", 25, false},
		{"deny port other", Network{Deny: []string{"1.1.1.1:25"}}, protoTCP, "1.1.1.1", 26, true},
		{"private metadata", Network{Allow: []string{"*"}, DenyPrivate: true}, protoTCP, "169.254.169.254", 80, false},
		{"private metadata v6", Network{Allow: []string{"*"}, DenyPrivate: true}, protoTCP, "fd00:ec2::254", 80, false},
		{"private mapped", Network{DenyPrivate: true}, protoTCP, "::ffff:10.0.0.1", 80, false},
		{"private nat64", Network{DenyPrivate: true}, protoTCP, "64:ff9b::a9fe:a9fe", 80, false},
		{"private loopback", Network{DenyPrivate: true}, protoTCP, "127.0.0.1", 80, false},
		{"private public", Network{DenyPrivate: true}, protoTCP, "8.8.8.8", 443, true},
		{"private public udp", Network{Allow: []string{"*"}, DenyPrivate: true}, protoUDP, "2001:4860::8888", 53, true},
		{"no rules", Network{}, protoTCP, "127.0.0.1", 80, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := Policy{Network: tc.net}
			if err := p.Validate(); err != nil {
				t.Fatal(err)
			}
			m, err := p.buildNetModel(resolve)
			if err != nil {
				t.Fatal(err)
			}
			if got := m.allows(tc.proto, a(tc.addr), tc.port); got != tc.allows {
				t.Fatalf("allows(%v, %s, %d) = %v", tc.proto, tc.addr, tc.port, got)
			}
		})
	}
}

func TestNetModelLandlockPorts(t *testing.T) {
	for _, tc := range []struct {
		allow []string
		ports int
		all   bool
	}{
		{[]string{":80,443"}, 2, false},
		{[]string{"127.0.0.1:80", "udp://*"}, 1, false},
		{[]string{"127.0.0.1"}, 0, true},
		{[]string{"1.2.3.4:1-65535"}, 0, true},
		{[]string{"udp://*:53"}, 0, false},
	} {
		p := Policy{Network: Network{Allow: tc.allow}}
		m, err := p.buildNetModel(nil)
		if err != nil {
			t.Fatal(err)
		}
		ports, all := m.tcpConnectPorts()
		if len(ports) != tc.ports || all != tc.all {
			t.Errorf("%v: %d ports all=%v, want %d %v", tc.allow, len(ports), all, tc.ports, tc.all)
		}
	}
}

func TestValidateNetworkExclusive(t *testing.T) {
	for _, tc := range []struct {
		n     Network
		field string
	}{
		{Network{Allow: []string{"*"}, Deny: []string{"10.0.0.0/8"}}, "network.deny"},
		{Network{Bind: []string{"80"}, DenyBind: []string{"22"}}, "network.deny_bind"},
		{Network{DenyBind: []string{"x"}}, "network.deny_bind"},
	} {
		p := Policy{Network: tc.n}
		var pe *PolicyError
		if err := p.Validate(); !errors.As(err, &pe) || pe.Field != tc.field {
			t.Errorf("%+v: %v, want a PolicyError on %s", tc.n, err, tc.field)
		}
	}
}

func TestBuildNetModelResolveError(t *testing.T) {
	p := Policy{Network: Network{Allow: []string{"nohost.invalid:80"}}}
	_, err := p.buildNetModel(func(string) ([]netip.Addr, error) { return nil, errors.New("no such host") })
	if err == nil || !strings.Contains(err.Error(), `"nohost.invalid:80"`) || !strings.Contains(err.Error(), "no such host") {
		t.Fatalf("%v", err)
	}
}

// FuzzParseNetSpec: a spec either fails with a netSpecError (never a panic)
// or parses to a rule with exactly one kind of target, canonical prefixes,
// sorted disjoint port ranges inside 1-65535, and parses the same way when
// printed back.
func FuzzParseNetSpec(f *testing.F) {
	for _, s := range []string{"*", ":80", "tcp://h:1,2-3", "udp://[::1]:53", "icmp://*", "10.0.0.0/33:80",
		"host:70000", "::1:80", "[::1", "ftp://h:1", "h:80-70", "h:1,,2", "", "[::ffff:1.2.3.4]:5", "fd00::/8", "a:b:c"} {
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, spec string, deny bool) {
		r, err := parseNetSpec(spec, deny)
		if err != nil {
			var se *netSpecError
			if !errors.As(err, &se) && err != errDenyHost {
				t.Fatalf("%q: error %T %v", spec, err, err)
			}
			return
		}
		kinds := 0
		if r.anyAddr {
			kinds++
		}
		if r.prefix.IsValid() {
			kinds++
			if r.prefix != r.prefix.Masked() || r.prefix.Addr().Is4In6() || r.prefix.Addr().Zone() != "" {
				t.Fatalf("%q: prefix %v not canonical", spec, r.prefix)
			}
		}
		if r.host != "" {
			kinds++
			if deny {
				t.Fatalf("%q: deny rule with a host", spec)
			}
		}
		if kinds != 1 {
			t.Fatalf("%q: %d target kinds: %+v", spec, kinds, r)
		}
		if r.protos == 0 || r.protos&protoICMP != 0 && r.ports != nil {
			t.Fatalf("%q: protos %v ports %v", spec, r.protos, r.ports)
		}
		for i, pr := range r.ports {
			if pr.lo == 0 || pr.lo > pr.hi || i > 0 && uint32(r.ports[i-1].hi)+1 >= uint32(pr.lo) {
				t.Fatalf("%q: bad ranges %v", spec, r.ports)
			}
		}
	})
}

// TestPinnedHosts: Create's copy of the policy keeps each host name with
// its canonical addresses (sorted, distinct, mapped IPv6 as IPv4), sorted
// by name: what the synthetic /etc/hosts serves.
func TestPinnedHosts(t *testing.T) {
	saved := resolveHost
	defer func() { resolveHost = saved }()
	calls := 0
	resolveHost = func(h string) ([]netip.Addr, error) {
		calls++
		return []netip.Addr{netip.MustParseAddr("::ffff:10.0.0.2"), netip.MustParseAddr("fd00::1"), netip.MustParseAddr("10.0.0.2")}, nil
	}
	p := Policy{Network: Network{Allow: []string{"zeta.example:443", "alpha.example", "udp://zeta.example:53", "10.1.1.1"}}}
	if got := p.pinnedHosts(); got != nil {
		t.Fatalf("before pinning: %v", got)
	}
	if !p.namesHosts() {
		t.Fatal("namesHosts false for a policy with host names")
	}
	if err := p.pinNetwork(); err != nil {
		t.Fatal(err)
	}
	hs := p.pinnedHosts()
	if calls != 2 || len(hs) != 2 || hs[0].Name != "alpha.example" || hs[1].Name != "zeta.example" {
		t.Fatalf("%d lookups, %+v", calls, hs)
	}
	if a := hs[1].Addrs; len(a) != 2 || a[0].String() != "10.0.0.2" || a[1].String() != "fd00::1" {
		t.Fatalf("addresses %v", a)
	}
	ip := Policy{Network: Network{Allow: []string{"10.1.1.1:80"}}}
	if err := ip.pinNetwork(); err != nil || ip.pinnedHosts() != nil || ip.namesHosts() {
		t.Fatalf("IP-only policy: %v %v", err, ip.pinnedHosts())
	}
}

// TestNetworkJSON: the JSON form carries the same grammar and the new
// fields, and Validate checks it like the flags.
func TestNetworkJSON(t *testing.T) {
	var p Policy
	in := `{"network":{"allow":["tcp://127.0.0.1:80","udp://[::1]:53"],"deny_private":true,"deny_bind":["22","8000-8010"]}}`
	if err := json.Unmarshal([]byte(in), &p); err != nil {
		t.Fatal(err)
	}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	if !p.Network.DenyPrivate || len(p.Network.DenyBind) != 2 || len(p.Network.Allow) != 2 {
		t.Fatalf("%+v", p.Network)
	}
	out, err := json.Marshal(p)
	if err != nil || !strings.Contains(string(out), `"deny_private":true`) || !strings.Contains(string(out), `"deny_bind":["22","8000-8010"]`) {
		t.Fatalf("%s %v", out, err)
	}
	var bad Policy
	json.Unmarshal([]byte(`{"network":{"deny":["example.com"]}}`), &bad)
	var pe *PolicyError
	if err := bad.Validate(); !errors.As(err, &pe) || pe.Field != "network.deny" {
		t.Fatalf("%v", err)
	}
}
