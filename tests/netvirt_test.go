package tests

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/sandlock-go/sandlock-go/sandlock"
)

// The virtual netlink tests (issue 6): a supervised sandbox sees a host
// whose only interface is lo through NETLINK_ROUTE; other netlink families
// and, without a supervisor, netlink itself are absent (EAFNOSUPPORT).
// limited(64) is the supervised policy (a process limit makes the
// supervisor); base() has none.

// runPython runs python3 -c script in a sandbox and returns its stdout.
func runPython(t *testing.T, policy sandlock.Policy, script string) string {
	t.Helper()
	py := requirePython(t)
	out, errs, err := run(t, sandlock.Command(policy, py, "-c", script))
	if err != nil {
		t.Fatalf("python: %v\nstdout: %s\nstderr: %s", err, out, errs)
	}
	return strings.TrimSpace(out)
}

const pyIfNameindex = `
import socket
try:
    print(repr(socket.if_nameindex()))
except OSError as e:
    print('ERRNO', e.errno)
`

// TestNetlinkIfNameindex: if_nameindex() (glibc: bind, getsockname,
// sendto RTM_GETLINK, recvmsg until NLMSG_DONE) lists only lo, in every
// sandbox (every sandbox has a supervisor).
func TestNetlinkIfNameindex(t *testing.T) {
	for name, p := range map[string]sandlock.Policy{"limited": limited(64), "base": base()} {
		if got := runPython(t, p, pyIfNameindex); got != "[(1, 'lo')]" {
			t.Errorf("%s: %q, want [(1, 'lo')]", name, got)
		}
	}
}

// TestNetlinkGetaddrinfoAddrconfig: AI_ADDRCONFIG (glibc's __check_pf
// dumps RTM_GETADDR) still finds IPv4 and IPv6 configured: the view has
// 127.0.0.1 and ::1. Without netlink glibc assumes both, too.
func TestNetlinkGetaddrinfoAddrconfig(t *testing.T) {
	const script = `
import socket
print(','.join(sorted({i[0].name for i in socket.getaddrinfo(None, 443, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE | socket.AI_ADDRCONFIG)})))
`
	for name, p := range map[string]sandlock.Policy{"limited": limited(64), "base": base()} {
		if got := runPython(t, p, script); got != "AF_INET,AF_INET6" {
			t.Errorf("%s: %q, want AF_INET,AF_INET6", name, got)
		}
	}
}

// TestNetlinkGo: Go's net.Interfaces and net.InterfaceAddrs (bind,
// getsockname, sendto, recvfrom, NLMSG_DONE) see lo with 127.0.0.1/8 and
// ::1/128 only; a conversation by hand gets what careful programs check
// (nlmsg_pid = getsockname's nl_pid = the pid, sequence numbers, EPERM for
// changes, ENODEV for other interfaces, FD_CLOEXEC, SOCK_NONBLOCK).
func TestNetlinkGo(t *testing.T) {
	checkOps(t, limited(64), []opCase{
		{"goifaces", "error ifaces=lo/1"},
		{"goaddrs", "error addrs=127.0.0.1/8,::1/128"},
		{"nlraw", "OK"},
		{"nlnonblock", "EAGAIN"},
		{"socket:16:3:0", "OK"},              // the twin of the denials below
		{"socket:16:2:0", "OK"},              // SOCK_DGRAM
		{"socket:16:1:0", "ESOCKTNOSUPPORT"}, // netlink has no streams
	})
}

// TestNetlinkOtherFamilies: netlink protocols other than NETLINK_ROUTE
// (audit, sock_diag, netfilter, generic, uevents, xfrm, ...) fail with
// EAFNOSUPPORT, supervised or not; NETLINK_ROUTE (the twin) works under a
// supervisor.
func TestNetlinkOtherFamilies(t *testing.T) {
	denied := []opCase{
		{"socket:16:3:9", "EAFNOSUPPORT"},  // NETLINK_AUDIT
		{"socket:16:3:4", "EAFNOSUPPORT"},  // NETLINK_SOCK_DIAG
		{"socket:16:3:12", "EAFNOSUPPORT"}, // NETLINK_NETFILTER
		{"socket:16:3:16", "EAFNOSUPPORT"}, // NETLINK_GENERIC
		{"socket:16:2:15", "EAFNOSUPPORT"}, // NETLINK_KOBJECT_UEVENT
		{"socket:16:3:6", "EAFNOSUPPORT"},  // NETLINK_XFRM
		{"socket:16:3:0x100000009", "EAFNOSUPPORT"},
		{"socketpair:16:3", "EAFNOSUPPORT"},
	}
	checkOps(t, limited(64), append(denied, opCase{"socket:16:3:0", "OK"}))
	checkOps(t, base(), append(denied, opCase{"socket:16:3:0", "OK"}))
}

// TestNetlinkIproute2: ip addr and ip link (iproute2's libnetlink checks
// the address length and family of getsockname and of every reply's
// source) show lo and nothing else.
func TestNetlinkIproute2(t *testing.T) {
	ip, err := exec.LookPath("ip")
	if err != nil {
		t.Skip("needs iproute2's ip")
	}
	for _, args := range [][]string{{"addr"}, {"link"}, {"-6", "addr"}, {"link", "show", "lo"}} {
		out, errs, err := run(t, sandlock.Command(limited(64), ip, args...))
		if err != nil {
			t.Fatalf("ip %v: %v\n%s%s", args, err, out, errs)
		}
		var ifaces []string
		for _, line := range strings.Split(out, "\n") {
			if line != "" && line[0] != ' ' {
				ifaces = append(ifaces, strings.Fields(line)[1])
			}
		}
		if len(ifaces) != 1 || ifaces[0] != "lo:" {
			t.Errorf("ip %v: interfaces %q\n%s", args, ifaces, out)
		}
		if args[0] == "addr" && (!strings.Contains(out, "inet 127.0.0.1/8 scope host lo") || !strings.Contains(out, "inet6 ::1/128 scope host")) {
			t.Errorf("ip addr:\n%s", out)
		}
	}
	out, errs, err := run(t, sandlock.Command(limited(64), ip, "link", "show", "eth0"))
	if err == nil || !strings.Contains(errs, `Device "eth0" does not exist.`) {
		t.Errorf("ip link show eth0: %v %q %q", err, out, errs)
	}
}

// TestNetlinkSocketsEndWithTheSandbox: sockets the program leaves open,
// and their servers, end with the sandbox: no fd of ours survives Wait.
func TestNetlinkSocketsEndWithTheSandbox(t *testing.T) {
	before := len(openFds())
	for range 3 {
		checkOps(t, limited(64), []opCase{{"nlmany:40", "OK"}})
	}
	if after := len(openFds()); after != before {
		t.Errorf("fds: %d before, %d after: %v", before, after, openFds())
	}
}

// TestSysClassNetDenied: /sys/class/net (one directory per host interface)
// is out of reach, even when the policy grants it (the /sys
// virtualisation denies it); the twin: another granted /sys directory
// is listed.
func TestSysClassNetDenied(t *testing.T) {
	checkOps(t, limited(64), []opCase{{"listdir:/sys/class/net", "EACCES"}})
	p := limited(64)
	p.Filesystem.Read = append(p.Filesystem.Read, "/sys/class/net", "/sys/devices")
	checkOps(t, p, []opCase{{"listdir:/sys/class/net", "EACCES"}})
	got := probe(t, p, "listdir:/sys/devices/system/cpu")["listdir:/sys/devices/system/cpu"]
	if !strings.HasPrefix(got, "error entries=") || !strings.Contains(got, "cpu0") {
		t.Errorf("granted /sys/devices/system/cpu: %q", got)
	}
}
