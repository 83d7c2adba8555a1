package bpfasm

import (
	"fmt"
	"strconv"
	"strings"
)

// operand is the syntax of the operands of an instruction in the text form.
type operand uint8

const (
	operNone  operand = iota // neg, tax, txa
	operAbs                  // [k]
	operInd                  // [x+k]
	operImm                  // #k
	operLen                  // #len
	operMem                  // M[k]
	operMsh                  // 4*([k]&0xf)
	operX                    // x
	operJA                   // target
	operCondK                // #k jt T jf F
	operCondX                // x jt T jf F
	operRetK                 // ACTION, ACTION(data) or #k
	operRetA                 // a
)

// kMustBeZero reports whether an instruction with this operand syntax must
// have K == 0 to be printed symbolically.
func (o operand) kMustBeZero() bool {
	switch o {
	case operNone, operLen, operX, operCondX, operRetA:
		return true
	}
	return false
}

// opInfo describes the text form of one opcode.
type opInfo struct {
	code uint16
	mnem string
	oper operand
}

// opTable lists every opcode that the kernel's classic BPF checker knows, so
// that a listing can show any program the kernel would consider, including
// the classic opcodes that seccomp rejects.
var opTable = func() []opInfo {
	t := []opInfo{
		{opLdImm, "ld", operImm},
		{opLdAbsW, "ld", operAbs},
		{opLdAbsH, "ldh", operAbs},
		{opLdAbsB, "ldb", operAbs},
		{opLdIndW, "ld", operInd},
		{opLdIndH, "ldh", operInd},
		{opLdIndB, "ldb", operInd},
		{opLdMem, "ld", operMem},
		{opLdLen, "ld", operLen},
		{opLdxImm, "ldx", operImm},
		{opLdxMem, "ldx", operMem},
		{opLdxLen, "ldx", operLen},
		{opLdxMsh, "ldxb", operMsh},
		{opSt, "st", operMem},
		{opStx, "stx", operMem},
		{opNeg, "neg", operNone},
		{opJa, "ja", operJA},
		{opJeqK, "jeq", operCondK},
		{opJeqX, "jeq", operCondX},
		{opJgtK, "jgt", operCondK},
		{opJgtX, "jgt", operCondX},
		{opJgeK, "jge", operCondK},
		{opJgeX, "jge", operCondX},
		{opJsetK, "jset", operCondK},
		{opJsetX, "jset", operCondX},
		{opRetK, "ret", operRetK},
		{opRetA, "ret", operRetA},
		{opTax, "tax", operNone},
		{opTxa, "txa", operNone},
	}
	for _, a := range []struct {
		op   ALUOp
		mnem string
	}{
		{ALUAdd, "add"}, {ALUSub, "sub"}, {ALUMul, "mul"}, {ALUDiv, "div"},
		{ALUOr, "or"}, {ALUAnd, "and"}, {ALULsh, "lsh"}, {ALURsh, "rsh"},
		{ALUMod, "mod"}, {ALUXor, "xor"},
	} {
		t = append(t,
			opInfo{opALUBase | uint16(a.op) | uint16(SrcK), a.mnem, operImm},
			opInfo{opALUBase | uint16(a.op) | uint16(SrcX), a.mnem, operX})
	}
	return t
}()

var (
	opByCode = func() map[uint16]opInfo {
		m := make(map[uint16]opInfo, len(opTable))
		for _, o := range opTable {
			m[o.code] = o
		}
		return m
	}()
	opByMnem = func() map[string][]opInfo {
		m := make(map[string][]opInfo)
		for _, o := range opTable {
			m[o.mnem] = append(m[o.mnem], o)
		}
		return m
	}()
)

// mnemonicOf returns the mnemonic of a known opcode, or its number.
func mnemonicOf(code uint16) string {
	if o, ok := opByCode[code]; ok {
		switch o.oper {
		case operAbs:
			return o.mnem + " [k]"
		case operInd:
			return o.mnem + " [x+k]"
		case operMsh:
			return o.mnem + " 4*([k]&0xf)"
		}
		return o.mnem
	}
	return fmt.Sprintf("opcode %#04x", code)
}

// String returns the instruction in the text form of [ParseText], with jump
// offsets relative to the next instruction ("jeq #1 jt +0 jf +3").
func (ins Instruction) String() string {
	return formatInstruction(ins, 0, false)
}

// formatNumber prints small constants in decimal and others in hex.
func formatNumber(k uint32) string {
	if k < 0x1000 {
		return strconv.FormatUint(uint64(k), 10)
	}
	return "0x" + strconv.FormatUint(uint64(k), 16)
}

// formatTarget prints the target of a jump with offset off at pc, either as
// an absolute PC or as "+off".
func formatTarget(pc int, off uint32, absolute bool) string {
	if absolute {
		return strconv.FormatInt(int64(pc)+1+int64(off), 10)
	}
	return "+" + strconv.FormatUint(uint64(off), 10)
}

// formatInstruction returns the text form of ins at pc. Jump targets are
// absolute PCs if absolute is set and relative offsets otherwise. Any
// instruction whose text form would lose information is printed as a raw
// ".insn code, jt, jf, k" line, so that the text always round-trips.
func formatInstruction(ins Instruction, pc int, absolute bool) string {
	o, ok := opByCode[ins.Code]
	isCond := ok && (o.oper == operCondK || o.oper == operCondX)
	if !ok || (!isCond && (ins.Jt != 0 || ins.Jf != 0)) || (o.oper.kMustBeZero() && ins.K != 0) {
		return fmt.Sprintf(".insn %#x, %d, %d, %#x", ins.Code, ins.Jt, ins.Jf, ins.K)
	}
	k := formatNumber(ins.K)
	switch o.oper {
	case operNone:
		return o.mnem
	case operAbs:
		return o.mnem + " [" + k + "]"
	case operInd:
		return o.mnem + " [x+" + k + "]"
	case operImm:
		return o.mnem + " #" + k
	case operLen:
		return o.mnem + " #len"
	case operMem:
		return o.mnem + " M[" + k + "]"
	case operMsh:
		return o.mnem + " 4*([" + k + "]&0xf)"
	case operX:
		return o.mnem + " x"
	case operJA:
		return o.mnem + " " + formatTarget(pc, ins.K, absolute)
	case operCondK, operCondX:
		src := "#" + k
		if o.oper == operCondX {
			src = "x"
		}
		return fmt.Sprintf("%s %s jt %s jf %s", o.mnem, src,
			formatTarget(pc, uint32(ins.Jt), absolute), formatTarget(pc, uint32(ins.Jf), absolute))
	case operRetK:
		if s, ok := actionString(ins.K); ok {
			return o.mnem + " " + s
		}
		return o.mnem + " #" + k
	case operRetA:
		return o.mnem + " a"
	}
	panic(bug("operand syntax %d has no format", o.oper))
}

// comment returns the listing annotation of ins, if any: the seccomp_data
// field that an absolute load reads.
func comment(ins Instruction) string {
	if ins.Code == opLdAbsW && ins.Jt == 0 && ins.Jf == 0 {
		return fieldName(ins.K)
	}
	return ""
}

// Disassemble returns a listing of prog: one line per instruction with its
// PC, absolute jump targets, seccomp actions by name, and the seccomp_data
// field of each load as a comment:
//
//	0: ld [4]                   ; arch
//	1: jeq #0xc000003e jt 2 jf 5
//	2: ld [0]                   ; nr
//	3: jeq #39 jt 4 jf 5
//	4: ret ALLOW
//	5: ret ERRNO(1)
//
// [ParseText] reads the listing back into the same instructions. Disassemble
// prints any program, valid or not.
func Disassemble(prog []Instruction) string {
	var sb strings.Builder
	writeListing(&sb, prog, false)
	return sb.String()
}

// writeListing writes the listing of prog to sb; raw adds the encoding of
// each instruction as a comment.
func writeListing(sb *strings.Builder, prog []Instruction, raw bool) {
	for pc, ins := range prog {
		text := formatInstruction(ins, pc, true)
		c := comment(ins)
		if raw {
			r := fmt.Sprintf("{%#04x, %d, %d, %#08x}", ins.Code, ins.Jt, ins.Jf, ins.K)
			if c == "" {
				c = r
			} else {
				c = r + " " + c
			}
		}
		if c == "" {
			fmt.Fprintf(sb, "%4d: %s\n", pc, text)
		} else {
			fmt.Fprintf(sb, "%4d: %-24s ; %s\n", pc, text, c)
		}
	}
}

// Program is a list of instructions with a listing as its string form and
// binary and text encodings. Any []Instruction converts to a Program.
type Program []Instruction

// String returns [Disassemble](p).
func (p Program) String() string { return Disassemble(p) }

// Format implements [fmt.Formatter]: %v and %s print the listing, %+v adds
// the encoding {code, jt, jf, k} of each instruction as a comment, and %x
// prints the binary encoding of [Encode] in hex.
func (p Program) Format(f fmt.State, verb rune) {
	switch verb {
	case 'v', 's':
		var sb strings.Builder
		writeListing(&sb, p, verb == 'v' && f.Flag('+'))
		fmt.Fprint(f, sb.String())
	case 'x':
		fmt.Fprintf(f, "%x", Encode(p))
	default:
		fmt.Fprintf(f, "%%!%c(bpfasm.Program)", verb)
	}
}

// MarshalBinary returns [Encode](p).
func (p Program) MarshalBinary() ([]byte, error) { return Encode(p), nil }

// UnmarshalBinary sets p to [Decode](b).
func (p *Program) UnmarshalBinary(b []byte) error {
	prog, err := Decode(b)
	if err != nil {
		return err
	}
	*p = prog
	return nil
}

// MarshalText returns the listing of p.
func (p Program) MarshalText() ([]byte, error) { return []byte(Disassemble(p)), nil }

// UnmarshalText sets p to [ParseText](string(text)).
func (p *Program) UnmarshalText(text []byte) error {
	prog, err := ParseText(string(text))
	if err != nil {
		return err
	}
	*p = prog
	return nil
}
