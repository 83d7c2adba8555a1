//go:build linux

package sandlock

import (
	"strconv"
	"testing"
)

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
}

// BenchmarkSupervisorContinue measures getppid notified to the supervisor
// and answered CONTINUE against the same call not notified (same filter
// otherwise), interleaved in the same run, with and without
// SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP. It reports the median per-call time
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
	var plain, syncd, nosync, overSync, overNoSync []float64
	for b.Loop() {
		p := measure(seccompHooks{})
		s := measure(seccompHooks{notifyContinue: []string{"getppid"}})
		n := measure(seccompHooks{notifyContinue: []string{"getppid"}, noSyncWakeUp: true})
		plain, syncd, nosync = append(plain, p), append(syncd, s), append(nosync, n)
		overSync, overNoSync = append(overSync, s-p), append(overNoSync, n-p)
	}
	b.ReportMetric(median(plain), "ns/call-plain")
	b.ReportMetric(median(syncd), "ns/call-notified")
	b.ReportMetric(median(nosync), "ns/call-notified-nosync")
	b.ReportMetric(median(overSync), "ns-overhead")
	b.ReportMetric(median(overNoSync), "ns-overhead-nosync")
}
