//go:build linux

package sandlock_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/sandlock-go/sandlock-go/sandlock"
)

// chmodLoop is a Python program that chmods argv[1] argv[2] times and
// prints the mean nanoseconds per chmod.
const chmodLoop = `
import os, sys, time
p, n = sys.argv[1], int(sys.argv[2])
for i in range(200): os.chmod(p, 0o600 | (i & 1) << 2)
t = time.perf_counter_ns()
for i in range(n): os.chmod(p, 0o600 | (i & 1) << 2)
print((time.perf_counter_ns() - t) // n)
`

// BenchmarkMetaInterception: chmod of a write-granted file inside a
// sandbox (every chmod notified, decided and made on behalf) against the
// same program run bare, interleaved in the same run. Reports the median
// ns per chmod of each and the median of the per-round ratios.
func BenchmarkMetaInterception(b *testing.B) {
	py, err := exec.LookPath("/usr/bin/python3")
	if err != nil {
		b.Skip("needs python3")
	}
	dir := b.TempDir()
	file := filepath.Join(dir, "sub", "file")
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		b.Fatal(err)
	}
	var p sandlock.Policy
	p.Filesystem.ReadIfExists = sandlock.SystemPaths
	p.Filesystem.Write = []string{dir}
	parse := func(out []byte) float64 {
		v, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
		if err != nil {
			b.Fatal(err, string(out))
		}
		return v
	}
	sandboxed := func() float64 {
		var out bytes.Buffer
		sb := sandlock.Command(p, py, "-S", "-c", chmodLoop, file, "2000")
		sb.Stdout, sb.Stderr = &out, os.Stderr
		if err := sb.Run(); err != nil {
			b.Fatal(err)
		}
		return parse(out.Bytes())
	}
	bare := func() float64 {
		out, err := exec.Command(py, "-S", "-c", chmodLoop, file, "2000").Output()
		if err != nil {
			b.Fatal(err)
		}
		return parse(out)
	}
	var ons, offs, ratios []float64
	for b.Loop() {
		f := bare()
		o := sandboxed()
		offs, ons, ratios = append(offs, f), append(ons, o), append(ratios, o/f)
	}
	med := func(x []float64) float64 { slices.Sort(x); return x[len(x)/2] }
	b.ReportMetric(med(offs), "bare-ns/chmod")
	b.ReportMetric(med(ons), "sandbox-ns/chmod")
	b.ReportMetric(med(ratios), "sandbox/bare")
}
