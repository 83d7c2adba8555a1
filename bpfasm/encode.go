package bpfasm

import (
	"encoding/binary"
	"fmt"
)

// InstructionSize is sizeof(struct sock_filter).
const InstructionSize = 8

// Encode returns the little-endian struct sock_filter array of prog: for
// each instruction, code (2 bytes), jt, jf and k (4 bytes). This is the
// in-memory form of a filter on a little-endian machine.
func Encode(prog []Instruction) []byte {
	return AppendEncode(make([]byte, 0, len(prog)*InstructionSize), prog)
}

// AppendEncode appends the encoding of prog (see [Encode]) to b.
func AppendEncode(b []byte, prog []Instruction) []byte {
	for _, ins := range prog {
		b = binary.LittleEndian.AppendUint16(b, ins.Code)
		b = append(b, ins.Jt, ins.Jf)
		b = binary.LittleEndian.AppendUint32(b, ins.K)
	}
	return b
}

// Decode parses a little-endian struct sock_filter array (see [Encode]). It
// returns an error wrapping [ErrTruncated] if the length of b is not a
// multiple of 8. Decode does not validate the program.
func Decode(b []byte) ([]Instruction, error) {
	if len(b)%InstructionSize != 0 {
		return nil, fmt.Errorf("%w: %d bytes", ErrTruncated, len(b))
	}
	prog := make([]Instruction, len(b)/InstructionSize)
	for i := range prog {
		e := b[i*InstructionSize:]
		prog[i] = Instruction{
			Code: binary.LittleEndian.Uint16(e),
			Jt:   e[2],
			Jf:   e[3],
			K:    binary.LittleEndian.Uint32(e[4:]),
		}
	}
	return prog, nil
}
