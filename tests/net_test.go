package tests

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sandlock-go/sandlock-go/sandlock"
)

// tcpCounter is a loopback TCP listener that records the connections it
// accepted (by the peer's address).
type tcpCounter struct {
	l        *net.TCPListener
	port     int
	mu       sync.Mutex
	accepted []string
	mark     int // accepted[:mark] were counted by settled already
}

func listenTCPOn(t *testing.T, addr string, reuseport bool) *tcpCounter {
	t.Helper()
	lc := net.ListenConfig{}
	if reuseport {
		lc.Control = func(_, _ string, c syscall.RawConn) error {
			return c.Control(func(fd uintptr) { unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1) })
		}
	}
	l, err := lc.Listen(t.Context(), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c := &tcpCounter{l: l.(*net.TCPListener), port: l.Addr().(*net.TCPAddr).Port}
	go func() {
		for {
			conn, err := c.l.Accept()
			if err != nil {
				return
			}
			c.mu.Lock()
			c.accepted = append(c.accepted, conn.RemoteAddr().String())
			c.mu.Unlock()
			conn.Write([]byte("y")) // a greeting, for clients that wait to be accepted
			conn.Close()
		}
	}()
	t.Cleanup(func() { c.l.Close() })
	return c
}

// settled returns the number of connections accepted since the last call,
// up to a sentinel connection made now: the accept queue is FIFO, so every
// connection the sandbox completed before is counted, without waiting for
// a fixed time.
func (c *tcpCounter) settled(t *testing.T) int {
	t.Helper()
	// From 127.0.0.3, which the sandboxes never use: its address is
	// unique in the accept log (their ports are recycled quickly).
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 3)}}
	s, err := d.Dial("tcp", c.l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	sentinel := s.LocalAddr().String()
	s.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c.mu.Lock()
		for i := c.mark; i < len(c.accepted); i++ {
			if c.accepted[i] == sentinel {
				n := i - c.mark
				c.mark = i + 1
				c.mu.Unlock()
				return n
			}
		}
		c.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatal("listener never accepted the sentinel connection")
		}
		time.Sleep(time.Millisecond)
	}
}

// udpCounter is a loopback UDP socket that records the datagrams it got.
type udpCounter struct {
	c    *net.UDPConn
	port int
}

func listenUDP(t *testing.T, addr string) *udpCounter {
	t.Helper()
	c, err := net.ListenPacket("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &udpCounter{c: c.(*net.UDPConn), port: c.LocalAddr().(*net.UDPAddr).Port}
}

// got returns the payloads received before a sentinel datagram sent now.
func (u *udpCounter) got(t *testing.T) []string {
	t.Helper()
	s, err := net.Dial("udp", u.c.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	s.Write([]byte("sentinel"))
	s.Close()
	var out []string
	buf := make([]byte, 2048)
	u.c.SetReadDeadline(time.Now().Add(20 * time.Second))
	for {
		n, _, err := u.c.ReadFrom(buf)
		if err != nil {
			t.Fatalf("udp listener: %v (got %v)", err, out)
		}
		if string(buf[:n]) == "sentinel" {
			return out
		}
		out = append(out, string(buf[:n]))
	}
}

// netExpect runs the probe under p and checks each op's result.
func netExpect(t *testing.T, p sandlock.Policy, cases [][2]string) {
	t.Helper()
	var ops []string
	for _, c := range cases {
		ops = append(ops, c[0])
	}
	res := probe(t, p, ops...)
	for _, c := range cases {
		if res[c[0]] != c[1] {
			t.Errorf("%s: %q, want %q", c[0], res[c[0]], c[1])
		}
	}
}

// TestNetTCPExactAddress: allowing 127.0.0.1:P does not allow 127.0.0.2:P
// (same port, same loopback): that connect is refused and its listener
// sees nothing, while the allowed listener counts every connection,
// from IPv4 and IPv6 (mapped) sockets, blocking and non-blocking.
func TestNetTCPExactAddress(t *testing.T) {
	good := listenTCPOn(t, "127.0.0.1:0", false)
	bad := listenTCPOn(t, fmt.Sprintf("127.0.0.2:%d", good.port), false)
	P := strconv.Itoa(good.port)
	p := base()
	p.Network.Allow = []string{"127.0.0.1:" + P}
	netExpect(t, p, [][2]string{
		{"tcp:4:127.0.0.1:" + P, "OK"},
		{"tcpnb:4:127.0.0.1:" + P, "OK"},
		{"tcp:6:__ffff_127.0.0.1:" + P, "OK"},
		{"tcp:4:127.0.0.2:" + P, "ECONNREFUSED"},
		{"tcpnb:4:127.0.0.2:" + P, "error non-blocking connect: connection refused, want EINPROGRESS"},
		{"tcp:6:__ffff_127.0.0.2:" + P, "ECONNREFUSED"},
		// 0.0.0.0 and :: reach local listeners too, but are not the
		// address the rule names.
		{"tcp:4:0.0.0.0:" + P, "ECONNREFUSED"},
		{"tcp:6:__:" + P, "ECONNREFUSED"},
	})
	if n := good.settled(t); n != 3 {
		t.Errorf("allowed listener accepted %d connections, want 3", n)
	}
	if n := bad.settled(t); n != 0 {
		t.Errorf("denied listener accepted %d connections, want 0", n)
	}
	// The rule written as IPv4-mapped IPv6 matches the IPv4 destination.
	p.Network.Allow = []string{fmt.Sprintf("[::ffff:127.0.0.2]:%s", P)}
	netExpect(t, p, [][2]string{
		{"tcp:4:127.0.0.2:" + P, "OK"},
		{"tcp:4:127.0.0.1:" + P, "ECONNREFUSED"},
	})
	if n := bad.settled(t); n != 1 {
		t.Errorf("listener of the mapped rule accepted %d, want 1", n)
	}
	if n := good.settled(t); n != 0 {
		t.Errorf("listener outside the mapped rule accepted %d, want 0", n)
	}
}

// TestNetTCPDefault: without rules TCP connect is Landlock's EACCES and
// TCP Fast Open (which Landlock's connect hook does not see) is refused
// by the filter; with a rule both reach the listener.
func TestNetTCPDefault(t *testing.T) {
	l := listenTCPOn(t, "127.0.0.1:0", false)
	P := strconv.Itoa(l.port)
	netExpect(t, base(), [][2]string{
		{"tcp:4:127.0.0.1:" + P, "EACCES"},
		{"tfo:4:127.0.0.1:" + P, "ENOTSUP"}, // EOPNOTSUPP
		{"sock:4:2:0", "EPERM"},             // no UDP socket
	})
	if n := l.settled(t); n != 0 {
		t.Fatalf("listener accepted %d connections from a sandbox without rules", n)
	}
	p := base()
	p.Network.Allow = []string{"tcp://127.0.0.1:" + P}
	netExpect(t, p, [][2]string{
		{"tcp:4:127.0.0.1:" + P, "OK"},
		{"tfo:4:127.0.0.1:" + P, "OK"},
		{"sock:4:2:0", "EPERM"}, // tcp:// allows no UDP
	})
	if n := l.settled(t); n != 2 {
		t.Fatalf("listener accepted %d connections, want 2", n)
	}
}

// TestNetLandlockOnly: tcp:// rules on any address are Landlock's port
// rules alone (no supervisor): other ports are EACCES, TCP Fast Open is
// refused by the filter (Landlock does not see it), the port reaches the
// listener.
func TestNetLandlockOnly(t *testing.T) {
	l := listenTCPOn(t, "127.0.0.1:0", false)
	other := listenTCPOn(t, "127.0.0.1:0", false)
	p := base()
	p.Network.Allow = []string{fmt.Sprintf("tcp://*:%d", l.port)}
	netExpect(t, p, [][2]string{
		{fmt.Sprintf("tcp:4:127.0.0.1:%d", l.port), "OK"},
		{fmt.Sprintf("tcp:4:127.0.0.2:%d", l.port), "ECONNREFUSED"}, // allowed, but nothing listens there
		{fmt.Sprintf("tcp:4:127.0.0.1:%d", other.port), "EACCES"},
		{fmt.Sprintf("tfo:4:127.0.0.1:%d", other.port), "ENOTSUP"},
		{"sock:4:2:0", "EPERM"},
	})
	if n := l.settled(t); n != 1 {
		t.Errorf("listener accepted %d, want 1", n)
	}
	if n := other.settled(t); n != 0 {
		t.Errorf("other listener accepted %d", n)
	}
}

// TestNetTFODeniedPort: a TCP Fast Open send is a connect and is checked
// as one.
func TestNetTFODeniedPort(t *testing.T) {
	good := listenTCPOn(t, "127.0.0.1:0", false)
	bad := listenTCPOn(t, "127.0.0.1:0", false)
	p := base()
	p.Network.Allow = []string{fmt.Sprintf("127.0.0.1:%d", good.port)}
	netExpect(t, p, [][2]string{
		{fmt.Sprintf("tfo:4:127.0.0.1:%d", bad.port), "ECONNREFUSED"},
		{fmt.Sprintf("tfo:6:__ffff_127.0.0.1:%d", bad.port), "ECONNREFUSED"},
		{fmt.Sprintf("tfo:4:127.0.0.1:%d", good.port), "OK"},
	})
	if n := bad.settled(t); n != 0 {
		t.Errorf("denied listener accepted %d", n)
	}
	if n := good.settled(t); n != 1 {
		t.Errorf("allowed listener accepted %d, want 1", n)
	}
}

// TestNetConnectRace: a thread flips the sockaddr between an allowed and a
// denied port while another connects 20 000 times. The supervisor decides
// on its copy and connects with it, so the denied listener never sees a
// connection, and the allowed one sees exactly those reported OK.
func TestNetConnectRace(t *testing.T) {
	good := listenTCPOn(t, "127.0.0.1:0", false)
	bad := listenTCPOn(t, "127.0.0.1:0", false)
	p := base()
	p.Network.Allow = []string{fmt.Sprintf("127.0.0.1:%d", good.port)}
	op := fmt.Sprintf("race:127.0.0.1:%d:%d:20000", good.port, bad.port)
	res := probe(t, p, op)[op]
	var ok, refused int
	if _, err := fmt.Sscanf(res, "error ok=%d refused=%d", &ok, &refused); err != nil || ok+refused != 20000 {
		t.Fatalf("race: %q", res)
	}
	if n := bad.settled(t); n != 0 {
		t.Fatalf("denied listener accepted %d connections during the race", n)
	}
	if n := good.settled(t); n != ok {
		t.Fatalf("allowed listener accepted %d, the program connected %d", n, ok)
	}
	if ok == 0 || refused == 0 {
		t.Logf("race never hit one side (ok=%d refused=%d)", ok, refused)
	}
}

// TestNetUDP: sendto, sendmsg with msg_name, a connected socket sending
// with an explicit address, and sendmmsg [ok, bad, ok] are each checked;
// only the allowed destination receives anything.
func TestNetUDP(t *testing.T) {
	good := listenUDP(t, "127.0.0.1:0")
	bad := listenUDP(t, "127.0.0.1:0")
	G, B := strconv.Itoa(good.port), strconv.Itoa(bad.port)
	p := base()
	p.Network.Allow = []string{"udp://127.0.0.1:" + G}
	netExpect(t, p, [][2]string{
		{"udp:4:127.0.0.1:" + G, "OK"},
		{"udp:4:127.0.0.1:" + B, "ECONNREFUSED"},
		{"udp:6:__ffff_127.0.0.1:" + G, "OK"},
		{"udpmsg:4:127.0.0.1:" + G, "OK"},
		{"udpmsg:4:127.0.0.1:" + B, "ECONNREFUSED"},
		{"udpconn:4:127.0.0.1:" + G + ":127.0.0.1:" + B, "ECONNREFUSED"},
		{"udpconn:4:127.0.0.1:" + B + ":127.0.0.1:" + G, "error connect: connection refused"},
		{"udpmmsg:4:127.0.0.1:" + G + "," + B + "," + G, "error sent=1 lens=2,0,0"},
		{"udpmmsg:4:127.0.0.1:" + B + "," + G, "ECONNREFUSED"},
		{"udpmmsg:4:127.0.0.1:" + G + "," + G, "error sent=2 lens=2,2"},
		{"udpdisc:4:127.0.0.1:" + G, "EDESTADDRREQ"},
		{"tcp:4:127.0.0.1:" + G, "ECONNREFUSED"}, // udp:// allows no TCP
		{"sock:4:2:17", "OK"},
		{"sock:4:2:136", "EPERM"}, // UDP-Lite
	})
	want := []string{"sendto", "sendto", "sendmsg", "conn", "m0", "m0", "m1"}
	if got := good.got(t); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("allowed destination got %q, want %q", got, want)
	}
	if got := bad.got(t); len(got) != 0 {
		t.Errorf("denied destination got %q", got)
	}
}

// TestNetProtocols: MPTCP and SCTP streams are refused (Landlock's TCP
// rights do not cover them), plain TCP is not; source-routing options are
// refused, other IP options are not.
func TestNetProtocols(t *testing.T) {
	p := base()
	p.Network.Allow = []string{"*"}
	netExpect(t, p, [][2]string{
		{"sock:4:1:0", "OK"},
		{"sock:6:1:6", "OK"},
		{"sock:4:1:262", "EPERM"}, // IPPROTO_MPTCP
		{"sock:4:1:132", "EPERM"}, // IPPROTO_SCTP
		{"sock:6:5:132", "EPERM"}, // SOCK_SEQPACKET SCTP
		// Source routing would send packets to an unchecked first hop.
		{"srcroute:v4", "EPERM"},
		{"srcroute:v6", "EPERM"},
		{"srcroute:tos", "OK"},
	})
}

// TestNetDenyMode: --net-deny allows everything but the listed
// destinations; --net-deny-private refuses loopback too.
func TestNetDenyMode(t *testing.T) {
	one := listenTCPOn(t, "127.0.0.1:0", false)
	two := listenTCPOn(t, fmt.Sprintf("127.0.0.2:%d", one.port), false)
	P := strconv.Itoa(one.port)
	p := base()
	p.Network.Deny = []string{"127.0.0.2/32"}
	netExpect(t, p, [][2]string{
		{"tcp:4:127.0.0.1:" + P, "OK"},
		{"tcp:4:127.0.0.2:" + P, "ECONNREFUSED"},
	})
	if n := one.settled(t); n != 1 {
		t.Errorf("allowed listener accepted %d, want 1", n)
	}
	if n := two.settled(t); n != 0 {
		t.Errorf("denied listener accepted %d", n)
	}
	p = base()
	p.Network.Allow = []string{"*"}
	p.Network.DenyPrivate = true
	netExpect(t, p, [][2]string{
		{"tcp:4:127.0.0.1:" + P, "ECONNREFUSED"},
		{"tcp:6:__1:" + P, "ECONNREFUSED"},
		{"tcp:4:0.0.0.0:" + P, "ECONNREFUSED"},
		{"udp:4:169.254.169.254:80", "ECONNREFUSED"},
		{"udp:6:fd00_ec2__254:80", "ECONNREFUSED"},
	})
	if n := one.settled(t); n != 0 {
		t.Errorf("listener accepted %d under --net-deny-private", n)
	}
}

// TestNetHostname: a host name is resolved once at Create and allows its
// addresses only.
func TestNetHostname(t *testing.T) {
	l := listenTCPOn(t, "127.0.0.1:0", false)
	other := listenTCPOn(t, fmt.Sprintf("127.0.0.2:%d", l.port), false)
	P := strconv.Itoa(l.port)
	p := base()
	p.Network.Allow = []string{"localhost:" + P}
	netExpect(t, p, [][2]string{
		{"tcp:4:127.0.0.1:" + P, "OK"},
		{"tcp:4:127.0.0.2:" + P, "ECONNREFUSED"},
	})
	if n := l.settled(t); n != 1 {
		t.Errorf("listener accepted %d, want 1", n)
	}
	if n := other.settled(t); n != 0 {
		t.Errorf("other listener accepted %d", n)
	}
	// localhost:* allows every port of the pinned addresses only.
	p.Network.Allow = []string{"localhost:*"}
	netExpect(t, p, [][2]string{
		{"tcp:4:127.0.0.1:" + P, "OK"},
		{"tcp:6:__1:1", "ECONNREFUSED"}, // allowed (::1 is localhost), nothing listens
		{"tcp:4:127.0.0.2:" + P, "ECONNREFUSED"},
	})
	if n := l.settled(t); n != 1 {
		t.Errorf("listener accepted %d, want 1", n)
	}
	if n := other.settled(t); n != 0 {
		t.Errorf("other listener accepted %d", n)
	}
	p.Network.Allow = []string{"no-such-host.invalid:80"}
	err := sandlock.Command(p, "/bin/true").Run()
	if err == nil || !strings.Contains(err.Error(), `"no-such-host.invalid:80"`) {
		t.Fatalf("unresolvable host: %v", err)
	}
}

// TestNetBind: binds are checked on behalf: a port outside network.bind
// is EACCES for TCP and UDP, a listed one works; a SO_REUSEPORT socket
// cannot join a port a host service holds.
func TestNetBind(t *testing.T) {
	allowed, other := freePort(t), freePort(t)
	A, O := strconv.Itoa(allowed), strconv.Itoa(other)
	p := base()
	p.Network.Allow = []string{"udp://127.0.0.1:9"}
	p.Network.Bind = []string{A}
	netExpect(t, p, [][2]string{
		{"tbind:4:127.0.0.1:" + A, "OK"},
		{"tbind:4:127.0.0.1:" + O, "EACCES"},
		{"ubind:4:127.0.0.1:" + A, "OK"},
		{"ubind:4:127.0.0.1:" + O, "EACCES"},
		{"ubind:6:__1:" + O, "EACCES"},
	})
	p.Network.Bind = nil
	p.Network.DenyBind = []string{O}
	netExpect(t, p, [][2]string{
		{"ubind:4:127.0.0.1:" + A, "OK"},
		{"ubind:4:127.0.0.1:" + O, "EACCES"},
		{"tbind:4:127.0.0.1:" + O, "EACCES"},
		{"tbind:4:127.0.0.1:" + A, "OK"},
		{"ubind:4:127.0.0.1:80", "EACCES"}, // privileged: the sandbox has no capability
	})
	host := listenTCPOn(t, "127.0.0.1:0", true)
	H := strconv.Itoa(host.port)
	netExpect(t, p, [][2]string{
		{"tbind:4:127.0.0.1:" + H + ":reuseport", "EADDRINUSE"},
		{"tbind:4:127.0.0.1:" + A + ":reuseport", "OK"},
	})
}

// TestNetCLIErrors: malformed specs are errors before anything runs, naming
// the flag and quoting the spec.
func TestNetCLIErrors(t *testing.T) {
	if _, err := exec.LookPath("true"); err != nil {
		t.Skip("no true(1)")
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--net-allow", "10.0.0.0/33:80"}, `--net-allow "10.0.0.0/33:80": prefix length /33 is out of range for IPv4`},
		{[]string{"--net-allow", "host:0"}, `"host:0": port 0 is not a destination`},
		{[]string{"--net-allow", "::1:80"}, `ambiguous IPv6 address`},
		{[]string{"--net-deny", "example.com"}, `--net-deny "example.com": deny targets must be IP addresses`},
		{[]string{"--net-allow", "*", "--net-deny", "10.0.0.0/8"}, `mutually exclusive`},
		{[]string{"--net-allow-bind", "80", "--net-deny-bind", "81"}, `mutually exclusive`},
	} {
		_, stderr, code := cli(t, append(append([]string{"run"}, tc.args...), "--", "true")...)
		if code != 125 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 125 and %q", tc.args, code, stderr, tc.want)
		}
	}
}

// TestNetCLI: the flags reach the policy: bash's /dev/tcp connect under
// --net-allow reaches the allowed listener only; --net-deny-private
// refuses loopback.
func TestNetCLI(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	l := listenTCPOn(t, "127.0.0.1:0", false)
	other := listenTCPOn(t, fmt.Sprintf("127.0.0.2:%d", l.port), false)
	P := strconv.Itoa(l.port)
	dial := func(addr string) string { return fmt.Sprintf("exec 3<>/dev/tcp/%s/%s && echo connected", addr, P) }
	for _, tc := range []cliCase{
		{name: "allowed", args: []string{"run", "--net-allow", "tcp://127.0.0.1:" + P, "--", bash, "-c", dial("127.0.0.1")}, code: 0, stdout: "connected\n"},
		{name: "other address", args: []string{"run", "--net-allow", "tcp://127.0.0.1:" + P, "--", bash, "-c", dial("127.0.0.2")}, code: 1, stderr: "Connection refused"},
		{name: "deny private", args: []string{"run", "--net-deny-private", "--", bash, "-c", dial("127.0.0.1")}, code: 1, stderr: "Connection refused"},
		{name: "deny other", args: []string{"run", "--net-deny", "127.0.0.2", "--", bash, "-c", dial("127.0.0.1")}, code: 0, stdout: "connected\n"},
	} {
		tc.check(t)
	}
	if n := l.settled(t); n != 2 {
		t.Errorf("listener accepted %d, want 2", n)
	}
	if n := other.settled(t); n != 0 {
		t.Errorf("other listener accepted %d", n)
	}
}

// TestNetGrandchild: a process the program starts is under the same
// network policy (its connects reach the same supervisor).
func TestNetGrandchild(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	l := listenTCPOn(t, "127.0.0.1:0", false)
	other := listenTCPOn(t, fmt.Sprintf("127.0.0.2:%d", l.port), false)
	P := strconv.Itoa(l.port)
	script := fmt.Sprintf(`bash -c 'exec 3<>/dev/tcp/127.0.0.1/%s && echo ok1'; bash -c 'exec 3<>/dev/tcp/127.0.0.2/%s && echo ok2' 2>/dev/null; echo done`, P, P)
	cliCase{name: "grandchild", args: []string{"run", "--net-allow", "127.0.0.1:" + P, "--", bash, "-c", script}, stdout: "ok1\ndone\n"}.check(t)
	if n := l.settled(t); n != 1 {
		t.Errorf("listener accepted %d, want 1", n)
	}
	if n := other.settled(t); n != 0 {
		t.Errorf("other listener accepted %d", n)
	}
}

// TestNetICMP: icmp:// rules allow echo requests from ping sockets to the
// listed hosts only; "*" (TCP and UDP) does not imply ICMP.
func TestNetICMP(t *testing.T) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMP)
	if err != nil {
		// net.ipv4.ping_group_range refuses ping sockets here. It is per
		// network namespace: rerun this test in a namespace of its own
		// where they are allowed.
		if os.Getenv("SANDLOCK_TEST_ICMP_NETNS") != "" {
			t.Fatalf("ping sockets refused inside the test's own namespace: %v", err)
		}
		sh, serr := exec.LookPath("unshare")
		if serr != nil || os.Geteuid() != 0 {
			t.Skipf("ping sockets refused by net.ipv4.ping_group_range (%v), and no unshare(1) as root to make a namespace", err)
		}
		self, _ := os.Executable()
		script := `ip link set lo up 2>/dev/null; echo "0 2147483647" > /proc/sys/net/ipv4/ping_group_range && exec "$0" -test.run '^TestNetICMP$' -test.count=1 -test.v`
		cmd := exec.Command(sh, "-n", "sh", "-c", script, self)
		cmd.Env = append(os.Environ(), "SANDLOCK_TEST_ICMP_NETNS=1")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: TestNetICMP") {
			t.Fatalf("in a new network namespace: %v\n%s", err, out)
		}
		return
	}
	unix.Close(fd)
	p := base()
	p.Network.Allow = []string{"icmp://127.0.0.1", "udp://127.0.0.1:9"}
	netExpect(t, p, [][2]string{
		{"ping:4:127.0.0.1", "OK"},
		{"ping:4:127.0.0.2", "ECONNREFUSED"},
		{"udp:4:127.0.0.1:9", "OK"},
	})
	p.Network.Allow = []string{"*"}
	netExpect(t, p, [][2]string{{"ping:4:127.0.0.1", "ECONNREFUSED"}})
}

// TestNetNoSupervisorTFO: --no-supervisor has no supervisor to check a TCP
// Fast Open send, so its filter refuses MSG_FASTOPEN (Landlock would not
// see the connect); a plain connect is still Landlock's.
func TestNetNoSupervisorTFO(t *testing.T) {
	l := listenTCPOn(t, "127.0.0.1:0", false)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	P := strconv.Itoa(l.port)
	out, stderr, code := cli(t, "run", "--no-supervisor", "--env", helperEnv+"=probe", "-r", self, "--", self,
		"tfo:4:127.0.0.1:"+P, "tcp:4:127.0.0.1:"+P)
	want := "tfo:4:127.0.0.1:" + P + ": ENOTSUP\ntcp:4:127.0.0.1:" + P + ": EACCES\n"
	if code != 0 || out != want {
		t.Fatalf("exit %d, stdout %q, stderr %q; want %q", code, out, stderr, want)
	}
	if n := l.settled(t); n != 0 {
		t.Fatalf("listener accepted %d connections", n)
	}
}

// TestNetSlowConnectDoesNotStall: a blocking connect on behalf that does
// not complete (its SYNs are dropped) hands the supervisor's receiving
// role to another thread, so another connect of the same sandbox goes
// through meanwhile.
func TestNetSlowConnectDoesNotStall(t *testing.T) {
	good := listenTCPOn(t, "127.0.0.1:0", false)
	// A listener whose accept queue is full: backlog 0 holds one
	// connection, which we make and never accept.
	lfd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(lfd)
	if err := unix.Bind(lfd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(lfd, 0); err != nil {
		t.Fatal(err)
	}
	sa, _ := unix.Getsockname(lfd)
	slow := sa.(*unix.SockaddrInet4).Port
	filler, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", slow))
	if err != nil {
		t.Fatal(err)
	}
	defer filler.Close()
	p := base()
	p.Network.Allow = []string{"tcp://127.0.0.1"}
	op := fmt.Sprintf("stall:%d:%d", slow, good.port)
	if got := probe(t, p, op)[op]; got != "error good,slow" {
		t.Fatalf("%s: %q, want the good connect to finish first", op, got)
	}
	if n := good.settled(t); n != 1 {
		t.Errorf("listener accepted %d, want 1", n)
	}
}
