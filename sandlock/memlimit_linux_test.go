//go:build linux

package sandlock

import (
	"strconv"
	"testing"
)

// BenchmarkMemoryLimit measures an anonymous writable mmap and its munmap
// in a sandbox with MaxMemory (the mmap is notified and decided from
// /proc; munmap is not notified) against the same pair without a limit,
// interleaved in the same run. It reports the median per-pair time of
// each, the median overhead and the median ratio.
func BenchmarkMemoryLimit(b *testing.B) {
	const calls = 5000
	measure := func(p Policy) float64 {
		out := runFilterHelper(b, p, "loop", "mmap", strconv.Itoa(calls))
		ns, err := strconv.ParseFloat(out, 64)
		if err != nil {
			b.Fatalf("helper: %q", out)
		}
		return ns / calls
	}
	var limited Policy
	limited.Limits.MaxMemory = "1G"
	var plain, capped, over, ratio []float64
	for b.Loop() {
		p := measure(Policy{})
		c := measure(limited)
		plain, capped = append(plain, p), append(capped, c)
		over, ratio = append(over, c-p), append(ratio, c/p)
	}
	b.ReportMetric(median(plain), "ns/pair-plain")
	b.ReportMetric(median(capped), "ns/pair-maxmemory")
	b.ReportMetric(median(over), "ns-overhead")
	b.ReportMetric(median(ratio), "ratio")
}
