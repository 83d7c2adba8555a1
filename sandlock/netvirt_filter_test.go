package sandlock

import (
	"testing"

	"github.com/sandlock-go/sandlock-go/bpfasm"
)

// TestFilterNetlinkVirtual: with the virtual netlink on, NETLINK_ROUTE
// sockets and binds with a sockaddr_nl's length go to the supervisor, other
// netlink protocols fail with EAFNOSUPPORT, and nothing else changes (the
// base action of socket and bind stays ALLOW).
func TestFilterNetlinkVirtual(t *testing.T) {
	for _, goarch := range []string{"amd64", "arm64"} {
		a := archFor(goarch)
		cfg := filterConfig{arch: a, netlinkVirtual: true, notify: []string{"getsockname"}}
		_, in := mustCompile(t, cfg)
		for _, tc := range []struct {
			name string
			args [6]uint64
			want bpfasm.Action
		}{
			{"socket", [6]uint64{16, 3, 0}, refNotify},            // NETLINK_ROUTE raw
			{"socket", [6]uint64{16, 0x80802, 0}, refNotify},      // NETLINK_ROUTE dgram|CLOEXEC|NONBLOCK
			{"socket", [6]uint64{16, 3, 1 << 32}, refNotify},      // high bits of the protocol are ignored by the kernel
			{"socket", [6]uint64{16, 3, 9}, refEAFNOSUPP},         // NETLINK_AUDIT
			{"socket", [6]uint64{16, 3, 4}, refEAFNOSUPP},         // NETLINK_SOCK_DIAG
			{"socket", [6]uint64{16, 3, 12}, refEAFNOSUPP},        // NETLINK_NETFILTER
			{"socket", [6]uint64{16, 3, 16}, refEAFNOSUPP},        // NETLINK_GENERIC
			{"socket", [6]uint64{16 | 1<<32, 3, 9}, refEAFNOSUPP}, // high bits do not help
			{"socket", [6]uint64{1, 1, 0}, refAllow},              // AF_UNIX: not notified
			{"socket", [6]uint64{2, 1, 0}, refAllow},              // TCP: not notified
			{"socket", [6]uint64{2, 2, 0}, refEPERM},              // UDP still denied
			{"bind", [6]uint64{3, 0, 12}, refNotify},              // sockaddr_nl
			{"bind", [6]uint64{3, 0, 12 | 1<<32}, refNotify},      // the kernel takes an int
			{"bind", [6]uint64{3, 0, 16}, refAllow},               // sockaddr_in
			{"bind", [6]uint64{3, 0, 28}, refAllow},               // sockaddr_in6
			{"bind", [6]uint64{3, 0, 110}, refAllow},              // sockaddr_un
			{"getsockname", [6]uint64{3, 0, 0}, refNotify},        // always
			{"socketpair", [6]uint64{16, 3, 0}, refEAFNOSUPP},     // no netlink pairs
			{"getpeername", [6]uint64{3, 0, 0}, refAllow},         // untouched
			{"connect", [6]uint64{3, 0, 12}, refAllow},            // untouched
			{"sendto", [6]uint64{3, 0, 20, 0, 0, 12}, refAllow},   // untouched: SEQPACKET ignores the name
			{"recvmsg", [6]uint64{3, 0, 0}, refAllow},             // untouched
			{"setsockopt", [6]uint64{3, 270, 11, 0, 4}, refAllow}, // SOL_NETLINK options: the kernel answers
			{"ioctl", [6]uint64{3, 0x8933}, refEPERM},             // SIOCGIFINDEX still denied
			{"close", [6]uint64{3}, refAllow},                     // untouched
			{"getsockopt", [6]uint64{3, 1, 39}, refAllow},         // SO_DOMAIN: untouched
			{"read", [6]uint64{3}, refAllow},                      // untouched
			{"write", [6]uint64{3}, refAllow},                     // untouched
		} {
			nr, ok := a.nr(tc.name)
			if !ok {
				t.Fatalf("%s: no %s", goarch, tc.name)
			}
			d := bpfasm.SeccompData{Nr: int32(nr), Arch: a.audit, Args: tc.args}
			if got := bpfasm.Action(in.RunData(d)); got != tc.want {
				t.Errorf("%s: %s%#x: got %v, want %v", goarch, tc.name, tc.args[:3], got, tc.want)
			}
			if got := refVerdict(cfg, d); got != tc.want {
				t.Errorf("%s: reference model: %s%#x: got %v, want %v", goarch, tc.name, tc.args[:3], got, tc.want)
			}
		}
	}
}
