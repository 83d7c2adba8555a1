package bpfasm

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

const (
	auditArchX86_64 = 0xc000003e
	auditArchI386   = 0x40000003
	x32Bit          = 0x40000000
	tiocsti         = 0x5412
	sampleMaxNr     = 1023
)

// sampleFilter is a seccomp filter shaped like the one sandlock builds: an
// arch check, an x32 check, ENOSYS above the highest known number, a binary
// search over the syscalls with special verdicts, and per-syscall blocks,
// some with an argument check. Every other syscall is allowed.
type sampleFilter struct {
	nrs []uint32 // sorted syscalls with a block
}

func newSampleFilter(n int) sampleFilter {
	var f sampleFilter
	for i := range n {
		f.nrs = append(f.nrs, uint32(3+i*7%900+i/130)) // spread, sorted below
	}
	slices.Sort(f.nrs)
	f.nrs = slices.Compact(f.nrs)
	return f
}

// verdict is the reference model of the filter.
func (f sampleFilter) verdict(d SeccompData) uint32 {
	if d.Arch != auditArchX86_64 {
		return uint32(ActionKillProcess)
	}
	nr := uint32(d.Nr)
	if nr&x32Bit != 0 {
		return uint32(ActionKillProcess)
	}
	if nr > sampleMaxNr {
		return uint32(Errno(38))
	}
	if _, ok := slices.BinarySearch(f.nrs, nr); !ok {
		return uint32(ActionAllow)
	}
	switch nr % 4 {
	case 0:
		return uint32(Errno(1))
	case 1:
		if uint32(d.Args[1]) == tiocsti {
			return uint32(Errno(1))
		}
		return uint32(ActionAllow)
	case 2:
		if d.Args[0]&0x10 != 0 || uint32(d.Args[0]>>32) != 0 {
			return uint32(ActionUserNotif)
		}
		return uint32(ActionAllow)
	}
	return uint32(ActionTrace.WithData(uint16(nr)))
}

func (f sampleFilter) build(b *Builder) {
	b.LoadArch()
	b.JumpIf(Eq, auditArchX86_64, "", "kill")
	b.LoadNr()
	b.JumpIf(BitsSet, x32Bit, "kill", "")
	b.JumpIf(Gt, sampleMaxNr, "enosys", "")
	f.search(b, 0, len(f.nrs))
	for _, nr := range f.nrs {
		b.Label(fmt.Sprintf("nr%d", nr))
		switch nr % 4 {
		case 0:
			b.RetAction(Errno(1))
		case 1:
			b.LoadArgLow(1)
			b.JumpIf(Eq, tiocsti, "eperm", "allow")
		case 2:
			b.LoadArgLow(0)
			b.JumpIf(BitsSet, 0x10, "notif", "")
			b.LoadArgHigh(0)
			b.JumpIf(Ne, 0, "notif", "allow")
		default:
			b.RetAction(ActionTrace.WithData(uint16(nr)))
		}
	}
	b.Label("allow")
	b.RetAction(ActionAllow)
	b.Label("eperm")
	b.RetAction(Errno(1))
	b.Label("notif")
	b.RetAction(ActionUserNotif)
	b.Label("enosys")
	b.RetAction(Errno(38))
	b.Label("kill")
	b.RetAction(ActionKillProcess)
}

// search emits a binary search over f.nrs[lo:hi] with JGE splits and short
// JEQ chains in the leaves.
func (f sampleFilter) search(b *Builder, lo, hi int) {
	if hi-lo <= 3 {
		for _, nr := range f.nrs[lo:hi] {
			b.JumpIf(Eq, nr, fmt.Sprintf("nr%d", nr), "")
		}
		b.Jump("allow")
		return
	}
	mid := (lo + hi) / 2
	right := fmt.Sprintf("ge%d", f.nrs[mid])
	b.JumpIf(Ge, f.nrs[mid], right, "")
	f.search(b, lo, mid)
	b.Label(right)
	f.search(b, mid, hi)
}

func (f sampleFilter) assemble(t testing.TB) []Instruction {
	t.Helper()
	var b Builder
	f.build(&b)
	prog, err := b.Assemble()
	if err != nil {
		t.Fatalf("Assemble: %v", err)
	}
	return prog
}

// inputs returns seccomp_data rows that exercise every branch of f.
func (f sampleFilter) inputs() []SeccompData {
	var rows []SeccompData
	for nr := int32(-2); nr <= sampleMaxNr+2; nr++ {
		for _, args := range [][2]uint64{{0, 0}, {0x10, tiocsti}, {1 << 32, 0x1_0000_5412}} {
			rows = append(rows, SeccompData{Nr: nr, Arch: auditArchX86_64, Args: [6]uint64{args[0], args[1]}})
		}
	}
	rows = append(rows,
		SeccompData{Nr: 39, Arch: auditArchI386},
		SeccompData{Nr: 39 | x32Bit, Arch: auditArchX86_64},
		SeccompData{Nr: -1 << 31, Arch: auditArchX86_64},
	)
	return rows
}

// mustParse parses a listing or fails the test.
func mustParse(t testing.TB, text string) []Instruction {
	t.Helper()
	prog, err := ParseText(text)
	if err != nil {
		t.Fatalf("ParseText: %v\n%s", err, text)
	}
	return prog
}

// listing returns a compact listing for comparisons in tests.
func listing(prog []Instruction) string {
	var lines []string
	for _, l := range strings.Split(strings.TrimRight(Disassemble(prog), "\n"), "\n") {
		if i := strings.IndexByte(l, ';'); i >= 0 {
			l = l[:i]
		}
		lines = append(lines, strings.Join(strings.Fields(l), " "))
	}
	return strings.Join(lines, "\n")
}

// normalize trims a listing written in a test table to the form of listing.
func normalize(text string) string {
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(text), "\n") {
		if i := strings.IndexByte(l, ';'); i >= 0 {
			l = l[:i]
		}
		if l = strings.Join(strings.Fields(l), " "); l != "" {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "\n")
}

// runAll runs prog over every row and returns the results.
func runAll(t testing.TB, prog []Instruction, rows []SeccompData) []uint32 {
	t.Helper()
	in, err := NewInterpreter(prog)
	if err != nil {
		t.Fatalf("NewInterpreter: %v\n%s", err, Disassemble(prog))
	}
	out := make([]uint32, len(rows))
	for i, d := range rows {
		out[i] = in.RunData(d)
	}
	return out
}
