package bpfasm

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"
)

func TestInstructionString(t *testing.T) {
	for _, tc := range []struct {
		ins  Instruction
		want string
	}{
		{Stmt(opLdAbsW, 4), "ld [4]"},
		{Stmt(opLdAbsH, 2), "ldh [2]"},
		{Stmt(opLdAbsB, 0x1000), "ldb [0x1000]"},
		{Stmt(opLdIndW, 8), "ld [x+8]"},
		{Stmt(opLdIndH, 8), "ldh [x+8]"},
		{Stmt(opLdIndB, 8), "ldb [x+8]"},
		{Stmt(opLdImm, 4095), "ld #4095"},
		{Stmt(opLdImm, 4096), "ld #0x1000"},
		{Stmt(opLdLen, 0), "ld #len"},
		{Stmt(opLdMem, 15), "ld M[15]"},
		{Stmt(opLdxImm, 0xffffffff), "ldx #0xffffffff"},
		{Stmt(opLdxLen, 0), "ldx #len"},
		{Stmt(opLdxMem, 1), "ldx M[1]"},
		{Stmt(opLdxMsh, 14), "ldxb 4*([14]&0xf)"},
		{Stmt(opSt, 2), "st M[2]"},
		{Stmt(opStx, 3), "stx M[3]"},
		{Stmt(Code(ClassALU, ALUAdd, SrcK), 1), "add #1"},
		{Stmt(Code(ClassALU, ALUSub, SrcX), 0), "sub x"},
		{Stmt(Code(ClassALU, ALUMul, SrcK), 3), "mul #3"},
		{Stmt(Code(ClassALU, ALUDiv, SrcX), 0), "div x"},
		{Stmt(Code(ClassALU, ALUOr, SrcK), 0x10), "or #16"},
		{Stmt(Code(ClassALU, ALUAnd, SrcX), 0), "and x"},
		{Stmt(Code(ClassALU, ALULsh, SrcK), 4), "lsh #4"},
		{Stmt(Code(ClassALU, ALURsh, SrcX), 0), "rsh x"},
		{Stmt(Code(ClassALU, ALUMod, SrcK), 7), "mod #7"},
		{Stmt(Code(ClassALU, ALUXor, SrcX), 0), "xor x"},
		{Stmt(opNeg, 0), "neg"},
		{Stmt(opTax, 0), "tax"},
		{Stmt(opTxa, 0), "txa"},
		{Stmt(opJa, 5), "ja +5"},
		{Jump(opJeqK, 39, 0, 3), "jeq #39 jt +0 jf +3"},
		{Jump(opJeqX, 0, 1, 0), "jeq x jt +1 jf +0"},
		{Jump(opJgtK, 0xc000003e, 255, 255), "jgt #0xc000003e jt +255 jf +255"},
		{Jump(opJgeX, 0, 2, 2), "jge x jt +2 jf +2"},
		{Jump(opJsetK, 0x40000000, 0, 0), "jset #0x40000000 jt +0 jf +0"},
		{Stmt(opRetK, uint32(ActionAllow)), "ret ALLOW"},
		{Stmt(opRetK, uint32(Errno(1))), "ret ERRNO(1)"},
		{Stmt(opRetK, uint32(ActionErrno)), "ret ERRNO(0)"},
		{Stmt(opRetK, uint32(ActionKillProcess)), "ret KILL_PROCESS"},
		{Stmt(opRetK, 0), "ret KILL_THREAD"},
		{Stmt(opRetK, 7), "ret KILL_THREAD(7)"},
		{Stmt(opRetK, uint32(ActionTrap)), "ret TRAP(0)"},
		{Stmt(opRetK, uint32(ActionTrace|5)), "ret TRACE(5)"},
		{Stmt(opRetK, uint32(ActionUserNotif)), "ret USER_NOTIF"},
		{Stmt(opRetK, uint32(ActionLog)), "ret LOG"},
		{Stmt(opRetK, uint32(ActionAllow|9)), "ret ALLOW(9)"},
		{Stmt(opRetK, 0x12340000), "ret #0x12340000"},
		{Stmt(opRetA, 0), "ret a"},
		// Fields that the text form cannot show force the raw form.
		{Instruction{Code: opLdAbsW, Jt: 1, K: 4}, ".insn 0x20, 1, 0, 0x4"},
		{Stmt(opLdLen, 3), ".insn 0x80, 0, 0, 0x3"},
		{Stmt(opRetA, 1), ".insn 0x16, 0, 0, 0x1"},
		{Jump(opJa, 1, 0, 2), ".insn 0x5, 0, 2, 0x1"},
		{Jump(opJeqX, 1, 0, 0), ".insn 0x1d, 0, 0, 0x1"},
		{Stmt(0x0e, 0), ".insn 0xe, 0, 0, 0x0"},
		{Stmt(0xffff, 0xffffffff), ".insn 0xffff, 0, 0, 0xffffffff"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			if got := tc.ins.String(); got != tc.want {
				t.Errorf("String() = %q, want %q", got, tc.want)
			}
			back, err := ParseText(tc.want)
			if err != nil {
				t.Fatalf("ParseText: %v", err)
			}
			if len(back) != 1 || back[0] != tc.ins {
				t.Errorf("ParseText = %+v, want %+v", back, tc.ins)
			}
		})
	}
}

func TestDisassemble(t *testing.T) {
	prog := []Instruction{
		Stmt(opLdAbsW, OffsetArch),
		Jump(opJeqK, auditArchX86_64, 0, 5),
		Stmt(opLdAbsW, OffsetNr),
		Jump(opJeqK, 39, 0, 1),
		Stmt(opRetK, uint32(ActionAllow)),
		Stmt(opLdAbsW, ArgHigh(5)),
		Stmt(opLdAbsW, OffsetIPLow),
		Stmt(opLdAbsW, OffsetIPHigh),
		Stmt(opRetK, uint32(Errno(1))),
	}
	want := `   0: ld [4]                   ; arch
   1: jeq #0xc000003e jt 2 jf 7
   2: ld [0]                   ; nr
   3: jeq #39 jt 4 jf 5
   4: ret ALLOW
   5: ld [60]                  ; args[5] high
   6: ld [8]                   ; ip
   7: ld [12]                  ; ip high
   8: ret ERRNO(1)
`
	if got := Disassemble(prog); got != want {
		t.Errorf("Disassemble:\n%s\nwant\n%s", got, want)
	}
	if got := Program(prog).String(); got != want {
		t.Errorf("Program.String differs from Disassemble")
	}
	if got := Disassemble(nil); got != "" {
		t.Errorf("Disassemble(nil) = %q", got)
	}
}

func TestParseText(t *testing.T) {
	for _, tc := range []struct {
		name string
		text string
		want []Instruction
	}{
		{"empty", "", nil},
		{"comments and blanks", "\n ; nothing\n\t\n", nil},
		{"pc prefixes and comments", `
			0: ld [4]         ; arch
			1: jeq #0xc000003e jt 2 jf 3
			2: ret ALLOW
			3: ret KILL_PROCESS`, []Instruction{
			Stmt(opLdAbsW, 4), Jump(opJeqK, auditArchX86_64, 0, 1),
			Stmt(opRetK, uint32(ActionAllow)), Stmt(opRetK, uint32(ActionKillProcess)),
		}},
		{"case and spacing", "LD [ X + 0x10 ]\r\nJEQ   X  JT +1  JF 3\nTax\nRET   errno ( 13 )\nret A",
			[]Instruction{
				Stmt(opLdIndW, 16), Jump(opJeqX, 0, 1, 1), Stmt(opTax, 0),
				Stmt(opRetK, uint32(Errno(13))), Stmt(opRetA, 0),
			}},
		{"tabs", "ld\t[0]\nret\t#0", []Instruction{Stmt(opLdAbsW, 0), Stmt(opRetK, 0)}},
		{"mem and msh", "ld m[3]\nldxb 4*( [14] & 0xf )\nldx #LEN", []Instruction{
			Stmt(opLdMem, 3), Stmt(opLdxMsh, 14), Stmt(opLdxLen, 0),
		}},
		{"raw", ".insn 0x15, 1, 2, 0xffffffff\n.INSN 6,0,0,0", []Instruction{
			Jump(opJeqK, 0xffffffff, 1, 2), Stmt(opRetK, 0),
		}},
		{"relative and absolute ja", "ja +3\nja 5\nja 3", []Instruction{
			Stmt(opJa, 3), Stmt(opJa, 3), Stmt(opJa, 0),
		}},
		{"large absolute ja", "ja 4294967296", []Instruction{Stmt(opJa, 0xffffffff)}},
		{"ret numbers", "ret #0x7fff0000\nret #5", []Instruction{
			Stmt(opRetK, uint32(ActionAllow)), Stmt(opRetK, 5),
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseText(tc.text)
			if err != nil {
				t.Fatalf("ParseText: %v", err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got\n%v\nwant\n%v", Program(got), Program(tc.want))
			}
		})
	}
}

func TestParseTextErrors(t *testing.T) {
	for _, tc := range []struct {
		name     string
		text     string
		wantLine int
		wantPC   int
	}{
		{"unknown mnemonic", "ld [0]\nfoo #1", 2, 1},
		{"pc mismatch", "0: ld [0]\n2: ret a", 2, 1},
		{"bad number", "ld #12z", 1, 0},
		{"number too large", "ld #0x100000000", 1, 0},
		{"negative number", "ld #-1", 1, 0},
		{"underscore", "ld #1_000", 1, 0},
		{"missing number", "ld []", 1, 0},
		{"bad operand", "ld (4)", 1, 0},
		{"operand not taken", "tax #1", 1, 0},
		{"operand missing", "ld", 1, 0},
		{"neg with operand", "neg x", 1, 0},
		{"st imm", "st #1", 1, 0},
		{"ldx abs", "ldx [0]", 1, 0},
		{"backward target", "ld #0\nld #0\njeq #0 jt 1 jf 3", 3, 2},
		{"target too far", "jeq #0 jt 257 jf 1", 1, 0},
		{"relative too far", "jgt #0 jt +256 jf +0", 1, 0},
		{"ja too far", "ja +4294967296", 1, 0},
		{"missing jf", "jeq #0 jt 1", 1, 0},
		{"misspelled jt", "jeq #0 jx 1 jf 2", 1, 0},
		{"bad comparison", "jeq 5 jt 1 jf 2", 1, 0},
		{"bad comparison number", "jeq #z jt 1 jf 2", 1, 0},
		{"bad jt number", "jeq #1 jt z jf 2", 1, 0},
		{"bad jf number", "jeq #1 jt 1 jf +z", 1, 0},
		{"unknown action", "ret MAYBE", 1, 0},
		{"action data too large", "ret ERRNO(65536)", 1, 0},
		{"action unclosed", "ret ERRNO(1", 1, 0},
		{"ret bad number", "ret #x", 1, 0},
		{"raw fields", ".insn 1, 2, 3", 1, 0},
		{"raw jt too large", ".insn 0x15, 256, 0, 0", 1, 0},
		{"raw bad number", ".insn 0x15, 0, 0, q", 1, 0},
		{"ja bad target", "ja x", 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseText(tc.text)
			if !errors.Is(err, ErrSyntax) {
				t.Fatalf("ParseText = %v, want ErrSyntax", err)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T is not *Error", err)
			}
			if e.Line != tc.wantLine || e.PC != tc.wantPC {
				t.Errorf("line %d pc %d, want %d %d (%v)", e.Line, e.PC, tc.wantLine, tc.wantPC, err)
			}
		})
	}
}

// TestTextRoundTripAllOpcodes prints and parses every opcode with fields
// set and cleared, at several PCs, as a listing and as single instructions.
func TestTextRoundTripAllOpcodes(t *testing.T) {
	var prog []Instruction
	for code := range 1 << 16 {
		if code > 0x200 && code%97 != 0 {
			continue // every low code, and a sample of the rest
		}
		for _, f := range []struct {
			jt, jf uint8
			k      uint32
		}{{0, 0, 0}, {0, 0, 64}, {1, 255, 0xffffffff}, {7, 0, 1}} {
			prog = append(prog, Instruction{Code: uint16(code), Jt: f.jt, Jf: f.jf, K: f.k})
		}
	}
	text := Disassemble(prog)
	back, err := ParseText(text)
	if err != nil {
		t.Fatalf("ParseText: %v", err)
	}
	if !slices.Equal(back, prog) {
		for i := range prog {
			if i >= len(back) || back[i] != prog[i] {
				t.Fatalf("pc %d: %+v came back as %v", i, prog[i], back[i:i+1])
			}
		}
	}
	for _, ins := range prog {
		back, err := ParseText(ins.String())
		if err != nil || len(back) != 1 || back[0] != ins {
			t.Fatalf("%+v: %q came back as %v, %v", ins, ins.String(), back, err)
		}
	}
}

func TestActionString(t *testing.T) {
	for _, tc := range []struct {
		a    Action
		want string
	}{
		{ActionAllow, "ALLOW"},
		{ActionKillProcess, "KILL_PROCESS"},
		{ActionKillThread, "KILL_THREAD"},
		{Errno(1), "ERRNO(1)"},
		{ActionErrno, "ERRNO(0)"},
		{ActionTrap.WithData(3), "TRAP(3)"},
		{ActionTrace, "TRACE(0)"},
		{ActionUserNotif, "USER_NOTIF"},
		{ActionLog.WithData(1), "LOG(1)"},
		{0x12340000, "0x12340000"},
	} {
		if got := tc.a.String(); got != tc.want {
			t.Errorf("%#x: String() = %q, want %q", uint32(tc.a), got, tc.want)
		}
	}
	a := Errno(13)
	if a.Kind() != ActionErrno || a.Data() != 13 || a.WithData(2) != Errno(2) {
		t.Errorf("Kind/Data/WithData broken: %v %v %v", a.Kind(), a.Data(), a.WithData(2))
	}
}

func TestProgramFormat(t *testing.T) {
	p := Program{Stmt(opLdAbsW, 0), Stmt(opRetK, uint32(ActionAllow))}
	for _, tc := range []struct {
		format string
		want   string
	}{
		{"%v", "   0: ld [0]                   ; nr\n   1: ret ALLOW\n"},
		{"%s", "   0: ld [0]                   ; nr\n   1: ret ALLOW\n"},
		{"%+v", "   0: ld [0]                   ; {0x0020, 0, 0, 0x00000000} nr\n" +
			"   1: ret ALLOW                ; {0x0006, 0, 0, 0x7fff0000}\n"},
		{"%x", "2000000000000000060000000000ff7f"},
		{"%d", "%!d(bpfasm.Program)"},
	} {
		t.Run(tc.format, func(t *testing.T) {
			if got := fmt.Sprintf(tc.format, p); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestProgramMarshal(t *testing.T) {
	p := Program{Stmt(opLdAbsW, 0), Jump(opJeqK, 1, 0, 1), Stmt(opRetK, 1), Stmt(opRetA, 0)}
	text, err := p.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	var q Program
	if err := q.UnmarshalText(text); err != nil || !slices.Equal(p, q) {
		t.Errorf("text round trip: %v, %v", q, err)
	}
	if err := q.UnmarshalText([]byte("bogus")); !errors.Is(err, ErrSyntax) {
		t.Errorf("UnmarshalText(bogus) = %v", err)
	}
	bin, err := p.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var r Program
	if err := r.UnmarshalBinary(bin); err != nil || !slices.Equal(p, r) {
		t.Errorf("binary round trip: %v, %v", r, err)
	}
	if err := r.UnmarshalBinary(bin[:3]); !errors.Is(err, ErrTruncated) {
		t.Errorf("UnmarshalBinary(3 bytes) = %v", err)
	}
}

func TestEncodeDecode(t *testing.T) {
	for _, tc := range []struct {
		name string
		prog []Instruction
		want []byte
	}{
		{"empty", nil, []byte{}},
		{"one", []Instruction{Stmt(opRetK, uint32(ActionAllow))},
			[]byte{0x06, 0x00, 0, 0, 0x00, 0x00, 0xff, 0x7f}},
		{"fields", []Instruction{{Code: 0x1234, Jt: 0xab, Jf: 0xcd, K: 0x89abcdef}},
			[]byte{0x34, 0x12, 0xab, 0xcd, 0xef, 0xcd, 0xab, 0x89}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Encode(tc.prog)
			if !bytes.Equal(got, tc.want) {
				t.Errorf("Encode = %x, want %x", got, tc.want)
			}
			back, err := Decode(got)
			if err != nil || !slices.Equal(back, tc.prog) && len(tc.prog) > 0 {
				t.Errorf("Decode = %v, %v", back, err)
			}
			if app := AppendEncode([]byte{1}, tc.prog); !bytes.Equal(app, append([]byte{1}, tc.want...)) {
				t.Errorf("AppendEncode = %x", app)
			}
		})
	}
	for _, n := range []int{1, 7, 9, 15} {
		if _, err := Decode(make([]byte, n)); !errors.Is(err, ErrTruncated) {
			t.Errorf("Decode(%d bytes) = %v, want ErrTruncated", n, err)
		}
	}
}
