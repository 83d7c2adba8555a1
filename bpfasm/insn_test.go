package bpfasm

import (
	"reflect"
	"testing"
)

func TestInstructionLayout(t *testing.T) {
	// struct sock_filter: __u16 code; __u8 jt; __u8 jf; __u32 k;
	typ := reflect.TypeOf(Instruction{})
	if typ.Size() != InstructionSize {
		t.Fatalf("size %d, want %d", typ.Size(), InstructionSize)
	}
	for _, tc := range []struct {
		field  string
		offset uintptr
		kind   reflect.Kind
	}{
		{"Code", 0, reflect.Uint16},
		{"Jt", 2, reflect.Uint8},
		{"Jf", 3, reflect.Uint8},
		{"K", 4, reflect.Uint32},
	} {
		f, ok := typ.FieldByName(tc.field)
		if !ok || f.Offset != tc.offset || f.Type.Kind() != tc.kind {
			t.Errorf("field %s: offset %d kind %v, want %d %v", tc.field, f.Offset, f.Type.Kind(), tc.offset, tc.kind)
		}
	}
}

func TestCode(t *testing.T) {
	for _, tc := range []struct {
		name   string
		fields []Field
		want   uint16
	}{
		{"BPF_LD|BPF_W|BPF_ABS", []Field{ClassLD, SizeW, ModeABS}, 0x20},
		{"BPF_LD|BPF_H|BPF_ABS", []Field{ClassLD, SizeH, ModeABS}, 0x28},
		{"BPF_LD|BPF_B|BPF_IND", []Field{ClassLD, SizeB, ModeIND}, 0x50},
		{"BPF_LD|BPF_IMM", []Field{ClassLD, ModeIMM}, 0x00},
		{"BPF_LD|BPF_MEM", []Field{ClassLD, ModeMEM}, 0x60},
		{"BPF_LD|BPF_W|BPF_LEN", []Field{ClassLD, SizeW, ModeLEN}, 0x80},
		{"BPF_LDX|BPF_B|BPF_MSH", []Field{ClassLDX, SizeB, ModeMSH}, 0xb1},
		{"BPF_ST", []Field{ClassST}, 0x02},
		{"BPF_STX", []Field{ClassSTX}, 0x03},
		{"BPF_ALU|BPF_ADD|BPF_K", []Field{ClassALU, ALUAdd, SrcK}, 0x04},
		{"BPF_ALU|BPF_DIV|BPF_X", []Field{ClassALU, ALUDiv, SrcX}, 0x3c},
		{"BPF_ALU|BPF_NEG", []Field{ClassALU, ALUNeg}, 0x84},
		{"BPF_ALU|BPF_XOR|BPF_K", []Field{ClassALU, ALUXor}, 0xa4},
		{"BPF_ALU|BPF_MOD|BPF_X", []Field{ClassALU, ALUMod, SrcX}, 0x9c},
		{"BPF_JMP|BPF_JA", []Field{ClassJMP, JA}, 0x05},
		{"BPF_JMP|BPF_JEQ|BPF_K", []Field{ClassJMP, JEQ, SrcK}, 0x15},
		{"BPF_JMP|BPF_JGT|BPF_X", []Field{ClassJMP, JGT, SrcX}, 0x2d},
		{"BPF_JMP|BPF_JGE|BPF_K", []Field{ClassJMP, JGE}, 0x35},
		{"BPF_JMP|BPF_JSET|BPF_X", []Field{ClassJMP, JSET, SrcX}, 0x4d},
		{"BPF_RET|BPF_K", []Field{ClassRET, RetK}, 0x06},
		{"BPF_RET|BPF_A", []Field{ClassRET, RetA}, 0x16},
		{"BPF_MISC|BPF_TAX", []Field{ClassMISC, TAX}, 0x07},
		{"BPF_MISC|BPF_TXA", []Field{ClassMISC, TXA}, 0x87},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Code(tc.fields...); got != tc.want {
				t.Errorf("Code = %#04x, want %#04x", got, tc.want)
			}
		})
	}
}

func TestInstructionFields(t *testing.T) {
	for _, tc := range []struct {
		name string
		ins  Instruction
		get  func(Instruction) Field
		want Field
	}{
		{"class", Stmt(0x20, 0), func(i Instruction) Field { return i.Class() }, ClassLD},
		{"class misc", Stmt(0x87, 0), func(i Instruction) Field { return i.Class() }, ClassMISC},
		{"size", Stmt(0x28, 0), func(i Instruction) Field { return i.Size() }, SizeH},
		{"mode", Stmt(0x61, 0), func(i Instruction) Field { return i.Mode() }, ModeMEM},
		{"alu op", Stmt(0x7c, 0), func(i Instruction) Field { return i.ALUOp() }, ALURsh},
		{"jump op", Jump(0x45, 1, 0, 0), func(i Instruction) Field { return i.JumpOp() }, JSET},
		{"src", Jump(0x1d, 0, 0, 0), func(i Instruction) Field { return i.Src() }, SrcX},
		{"ret src", Stmt(0x16, 0), func(i Instruction) Field { return i.RetSrc() }, RetA},
		{"misc op", Stmt(0x87, 0), func(i Instruction) Field { return i.MiscOp() }, TXA},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.get(tc.ins); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestStmtJump(t *testing.T) {
	if got, want := Stmt(0x06, 7), (Instruction{Code: 6, K: 7}); got != want {
		t.Errorf("Stmt = %+v, want %+v", got, want)
	}
	if got, want := Jump(0x15, 9, 1, 2), (Instruction{Code: 0x15, Jt: 1, Jf: 2, K: 9}); got != want {
		t.Errorf("Jump = %+v, want %+v", got, want)
	}
}

// TestOpcodeSets checks the classic and seccomp opcode sets against the
// lists in net/core/filter.c (chk_code_allowed) and kernel/seccomp.c
// (seccomp_check_filter) over all 65536 codes.
func TestOpcodeSets(t *testing.T) {
	seccomp := map[uint16]bool{}
	for _, c := range []uint16{
		0x20, 0x80, 0x81, // ld [k], ld #len, ldx #len
		0x06, 0x16, // ret
		0x04, 0x0c, 0x14, 0x1c, 0x24, 0x2c, 0x34, 0x3c, // add sub mul div
		0x54, 0x5c, 0x44, 0x4c, 0xa4, 0xac, // and or xor
		0x64, 0x6c, 0x74, 0x7c, 0x84, // lsh rsh neg
		0x00, 0x01, 0x07, 0x87, 0x60, 0x61, 0x02, 0x03, // imm, misc, mem, st
		0x05, 0x15, 0x1d, 0x35, 0x3d, 0x25, 0x2d, 0x45, 0x4d, // jumps
	} {
		seccomp[c] = true
	}
	classicOnly := map[uint16]bool{
		0x94: true, 0x9c: true, // mod
		0x28: true, 0x30: true, // ldh/ldb [k]
		0x40: true, 0x48: true, 0x50: true, // ld [x+k]
		0xb1: true, // ldxb msh
	}
	for c := range 1 << 16 {
		code := uint16(c)
		if got, want := isSeccomp(code), seccomp[code]; got != want {
			t.Errorf("isSeccomp(%#04x) = %v, want %v", code, got, want)
		}
		if got, want := isClassic(code), seccomp[code] || classicOnly[code]; got != want {
			t.Errorf("isClassic(%#04x) = %v, want %v", code, got, want)
		}
	}
	if len(seccomp) != 41 {
		t.Errorf("seccomp set has %d opcodes, want 41", len(seccomp))
	}
}
