//go:build linux

package sandlock

import (
	"runtime"
	"slices"
	"testing"
	"time"
)

// BenchmarkOpenerHandoff: one job handed to an opener thread and waited
// for (opener.do, pipes between locked threads) against the same hand-off
// through Go channels to a locked thread (the design it replaced),
// interleaved in one run, both from a locked thread as in the
// supervisor. Reports the median ns per hand-off of each and the median
// of the per-round ratios.
func BenchmarkOpenerHandoff(b *testing.B) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	o, err := newOpener(-1)
	if err != nil {
		b.Fatal(err)
	}
	defer o.close()
	jobs, quit := make(chan func()), make(chan struct{})
	defer close(quit)
	go func() {
		runtime.LockOSThread()
		for {
			select {
			case j := <-jobs:
				j()
			case <-quit:
				return
			}
		}
	}()
	viaChan := func() {
		done := make(chan struct{})
		jobs <- func() { close(done) }
		<-done
	}
	x := 0
	viaPipe := func() {
		if err := o.do(func() { x++ }); err != nil {
			b.Fatal(err)
		}
	}
	const n = 200
	round := func(f func()) float64 {
		t := time.Now()
		for range n {
			f()
		}
		return float64(time.Since(t).Nanoseconds()) / n
	}
	var pipes, chans, ratios []float64
	for b.Loop() {
		p, c := round(viaPipe), round(viaChan)
		pipes, chans, ratios = append(pipes, p), append(chans, c), append(ratios, p/c)
	}
	med := func(v []float64) float64 { slices.Sort(v); return v[len(v)/2] }
	b.ReportMetric(med(pipes), "pipe-ns/job")
	b.ReportMetric(med(chans), "chan-ns/job")
	b.ReportMetric(med(ratios), "pipe/chan")
}
