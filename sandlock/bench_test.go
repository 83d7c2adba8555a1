//go:build linux

package sandlock_test

import (
	"os/exec"
	"sort"
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
