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

// openLoop is a Python program that opens and closes argv[1] argv[2] times
// and prints the mean nanoseconds per open+close.
const openLoop = `
import os, sys, time
p, n = sys.argv[1], int(sys.argv[2])
for _ in range(200): os.close(os.open(p, os.O_RDONLY))
t = time.perf_counter_ns()
for _ in range(n): os.close(os.open(p, os.O_RDONLY))
print((time.perf_counter_ns() - t) // n)
`

// BenchmarkOpenInterception: open+close of an allowed file inside a
// sandbox with the open interception on (Filesystem.Deny names another
// file: every open is made on behalf) and off (the same policy without
// Deny: no notification), interleaved in the same run. Reports the median
// ns per open of each and the median of the per-round ratios.
func BenchmarkOpenInterception(b *testing.B) {
	py, err := exec.LookPath("/usr/bin/python3")
	if err != nil {
		b.Skip("needs python3")
	}
	dir := b.TempDir()
	file := filepath.Join(dir, "allowed")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "denied"), []byte("y"), 0o644); err != nil {
		b.Fatal(err)
	}
	var off sandlock.Policy
	off.Filesystem.ReadIfExists = sandlock.SystemPaths
	off.Filesystem.Read = []string{dir}
	on := off
	on.Filesystem.Deny = []string{filepath.Join(dir, "denied")}
	measure := func(p sandlock.Policy) float64 {
		var out bytes.Buffer
		sb := sandlock.Command(p, py, "-S", "-c", openLoop, file, "2000")
		sb.Stdout = &out
		sb.Stderr = os.Stderr
		if err := sb.Run(); err != nil {
			b.Fatal(err)
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(out.String()), 64)
		if err != nil {
			b.Fatal(err, out.String())
		}
		return v
	}
	var ons, offs, ratios []float64
	for b.Loop() {
		f := measure(off)
		o := measure(on)
		offs, ons, ratios = append(offs, f), append(ons, o), append(ratios, o/f)
	}
	med := func(x []float64) float64 { slices.Sort(x); return x[len(x)/2] }
	b.ReportMetric(med(offs), "off-ns/open")
	b.ReportMetric(med(ons), "on-ns/open")
	b.ReportMetric(med(ratios), "on/off")
}
