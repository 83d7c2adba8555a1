package bpfasm

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

type passCase struct {
	name        string
	in          string
	want        string // "" means unchanged
	wantChanged bool
}

// runPassCases checks a pass on listings: the output, the changed flag,
// that the input is not modified, that the output is valid, and that it
// behaves like the input.
func runPassCases(t *testing.T, pass func([]Instruction) ([]Instruction, bool), cases []passCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := mustParse(t, tc.in)
			if err := Validate(in); err != nil {
				t.Fatalf("test input is invalid: %v", err)
			}
			orig := slices.Clone(in)
			out, changed := pass(in)
			if !slices.Equal(in, orig) {
				t.Errorf("pass modified its input")
			}
			want := tc.want
			if want == "" {
				want = tc.in
			}
			if got, want := listing(out), listing(mustParse(t, want)); got != want {
				t.Errorf("got\n%s\nwant\n%s", got, want)
			}
			if changed != tc.wantChanged {
				t.Errorf("changed = %v, want %v", changed, tc.wantChanged)
			}
			if err := Validate(out); err != nil {
				t.Fatalf("output is invalid: %v", err)
			}
			checkEquivalent(t, in, out, interestingInputs(in))
		})
	}
}

// interestingInputs returns seccomp_data rows in which every word takes
// each constant that prog compares against, its neighbours, and a few
// fixed values.
func interestingInputs(prog []Instruction) []SeccompData {
	vals := []uint32{0, 1, 2, 0x7fffffff, 0x80000000, 0xffffffff}
	for _, ins := range prog {
		if isCondJump(ins.Code) || ins.Code == opLdImm {
			vals = append(vals, ins.K, ins.K-1, ins.K+1)
		}
	}
	slices.Sort(vals)
	vals = slices.Compact(vals)
	var rows []SeccompData
	for i, v := range vals {
		w := vals[(i+1)%len(vals)]
		d := SeccompData{Nr: int32(v), Arch: v, IP: uint64(w)<<32 | uint64(v)}
		for a := range d.Args {
			if a%2 == 0 {
				d.Args[a] = uint64(w)<<32 | uint64(v)
			} else {
				d.Args[a] = uint64(v)<<32 | uint64(w)
			}
		}
		rows = append(rows, d)
	}
	return rows
}

func checkEquivalent(t testing.TB, a, b []Instruction, rows []SeccompData) {
	t.Helper()
	ra, rb := runAll(t, a, rows), runAll(t, b, rows)
	for i := range rows {
		if ra[i] != rb[i] {
			t.Fatalf("input %+v: %#x before, %#x after\nbefore:\n%s\nafter:\n%s", rows[i], ra[i], rb[i],
				Disassemble(a), Disassemble(b))
		}
	}
}

// longJump returns a listing in which pc 1 jumps to a "ja" at pc 3 that
// goes 300 instructions further.
func longJump() string {
	var sb strings.Builder
	sb.WriteString("ld [0]\njeq #1 jt 3 jf 2\nret #5\nja 304\n")
	for range 300 {
		sb.WriteString("ret #9\n")
	}
	sb.WriteString("ld #1\nret a\n")
	return sb.String()
}

func TestThreadJumps(t *testing.T) {
	runPassCases(t, ThreadJumps, []passCase{
		{"nothing to do", `
			0: ld [0]
			1: jeq #1 jt 2 jf 3
			2: ret #0
			3: ret #1`, "", false},
		{"conditional through ja, ja to return", `
			0: ld [0]
			1: jeq #1 jt 2 jf 3
			2: ja 4
			3: ret #0
			4: ret #1`, `
			0: ld [0]
			1: jeq #1 jt 4 jf 3
			2: ret KILL_THREAD(1)
			3: ret KILL_THREAD
			4: ret KILL_THREAD(1)`, true},
		{"ja chain", `
			0: ja 2
			1: ret #0
			2: ja 4
			3: ret #1
			4: ld #7
			5: ret a`, `
			0: ja 4
			1: ret KILL_THREAD
			2: ja 4
			3: ret KILL_THREAD(1)
			4: ld #7
			5: ret a`, true},
		{"same comparison twice", `
			0: ld [0]
			1: jge #10 jt 3 jf 2
			2: ret #0
			3: jge #10 jt 5 jf 4
			4: ret #1
			5: ret #2`, `
			0: ld [0]
			1: jge #10 jt 5 jf 2
			2: ret KILL_THREAD
			3: jge #10 jt 5 jf 4
			4: ret KILL_THREAD(1)
			5: ret KILL_THREAD(2)`, true},
		{"same comparison on the false side", `
			0: ld [0]
			1: jset #4 jt 2 jf 3
			2: ret #0
			3: jset #4 jt 4 jf 5
			4: ret #1
			5: ret #2`, `
			0: ld [0]
			1: jset #4 jt 2 jf 5
			2: ret KILL_THREAD
			3: jset #4 jt 4 jf 5
			4: ret KILL_THREAD(1)
			5: ret KILL_THREAD(2)`, true},
		{"different constants are not threaded", `
			0: ld [0]
			1: jge #10 jt 3 jf 2
			2: ret #0
			3: jge #11 jt 5 jf 4
			4: ret #1
			5: ret #2`, "", false},
		{"different opcodes are not threaded", `
			0: ld [0]
			1: jge #10 jt 3 jf 2
			2: ret #0
			3: jgt #10 jt 5 jf 4
			4: ret #1
			5: ret #2`, "", false},
		{"equal targets become ja", `
			0: ld [0]
			1: jeq #1 jt 3 jf 3
			2: ret #0
			3: jeq #2 jt 4 jf 4
			4: ret #1`, `
			0: ld [0]
			1: ja 3
			2: ret KILL_THREAD
			3: ja 4
			4: ret KILL_THREAD(1)`, true},
		{"conditional stays within 255", longJump(), "", false},
	})
}

// TestThreadJumpsX covers "jeq x" threading, which the listing syntax in
// the table cannot express because ldx has no absolute load.
func TestThreadJumpsX(t *testing.T) {
	in := mustParse(t, `
		0: ld [0]
		1: tax
		2: ld [4]
		3: jeq x jt 5 jf 4
		4: ret #0
		5: jeq x jt 7 jf 6
		6: ret #1
		7: ret #2`)
	out, changed := ThreadJumps(in)
	if !changed || out[3] != Jump(opJeqX, 0, 3, 0) {
		t.Errorf("got %v, changed %v\n%s", out[3], changed, Disassemble(out))
	}
	checkEquivalent(t, in, out, interestingInputs(in))
}

func TestMergeReturns(t *testing.T) {
	var far strings.Builder
	far.WriteString("ld [0]\njeq #1 jt 2 jf 3\nret #9\nja 305\n")
	for range 300 {
		far.WriteString("ret #7\n")
	}
	far.WriteString("ret #8\nret #9\n")
	runPassCases(t, MergeReturns, []passCase{
		{"nothing to do", `
			0: ld [0]
			1: jeq #1 jt 2 jf 3
			2: ret #0
			3: ret #1`, "", false},
		{"jumps go to the last identical return", `
			0: ld [0]
			1: jeq #1 jt 2 jf 3
			2: ret ERRNO(1)
			3: jeq #2 jt 4 jf 5
			4: ret ERRNO(1)
			5: ja 7
			6: ret ERRNO(1)
			7: ret ALLOW`, `
			0: ld [0]
			1: jeq #1 jt 6 jf 3
			2: ret ERRNO(1)
			3: jeq #2 jt 6 jf 5
			4: ret ERRNO(1)
			5: ja 7
			6: ret ERRNO(1)
			7: ret ALLOW`, true},
		{"ret a", `
			0: ld [0]
			1: jeq #1 jt 2 jf 3
			2: ret a
			3: ret a`, `
			0: ld [0]
			1: jeq #1 jt 3 jf 3
			2: ret a
			3: ret a`, true},
		{"different values are not merged", `
			0: ld [0]
			1: jeq #1 jt 2 jf 3
			2: ret ERRNO(1)
			3: ret ERRNO(2)`, "", false},
		// The conditional's "ret #9" at pc 2 must not move to pc 305 (303
		// away), and the "ja 305" already goes to the last one.
		{"conditional stays within 255", far.String(), "", false},
	})
	// A "ja" goes to the last identical return at any distance.
	in := mustParse(t, "ld [0]\njeq #1 jt 2 jf 3\nret #9\nja 4\nret #9\nret #9")
	out, changed := MergeReturns(in)
	if !changed || out[1].Jt != 3 || out[3].K != 1 {
		t.Errorf("got\n%s", Disassemble(out))
	}
}

// padded returns a listing of head, n copies of pad, and tail.
func padded(head string, n int, pad, tail string) string {
	return head + "\n" + strings.Repeat(pad+"\n", n) + tail
}

// TestPassRangeBoundaries checks that passes redirect a conditional jump to
// a target exactly 255 instructions away and not to one 256 away.
func TestPassRangeBoundaries(t *testing.T) {
	head := "0: ld [0]\n1: jeq #1 jt 2 jf 3\n2: ret #9"
	for _, tc := range []struct {
		name   string
		pass   func([]Instruction) ([]Instruction, bool)
		text   string
		wantJt uint8 // of the jump at pc 1
	}{
		// pc 3..256 pad, pc 257 is 255 away from pc 1.
		{"merge 255", MergeReturns, padded(head, 254, "ret #7", "ret #9"), 255},
		{"merge 256", MergeReturns, padded(head, 255, "ret #7", "ret #9"), 0},
		{"thread 255", ThreadJumps, padded("0: ld [0]\n1: jeq #1 jt 3 jf 2\n2: ret #9\n3: ja 257", 253, "ret #7", "ld #5\nret a"), 255},
		{"thread 256", ThreadJumps, padded("0: ld [0]\n1: jeq #1 jt 3 jf 2\n2: ret #9\n3: ja 258", 254, "ret #7", "ld #5\nret a"), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := mustParse(t, tc.text)
			if err := Validate(in); err != nil {
				t.Fatal(err)
			}
			out, _ := tc.pass(in)
			if out[1].Jt != tc.wantJt {
				t.Errorf("jt = %d, want %d", out[1].Jt, tc.wantJt)
			}
			checkEquivalent(t, in, out, interestingInputs(in))
		})
	}
}

func TestOffsetHelpersPanic(t *testing.T) {
	for name, f := range map[string]func(){
		"cond too far":  func() { condOffset(0, 257) },
		"cond backward": func() { condOffset(5, 5) },
		"ja backward":   func() { jaOffset(5, 3) },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if r := recover(); r == nil {
					t.Errorf("no panic")
				} else if err, ok := r.(error); !ok || !errors.Is(err, ErrBug) {
					t.Errorf("panic %v is not ErrBug", r)
				}
			}()
			f()
		})
	}
}

func TestRemoveRedundantLoads(t *testing.T) {
	runPassCases(t, RemoveRedundantLoads, []passCase{
		{"nothing to do", `
			0: ld [0]
			1: jeq #1 jt 2 jf 3
			2: ret #0
			3: ret #1`, "", false},
		{"reload after a branch", `
			0: ld [0]
			1: jeq #1 jt 2 jf 4
			2: ld [0]
			3: jeq #2 jt 4 jf 5
			4: ret #1
			5: ret #2`, `
			0: ld [0]
			1: jeq #1 jt 2 jf 4
			2: ja 3
			3: jeq #2 jt 4 jf 5
			4: ret KILL_THREAD(1)
			5: ret KILL_THREAD(2)`, true},
		{"paths disagree", `
			0: ld [0]
			1: jeq #1 jt 2 jf 3
			2: ld [4]
			3: ld [0]
			4: ret a`, "", false},
		{"paths agree", `
			0: ld [0]
			1: jeq #1 jt 2 jf 3
			2: ld [0]
			3: ld [0]
			4: ret a`, `
			0: ld [0]
			1: jeq #1 jt 2 jf 3
			2: ja 3
			3: ja 4
			4: ret a`, true},
		{"alu result is unknown", `
			0: ld [0]
			1: add #0
			2: ld [0]
			3: ret a`, "", false},
		{"constants and len", `
			0: ld #5
			1: ld #5
			2: ld #len
			3: ld #64
			4: ldx #len
			5: ldx #64
			6: ret a`, `
			0: ld #5
			1: ja 2
			2: ld #len
			3: ja 4
			4: ldx #len
			5: ja 6
			6: ret a`, true},
		{"through scratch memory", `
			0: ld [16]
			1: st M[0]
			2: ld M[0]
			3: ld [20]
			4: ld M[0]
			5: ld [16]
			6: ldx M[0]
			7: ret a`, `
			0: ld [16]
			1: st M[0]
			2: ja 3
			3: ld [20]
			4: ld M[0]
			5: ja 6
			6: ldx M[0]
			7: ret a`, true},
		{"tax and txa", `
			0: ld [8]
			1: tax
			2: txa
			3: tax
			4: ld #1
			5: txa
			6: stx M[1]
			7: ldx M[1]
			8: ret a`, `
			0: ld [8]
			1: tax
			2: ja 3
			3: ja 4
			4: ld #1
			5: txa
			6: stx M[1]
			7: ja 8
			8: ret a`, true},
		{"unknown slot is not redundant", `
			0: ld [0]
			1: jeq #1 jt 2 jf 4
			2: st M[2]
			3: ja 5
			4: st M[2]
			5: ld M[2]
			6: ret a`, `
			0: ld [0]
			1: jeq #1 jt 2 jf 4
			2: st M[2]
			3: ja 5
			4: st M[2]
			5: ja 6
			6: ret a`, true},
		{"unreachable code is left alone", `
			0: ret #0
			1: ld #1
			2: ld #1
			3: ret a`, "", false},
	})
}

func TestRemoveDeadCode(t *testing.T) {
	runPassCases(t, RemoveDeadCode, []passCase{
		{"nothing to do", `
			0: ld [0]
			1: jeq #1 jt 2 jf 3
			2: ret #0
			3: ret #1`, "", false},
		{"after a return", `
			0: ret #0
			1: ld #1
			2: ret a`, `
			0: ret KILL_THREAD`, true},
		{"jumped over", `
			0: ld [0]
			1: jeq #1 jt 4 jf 2
			2: ja 5
			3: ret #7
			4: ret #1
			5: ret #2`, `
			0: ld [0]
			1: jeq #1 jt 3 jf 2
			2: ja 4
			3: ret KILL_THREAD(1)
			4: ret KILL_THREAD(2)`, true},
		{"no-op jumps", `
			0: ja 1
			1: ld [0]
			2: jeq #1 jt 3 jf 5
			3: ja 4
			4: ret #1
			5: jeq #2 jt 6 jf 6
			6: ret #2`, `
			0: ld [0]
			1: jeq #1 jt 2 jf 3
			2: ret KILL_THREAD(1)
			3: ret KILL_THREAD(2)`, true},
		{"long jump shrinks", longJump(), `
			0: ld [0]
			1: jeq #1 jt 3 jf 2
			2: ret KILL_THREAD(5)
			3: ja 4
			4: ld #1
			5: ret a`, true},
	})
}

// TestDeadCodeLongJump checks the offsets after deleting code between a
// jump and its target.
func TestDeadCodeLongJump(t *testing.T) {
	in := mustParse(t, "ld [0]\njeq #1 jt 2 jf 3\nja 6\nret #5\nret #6\nret #7\nret #8")
	out, changed := RemoveDeadCode(in)
	want := normalize(`
		0: ld [0]
		1: jeq #1 jt 2 jf 3
		2: ja 4
		3: ret KILL_THREAD(5)
		4: ret KILL_THREAD(8)`)
	if !changed || listing(out) != want {
		t.Errorf("got\n%s\nwant\n%s", listing(out), want)
	}
}

func TestOptimize(t *testing.T) {
	f := newSampleFilter(120)
	prog := f.assemble(t)
	opt, err := Optimize(prog)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d instructions, %d optimized", len(prog), len(opt))
	if len(opt) >= len(prog) {
		t.Errorf("Optimize did not shrink the sample filter: %d → %d", len(prog), len(opt))
	}
	rows := f.inputs()
	for _, p := range [][]Instruction{prog, opt} {
		got := runAll(t, p, rows)
		for i, d := range rows {
			if want := f.verdict(d); got[i] != want {
				t.Fatalf("%+v: got %v, want %v", d, Action(got[i]), Action(want))
			}
		}
	}
	again, err := Optimize(opt)
	if err != nil || !slices.Equal(again, opt) {
		t.Errorf("Optimize is not idempotent: %d → %d instructions (%v)", len(opt), len(again), err)
	}
	// Each pass alone preserves the behaviour too.
	want := runAll(t, prog, rows)
	for _, p := range Passes() {
		out, err := OptimizeWith(prog, []Pass{p})
		if err != nil {
			t.Fatalf("%s: %v", p.Name, err)
		}
		if got := runAll(t, out, rows); !slices.Equal(got, want) {
			t.Errorf("%s changed the behaviour", p.Name)
		}
	}
}

func TestOptimizeInvalid(t *testing.T) {
	if _, err := Optimize([]Instruction{Stmt(opLdImm, 0)}); !errors.Is(err, ErrNoReturn) {
		t.Errorf("Optimize(invalid) = %v, want ErrNoReturn", err)
	}
	if _, err := Optimize(nil); !errors.Is(err, ErrEmpty) {
		t.Errorf("Optimize(nil) = %v, want ErrEmpty", err)
	}
}

// TestOptimizeDiscardsInvalidResults uses a program that only the kernel's
// quirky scratch check keeps valid: the unreachable store at pc 7 makes pc 8
// acceptable, and deleting it would make the kernel reject the program.
func TestOptimizeDiscardsInvalidResults(t *testing.T) {
	in := mustParse(t, `
		0: ld [0]
		1: jeq #1 jt 2 jf 6
		2: add #1
		3: st M[0]
		4: ja 8
		5: ret #9
		6: ret #0
		7: st M[0]
		8: ld M[0]
		9: ret a`)
	if err := Validate(in); err != nil {
		t.Fatal(err)
	}
	dead, _ := RemoveDeadCode(in)
	if err := Validate(dead); !errors.Is(err, ErrUninitializedScratch) {
		t.Fatalf("expected the dead-code result to be rejected, got %v", err)
	}
	out, discarded, err := optimize(in, Passes())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(discarded, "dead-code") {
		t.Errorf("discarded = %v, want dead-code", discarded)
	}
	if err := Validate(out); err != nil {
		t.Errorf("Optimize returned an invalid program: %v", err)
	}
	checkEquivalent(t, in, out, interestingInputs(in))
}

func TestPassesList(t *testing.T) {
	var names []string
	for _, p := range Passes() {
		names = append(names, p.Name)
		if p.Func == nil {
			t.Errorf("pass %s has no Func", p.Name)
		}
	}
	if got, want := fmt.Sprint(names), "[thread-jumps merge-returns redundant-loads dead-code]"; got != want {
		t.Errorf("Passes() = %s, want %s", got, want)
	}
}
