package sandlock

import (
	"net/netip"
	"testing"
)

// TestNetModelReviewCases: destinations found by review. 0.0.0.0 and ::
// are loopback to the kernel, so a deny rule on loopback covers them;
// multicast and limited broadcast reach the local network's hosts, so the
// private preset refuses them. Each has a twin that stays allowed.
func TestNetModelReviewCases(t *testing.T) {
	for _, tc := range []struct {
		name        string
		deny        []string
		private     bool
		addr        string
		port        uint16
		wantAllowed bool
	}{
		{"0.0.0.0 under deny 127.0.0.1", []string{"127.0.0.1"}, false, "0.0.0.0", 80, false},
		{":: under deny ::1", []string{"::1"}, false, "::", 80, false},
		{":: under deny 127.0.0.0/8 (v4-mapped socket)", []string{"127.0.0.0/8"}, false, "::", 80, false},
		{"mapped 0.0.0.0 under deny 127.0.0.1", []string{"127.0.0.1"}, false, "::ffff:0.0.0.0", 80, false},
		{"0.0.0.0 under deny 127.0.0.1:81 (other port)", []string{"127.0.0.1:81"}, false, "0.0.0.0", 80, true},
		{"twin: 0.0.0.0 under deny 10/8", []string{"10.0.0.0/8"}, false, "0.0.0.0", 80, true},
		{"multicast SSDP, private", nil, true, "239.255.255.250", 1900, false},
		{"mDNS, private", nil, true, "224.0.0.251", 5353, false},
		{"broadcast, private", nil, true, "255.255.255.255", 67, false},
		{"ff02::1, private", nil, true, "ff02::1", 547, false},
		{"twin: public, private", nil, true, "192.0.2.1", 80, true},
		{"twin: multicast without the preset", []string{"10.0.0.0/8"}, false, "224.0.0.251", 5353, true},
	} {
		p := &Policy{}
		p.Network.Deny, p.Network.DenyPrivate = tc.deny, tc.private
		if err := p.Validate(); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		m, err := p.buildNetModel(nil)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := m.allows(protoUDP, netip.MustParseAddr(tc.addr), tc.port); got != tc.wantAllowed {
			t.Errorf("%s: allows = %v, want %v", tc.name, got, tc.wantAllowed)
		}
	}
}
