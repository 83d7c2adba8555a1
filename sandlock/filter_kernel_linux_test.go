//go:build linux

package sandlock

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// filterHelperEnv makes the test binary a helper program: the sandboxed
// side of the tests and benchmarks below. It never confines the test
// process itself.
const filterHelperEnv = "SANDLOCK_FILTER_TEST_HELPER"

func init() {
	if os.Getenv(filterHelperEnv) == "" {
		return
	}
	os.Exit(filterHelper(os.Args[1:]))
}

// filterHelper runs one operation and prints its result:
//
//	socket DOMAIN TYPE PROTO    prints the errno name or OK
//	loop KIND N                 makes N calls of KIND (getpid, ioctl,
//	                            socket) and prints the nanoseconds taken
func filterHelper(args []string) int {
	num := func(i int) int {
		v, err := strconv.ParseInt(args[i], 0, 64)
		if err != nil {
			fmt.Println("bad number", args[i])
			os.Exit(2)
		}
		return int(v)
	}
	switch args[0] {
	case "socket":
		fd, err := unix.Socket(num(1), num(2), num(3))
		if err != nil {
			fmt.Println(unix.ErrnoName(err.(syscall.Errno)))
			return 0
		}
		unix.Close(fd)
		fmt.Println("OK")
		return 0
	case "loop":
		n := num(2)
		var call func() error
		switch args[1] {
		case "getpid":
			call = func() error { unix.Getpid(); return nil }
		case "getppid": // notified by the supervisor benchmark
			call = func() error { unix.Getppid(); return nil }
		case "ioctl": // FIONREAD on a pipe: an argument-filtered call
			var p [2]int
			if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
				fmt.Println(err)
				return 1
			}
			call = func() error { _, err := unix.IoctlGetInt(p[0], unix.TIOCINQ); return err } // TIOCINQ is FIONREAD
		case "socket": // socket(AF_UNIX) and close: socket is argument-filtered
			call = func() error {
				fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
				if err == nil {
					unix.Close(fd)
				}
				return err
			}
		case "mmap": // an anonymous writable mmap and its munmap (the memory limit's benchmark)
			call = func() error {
				m, err := unix.Mmap(-1, 0, 64<<10, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
				if err == nil {
					err = unix.Munmap(m)
				}
				return err
			}
		default:
			if call = netvirtHelperLoop(args[1]); call == nil {
				fmt.Println("unknown loop", args[1])
				return 2
			}
		}
		t0 := time.Now()
		for range n {
			if err := call(); err != nil {
				fmt.Println(err)
				return 1
			}
		}
		fmt.Println(time.Since(t0).Nanoseconds())
		return 0
	}
	fmt.Println("unknown helper op", args[0])
	return 2
}

// runFilterHelper runs the helper in a sandbox with policy p.
func runFilterHelper(t testing.TB, p Policy, args ...string) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p.Filesystem.Read = append(p.Filesystem.Read, self)
	p.Filesystem.ReadIfExists = append(p.Filesystem.ReadIfExists, SystemPaths...)
	sb := Command(p, self, args...)
	sb.Env = append(os.Environ(), filterHelperEnv+"=1")
	var out bytes.Buffer
	sb.Stdout, sb.Stderr = &out, &out
	if err := sb.Run(); err != nil {
		t.Fatalf("helper %v: %v\n%s", args, err, out.String())
	}
	return strings.TrimSpace(out.String())
}

// TestFilterDatagramHook: INET and INET6 datagram sockets are denied by
// default and pass when the network layer's switch is on; raw sockets stay
// denied either way.
func TestFilterDatagramHook(t *testing.T) {
	for _, tc := range []struct {
		name             string
		dom, typ, proto  int
		denied, switched string
	}{
		{"udp", unix.AF_INET, unix.SOCK_DGRAM, 0, "EPERM", "OK"},
		{"udp6", unix.AF_INET6, unix.SOCK_DGRAM | unix.SOCK_CLOEXEC, 0, "EPERM", "OK"},
		// The ping socket's own check (net.ipv4.ping_group_range) may
		// refuse it with EACCES; the filter no longer does.
		{"ping", unix.AF_INET, unix.SOCK_DGRAM, unix.IPPROTO_ICMP, "EPERM", "OK|EACCES"},
		{"raw", unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_ICMP, "EPERM", "EPERM"},
		{"tcp", unix.AF_INET, unix.SOCK_STREAM, 0, "OK", "OK"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"socket", strconv.Itoa(tc.dom), strconv.Itoa(tc.typ), strconv.Itoa(tc.proto)}
			var p Policy
			if got := runFilterHelper(t, p, args...); got != tc.denied {
				t.Errorf("default: %s, want %s", got, tc.denied)
			}
			p.seccomp.allowDatagram = true
			if got := runFilterHelper(t, p, args...); !slices.Contains(strings.Split(tc.switched, "|"), got) {
				t.Errorf("datagrams allowed: %s, want %s", got, tc.switched)
			}
		})
	}
}

// TestFilterLoopHelper runs the benchmark's helper briefly, so that the
// benchmark's code is exercised by every test run.
func TestFilterLoopHelper(t *testing.T) {
	for _, kind := range []string{"getpid", "ioctl", "socket"} {
		for _, disabled := range []bool{false, true} {
			var p Policy
			p.seccomp.disabled = disabled
			out := runFilterHelper(t, p, "loop", kind, "100")
			if ns, err := strconv.ParseInt(out, 10, 64); err != nil || ns <= 0 {
				t.Errorf("%s (filter disabled %v): %q", kind, disabled, out)
			}
		}
	}
}

// BenchmarkSeccompFilter measures system calls inside a sandbox with the
// default filter, inside the same sandbox with a one-instruction allow-all
// filter (the cost of having seccomp at all) and without a filter,
// interleaved in the same run, and reports the nanoseconds per call of each
// and the median ratios of the rounds. getpid is always allowed, so the
// kernel's action cache skips the filter for it; ioctl(FIONREAD) and
// socket(AF_UNIX) run the argument checks.
func BenchmarkSeccompFilter(b *testing.B) {
	const calls = 200000
	for _, kind := range []string{"getpid", "ioctl", "socket"} {
		b.Run(kind, func(b *testing.B) {
			var filter, allowAll, none, vsNone, vsAllowAll []float64
			measure := func(h seccompHooks) float64 {
				p := Policy{seccomp: h}
				out := runFilterHelper(b, p, "loop", kind, strconv.Itoa(calls))
				ns, err := strconv.ParseFloat(out, 64)
				if err != nil {
					b.Fatalf("helper: %q", out)
				}
				return ns / calls
			}
			for b.Loop() {
				f := measure(seccompHooks{})
				a := measure(seccompHooks{allowAll: true})
				n := measure(seccompHooks{disabled: true})
				filter, allowAll, none = append(filter, f), append(allowAll, a), append(none, n)
				vsNone, vsAllowAll = append(vsNone, f/n), append(vsAllowAll, f/a)
			}
			b.ReportMetric(median(filter), "ns/call-filter")
			b.ReportMetric(median(allowAll), "ns/call-allowall")
			b.ReportMetric(median(none), "ns/call-nofilter")
			b.ReportMetric(median(vsNone), "filter/nofilter")
			b.ReportMetric(median(vsAllowAll), "filter/allowall")
		})
	}
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}
