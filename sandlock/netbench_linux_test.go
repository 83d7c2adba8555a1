//go:build linux

package sandlock

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// netHelperEnv makes the test binary the network benchmarks' program (run
// sandboxed or bare; it never confines the test process).
const netHelperEnv = "SANDLOCK_NET_BENCH_HELPER"

func init() {
	if os.Getenv(netHelperEnv) == "" {
		return
	}
	os.Exit(netHelper(os.Args[1:]))
}

// netHelper:
//
//	unixsend - N     N sendmsg+read of one byte on an AF_UNIX socketpair;
//	                 prints the nanoseconds taken
//	connect PORT N   N times: socket, connect to 127.0.0.1:PORT, close
//	                 (reset, no TIME_WAIT); prints the nanoseconds taken
//	serve PORT N     listens on 127.0.0.1:PORT, prints "ready", answers N
//	                 64-byte requests on one connection, prints the CPU
//	                 nanoseconds (user+system) of the serving thread
func netHelper(args []string) int {
	port, _ := strconv.Atoi(args[1]) // "-" where there is none
	n, _ := strconv.Atoi(args[2])
	sa := &unix.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}}
	switch args[0] {
	case "unixsend":
		// N sendmsg of one byte on an AF_UNIX datagram socketpair: the
		// cost of sendmsg being notified for every socket.
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			fmt.Println(err)
			return 1
		}
		b := []byte{1}
		t0 := time.Now()
		for range n {
			if _, err := unix.SendmsgN(fds[0], b, nil, nil, 0); err != nil {
				fmt.Println("sendmsg:", err)
				return 1
			}
			unix.Read(fds[1], b)
		}
		fmt.Println(time.Since(t0).Nanoseconds())
	case "connect":
		t0 := time.Now()
		for range n {
			fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				fmt.Println(err)
				return 1
			}
			if err := unix.Connect(fd, sa); err != nil {
				fmt.Println("connect:", err)
				return 1
			}
			unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1})
			unix.Close(fd)
		}
		fmt.Println(time.Since(t0).Nanoseconds())
	case "serve":
		lfd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err == nil {
			unix.SetsockoptInt(lfd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
			err = unix.Bind(lfd, sa)
		}
		if err == nil {
			err = unix.Listen(lfd, 1)
		}
		if err != nil {
			fmt.Println("listen:", err)
			return 1
		}
		fmt.Println("ready")
		fd, _, err := unix.Accept(lfd)
		if err != nil {
			fmt.Println("accept:", err)
			return 1
		}
		buf := make([]byte, 64)
		// The serving thread's own CPU clock: nanosecond resolution,
		// unlike getrusage's ticks.
		runtime.LockOSThread()
		var t0, t1 unix.Timespec
		unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &t0)
		for range n {
			for got := 0; got < len(buf); {
				m, err := unix.Read(fd, buf[got:])
				if err != nil || m == 0 {
					fmt.Println("read:", err)
					return 1
				}
				got += m
			}
			if _, err := unix.Write(fd, buf); err != nil {
				fmt.Println("write:", err)
				return 1
			}
		}
		unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &t1)
		fmt.Println(t1.Nano() - t0.Nano())
	}
	return 0
}

// netHelperCmd runs the helper sandboxed under p, or bare when p is nil,
// with stdout to w.
func netHelperStart(t testing.TB, p *Policy, w io.Writer, args ...string) (wait func() error) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), netHelperEnv+"=1")
	if p == nil {
		c := exec.Command(self, args...)
		c.Env, c.Stdout, c.Stderr = env, w, w
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		return c.Wait
	}
	q := *p
	q.Filesystem.Read = append(q.Filesystem.Read, self)
	q.Filesystem.ReadIfExists = append(q.Filesystem.ReadIfExists, SystemPaths...)
	sb := Command(q, self, args...)
	sb.Env, sb.Stdout, sb.Stderr = env, w, w
	if err := sb.Create(); err != nil {
		t.Fatal(err)
	}
	if err := sb.Start(); err != nil {
		t.Fatal(err)
	}
	return sb.Wait
}

// acceptAll accepts and drops connections on l until it is closed.
func acceptAll(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		c.Close()
	}
}

// BenchmarkNetConnect: connect() to an allowed loopback listener, bare,
// under a port-only TCP rule (Landlock alone, no supervisor), and under an
// address rule (checked and connected on behalf by the supervisor),
// interleaved; medians per connect (socket+connect+close) and the on-behalf
// overhead.
func BenchmarkNetConnect(b *testing.B) {
	const calls = 2000
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	go acceptAll(l)
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	measure := func(p *Policy) float64 {
		var out bytes.Buffer
		if err := netHelperStart(b, p, &out, "connect", port, strconv.Itoa(calls))(); err != nil {
			b.Fatalf("%v: %s", err, out.String())
		}
		ns, err := strconv.ParseFloat(strings.TrimSpace(out.String()), 64)
		if err != nil {
			b.Fatalf("helper: %q", out.String())
		}
		return ns / calls
	}
	landlock := &Policy{Network: Network{Allow: []string{"tcp://*:" + port}}}
	onBehalf := &Policy{Network: Network{Allow: []string{"tcp://127.0.0.1:" + port}}}
	var bare, ll, ob, over, ratio []float64
	for b.Loop() {
		x, y, z := measure(nil), measure(landlock), measure(onBehalf)
		bare, ll, ob = append(bare, x), append(ll, y), append(ob, z)
		over, ratio = append(over, z-x), append(ratio, z/x)
	}
	b.ReportMetric(median(bare), "ns/connect-bare")
	b.ReportMetric(median(ll), "ns/connect-landlock")
	b.ReportMetric(median(ob), "ns/connect-onbehalf")
	b.ReportMetric(median(over), "ns-overhead-onbehalf")
	b.ReportMetric(median(ratio), "onbehalf/bare")
}

// BenchmarkNetUnixSendmsg: sendmsg on an AF_UNIX socket, bare and in a
// sandbox whose network policy makes the supervisor handle sendmsg (it
// answers CONTINUE for AF_UNIX after pinning the socket).
func BenchmarkNetUnixSendmsg(b *testing.B) {
	const calls = 5000
	measure := func(p *Policy) float64 {
		var out bytes.Buffer
		if err := netHelperStart(b, p, &out, "unixsend", "-", strconv.Itoa(calls))(); err != nil {
			b.Fatalf("%v: %s", err, out.String())
		}
		ns, err := strconv.ParseFloat(strings.TrimSpace(out.String()), 64)
		if err != nil {
			b.Fatalf("helper: %q", out.String())
		}
		return ns / calls
	}
	plain := &Policy{}
	netPolicy := &Policy{Network: Network{Allow: []string{"127.0.0.1:9"}}}
	var p0, p1, over []float64
	for b.Loop() {
		x, y := measure(plain), measure(netPolicy)
		p0, p1, over = append(p0, x), append(p1, y), append(over, y-x)
	}
	b.ReportMetric(median(p0), "ns/sendmsg-sandbox")
	b.ReportMetric(median(p1), "ns/sendmsg-netpolicy")
	b.ReportMetric(median(over), "ns-overhead")
}

// BenchmarkNetServer: a request/response TCP server (64-byte requests on
// one connection) sandboxed with a bind rule and an allow rule (so the
// network supervisor is on) against the same server bare, interleaved; the
// metric is the server's CPU time per request and the median ratio.
func BenchmarkNetServer(b *testing.B) {
	const requests = 20000
	measure := func(p *Policy) float64 {
		port := freeTCPPort(b)
		var out syncBuffer
		q := p
		if q != nil {
			c := *p
			c.Network.Bind = []string{strconv.Itoa(port)}
			q = &c
		}
		wait := netHelperStart(b, q, &out, "serve", strconv.Itoa(port), strconv.Itoa(requests))
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(out.String(), "ready") {
			if time.Now().After(deadline) {
				b.Fatalf("server: %q", out.String())
			}
			time.Sleep(time.Millisecond)
		}
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			b.Fatal(err)
		}
		req := make([]byte, 64)
		for range requests {
			if _, err := c.Write(req); err != nil {
				b.Fatal(err)
			}
			if _, err := io.ReadFull(c, req); err != nil {
				b.Fatal(err)
			}
		}
		c.Close()
		if err := wait(); err != nil {
			b.Fatalf("%v: %s", err, out.String())
		}
		lines := strings.Fields(out.String())
		ns, err := strconv.ParseFloat(lines[len(lines)-1], 64)
		if err != nil {
			b.Fatalf("server: %q", out.String())
		}
		return ns / requests
	}
	sandboxed := &Policy{Network: Network{Allow: []string{"127.0.0.1:9"}}}
	var bare, sb, ratio []float64
	for b.Loop() {
		x, y := measure(nil), measure(sandboxed)
		bare, sb, ratio = append(bare, x), append(sb, y), append(ratio, y/x)
	}
	b.ReportMetric(median(bare), "cpu-ns/req-bare")
	b.ReportMetric(median(sb), "cpu-ns/req-sandboxed")
	b.ReportMetric(median(ratio), "sandboxed/bare")
}

func freeTCPPort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestNetBenchHelpers runs both benchmarks' paths once so that every test
// run exercises them.
func TestNetBenchHelpers(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go acceptAll(l)
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	for _, p := range []*Policy{nil, {Network: Network{Allow: []string{"tcp://*:" + port}}}, {Network: Network{Allow: []string{"127.0.0.1:" + port}}}} {
		var out bytes.Buffer
		if err := netHelperStart(t, p, &out, "connect", port, "10")(); err != nil {
			t.Fatalf("%v: %v %s", p, err, out.String())
		}
	}
}

// TestNetPortRulesWithoutLandlockNet: on a kernel whose Landlock cannot
// enforce TCP ports (simulated ABI 3, best-effort mode), tcp:// port rules
// are enforced by the supervisor: a listening port outside the rule is
// refused, the allowed one connects.
func TestNetPortRulesWithoutLandlockNet(t *testing.T) {
	simulateABI(t, 3)
	allowed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer allowed.Close()
	go acceptAll(allowed)
	other, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	go acceptAll(other)
	port := func(l net.Listener) string { return strconv.Itoa(l.Addr().(*net.TCPAddr).Port) }
	p := &Policy{Network: Network{Allow: []string{"tcp://*:" + port(allowed)}}, BestEffort: true}
	for _, tc := range []struct {
		port, want string
	}{{port(allowed), ""}, {port(other), "connect: connection refused"}} {
		var out bytes.Buffer
		err := netHelperStart(t, p, &out, "connect", tc.port, "1")()
		got := strings.TrimSpace(out.String())
		if tc.want == "" && err != nil || tc.want != "" && got != tc.want {
			t.Errorf("port %s: %v %q, want %q", tc.port, err, got, tc.want)
		}
	}
}
