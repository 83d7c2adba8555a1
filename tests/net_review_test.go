package tests

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/sandlock-go/sandlock-go/sandlock"
)

// runPythonArgs runs python3 -c script args... in a sandbox and returns
// its stdout, trimmed.
func runPythonArgs(t *testing.T, policy sandlock.Policy, script string, args ...string) string {
	t.Helper()
	py := requirePython(t)
	out, errs, err := run(t, sandlock.Command(policy, py, append([]string{"-c", script}, args...)...))
	if err != nil {
		t.Fatalf("python: %v\nstdout: %s\nstderr: %s", err, out, errs)
	}
	return strings.TrimSpace(out)
}

// Attacks on the network layer found by review (docs/notes-net-review.md),
// each with its positive twin.

// pySwapRace: one thread keeps swapping a fresh INET socket and an AF_UNIX
// socket onto fd 100 (dup2), the main thread calls connect (mode connect)
// or sendto with MSG_FASTOPEN (mode tfo) on fd 100 with the destination
// argv[2]:argv[3], argv[4] times. The supervisor pins fd 100, sees AF_UNIX
// and lets the kernel run the call, which looks fd 100 up again: a TCP
// socket swapped in meanwhile is connected without a check. Prints how
// many calls succeeded, then the result of a plain connect to argv[5]:
// argv[6] (the twin: allowed destinations still work).
const pySwapRace = `
import ctypes, socket, struct, sys, threading
mode, host, port, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
libc = ctypes.CDLL(None, use_errno=True)
X = 100
u = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
sin = struct.pack('=H', socket.AF_INET) + struct.pack('!H', port) + socket.inet_aton(host) + bytes(8)
buf = ctypes.create_string_buffer(sin, 16)
stop = False
def flipper():
    while not stop:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        libc.dup2(s.fileno(), X)
        s.close()
        libc.dup2(u.fileno(), X)
libc.dup2(u.fileno(), X)
t = threading.Thread(target=flipper)
t.start()
ok = 0
for i in range(n):
    if mode == 'connect':
        r = libc.connect(X, buf, 16)
    else:
        r = libc.sendto(X, b'x', 1, 0x20000000, buf, 16)
    if r >= 0:
        ok += 1
stop = True
t.join()
try:
    socket.create_connection((sys.argv[5], int(sys.argv[6])), timeout=10).close()
    twin = 'ok'
except OSError as e:
    twin = str(e.errno)
print('swapped', ok, 'twin', twin)
`

// TestNetFdSwapRace: a TCP socket swapped onto an fd the supervisor saw as
// AF_UNIX reaches no destination the policy refuses: neither by connect
// (Landlock's port backstop allowed every address on an allowed port, and
// everything in deny mode) nor by TCP Fast Open (which Landlock never
// sees). The denied listener accepts nothing; the allowed one still works.
func TestNetFdSwapRace(t *testing.T) {
	good := listenTCPOn(t, "127.0.0.1:0", false)
	bad := listenTCPOn(t, fmt.Sprintf("127.0.0.2:%d", good.port), false)
	P := strconv.Itoa(good.port)
	for _, c := range []struct {
		name, mode  string
		allow, deny []string
	}{
		{"deny list, connect", "connect", nil, []string{"127.0.0.2"}},
		{"allow list, same port, connect", "connect", []string{"127.0.0.1:" + P}, nil},
		{"allow list, TFO", "tfo", []string{"127.0.0.1:" + P}, nil},
	} {
		p := base()
		p.Network.Allow, p.Network.Deny = c.allow, c.deny
		out := runPythonArgs(t, p, pySwapRace, c.mode, "127.0.0.2", P, "3000", "127.0.0.1", P)
		if out != "swapped 0 twin ok" {
			t.Errorf("%s: %q, want %q", c.name, out, "swapped 0 twin ok")
		}
		if n := bad.settled(t); n != 0 {
			t.Errorf("%s: denied listener accepted %d connections", c.name, n)
		}
		if n := good.settled(t); n != 1 {
			t.Errorf("%s: allowed listener accepted %d, want the twin's 1", c.name, n)
		}
	}
}

// TestNetDenyUnspecified: the kernel connects to 0.0.0.0 as to 127.0.0.1
// and to :: as to ::1, so a deny rule on loopback covers them; the twins
// (a loopback address the rule does not name) still connect.
func TestNetDenyUnspecified(t *testing.T) {
	v4 := listenTCPOn(t, "127.0.0.1:0", false)
	// The ::1 listener exists so that only the supervisor can refuse
	// (settled counts from 127.0.0.3, an IPv4 address: not here).
	v6 := listenTCPOn(t, "[::1]:0", false)
	P4, P6 := strconv.Itoa(v4.port), strconv.Itoa(v6.port)
	p := base()
	p.Network.Deny = []string{"127.0.0.1", "::1"}
	netExpect(t, p, [][2]string{
		{"tcp:4:0.0.0.0:" + P4, "ECONNREFUSED"},
		{"tcp:6:__ffff_0.0.0.0:" + P4, "ECONNREFUSED"},
		{"tcp:6:__:" + P6, "ECONNREFUSED"},
		{"udp:4:0.0.0.0:" + P4, "ECONNREFUSED"},
	})
	if n := v4.settled(t); n != 0 {
		t.Errorf("127.0.0.1 listener accepted %d through 0.0.0.0", n)
	}
	p.Network.Deny = []string{"127.0.0.2"}
	netExpect(t, p, [][2]string{
		{"tcp:4:0.0.0.0:" + P4, "OK"},
		{"tcp:6:__:" + P6, "OK"},
	})
	if n := v4.settled(t); n != 1 {
		t.Errorf("twin: 127.0.0.1 listener accepted %d, want 1", n)
	}
}

// pyV6Options sets IPv6 socket options on a UDP socket and prints each
// result: the two that reach a routing header without IPV6_RTHDR
// (IPV6_2292PKTOPTIONS with an IPV6_RTHDR control message, and a flow
// label request, IPV6_FLOWLABEL_MGR) and the twin IPV6_UNICAST_HOPS.
const pyV6Options = `
import socket, struct
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
rthdr = bytes([0, 2, 2, 1, 0, 0, 0, 0]) + socket.inet_pton(socket.AF_INET6, '::1')
cmsg = struct.pack('=Qii', 16 + len(rthdr), socket.IPPROTO_IPV6, 57) + rthdr
freq = socket.inet_pton(socket.AF_INET6, '::1') + struct.pack('=IBBHHHI', 0x12345, 0, 1, 1, 0, 0, 0)
out = []
for name, opt, val in [('pktoptions', 6, cmsg), ('flowlabel', 32, freq), ('hops', 16, struct.pack('i', 9))]:
    try:
        s.setsockopt(socket.IPPROTO_IPV6, opt, val)
        out.append(name + '=ok')
    except OSError as e:
        out.append(name + '=' + str(e.errno))
print(' '.join(out))
`

// TestNetIPv6OptionRoutes: the filter refuses IPV6_2292PKTOPTIONS and
// IPV6_FLOWLABEL_MGR (EPERM) where the supervisor checks destinations, as
// it refuses IPV6_RTHDR: both can attach a routing header (on kernels with
// Mobile IPv6), which sends packets to an address the check never saw.
// Other IPv6 options are untouched.
func TestNetIPv6OptionRoutes(t *testing.T) {
	p := base()
	p.Network.Allow = []string{"udp://[::1]:9"}
	out := runPython(t, p, pyV6Options)
	for _, want := range []string{"pktoptions=1", "flowlabel=1", "hops=ok"} {
		if !strings.Contains(out, want) {
			t.Errorf("%q: want %s", out, want)
		}
	}
}
