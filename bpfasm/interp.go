package bpfasm

import (
	"encoding/binary"
	"fmt"
	"slices"
)

// Run validates prog and runs it over data, a 64-byte little-endian
// struct seccomp_data (see [SeccompData.Marshal]), and returns the value the
// filter returns. It returns an error if prog is not valid (see [Validate])
// or if data is not 64 bytes long ([ErrDataSize]).
//
// Run executes the program as the kernel does: A and X start at 0, all
// arithmetic is unsigned 32-bit and wraps, loads read 32-bit little-endian
// words of data (validation guarantees that they are aligned and inside the
// 64 bytes, so no load can be out of range at run time), BPF_LEN loads 64,
// a division by X when X is 0 ends the program with return value 0 (as the
// kernel's conversion to eBPF does), and a shift by X shifts by X&31 (as the
// kernel's interpreter and its amd64 and arm64 JITs do).
//
// To run a program many times, use an [Interpreter], which validates once.
func Run(prog []Instruction, data []byte) (uint32, error) {
	in, err := NewInterpreter(prog)
	if err != nil {
		return 0, err
	}
	return in.Run(data)
}

// Interpreter runs one validated program.
type Interpreter struct {
	prog []Instruction
}

// NewInterpreter validates prog and returns an interpreter for a copy of it.
func NewInterpreter(prog []Instruction) (*Interpreter, error) {
	if err := Validate(prog); err != nil {
		return nil, err
	}
	return &Interpreter{prog: slices.Clone(prog)}, nil
}

// Run runs the program over data, a 64-byte little-endian struct
// seccomp_data, as [Run] does.
func (in *Interpreter) Run(data []byte) (uint32, error) {
	if len(data) != SeccompDataSize {
		return 0, fmt.Errorf("%w: got %d bytes", ErrDataSize, len(data))
	}
	return execute(in.prog, (*[SeccompDataSize]byte)(data))
}

// RunData runs the program over d. It cannot fail.
func (in *Interpreter) RunData(d SeccompData) uint32 {
	var b [SeccompDataSize]byte
	d.put(&b)
	ret, err := execute(in.prog, &b)
	if err != nil {
		// execute fails only on invalid programs, and in.prog is valid.
		panic(err)
	}
	return ret
}

// execute runs a valid program. The checks that fail here are defensive:
// Validate rules out every one of them.
func execute(prog []Instruction, data *[SeccompDataSize]byte) (uint32, error) {
	var (
		a, x uint32
		mem  [ScratchSlots]uint32
	)
	for pc := 0; pc < len(prog); pc++ {
		ins := prog[pc]
		switch ins.Code {
		case opLdAbsW:
			if ins.K >= SeccompDataSize-3 {
				return 0, bug("load at offset %d at pc %d", ins.K, pc)
			}
			a = binary.LittleEndian.Uint32(data[ins.K:])
		case opLdImm:
			a = ins.K
		case opLdLen:
			a = SeccompDataSize
		case opLdMem:
			a = mem[ins.K%ScratchSlots]
		case opLdxImm:
			x = ins.K
		case opLdxLen:
			x = SeccompDataSize
		case opLdxMem:
			x = mem[ins.K%ScratchSlots]
		case opSt:
			mem[ins.K%ScratchSlots] = a
		case opStx:
			mem[ins.K%ScratchSlots] = x
		case opTax:
			x = a
		case opTxa:
			a = x
		case opRetK:
			return ins.K, nil
		case opRetA:
			return a, nil
		case opNeg:
			a = -a
		case opJa:
			pc += int(ins.K)
		case opJeqK, opJeqX, opJgtK, opJgtX, opJgeK, opJgeX, opJsetK, opJsetX:
			v := ins.K
			if ins.Src() == SrcX {
				v = x
			}
			var taken bool
			switch ins.JumpOp() {
			case JEQ:
				taken = a == v
			case JGT:
				taken = a > v
			case JGE:
				taken = a >= v
			case JSET:
				taken = a&v != 0
			}
			if taken {
				pc += int(ins.Jt)
			} else {
				pc += int(ins.Jf)
			}
		default:
			known, ok := isALU(ins.Code)
			if !known || !ok {
				return 0, bug("opcode %#04x at pc %d", ins.Code, pc)
			}
			v := ins.K
			if ins.Src() == SrcX {
				v = x
			}
			switch ins.ALUOp() {
			case ALUAdd:
				a += v
			case ALUSub:
				a -= v
			case ALUMul:
				a *= v
			case ALUDiv:
				if v == 0 {
					return 0, nil
				}
				a /= v
			case ALUOr:
				a |= v
			case ALUAnd:
				a &= v
			case ALULsh:
				a <<= v & 31
			case ALURsh:
				a >>= v & 31
			case ALUXor:
				a ^= v
			}
		}
	}
	return 0, bug("fell off the end of a %d-instruction program", len(prog))
}
