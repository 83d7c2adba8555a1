package bpfasm

import (
	"errors"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name    string
		text    string
		wantErr error // nil: valid
		wantPC  int
	}{
		{"empty", "", ErrEmpty, 0},
		{"ret only", "ret ALLOW", nil, 0},
		{"ret a", "ret a", nil, 0},
		{"typical", `
			ld [4]
			jeq #0xc000003e jt 2 jf 5
			ld [0]
			jeq #39 jt 4 jf 5
			ret ALLOW
			ret ERRNO(1)`, nil, 0},
		{"every seccomp opcode", `
			ld [60]
			ld #1
			ld #len
			ldx #2
			ldx #len
			st M[0]
			stx M[15]
			ld M[0]
			ldx M[15]
			add #1
			add x
			sub #1
			sub x
			mul #3
			mul x
			div #3
			div x
			and #1
			and x
			or #1
			or x
			xor #1
			xor x
			lsh #31
			lsh x
			rsh #0
			rsh x
			neg
			tax
			txa
			ja +0
			jeq #1 jt +0 jf +0
			jeq x jt +0 jf +0
			jgt #1 jt +0 jf +0
			jgt x jt +0 jf +0
			jge #1 jt +0 jf +0
			jge x jt +0 jf +0
			jset #1 jt +0 jf +0
			jset x jt +1 jf +0
			ret #0
			ret a`, nil, 0},

		{"ldh", "ldh [0]\nret a", ErrInvalidOpcode, 0},
		{"ldb", "ld #0\nldb [0]\nret a", ErrInvalidOpcode, 1},
		{"ld ind", "ld [x+0]\nret a", ErrInvalidOpcode, 0},
		{"ldxb msh", "ldxb 4*([0]&0xf)\nret a", ErrInvalidOpcode, 0},
		{"mod", "mod #3\nret a", ErrInvalidOpcode, 0},
		{"mod x", "mod x\nret a", ErrInvalidOpcode, 0},
		{"ret x", ".insn 0x0e, 0, 0, 0", ErrInvalidOpcode, 0},
		{"unknown opcode", ".insn 0xff, 0, 0, 0\nret a", ErrInvalidOpcode, 0},
		{"high opcode bits", ".insn 0x106, 0, 0, 0", ErrInvalidOpcode, 0},
		{"neg with x bit", ".insn 0x8c, 0, 0, 0\nret a", ErrInvalidOpcode, 0},
		{"ja with x bit", ".insn 0x0d, 0, 0, 0\nret a", ErrInvalidOpcode, 0},
		{"ld h imm", ".insn 0x08, 0, 0, 0\nret a", ErrInvalidOpcode, 0},

		{"load past seccomp_data", "ld [64]\nret a", ErrInvalidLoad, 0},
		{"load unaligned", "ld [2]\nret a", ErrInvalidLoad, 0},
		{"load ancillary offset", "ld [0xfffff000]\nret a", ErrInvalidLoad, 0},
		{"div by zero", "div #0\nret a", ErrDivideByZero, 0},
		{"lsh 32", "lsh #32\nret a", ErrShiftTooLarge, 0},
		{"rsh 99", "rsh #99\nret a", ErrShiftTooLarge, 0},
		{"ld M[16]", "st M[0]\nld M[16]\nret a", ErrInvalidScratch, 1},
		{"ldx M[16]", "ldx M[16]\nret a", ErrInvalidScratch, 0},
		{"st M[16]", "st M[16]\nret a", ErrInvalidScratch, 0},
		{"stx M[99]", "stx M[99]\nret a", ErrInvalidScratch, 0},

		{"ja past end", "ja +1\nret a", ErrJumpOutOfRange, 0},
		{"ja huge", "ja +4294967295\nret a", ErrJumpOutOfRange, 0},
		{"ja to last", "ja +1\nld #0\nret a", nil, 0},
		{"jt past end", "jeq #0 jt +1 jf +0\nret a", ErrJumpOutOfRange, 0},
		{"jf past end", "ld #0\njeq #0 jt +0 jf +255\nret a", ErrJumpOutOfRange, 1},
		{"no return", "ld #0", ErrNoReturn, 0},
		{"ends in jump", "ret a\nja +0", ErrJumpOutOfRange, 1},
		{"ends in load", "ret a\nld #0", ErrNoReturn, 1},

		{"scratch read before write", "ld M[3]\nret a", ErrUninitializedScratch, 0},
		{"scratch written", "st M[3]\nldx M[3]\nret a", nil, 0},
		{"scratch written by stx", "stx M[3]\nld M[3]\nret a", nil, 0},
		{"scratch other slot", "st M[2]\nld M[3]\nret a", ErrUninitializedScratch, 1},
		{"scratch written on one branch", `
			jeq #0 jt +0 jf +1
			st M[0]
			ld M[0]
			ret a`, ErrUninitializedScratch, 2},
		{"scratch written on both branches", `
			jeq #0 jt +0 jf +2
			st M[0]
			ja +1
			stx M[0]
			ld M[0]
			ret a`, nil, 0},
		{"scratch written before branch", `
			st M[5]
			jeq #0 jt +0 jf +1
			ret a
			ld M[5]
			ret a`, nil, 0},
		// The kernel lets the state before a return flow into the next
		// instruction, so this program, in which the only path to pc 4
		// goes through the store at pc 1, is rejected anyway.
		{"kernel carries state across ret", `
			jeq #1 jt +0 jf +2
			st M[0]
			ja +1
			ret #0
			ld M[0]
			ret a`, ErrUninitializedScratch, 4},
		// Unreachable code after a jump is checked with all slots valid.
		{"unreachable read after ja", `
			ja +1
			ld M[0]
			ret a`, nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prog := mustParse(t, tc.text)
			err := Validate(prog)
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("Validate: %v\n%s", err, Disassemble(prog))
				}
				return
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Validate = %v, want %v", err, tc.wantErr)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Validate = %T, want *Error", err)
			}
			if e.PC != tc.wantPC {
				t.Errorf("PC = %d, want %d (%v)", e.PC, tc.wantPC, err)
			}
		})
	}
}

func TestValidateLength(t *testing.T) {
	for _, tc := range []struct {
		name    string
		n       int
		wantErr error
	}{
		{"one", 1, nil},
		{"max", MaxInstructions, nil},
		{"max+1", MaxInstructions + 1, ErrTooLong},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prog := make([]Instruction, tc.n)
			for i := range prog {
				prog[i] = Stmt(opRetK, uint32(ActionAllow))
			}
			if err := Validate(prog); !errors.Is(err, tc.wantErr) {
				t.Errorf("Validate = %v, want %v", err, tc.wantErr)
			}
		})
	}
}

func TestErrorMessage(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  *Error
		want string
	}{
		{"pc", &Error{PC: 3, Err: ErrNoReturn}, "bpfasm: pc 3: last instruction is not a return"},
		{"label", &Error{PC: 7, Label: "allow", Err: ErrBackwardJump},
			`bpfasm: pc 7 (label "allow"): backward jump`},
		{"line", &Error{PC: 2, Line: 4, Err: ErrSyntax}, "bpfasm: line 4, pc 2: syntax error"},
		{"detail", pcError(1, ErrInvalidLoad, "offset %d", 70),
			"bpfasm: pc 1: load not an aligned word of seccomp_data: offset 70"},
		{"nil", &Error{}, "bpfasm: pc 0: unknown error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.err.Error(); got != tc.want {
				t.Errorf("Error() = %q, want %q", got, tc.want)
			}
			if strings.Count(tc.err.Error(), "bpfasm:") != 1 {
				t.Errorf("prefix repeated in %q", tc.err.Error())
			}
		})
	}
}
