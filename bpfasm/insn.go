package bpfasm

// Instruction is one classic BPF instruction: struct sock_filter from
// include/uapi/linux/filter.h. Its memory layout (8 bytes: code, jt, jf, k)
// is that of struct sock_filter on every Go architecture.
type Instruction struct {
	// Code is the opcode; see [Code] and the field types.
	Code uint16
	// Jt is the offset added to PC+1 when a conditional jump is taken.
	Jt uint8
	// Jf is the offset added to PC+1 when a conditional jump is not taken.
	Jf uint8
	// K is the constant operand (immediate, offset, jump offset of JA,
	// scratch index or return value).
	K uint32
}

// Limits from include/uapi/linux/filter.h and the seccomp ABI.
const (
	// MaxInstructions is BPF_MAXINSNS, the longest program the kernel accepts.
	MaxInstructions = 4096
	// ScratchSlots is BPF_MEMWORDS, the number of 32-bit scratch memory slots.
	ScratchSlots = 16
	// MaxCondJump is the largest offset of a conditional jump (8 bits).
	MaxCondJump = 255
)

// Field is one part of an opcode. It is implemented by [Class], [Size],
// [Mode], [ALUOp], [JumpOp], [Src], [RetSrc] and [MiscOp] only.
type Field interface {
	opcodeBits() uint16
}

// Code combines opcode fields into an [Instruction] Code. For example
// Code(ClassLD, SizeW, ModeABS) is BPF_LD|BPF_W|BPF_ABS and
// Code(ClassJMP, JEQ, SrcK) is BPF_JMP|BPF_JEQ|BPF_K.
func Code(fields ...Field) uint16 {
	var c uint16
	for _, f := range fields {
		c |= f.opcodeBits()
	}
	return c
}

// Stmt returns a non-jump instruction; it is the BPF_STMT macro.
func Stmt(code uint16, k uint32) Instruction {
	return Instruction{Code: code, K: k}
}

// Jump returns a jump instruction; it is the BPF_JUMP macro. The offsets jt
// and jf are relative to the next instruction.
func Jump(code uint16, k uint32, jt, jf uint8) Instruction {
	return Instruction{Code: code, Jt: jt, Jf: jf, K: k}
}

// Class is the instruction class (BPF_CLASS, the low three bits of Code).
type Class uint16

// Instruction classes.
const (
	ClassLD   Class = 0x00 // BPF_LD: load into A
	ClassLDX  Class = 0x01 // BPF_LDX: load into X
	ClassST   Class = 0x02 // BPF_ST: store A into scratch memory
	ClassSTX  Class = 0x03 // BPF_STX: store X into scratch memory
	ClassALU  Class = 0x04 // BPF_ALU: arithmetic on A
	ClassJMP  Class = 0x05 // BPF_JMP: jumps
	ClassRET  Class = 0x06 // BPF_RET: return
	ClassMISC Class = 0x07 // BPF_MISC: register transfers
)

// Size is the load width of LD and LDX instructions (BPF_SIZE).
type Size uint16

// Load widths.
const (
	SizeW Size = 0x00 // BPF_W: 32-bit word
	SizeH Size = 0x08 // BPF_H: 16-bit half word
	SizeB Size = 0x10 // BPF_B: byte
)

// Mode is the addressing mode of LD and LDX instructions (BPF_MODE).
type Mode uint16

// Addressing modes.
const (
	ModeIMM Mode = 0x00 // BPF_IMM: the constant K
	ModeABS Mode = 0x20 // BPF_ABS: the data at offset K
	ModeIND Mode = 0x40 // BPF_IND: the data at offset X+K
	ModeMEM Mode = 0x60 // BPF_MEM: scratch memory slot K
	ModeLEN Mode = 0x80 // BPF_LEN: the data length (64 for seccomp)
	ModeMSH Mode = 0xa0 // BPF_MSH: 4*(data[K]&0xf), the IP header length hack
)

// ALUOp is the operation of an ALU instruction (BPF_OP).
type ALUOp uint16

// ALU operations. All arithmetic is on unsigned 32-bit values.
const (
	ALUAdd ALUOp = 0x00 // BPF_ADD: A += src
	ALUSub ALUOp = 0x10 // BPF_SUB: A -= src
	ALUMul ALUOp = 0x20 // BPF_MUL: A *= src
	ALUDiv ALUOp = 0x30 // BPF_DIV: A /= src
	ALUOr  ALUOp = 0x40 // BPF_OR: A |= src
	ALUAnd ALUOp = 0x50 // BPF_AND: A &= src
	ALULsh ALUOp = 0x60 // BPF_LSH: A <<= src
	ALURsh ALUOp = 0x70 // BPF_RSH: A >>= src (logical)
	ALUNeg ALUOp = 0x80 // BPF_NEG: A = -A
	ALUMod ALUOp = 0x90 // BPF_MOD: A %= src; not allowed in seccomp filters
	ALUXor ALUOp = 0xa0 // BPF_XOR: A ^= src
)

// JumpOp is the operation of a JMP instruction (BPF_OP).
type JumpOp uint16

// Jump operations. Comparisons are unsigned.
const (
	JA   JumpOp = 0x00 // BPF_JA: PC += K
	JEQ  JumpOp = 0x10 // BPF_JEQ: A == src
	JGT  JumpOp = 0x20 // BPF_JGT: A > src
	JGE  JumpOp = 0x30 // BPF_JGE: A >= src
	JSET JumpOp = 0x40 // BPF_JSET: A & src != 0
)

// Src is the operand source of ALU and JMP instructions (BPF_SRC).
type Src uint16

// Operand sources.
const (
	SrcK Src = 0x00 // BPF_K: the constant K
	SrcX Src = 0x08 // BPF_X: the register X
)

// RetSrc is the source of the value returned by a RET instruction (BPF_RVAL).
type RetSrc uint16

// Return value sources. The kernel accepts only RetK and RetA.
const (
	RetK RetSrc = 0x00 // BPF_K: return K
	RetX RetSrc = 0x08 // BPF_X: return X (rejected by the kernel)
	RetA RetSrc = 0x10 // BPF_A: return A
)

// MiscOp is the operation of a MISC instruction (BPF_MISCOP).
type MiscOp uint16

// Register transfers.
const (
	TAX MiscOp = 0x00 // BPF_TAX: X = A
	TXA MiscOp = 0x80 // BPF_TXA: A = X
)

func (c Class) opcodeBits() uint16  { return uint16(c) }
func (s Size) opcodeBits() uint16   { return uint16(s) }
func (m Mode) opcodeBits() uint16   { return uint16(m) }
func (o ALUOp) opcodeBits() uint16  { return uint16(o) }
func (o JumpOp) opcodeBits() uint16 { return uint16(o) }
func (s Src) opcodeBits() uint16    { return uint16(s) }
func (r RetSrc) opcodeBits() uint16 { return uint16(r) }
func (m MiscOp) opcodeBits() uint16 { return uint16(m) }

// Class returns the class bits of the opcode.
func (ins Instruction) Class() Class { return Class(ins.Code & 0x07) }

// Size returns the size bits of the opcode (meaningful for LD and LDX).
func (ins Instruction) Size() Size { return Size(ins.Code & 0x18) }

// Mode returns the mode bits of the opcode (meaningful for LD and LDX).
func (ins Instruction) Mode() Mode { return Mode(ins.Code & 0xe0) }

// ALUOp returns the operation bits of the opcode (meaningful for ALU).
func (ins Instruction) ALUOp() ALUOp { return ALUOp(ins.Code & 0xf0) }

// JumpOp returns the operation bits of the opcode (meaningful for JMP).
func (ins Instruction) JumpOp() JumpOp { return JumpOp(ins.Code & 0xf0) }

// Src returns the source bit of the opcode (meaningful for ALU and JMP).
func (ins Instruction) Src() Src { return Src(ins.Code & 0x08) }

// RetSrc returns the return value bits of the opcode (meaningful for RET).
func (ins Instruction) RetSrc() RetSrc { return RetSrc(ins.Code & 0x18) }

// MiscOp returns the operation bits of the opcode (meaningful for MISC).
func (ins Instruction) MiscOp() MiscOp { return MiscOp(ins.Code & 0xf8) }

// Opcodes of the instructions that seccomp filters may use, and of the other
// classic BPF instructions that the kernel knows. They are the values of
// Code(...) for the named fields.
const (
	opLdImm   = 0x00 // ld #k
	opLdAbsW  = 0x20 // ld [k]
	opLdAbsH  = 0x28 // ldh [k]
	opLdAbsB  = 0x30 // ldb [k]
	opLdIndW  = 0x40 // ld [x+k]
	opLdIndH  = 0x48 // ldh [x+k]
	opLdIndB  = 0x50 // ldb [x+k]
	opLdMem   = 0x60 // ld M[k]
	opLdLen   = 0x80 // ld #len
	opLdxImm  = 0x01 // ldx #k
	opLdxMem  = 0x61 // ldx M[k]
	opLdxLen  = 0x81 // ldx #len
	opLdxMsh  = 0xb1 // ldxb 4*([k]&0xf)
	opSt      = 0x02 // st M[k]
	opStx     = 0x03 // stx M[k]
	opNeg     = 0x84 // neg
	opJa      = 0x05 // ja
	opJeqK    = 0x15
	opJeqX    = 0x1d
	opJgtK    = 0x25
	opJgtX    = 0x2d
	opJgeK    = 0x35
	opJgeX    = 0x3d
	opJsetK   = 0x45
	opJsetX   = 0x4d
	opRetK    = 0x06 // ret #k
	opRetA    = 0x16 // ret a
	opTax     = 0x07 // tax
	opTxa     = 0x87 // txa
	opALUBase = 0x04
)

// isCondJump reports whether code is one of the eight conditional jumps that
// the kernel accepts.
func isCondJump(code uint16) bool {
	switch code {
	case opJeqK, opJeqX, opJgtK, opJgtX, opJgeK, opJgeX, opJsetK, opJsetX:
		return true
	}
	return false
}

// isReturn reports whether code is one of the two returns that the kernel
// accepts.
func isReturn(code uint16) bool { return code == opRetK || code == opRetA }

// isALU reports whether code is an ALU instruction known to classic BPF, and
// whether seccomp allows it.
func isALU(code uint16) (known, seccomp bool) {
	if code&0x07 != uint16(ClassALU) {
		return false, false
	}
	if code == opNeg {
		return true, true
	}
	if code&^0xf8 != uint16(ClassALU) { // only the op and src bits may be set
		return false, false
	}
	switch ALUOp(code & 0xf0) {
	case ALUAdd, ALUSub, ALUMul, ALUDiv, ALUOr, ALUAnd, ALULsh, ALURsh, ALUXor:
		return true, true
	case ALUMod:
		return true, false
	}
	return false, false
}

// isClassic reports whether the kernel's bpf_check_classic knows code
// (chk_code_allowed in net/core/filter.c).
func isClassic(code uint16) bool {
	if known, _ := isALU(code); known {
		return true
	}
	switch code {
	case opLdImm, opLdAbsW, opLdAbsH, opLdAbsB, opLdIndW, opLdIndH, opLdIndB,
		opLdMem, opLdLen, opLdxImm, opLdxMem, opLdxLen, opLdxMsh,
		opSt, opStx, opJa, opRetK, opRetA, opTax, opTxa:
		return true
	}
	return isCondJump(code)
}

// isSeccomp reports whether seccomp_check_filter (kernel/seccomp.c) accepts
// code.
func isSeccomp(code uint16) bool {
	if known, ok := isALU(code); known {
		return ok
	}
	switch code {
	case opLdImm, opLdAbsW, opLdMem, opLdLen, opLdxImm, opLdxMem, opLdxLen,
		opSt, opStx, opJa, opRetK, opRetA, opTax, opTxa:
		return true
	}
	return isCondJump(code)
}
