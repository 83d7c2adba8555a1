package bpfasm

import (
	"math/rand"
	"slices"
	"testing"
)

func TestConstantAllow(t *testing.T) {
	const arch = auditArchX86_64
	for _, tc := range []struct {
		name string
		text string
		nr   int32
		arch uint32
		want bool
	}{
		{"allow all", "ret ALLOW", 1, arch, true},
		{"allow with data", "ret ALLOW(1)", 1, arch, false},
		{"errno", "ret ERRNO(1)", 1, arch, false},
		{"log", "ret LOG", 1, arch, false},
		{"ret a", "ld [0]\nret a", 0x7fff0000, arch, false},
		{"arch check passes", "ld [4]\njeq #0xc000003e jt +0 jf +1\nret ALLOW\nret KILL_PROCESS", 1, arch, true},
		{"arch check fails", "ld [4]\njeq #0xc000003e jt +0 jf +1\nret ALLOW\nret KILL_PROCESS", 1, auditArchI386, false},
		{"argument on another path", "ld [0]\njeq #1 jt +1 jf +0\nret ALLOW\nld [16]\nret a", 2, arch, true},
		{"argument on the path", "ld [0]\njeq #1 jt +1 jf +0\nret ALLOW\nld [16]\nret a", 1, arch, false},
		{"instruction pointer", "ld [8]\nret ALLOW", 1, arch, false},
		{"jge jgt jset and", "ld [0]\nand #0xff\njge #0x10 jt +3 jf +0\njgt #0x5 jt +2 jf +0\njset #1 jt +0 jf +1\nret ALLOW\nret ERRNO(1)",
			0x101, arch, true},
		{"jge jgt jset and, even", "ld [0]\nand #0xff\njge #0x10 jt +3 jf +0\njgt #0x5 jt +2 jf +0\njset #1 jt +0 jf +1\nret ALLOW\nret ERRNO(1)",
			0x102, arch, false},
		{"ja", "ja +1\nret ERRNO(1)\nret ALLOW", 1, arch, true},
		{"negative nr", "ld [0]\njgt #0x7fffffff jt +0 jf +1\nret ALLOW\nret ERRNO(1)", -1, arch, true},
		{"ld imm gives up", "ld #1\nret ALLOW", 1, arch, false},
		{"tax gives up", "tax\nret ALLOW", 1, arch, false},
		{"jeq x gives up", "ld [0]\njeq x jt +0 jf +0\nret ALLOW", 1, arch, false},
		{"other alu gives up", "ld [0]\nor #1\nret ALLOW", 1, arch, false},
		{"runs off the end", "ld [0]", 1, arch, false},
		{"ja past the end", "ja +7\nret ALLOW", 1, arch, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prog := mustParse(t, tc.text)
			if got := ConstantAllow(prog, tc.arch, tc.nr); got != tc.want {
				t.Errorf("ConstantAllow = %v, want %v\n%s", got, tc.want, Disassemble(prog))
			}
		})
	}
}

// TestConstantAllowSampleFilter checks the cache on the sample filter:
// syscalls without a block are cacheable, syscalls with one are not, and
// Optimize keeps it so.
func TestConstantAllowSampleFilter(t *testing.T) {
	f := newSampleFilter(120)
	prog := f.assemble(t)
	opt, err := Optimize(prog)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(1))
	for nr := int32(0); nr <= sampleMaxNr+1; nr++ {
		_, blocked := slices.BinarySearch(f.nrs, uint32(nr))
		want := !blocked && nr <= sampleMaxNr
		for _, p := range [][]Instruction{prog, opt} {
			if got := ConstantAllow(p, auditArchX86_64, nr); got != want {
				t.Fatalf("nr %d: ConstantAllow = %v, want %v", nr, got, want)
			}
		}
		if want {
			d := SeccompData{Nr: nr, Arch: auditArchX86_64, IP: rng.Uint64()}
			for i := range d.Args {
				d.Args[i] = rng.Uint64()
			}
			if got := runAll(t, prog, []SeccompData{d})[0]; got != uint32(ActionAllow) {
				t.Fatalf("nr %d: cacheable but returns %v", nr, Action(got))
			}
		}
	}
	if ConstantAllow(prog, auditArchI386, 39) {
		t.Errorf("foreign architecture is cacheable")
	}
}
