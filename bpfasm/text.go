package bpfasm

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ParseText reads the text form printed by [Disassemble] and
// [Instruction.String] back into instructions.
//
// Each non-empty line holds one instruction, optionally preceded by its PC
// and a colon ("  12:"), which must then equal the index of the instruction.
// A semicolon starts a comment. Mnemonics and registers are case-insensitive.
// Jump targets are absolute PCs ("jt 14") or offsets relative to the next
// instruction ("jt +1"). Constants are decimal or 0x-prefixed hex. Returns
// are "ret #k", "ret a", or a seccomp action such as "ret ALLOW" or
// "ret ERRNO(1)". ".insn code, jt, jf, k" gives a raw instruction.
//
// ParseText does not validate the program; call [Validate] for that. Errors
// are [*Error] values with the line and PC, wrapping [ErrSyntax].
func ParseText(text string) ([]Instruction, error) {
	var prog []Instruction
	for i, line := range strings.Split(text, "\n") {
		if j := strings.IndexByte(line, ';'); j >= 0 {
			line = line[:j]
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		pc := len(prog)
		if j := strings.IndexByte(line, ':'); j >= 0 && isDigits(line[:j]) {
			n, err := strconv.Atoi(line[:j])
			if err != nil || n != pc {
				return nil, &Error{PC: pc, Line: i + 1,
					Err: fmt.Errorf("%w: line says pc %s but it is instruction %d", ErrSyntax, line[:j], pc)}
			}
			line = strings.TrimSpace(line[j+1:])
		}
		ins, err := parseInstruction(line, pc)
		if err != nil {
			return nil, &Error{PC: pc, Line: i + 1, Err: err}
		}
		prog = append(prog, ins)
	}
	return prog, nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// syntaxError returns an error wrapping ErrSyntax.
func syntaxError(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrSyntax, fmt.Sprintf(format, args...))
}

// parseInstruction parses one instruction at pc, without PC prefix or
// comment.
func parseInstruction(line string, pc int) (Instruction, error) {
	mnem, rest := line, ""
	if i := strings.IndexAny(line, " \t"); i >= 0 {
		mnem, rest = line[:i], strings.TrimSpace(line[i+1:])
	}
	mnem = strings.ToLower(mnem)
	if mnem == ".insn" {
		return parseRaw(rest)
	}
	cands := opByMnem[mnem]
	if len(cands) == 0 {
		return Instruction{}, syntaxError("unknown mnemonic %q", mnem)
	}
	var (
		oper operand
		ins  Instruction
		err  error
	)
	switch mnem {
	case "ja":
		oper = operJA
		ins.K, err = parseTarget(rest, pc, math.MaxUint32)
	case "jeq", "jgt", "jge", "jset":
		oper, ins, err = parseCond(rest, pc)
	case "ret":
		oper, ins.K, err = parseRet(rest)
	default:
		oper, ins.K, err = parseOperand(rest)
	}
	if err != nil {
		return Instruction{}, err
	}
	for _, c := range cands {
		if c.oper == oper {
			ins.Code = c.code
			return ins, nil
		}
	}
	return Instruction{}, syntaxError("%s does not take operand %q", mnem, rest)
}

// parseNumber parses a decimal or 0x-prefixed constant of at most bits bits.
func parseNumber(s string, bits int) (uint64, error) {
	if s == "" {
		return 0, syntaxError("missing number")
	}
	for _, c := range []byte(s) {
		if c == '_' || c == '+' || c == '-' {
			return 0, syntaxError("bad number %q", s)
		}
	}
	v, err := strconv.ParseUint(s, 0, bits)
	if err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) {
			err = ne.Err
		}
		return 0, syntaxError("bad number %q: %v", s, err)
	}
	return v, nil
}

// parseRaw parses the operands of ".insn code, jt, jf, k".
func parseRaw(rest string) (Instruction, error) {
	parts := strings.Split(rest, ",")
	if len(parts) != 4 {
		return Instruction{}, syntaxError(".insn wants code, jt, jf, k; got %q", rest)
	}
	var v [4]uint64
	for i, bits := range []int{16, 8, 8, 32} {
		var err error
		if v[i], err = parseNumber(strings.TrimSpace(parts[i]), bits); err != nil {
			return Instruction{}, err
		}
	}
	return Instruction{Code: uint16(v[0]), Jt: uint8(v[1]), Jf: uint8(v[2]), K: uint32(v[3])}, nil
}

// parseTarget parses an absolute PC or a relative "+off" jump target at pc
// and returns the offset, which must not exceed limit.
func parseTarget(s string, pc int, limit uint64) (uint32, error) {
	var off uint64
	if rel, ok := strings.CutPrefix(s, "+"); ok {
		v, err := parseNumber(rel, 64)
		if err != nil {
			return 0, err
		}
		off = v
	} else {
		v, err := parseNumber(s, 64)
		if err != nil {
			return 0, err
		}
		if v < uint64(pc)+1 {
			return 0, syntaxError("jump from pc %d to %d is backward", pc, v)
		}
		off = v - uint64(pc) - 1
	}
	if off > limit {
		return 0, syntaxError("jump offset %d from pc %d is larger than %d", off, pc, limit)
	}
	return uint32(off), nil
}

// parseCond parses "#k jt T jf F" or "x jt T jf F".
func parseCond(rest string, pc int) (operand, Instruction, error) {
	var ins Instruction
	f := strings.Fields(rest)
	if len(f) != 5 || !strings.EqualFold(f[1], "jt") || !strings.EqualFold(f[3], "jf") {
		return 0, ins, syntaxError("conditional jump wants #k|x jt T jf F; got %q", rest)
	}
	oper := operCondK
	if strings.EqualFold(f[0], "x") {
		oper = operCondX
	} else {
		k, ok := strings.CutPrefix(f[0], "#")
		if !ok {
			return 0, ins, syntaxError("bad comparison operand %q", f[0])
		}
		v, err := parseNumber(k, 32)
		if err != nil {
			return 0, ins, err
		}
		ins.K = uint32(v)
	}
	jt, err := parseTarget(f[2], pc, MaxCondJump)
	if err != nil {
		return 0, ins, err
	}
	jf, err := parseTarget(f[4], pc, MaxCondJump)
	if err != nil {
		return 0, ins, err
	}
	ins.Jt, ins.Jf = uint8(jt), uint8(jf)
	return oper, ins, nil
}

// parseRet parses the operand of ret: "a", "#k", "NAME" or "NAME(data)".
func parseRet(rest string) (operand, uint32, error) {
	s := strings.Join(strings.Fields(rest), "")
	if strings.EqualFold(s, "a") {
		return operRetA, 0, nil
	}
	if k, ok := strings.CutPrefix(s, "#"); ok {
		v, err := parseNumber(k, 32)
		return operRetK, uint32(v), err
	}
	name, data := s, uint64(0)
	if i := strings.IndexByte(s, '('); i >= 0 {
		if !strings.HasSuffix(s, ")") {
			return 0, 0, syntaxError("bad action %q", rest)
		}
		var err error
		if data, err = parseNumber(s[i+1:len(s)-1], 16); err != nil {
			return 0, 0, err
		}
		name = s[:i]
	}
	for _, n := range actionNames {
		if strings.EqualFold(name, n.name) {
			return operRetK, uint32(n.kind) | uint32(data), nil
		}
	}
	return 0, 0, syntaxError("unknown return value %q", rest)
}

// parseOperand parses the operand of loads, stores and ALU instructions.
func parseOperand(rest string) (operand, uint32, error) {
	s := strings.ToLower(strings.Join(strings.Fields(rest), ""))
	number := func(t string) (uint32, error) {
		v, err := parseNumber(t, 32)
		return uint32(v), err
	}
	switch {
	case s == "":
		return operNone, 0, nil
	case s == "x":
		return operX, 0, nil
	case s == "#len":
		return operLen, 0, nil
	case strings.HasPrefix(s, "#"):
		k, err := number(s[1:])
		return operImm, k, err
	case strings.HasPrefix(s, "[x+") && strings.HasSuffix(s, "]"):
		k, err := number(s[3 : len(s)-1])
		return operInd, k, err
	case strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]"):
		k, err := number(s[1 : len(s)-1])
		return operAbs, k, err
	case strings.HasPrefix(s, "m[") && strings.HasSuffix(s, "]"):
		k, err := number(s[2 : len(s)-1])
		return operMem, k, err
	case strings.HasPrefix(s, "4*([") && strings.HasSuffix(s, "]&0xf)"):
		k, err := number(s[4 : len(s)-6])
		return operMsh, k, err
	}
	return 0, 0, syntaxError("bad operand %q", rest)
}
