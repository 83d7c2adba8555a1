//go:build linux

package sandlock

import (
	"strconv"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// netvirtHelperLoop returns the call of the filter helper's loop KIND for
// the virtual netlink's kinds, or nil:
//
//	nldump        syscall.NetlinkRIB(RTM_GETLINK): socket, bind,
//	              getsockname, sendto, recvfrom until NLMSG_DONE, close
//	getsockname   getsockname on an AF_UNIX socket (notified, answered
//	              CONTINUE by the virtual netlink)
func netvirtHelperLoop(kind string) func() error {
	switch kind {
	case "nldump":
		return nlDumpOnce
	case "getsockname":
		fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return func() error { return err }
		}
		return func() error { _, err := unix.Getsockname(fd); return err }
	}
	return nil
}

// nlDumpOnce dumps the links and checks that lo came back.
func nlDumpOnce() error {
	rib, err := syscall.NetlinkRIB(syscall.RTM_GETLINK, syscall.AF_UNSPEC)
	if err != nil {
		return err
	}
	msgs, err := syscall.ParseNetlinkMessage(rib)
	if err != nil {
		return err
	}
	if len(msgs) < 2 {
		return syscall.EIO
	}
	return nil
}

// TestNetvirtHelperLoops runs the benchmark's loops once, so that their
// path is exercised by every test run.
func TestNetvirtHelperLoops(t *testing.T) {
	supervised := Policy{seccomp: seccompHooks{notifyContinue: []string{"getppid"}}}
	for _, kind := range []string{"nldump", "getsockname"} {
		out := runFilterHelper(t, supervised, "loop", kind, "20")
		if ns, err := strconv.ParseInt(out, 10, 64); err != nil || ns <= 0 {
			t.Errorf("%s: %q", kind, out)
		}
	}
}

// BenchmarkNetvirt measures, interleaved in one run:
//   - a link dump (socket, bind, getsockname, sendto, recvfrom until
//     NLMSG_DONE, close: syscall.NetlinkRIB) on the virtual netlink of a
//     supervised sandbox, against the same dump of the real kernel in
//     this process (the host here has four links, the view one);
//   - getsockname on a unix socket in a supervised sandbox (notified,
//     answered CONTINUE after a /proc/TID/fd stat) against an unsupervised
//     one: what the virtual netlink costs programs that never use it;
//     getppid notified and answered CONTINUE without a handler is the
//     bare round trip, for reference.
func BenchmarkNetvirt(b *testing.B) {
	const dumps, names = 2000, 20000
	perCall := func(p Policy, kind string, n int) float64 {
		out := runFilterHelper(b, p, "loop", kind, strconv.Itoa(n))
		ns, err := strconv.ParseFloat(out, 64)
		if err != nil {
			b.Fatalf("helper: %q", out)
		}
		return ns / float64(n)
	}
	supervised := Policy{seccomp: seccompHooks{notifyContinue: []string{"getppid"}}}
	var virt, real, ratio, gsnSup, gsnPlain, gsnOver, ppid []float64
	for b.Loop() {
		v := perCall(supervised, "nldump", dumps)
		t0 := time.Now()
		for range dumps {
			if err := nlDumpOnce(); err != nil {
				b.Fatal(err)
			}
		}
		r := float64(time.Since(t0).Nanoseconds()) / dumps
		s := perCall(supervised, "getsockname", names)
		// The baseline has no supervisor at all (as a sandbox nested in
		// a supervised one): every other sandbox notifies getsockname.
		p := perCall(Policy{seccomp: seccompHooks{nested: true}}, "getsockname", names)
		ppid = append(ppid, perCall(supervised, "getppid", names))
		virt, real, ratio = append(virt, v), append(real, r), append(ratio, v/r)
		gsnSup, gsnPlain, gsnOver = append(gsnSup, s), append(gsnPlain, p), append(gsnOver, s-p)
	}
	b.ReportMetric(median(virt), "ns/dump-virtual")
	b.ReportMetric(median(real), "ns/dump-real")
	b.ReportMetric(median(ratio), "virtual/real")
	b.ReportMetric(median(gsnSup), "ns/getsockname-supervised")
	b.ReportMetric(median(gsnPlain), "ns/getsockname-plain")
	b.ReportMetric(median(gsnOver), "ns-overhead-getsockname")
	b.ReportMetric(median(ppid), "ns/getppid-notified")
}
