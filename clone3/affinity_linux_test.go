//go:build linux

package clone3

import (
	"encoding/binary"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestCompileAffinity: CPUAffinity becomes one sched_setaffinity step,
// before NO_NEW_PRIVS, whose mask has exactly the listed bits in whole
// 64-bit words; without it there is no such step.
func TestCompileAffinity(t *testing.T) {
	for _, tc := range []struct {
		cpus []int
		size int
	}{{[]int{0}, 8}, {[]int{1, 3}, 8}, {[]int{63, 64}, 16}, {[]int{1023}, 128}} {
		attr := &Attr{Path: "/bin/true", Argv: []string{"true"}, CPUAffinity: tc.cpus, NoNewPrivs: true}
		p, err := compile(attr, 3, 4, false)
		if err != nil {
			t.Fatal(err)
		}
		at, nnp := -1, -1
		for i, s := range p.Steps {
			switch {
			case s.Nr == unix.SYS_SCHED_SETAFFINITY:
				at = i
			case strings.HasPrefix(s.Desc, "prctl PR_SET_NO_NEW_PRIVS"):
				nnp = i
			}
		}
		if at < 0 || nnp < at {
			t.Fatalf("%v: affinity step %d, no_new_privs %d", tc.cpus, at, nnp)
		}
		s := p.Steps[at]
		if s.Args[1].Val != uint64(tc.size) || !s.Args[2].Rel {
			t.Fatalf("%v: size %d (rel %v), want %d", tc.cpus, s.Args[1].Val, s.Args[2].Rel, tc.size)
		}
		mask := p.data[s.Args[2].Val : s.Args[2].Val+uint64(tc.size)]
		var want [128]byte
		for _, c := range tc.cpus {
			want[c/8] |= 1 << (c % 8)
		}
		for w := 0; w < tc.size; w += 8 {
			if binary.LittleEndian.Uint64(mask[w:]) != binary.LittleEndian.Uint64(want[w:]) {
				t.Fatalf("%v: mask %x", tc.cpus, mask)
			}
		}
	}
	p, err := compile(&Attr{Path: "/bin/true", Argv: []string{"true"}}, 3, 4, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range p.Steps {
		if s.Nr == unix.SYS_SCHED_SETAFFINITY {
			t.Fatal("affinity step without CPUAffinity")
		}
	}
	if err := validate(&Attr{Path: "/bin/true", Argv: []string{"true"}, CPUAffinity: []int{1024}}); err == nil {
		t.Fatal("CPU 1024 accepted")
	}
}
