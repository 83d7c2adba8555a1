//go:build linux

package sandlock

import (
	"os"
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

func TestParseMapsLine(t *testing.T) {
	for _, tc := range []struct {
		line string
		want vma
		ok   bool
	}{
		{"7f222b5a9000-7f222b6a9000 rw-s 00000000 00:01 1083                       /dev/zero (deleted)",
			vma{start: 0x7f222b5a9000, end: 0x7f222b6a9000, write: true, object: "/dev/zero (deleted)", inode: "1083"}, true},
		{"55d0c8a5e000-55d0c8a7f000 rw-p 00000000 00:00 0                          [heap]",
			vma{start: 0x55d0c8a5e000, end: 0x55d0c8a7f000, write: true, private: true, object: "[heap]", inode: "0"}, true},
		{"7ffd1000-7ffd2000 r--p 00000000 00:00 0", vma{start: 0x7ffd1000, end: 0x7ffd2000, private: true, inode: "0"}, true},
		{"7ffd1000-7ffd2000 r--p 00000000 08:01 42 /a path/with spaces", vma{start: 0x7ffd1000, end: 0x7ffd2000, private: true, object: "/a path/with spaces", inode: "42"}, true},
		{"", vma{}, false},
		{"zz-10 rw-p 0 00:00 0", vma{}, false},
		{"20-10 rw-p 0 00:00 0", vma{}, false},
		{"10-20 rw 0 00:00 0", vma{}, false},
		{"1020 rw-p 0 00:00 0", vma{}, false},
	} {
		got, err := parseMapsLine([]byte(tc.line))
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("%q: %+v %v, want %+v ok=%v", tc.line, got, err, tc.want, tc.ok)
		}
	}
	sa := vma{object: "/dev/zero (deleted)"}
	heap := vma{private: true, write: true, object: "[heap]"}
	stack := vma{private: true, object: "[stack]"}
	if !sa.sharedAnon() || sa.counted() || !heap.counted() || heap.sharedAnon() || !stack.counted() {
		t.Errorf("classification: %v %v %v %v %v", sa.sharedAnon(), sa.counted(), heap.counted(), heap.sharedAnon(), stack.counted())
	}
}

// FuzzParseMapsLine: a parsed line has start <= end and flags taken from
// the permission column.
func FuzzParseMapsLine(f *testing.F) {
	for _, s := range []string{
		"7f222b5a9000-7f222b6a9000 rw-s 00000000 00:01 1083 /dev/zero (deleted)",
		"55d0c8a5e000-55d0c8a7f000 rw-p 00000000 00:00 0 [heap]",
		"10-20 r--p 0 0 0", "-", "ffffffffffffffff-ffffffffffffffff ---p 0 0 0",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := parseMapsLine([]byte(s))
		if err != nil {
			return
		}
		if v.end < v.start {
			t.Fatalf("%q: end %#x < start %#x", s, v.end, v.start)
		}
		if v.sharedAnon() && v.private {
			t.Fatalf("%q: shared anonymous and private", s)
		}
	})
}

// TestProcFigures: the /proc readers agree with what this process sees of
// itself: start_brk is the start of its [heap] (when it has one), the
// statm data figure covers the private writable mappings (but for what the
// runtime maps meanwhile), and the maps parse.
func TestProcFigures(t *testing.T) {
	m := &memLimit{page: uint64(os.Getpagesize()), buf: make([]byte, 1024)}
	pid := os.Getpid()
	var heapStart, writable uint64
	n := 0
	forEachMapping(pid, func(v vma) {
		n++
		if v.object == "[heap]" {
			heapStart = v.start
		}
		if v.private && v.write && v.object != "[stack]" {
			writable += v.end - v.start
		}
	})
	if n == 0 {
		t.Fatal("no mappings parsed")
	}
	sb := m.startBrk(pid)
	if sb == 0 || (heapStart != 0 && m.roundUp(sb) != heapStart) {
		t.Errorf("start_brk %#x, [heap] at %#x", sb, heapStart)
	}
	if data := m.statmData(pid) * m.page; data < writable*9/10 {
		t.Errorf("statm data %d, private writable mappings %d", data, writable)
	}
}
