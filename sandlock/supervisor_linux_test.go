//go:build linux

package sandlock

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/sandlock-go/sandlock-go/clone3"
)

// runHandlerHelper runs the filter helper with a user Handler answering
// Continue on getppid, registered Quick or not.
func runHandlerHelper(t testing.TB, quick bool, args ...string) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var p Policy
	p.Filesystem.Read = []string{self}
	p.Filesystem.ReadIfExists = SystemPaths
	sb := Command(p, self, args...)
	sb.Env = append(os.Environ(), filterHelperEnv+"=1")
	sb.Handlers = []SyscallHandler{{Syscall: "getppid", Handler: HandlerFunc(func(*Notification) Verdict { return Continue() }), Quick: quick}}
	var out bytes.Buffer
	sb.Stdout, sb.Stderr = &out, &out
	if err := sb.Run(); err != nil {
		t.Fatalf("helper %v: %v\n%s", args, err, out.String())
	}
	return strings.TrimSpace(out.String())
}

// TestSupervisorContinueHelper runs the benchmark's helper with getppid
// notified and answered CONTINUE, so that the benchmark's path is
// exercised by every test run: the calls succeed through the supervisor.
func TestSupervisorContinueHelper(t *testing.T) {
	for _, h := range []seccompHooks{
		{notifyContinue: []string{"getppid"}},
		{notifyContinue: []string{"getppid"}, noSyncWakeUp: true},
		{},
	} {
		out := runFilterHelper(t, Policy{seccomp: h}, "loop", "getppid", "100")
		if ns, err := strconv.ParseInt(out, 10, 64); err != nil || ns <= 0 {
			t.Errorf("%+v: %q", h, out)
		}
	}
	for _, quick := range []bool{false, true} {
		out := runHandlerHelper(t, quick, "loop", "getppid", "100")
		if ns, err := strconv.ParseInt(out, 10, 64); err != nil || ns <= 0 {
			t.Errorf("user handler (quick %v): %q", quick, out)
		}
	}
}

// BenchmarkSupervisorContinue measures getppid notified to the supervisor
// and answered CONTINUE against the same call not notified (same filter
// otherwise), interleaved in the same run, with and without
// SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP, and answered by a user Handler
// (Sandbox.Handlers) returning Continue. It reports the median per-call time
// of each and the median per-round overhead of a notification.
func BenchmarkSupervisorContinue(b *testing.B) {
	const calls = 20000
	measure := func(h seccompHooks) float64 {
		out := runFilterHelper(b, Policy{seccomp: h}, "loop", "getppid", strconv.Itoa(calls))
		ns, err := strconv.ParseFloat(out, 64)
		if err != nil {
			b.Fatalf("helper: %q", out)
		}
		return ns / calls
	}
	var plain, syncd, nosync, user, quick, overSync, overNoSync, overUser, overQuick []float64
	for b.Loop() {
		p := measure(seccompHooks{})
		s := measure(seccompHooks{notifyContinue: []string{"getppid"}})
		n := measure(seccompHooks{notifyContinue: []string{"getppid"}, noSyncWakeUp: true})
		u, err := strconv.ParseFloat(runHandlerHelper(b, false, "loop", "getppid", strconv.Itoa(calls)), 64)
		if err != nil {
			b.Fatal(err)
		}
		u /= calls
		q, err := strconv.ParseFloat(runHandlerHelper(b, true, "loop", "getppid", strconv.Itoa(calls)), 64)
		if err != nil {
			b.Fatal(err)
		}
		q /= calls
		quick, overQuick = append(quick, q), append(overQuick, q-p)
		plain, syncd, nosync, user = append(plain, p), append(syncd, s), append(nosync, n), append(user, u)
		overSync, overNoSync, overUser = append(overSync, s-p), append(overNoSync, n-p), append(overUser, u-p)
	}
	b.ReportMetric(median(user), "ns/call-userhandler")
	b.ReportMetric(median(overUser), "ns-overhead-userhandler")
	b.ReportMetric(median(quick), "ns/call-quickhandler")
	b.ReportMetric(median(overQuick), "ns-overhead-quickhandler")
	b.ReportMetric(median(plain), "ns/call-plain")
	b.ReportMetric(median(syncd), "ns/call-notified")
	b.ReportMetric(median(nosync), "ns/call-notified-nosync")
	b.ReportMetric(median(overSync), "ns-overhead")
	b.ReportMetric(median(overNoSync), "ns-overhead-nosync")
}

// TestIsSeccompStep: the WAIT_KILLABLE_RECV fallback (EINVAL) and the
// nested-supervisor error (EBUSY) recognise only the seccomp step's own
// failure, wrapped or not.
func TestIsSeccompStep(t *testing.T) {
	step := &clone3.ChildError{Step: 9, Op: "seccomp SECCOMP_SET_MODE_FILTER", Errno: unix.EINVAL}
	for _, tc := range []struct {
		name  string
		err   error
		errno unix.Errno
		want  bool
	}{
		{"seccomp EINVAL", step, unix.EINVAL, true},
		{"wrapped", fmt.Errorf("x: %w", step), unix.EINVAL, true},
		{"other errno", step, unix.EBUSY, false},
		{"other step", &clone3.ChildError{Op: "chdir /x", Errno: unix.EINVAL}, unix.EINVAL, false},
		{"bare errno", unix.EINVAL, unix.EINVAL, false},
		{"nil", nil, unix.EINVAL, false},
	} {
		if got := isSeccompStep(tc.err, tc.errno); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
