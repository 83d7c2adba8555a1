package bpfasm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

func TestRun(t *testing.T) {
	data := SeccompData{
		Nr:   -2,
		Arch: auditArchX86_64,
		IP:   0x1122334455667788,
		Args: [6]uint64{0x0000000100000002, 3, 0x80000000, 0xffffffff, 33, 0xdeadbeefcafef00d},
	}
	for _, tc := range []struct {
		name string
		text string
		want uint32
	}{
		{"ret k", "ret #7", 7},
		{"A starts at 0", "ret a", 0},
		{"X starts at 0", "txa\nret a", 0},
		{"nr", "ld [0]\nret a", 0xfffffffe},
		{"arch", "ld [4]\nret a", auditArchX86_64},
		{"ip low", "ld [8]\nret a", 0x55667788},
		{"ip high", "ld [12]\nret a", 0x11223344},
		{"arg0 low", "ld [16]\nret a", 2},
		{"arg0 high", "ld [20]\nret a", 1},
		{"arg5 low", "ld [56]\nret a", 0xcafef00d},
		{"arg5 high", "ld [60]\nret a", 0xdeadbeef},
		{"ld imm", "ld #0xabcdef01\nret a", 0xabcdef01},
		{"ld len", "ld #len\nret a", 64},
		{"ldx len", "ldx #len\ntxa\nret a", 64},
		{"ldx imm", "ldx #9\ntxa\nret a", 9},
		{"tax", "ld [24]\ntax\nld #0\ntxa\nret a", 3},
		{"st ld mem", "ld #5\nst M[15]\nld #6\nld M[15]\nret a", 5},
		{"stx ldx mem", "ldx #8\nstx M[0]\nldx #0\nldx M[0]\ntxa\nret a", 8},
		{"add wraps", "ld #0xffffffff\nadd #2\nret a", 1},
		{"sub wraps", "ld #1\nsub #2\nret a", 0xffffffff},
		{"mul wraps", "ld #0x80000001\nmul #2\nret a", 2},
		{"div", "ld #100\ndiv #7\nret a", 14},
		{"div x", "ld #100\nldx #10\ndiv x\nret a", 10},
		{"div by x zero returns 0", "ld #100\ndiv x\nret ALLOW", 0},
		{"div x zero after branch", "ld [16]\njeq #2 jt +0 jf +1\ndiv x\nret ALLOW", 0},
		{"or", "ld #0xf0\nor #0x0f\nret a", 0xff},
		{"and x", "ld #0xff\nldx #0x3c\nand x\nret a", 0x3c},
		{"xor", "ld #0xff\nxor #0x0f\nret a", 0xf0},
		{"lsh", "ld #1\nlsh #31\nret a", 0x80000000},
		{"rsh is logical", "ld #0x80000000\nrsh #31\nret a", 1},
		{"lsh x masks to 5 bits", "ld #1\nldx #33\nlsh x\nret a", 2},
		{"rsh x by 32 is no shift", "ld #8\nldx #32\nrsh x\nret a", 8},
		{"neg", "ld #1\nneg\nret a", 0xffffffff},
		{"neg zero", "neg\nret a", 0},
		{"ja", "ja +1\nret #1\nret #2", 2},
		{"jeq taken", "ld [24]\njeq #3 jt +1 jf +0\nret #0\nret #1", 1},
		{"jgt unsigned", "ld [0]\njgt #0x7fffffff jt +1 jf +0\nret #0\nret #1", 1},
		{"jge equal", "ld [40]\njge #33 jt +1 jf +0\nret #0\nret #1", 1},
		{"jset", "ld [32]\njset #0x80000000 jt +1 jf +0\nret #0\nret #1", 1},
		{"jset x none", "ld [24]\nldx #4\njset x jt +1 jf +0\nret #0\nret #1", 0},
		{"ret errno", "ret ERRNO(1)", uint32(Errno(1))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prog := mustParse(t, tc.text)
			got, err := Run(prog, data.Marshal())
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if got != tc.want {
				t.Errorf("Run = %#x, want %#x", got, tc.want)
			}
			in, err := NewInterpreter(prog)
			if err != nil {
				t.Fatal(err)
			}
			if got := in.RunData(data); got != tc.want {
				t.Errorf("RunData = %#x, want %#x", got, tc.want)
			}
		})
	}
}

func TestRunErrors(t *testing.T) {
	valid := []Instruction{Stmt(opRetK, 1)}
	for _, tc := range []struct {
		name    string
		prog    []Instruction
		data    []byte
		wantErr error
	}{
		{"invalid program", []Instruction{Stmt(opLdAbsW, 64), Stmt(opRetA, 0)}, make([]byte, 64), ErrInvalidLoad},
		{"empty program", nil, make([]byte, 64), ErrEmpty},
		{"short data", valid, make([]byte, 63), ErrDataSize},
		{"long data", valid, make([]byte, 65), ErrDataSize},
		{"nil data", valid, nil, ErrDataSize},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Run(tc.prog, tc.data); !errors.Is(err, tc.wantErr) {
				t.Errorf("Run = %v, want %v", err, tc.wantErr)
			}
		})
	}
}

func TestInterpreterCopiesProgram(t *testing.T) {
	prog := []Instruction{Stmt(opRetK, 1)}
	in, err := NewInterpreter(prog)
	if err != nil {
		t.Fatal(err)
	}
	prog[0].K = 2
	if got := in.RunData(SeccompData{}); got != 1 {
		t.Errorf("interpreter saw a later change to its input: %d", got)
	}
}

// TestExecuteDefensive runs invalid programs past the validator: execute
// must report ErrBug, never panic or loop.
func TestExecuteDefensive(t *testing.T) {
	var data [SeccompDataSize]byte
	for _, tc := range []struct {
		name string
		prog []Instruction
	}{
		{"falls off the end", []Instruction{Stmt(opLdImm, 0)}},
		{"unknown opcode", []Instruction{Stmt(0xff, 0)}},
		{"mod", []Instruction{Stmt(Code(ClassALU, ALUMod, SrcK), 3)}},
		{"load past the end", []Instruction{Stmt(opLdAbsW, 62)}},
		{"load far past the end", []Instruction{Stmt(opLdAbsW, 0xffffffff)}},
		{"jump past the end", []Instruction{Jump(opJeqK, 0, 200, 200)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := execute(tc.prog, &data); !errors.Is(err, ErrBug) {
				t.Errorf("execute = %v, want ErrBug", err)
			}
		})
	}
}

func TestSeccompData(t *testing.T) {
	d := SeccompData{Nr: -1, Arch: 0xc00000b7, IP: 0x0102030405060708}
	for i := range d.Args {
		d.Args[i] = uint64(i+1)<<32 | uint64(0x10+i)
	}
	b := d.Marshal()
	if len(b) != SeccompDataSize {
		t.Fatalf("Marshal: %d bytes", len(b))
	}
	le := binary.LittleEndian
	if le.Uint32(b[OffsetNr:]) != 0xffffffff || le.Uint32(b[OffsetArch:]) != 0xc00000b7 ||
		le.Uint32(b[OffsetIPLow:]) != 0x05060708 || le.Uint32(b[OffsetIPHigh:]) != 0x01020304 {
		t.Errorf("Marshal header: % x", b[:16])
	}
	for i := range NumArgs {
		if lo, hi := le.Uint32(b[ArgLow(i):]), le.Uint32(b[ArgHigh(i):]); lo != uint32(0x10+i) || hi != uint32(i+1) {
			t.Errorf("arg %d: low %#x high %#x", i, lo, hi)
		}
	}
	var e SeccompData
	if err := e.Unmarshal(b); err != nil || e != d {
		t.Errorf("Unmarshal = %+v, %v", e, err)
	}
	if err := e.Unmarshal(b[:10]); !errors.Is(err, ErrDataSize) {
		t.Errorf("Unmarshal(10 bytes) = %v", err)
	}
	if !bytes.Equal(b[16:24], []byte{0x10, 0, 0, 0, 1, 0, 0, 0}) {
		t.Errorf("args[0] bytes % x", b[16:24])
	}
}

func TestArgOffsets(t *testing.T) {
	for i, want := range []uint32{16, 24, 32, 40, 48, 56} {
		if ArgLow(i) != want || ArgHigh(i) != want+4 {
			t.Errorf("ArgLow(%d) = %d, ArgHigh = %d", i, ArgLow(i), ArgHigh(i))
		}
	}
	for _, i := range []int{-1, 6} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("ArgLow(%d) did not panic", i)
				}
			}()
			ArgLow(i)
		}()
	}
	for off, want := range map[uint32]string{
		0: "nr", 4: "arch", 8: "ip", 12: "ip high", 16: "args[0]", 20: "args[0] high",
		56: "args[5]", 60: "args[5] high", 64: "", 2: "",
	} {
		if got := fieldName(off); got != want {
			t.Errorf("fieldName(%d) = %q, want %q", off, got, want)
		}
	}
}
