//go:build linux

package sandlock_test

import (
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sandlock-go/sandlock-go/sandlock"
	"github.com/sandlock-go/sandlock-go/tests/testelf"
)

// exitProgram writes a tiny static program and a policy that can run it.
func exitProgram(b *testing.B) (string, sandlock.Policy) {
	b.Helper()
	p, err := testelf.WriteExitProgram(b.TempDir(), 0)
	if err != nil {
		b.Fatal(err)
	}
	var pol sandlock.Policy
	pol.Filesystem.Read = []string{p}
	return p, pol
}

// BenchmarkRun: Create+Start+Wait of a tiny static program against os/exec's
// Run of the same program, each as its own sub-benchmark.
func BenchmarkRun(b *testing.B) {
	target, policy := exitProgram(b)
	b.Run("osexec", func(b *testing.B) {
		for b.Loop() {
			if err := exec.Command(target).Run(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("sandlock", func(b *testing.B) {
		for b.Loop() {
			if err := sandlock.Command(policy, target).Run(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkRunRatio alternates os/exec and sandlock runs of the same tiny
// program and reports the median of the per-pair ratios, so that machine
// noise hits both sides alike. ns/op is one pair.
func BenchmarkRunRatio(b *testing.B) {
	target, policy := exitProgram(b)
	var ratios []float64
	for b.Loop() {
		t0 := time.Now()
		if err := exec.Command(target).Run(); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := sandlock.Command(policy, target).Run(); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		ratios = append(ratios, float64(t2.Sub(t1))/float64(t1.Sub(t0)))
	}
	sort.Float64s(ratios)
	b.ReportMetric(ratios[len(ratios)/2], "sandlock/osexec")
}

// BenchmarkPhases splits a run into time-to-parked (Create), release-to-exec
// (Start) and exit-to-reaped (Wait).
func BenchmarkPhases(b *testing.B) {
	target, policy := exitProgram(b)
	var create, start, wait time.Duration
	n := 0
	for b.Loop() {
		sb := sandlock.Command(policy, target)
		t0 := time.Now()
		if err := sb.Create(); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := sb.Start(); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		if err := sb.Wait(); err != nil {
			b.Fatal(err)
		}
		t3 := time.Now()
		create += t1.Sub(t0)
		start += t2.Sub(t1)
		wait += t3.Sub(t2)
		n++
	}
	b.ReportMetric(float64(create.Nanoseconds())/float64(n), "create-ns/op")
	b.ReportMetric(float64(start.Nanoseconds())/float64(n), "start-ns/op")
	b.ReportMetric(float64(wait.Nanoseconds())/float64(n), "wait-ns/op")
}

// statusKB reads a numeric field of /proc/self/status, in kB.
func statusKB(b *testing.B, field string) float64 {
	b.Helper()
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			if err != nil {
				b.Fatal(err)
			}
			return n
		}
	}
	b.Fatalf("no %s in /proc/self/status", field)
	return 0
}

// BenchmarkSupervisorRSS reports what supervised sandboxes cost the
// supervising process in memory: its RSS (and thread count) with 1 and
// with 50 created (parked) sandboxes, over the same process without any,
// measured after a GC. Only the first round is reported: later rounds
// reuse the OS threads (and their stacks) the first one made, which Go
// keeps. ns/op is meaningless.
func BenchmarkSupervisorRSS(b *testing.B) {
	target, policy := exitProgram(b)
	var one, fifty, threads1, threads50 []float64
	for b.Loop() {
		runtime.GC()
		base := statusKB(b, "VmRSS")
		baseThreads := statusKB(b, "Threads")
		var sbs []*sandlock.Sandbox
		for i := range 50 {
			sb := sandlock.Command(policy, target)
			if err := sb.Create(); err != nil {
				b.Fatal(err)
			}
			sbs = append(sbs, sb)
			if i == 0 || i == 49 {
				runtime.GC()
				rss, th := statusKB(b, "VmRSS")-base, statusKB(b, "Threads")-baseThreads
				if i == 0 {
					one, threads1 = append(one, rss), append(threads1, th)
				} else {
					fifty, threads50 = append(fifty, rss), append(threads50, th)
				}
			}
		}
		for _, sb := range sbs {
			sb.Close()
		}
	}
	b.ReportMetric(one[0], "rss-kB-1-sandbox")
	b.ReportMetric(fifty[0], "rss-kB-50-sandboxes")
	b.ReportMetric(fifty[0]/50, "rss-kB-per-sandbox")
	b.ReportMetric(threads1[0], "threads-1")
	b.ReportMetric(threads50[0], "threads-50")
}
