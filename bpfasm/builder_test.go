package bpfasm

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestBuilderAssemble(t *testing.T) {
	for _, tc := range []struct {
		name  string
		build func(b *Builder)
		want  string
	}{
		{"arch check", func(b *Builder) {
			b.LoadArch()
			b.JumpIf(Eq, auditArchX86_64, "", "kill")
			b.LoadNr()
			b.JumpIf(Eq, 39, "allow", "")
			b.RetAction(Errno(1))
			b.Label("allow")
			b.RetAction(ActionAllow)
			b.Label("kill")
			b.RetAction(ActionKillProcess)
		}, `
			0: ld [4]
			1: jeq #0xc000003e jt 2 jf 6
			2: ld [0]
			3: jeq #39 jt 5 jf 4
			4: ret ERRNO(1)
			5: ret ALLOW
			6: ret KILL_PROCESS`},
		{"negated conditions swap targets", func(b *Builder) {
			b.LoadNr()
			b.JumpIf(Ne, 1, "a", "")
			b.JumpIf(Lt, 2, "a", "")
			b.JumpIf(Le, 3, "a", "")
			b.JumpIf(BitsClear, 4, "a", "")
			b.Ret(0)
			b.Label("a")
			b.Ret(1)
		}, `
			0: ld [0]
			1: jeq #1 jt 2 jf 6
			2: jge #2 jt 3 jf 6
			3: jgt #3 jt 4 jf 6
			4: jset #4 jt 5 jf 6
			5: ret KILL_THREAD
			6: ret KILL_THREAD(1)`},
		{"positive conditions", func(b *Builder) {
			b.LoadNr()
			b.JumpIf(Eq, 1, "a", "b")
			b.Label("b")
			b.JumpIf(Gt, 2, "", "a")
			b.JumpIf(Ge, 3, "a", "a")
			b.JumpIf(BitsSet, 4, "", "")
			b.RetA()
			b.Label("a")
			b.Ret(1)
		}, `
			0: ld [0]
			1: jeq #1 jt 6 jf 2
			2: jgt #2 jt 3 jf 6
			3: jge #3 jt 6 jf 6
			4: jset #4 jt 5 jf 5
			5: ret a
			6: ret KILL_THREAD(1)`},
		{"x conditions and registers", func(b *Builder) {
			b.LoadArgLow(0)
			b.TAX()
			b.LoadArgHigh(5)
			b.JumpIfX(Eq, "same", "")
			b.TXA()
			b.Neg()
			b.ALU(ALUAnd, 0xff)
			b.ALUX(ALUAdd)
			b.RetA()
			b.Label("same")
			b.Label("alias")
			b.LoadXImm(7)
			b.LoadXLen()
			b.StoreX(1)
			b.LoadLen()
			b.Store(2)
			b.LoadXMem(1)
			b.LoadMem(2)
			b.LoadImm(9)
			b.RetA()
		}, `
			0: ld [16]
			1: tax
			2: ld [60]
			3: jeq x jt 9 jf 4
			4: txa
			5: neg
			6: and #255
			7: add x
			8: ret a
			9: ldx #7
			10: ldx #len
			11: stx M[1]
			12: ld #len
			13: st M[2]
			14: ldx M[1]
			15: ld M[2]
			16: ld #9
			17: ret a`},
		{"jump", func(b *Builder) {
			b.Jump("end")
			b.Ret(1)
			b.Label("end")
			b.Ret(2)
		}, `
			0: ja 2
			1: ret KILL_THREAD(1)
			2: ret KILL_THREAD(2)`},
		{"append raw jumps", func(b *Builder) {
			b.LoadNr()
			b.Append(Jump(opJeqK, 5, 1, 0), Stmt(opJa, 1))
			b.Ret(1)
			b.Ret(2)
		}, `
			0: ld [0]
			1: jeq #5 jt 3 jf 2
			2: ja 4
			3: ret KILL_THREAD(1)
			4: ret KILL_THREAD(2)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b Builder
			tc.build(&b)
			prog, err := b.Assemble()
			if err != nil {
				t.Fatalf("Assemble: %v", err)
			}
			if got, want := listing(prog), normalize(tc.want); got != want {
				t.Errorf("got\n%s\nwant\n%s", got, want)
			}
		})
	}
}

func TestCond(t *testing.T) {
	values := []uint32{0, 1, 2, 3, 4, 5, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff}
	for _, tc := range []struct {
		cond Cond
		eval func(a, v uint32) bool
	}{
		{Eq, func(a, v uint32) bool { return a == v }},
		{Ne, func(a, v uint32) bool { return a != v }},
		{Gt, func(a, v uint32) bool { return a > v }},
		{Ge, func(a, v uint32) bool { return a >= v }},
		{Lt, func(a, v uint32) bool { return a < v }},
		{Le, func(a, v uint32) bool { return a <= v }},
		{BitsSet, func(a, v uint32) bool { return a&v != 0 }},
		{BitsClear, func(a, v uint32) bool { return a&v == 0 }},
	} {
		t.Run(tc.cond.String(), func(t *testing.T) {
			if tc.cond.Negate().Negate() != tc.cond || tc.cond.Negate() == tc.cond {
				t.Errorf("Negate broken for %v", tc.cond)
			}
			for _, v := range values {
				var bk, bx Builder
				for _, b := range []*Builder{&bk, &bx} {
					b.LoadArgLow(0)
				}
				bk.JumpIf(tc.cond, v, "yes", "")
				bx.LoadXImm(v)
				bx.JumpIfX(tc.cond, "yes", "")
				for _, b := range []*Builder{&bk, &bx} {
					b.Ret(0)
					b.Label("yes")
					b.Ret(1)
				}
				for _, b := range []*Builder{&bk, &bx} {
					prog, err := b.Assemble()
					if err != nil {
						t.Fatal(err)
					}
					in, err := NewInterpreter(prog)
					if err != nil {
						t.Fatal(err)
					}
					for _, a := range values {
						got := in.RunData(SeccompData{Args: [6]uint64{uint64(a)}}) == 1
						if want := tc.eval(a, v); got != want {
							t.Errorf("%#x %v %#x = %v, want %v\n%s", a, tc.cond, v, got, want, Disassemble(prog))
						}
					}
				}
			}
		})
	}
	if got := Cond(0).String(); got != "Cond(0)" {
		t.Errorf("Cond(0).String() = %q", got)
	}
	if Cond(99).Negate() != Cond(99) {
		t.Errorf("Negate of an unknown condition changed it")
	}
}

func TestBuilderErrors(t *testing.T) {
	for _, tc := range []struct {
		name      string
		build     func(b *Builder)
		wantErr   error
		wantPC    int
		wantLabel string
	}{
		{"backward jump", func(b *Builder) {
			b.LoadNr()
			b.Label("top")
			b.LoadNr()
			b.JumpIf(Eq, 1, "", "top")
			b.Ret(0)
		}, ErrBackwardJump, 2, "top"},
		{"jump to itself", func(b *Builder) {
			b.Label("self")
			b.Jump("self")
			b.Ret(0)
		}, ErrBackwardJump, 0, "self"},
		{"duplicate label", func(b *Builder) {
			b.Label("x")
			b.Ret(0)
			b.Label("x")
			b.Ret(1)
		}, ErrDuplicateLabel, 1, "x"},
		{"undefined label", func(b *Builder) {
			b.LoadNr()
			b.JumpIf(Eq, 1, "nowhere", "")
			b.Ret(0)
		}, ErrUndefinedLabel, 1, "nowhere"},
		{"empty label", func(b *Builder) {
			b.Label("")
			b.Ret(0)
		}, ErrInvalidLabel, 0, ""},
		{"ja without label", func(b *Builder) {
			b.Jump("")
			b.Ret(0)
		}, ErrInvalidLabel, 0, ""},
		{"label at end", func(b *Builder) {
			b.Jump("end")
			b.Ret(0)
			b.Label("end")
		}, ErrJumpOutOfRange, 0, "end"},
		{"fall through past end", func(b *Builder) {
			b.Ret(0)
			b.JumpIf(Eq, 0, "", "")
		}, ErrJumpOutOfRange, 1, ""},
		{"raw jump past end", func(b *Builder) {
			b.Append(Jump(opJeqK, 0, 5, 0))
			b.Ret(0)
		}, ErrJumpOutOfRange, 0, ""},
		{"argument index", func(b *Builder) {
			b.Ret(0)
			b.LoadArgLow(6)
		}, ErrInvalidArgument, 1, ""},
		{"negative argument index", func(b *Builder) {
			b.LoadArgHigh(-1)
		}, ErrInvalidArgument, 0, ""},
		{"alu neg", func(b *Builder) {
			b.ALU(ALUNeg, 1)
		}, ErrInvalidArgument, 0, ""},
		{"alux neg", func(b *Builder) {
			b.ALUX(ALUNeg)
		}, ErrInvalidArgument, 0, ""},
		{"unknown condition", func(b *Builder) {
			b.JumpIf(Cond(0), 0, "", "")
		}, ErrInvalidArgument, 0, ""},
		{"empty", func(b *Builder) {}, ErrEmpty, 0, ""},
		{"validation error names builder pc and label", func(b *Builder) {
			b.LoadNr()
			b.JumpIf(Eq, 0, "far", "")
			for range 300 {
				b.ALU(ALUAdd, 0)
			}
			b.Label("far")
			b.Label("far2")
			b.LoadAbs(70)
			b.Ret(0)
		}, ErrInvalidLoad, 302, "far"},
		{"no return", func(b *Builder) {
			b.Label("start")
			b.LoadNr()
		}, ErrNoReturn, 0, "start"},
		{"scratch", func(b *Builder) {
			b.LoadMem(0)
			b.RetA()
		}, ErrUninitializedScratch, 0, ""},
		{"too long", func(b *Builder) {
			for range MaxInstructions + 1 {
				b.Ret(0)
			}
		}, ErrTooLong, MaxInstructions, ""},
		{"too long after trampolines", func(b *Builder) {
			b.LoadNr()
			for range 10 {
				b.JumpIf(Eq, 0, "end", "")
			}
			for range MaxInstructions - 12 {
				b.ALU(ALUAdd, 0)
			}
			b.Label("end")
			b.Ret(0)
		}, ErrTooLong, MaxInstructions - 1, "end"},
		{"first error wins", func(b *Builder) {
			b.Label("a")
			b.Label("a")
			b.Jump("")
			b.Ret(0)
		}, ErrDuplicateLabel, 0, "a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b Builder
			tc.build(&b)
			prog, err := b.Assemble()
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Assemble = %v, want %v", err, tc.wantErr)
			}
			if prog != nil {
				t.Errorf("Assemble returned a program with an error")
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Assemble error %T is not *Error", err)
			}
			if e.PC != tc.wantPC || e.Label != tc.wantLabel {
				t.Errorf("PC %d label %q, want %d %q (%v)", e.PC, e.Label, tc.wantPC, tc.wantLabel, err)
			}
			if tc.wantLabel != "" && !strings.Contains(err.Error(), fmt.Sprintf("%q", tc.wantLabel)) {
				t.Errorf("message %q does not name the label", err)
			}
			if !strings.Contains(err.Error(), fmt.Sprintf("pc %d", tc.wantPC)) {
				t.Errorf("message %q does not name the PC", err)
			}
			if b.Err() != nil && !errors.Is(b.Err(), tc.wantErr) {
				t.Errorf("Err() = %v", b.Err())
			}
		})
	}
}

// farProgram jumps from one conditional to labels dist instructions away
// and returns 1 when arg0 == 1, 2 when arg0 == 2, else 3.
func farProgram(distT, distF int) func(b *Builder) {
	return func(b *Builder) {
		b.LoadArgLow(0)
		b.JumpIf(Eq, 1, "one", "")
		b.JumpIf(Eq, 2, "two", "three")
		for i := range max(distT, distF) {
			if i == distT-1 {
				b.Label("one")
				b.Ret(1)
			} else if i == distF-1 {
				b.Label("two")
				b.Ret(2)
			} else {
				b.Ret(99)
			}
		}
		b.Label("three")
		b.Ret(3)
	}
}

func TestTrampolines(t *testing.T) {
	farWant := func(arg uint64) uint32 {
		if arg == 1 || arg == 2 {
			return uint32(arg)
		}
		return 3
	}
	nearWant := func(arg uint64) uint32 {
		if arg == 1 {
			return 1
		}
		return 99
	}
	for _, tc := range []struct {
		name   string
		build  func(b *Builder)
		want   func(arg0 uint64) uint32
		wantJA int // trampolines expected in the output
	}{
		{"in range", farProgram(250, 252), farWant, 0},
		{"true side far", farProgram(300, 100), farWant, 2},  // "one" and "three"
		{"false side far", farProgram(100, 400), farWant, 2}, // "two" and "three"
		{"both far", farProgram(300, 400), farWant, 3},
		{"same far target shares one trampoline", func(b *Builder) {
			b.LoadArgLow(0)
			b.JumpIf(Eq, 1, "far", "far")
			for range 300 {
				b.Ret(99)
			}
			b.Label("far")
			b.Ret(1)
		}, func(uint64) uint32 { return 1 }, 1},
		{"jumps to one far target share a trampoline", func(b *Builder) {
			b.LoadArgLow(0)
			b.JumpIf(Eq, 1, "far", "")
			b.JumpIf(Eq, 2, "far", "")
			b.JumpIf(Ne, 3, "", "far")
			for range 300 {
				b.Ret(99)
			}
			b.Label("far")
			b.Ret(1)
		}, func(arg uint64) uint32 {
			if arg >= 1 && arg <= 3 {
				return 1
			}
			return 99
		}, 1},
		{"exactly 255 away", func(b *Builder) {
			b.LoadArgLow(0)
			b.JumpIf(Eq, 1, "far", "")
			for range 255 {
				b.Ret(99)
			}
			b.Label("far")
			b.Ret(1)
		}, nearWant, 0},
		{"exactly 256 away", func(b *Builder) {
			b.LoadArgLow(0)
			b.JumpIf(Eq, 1, "far", "")
			for range 256 {
				b.Ret(99)
			}
			b.Label("far")
			b.Ret(1)
		}, nearWant, 1},
		{"trampolines push earlier jumps out of range", func(b *Builder) {
			// Jump k (pc k, k = 1..9) goes to t<k> at distance
			// 246+k, in range until the trampolines of the jumps after
			// it are inserted; jump 10 goes far and starts the cascade.
			b.LoadArgLow(0)
			for k := 1; k <= 9; k++ {
				b.JumpIf(Eq, uint32(100+k), fmt.Sprintf("t%d", k), "")
			}
			b.JumpIf(Eq, 110, "far", "")
			for pc := 11; pc < 700; pc++ {
				if k := (pc - 247) / 2; pc >= 249 && pc%2 == 1 && k <= 9 {
					b.Label(fmt.Sprintf("t%d", k))
					b.Ret(uint32(k))
					continue
				}
				b.Ret(99)
			}
			b.Label("far")
			b.Ret(10)
		}, func(arg uint64) uint32 {
			if arg > 100 && arg <= 110 {
				return uint32(arg - 100)
			}
			return 99
		}, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b Builder
			tc.build(&b)
			prog, err := b.Assemble()
			if err != nil {
				t.Fatalf("Assemble: %v", err)
			}
			ja := 0
			for _, ins := range prog {
				if ins.Code == opJa {
					ja++
				}
			}
			if ja != tc.wantJA || len(prog)-b.Len() != tc.wantJA {
				t.Errorf("%d trampolines, %d extra instructions; want %d", ja, len(prog)-b.Len(), tc.wantJA)
			}
			in, err := NewInterpreter(prog)
			if err != nil {
				t.Fatal(err)
			}
			for arg := range uint64(120) {
				if got, want := in.RunData(SeccompData{Args: [6]uint64{arg}}), tc.want(arg); got != want {
					t.Fatalf("arg %d: got %d, want %d\n%s", arg, got, want, Disassemble(prog))
				}
			}
		})
	}
}

// TestTrampolinesLarge assembles a program of about 3000 instructions in
// which a thousand conditional jumps go to fifty far labels.
func TestTrampolinesLarge(t *testing.T) {
	const jumps, targets, pad = 1000, 50, 20
	var b Builder
	b.LoadArgLow(0)
	for i := range jumps {
		b.JumpIf(Eq, uint32(i), fmt.Sprintf("r%d", i%targets), "")
		if i%2 == 0 {
			b.ALU(ALUAdd, 0)
		}
	}
	b.RetAction(ActionAllow)
	for j := range targets {
		b.Label(fmt.Sprintf("r%d", j))
		for range pad {
			b.ALU(ALUAdd, 0)
		}
		b.Ret(uint32(j))
	}
	prog, err := b.Assemble()
	if err != nil {
		t.Fatalf("Assemble: %v", err)
	}
	t.Logf("%d instructions appended, %d assembled", b.Len(), len(prog))
	if len(prog) <= b.Len() {
		t.Fatalf("no trampolines in a %d-instruction program", len(prog))
	}
	in, err := NewInterpreter(prog)
	if err != nil {
		t.Fatal(err)
	}
	for v := range uint64(jumps + 100) {
		want := uint32(ActionAllow)
		if v < jumps {
			want = uint32(v % targets)
		}
		if got := in.RunData(SeccompData{Args: [6]uint64{v}}); got != want {
			t.Fatalf("arg %d: got %#x, want %#x", v, got, want)
		}
	}
	// Optimizing keeps the behaviour and every offset in range.
	opt, err := Optimize(prog)
	if err != nil {
		t.Fatal(err)
	}
	oin, err := NewInterpreter(opt)
	if err != nil {
		t.Fatal(err)
	}
	for v := range uint64(jumps + 100) {
		if got, want := oin.RunData(SeccompData{Args: [6]uint64{v}}), in.RunData(SeccompData{Args: [6]uint64{v}}); got != want {
			t.Fatalf("optimized, arg %d: got %#x, want %#x", v, got, want)
		}
	}
}
