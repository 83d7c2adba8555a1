package bpfasm

import (
	"errors"
	"fmt"
	"slices"
)

// Cond is the condition of a conditional jump. Comparisons are unsigned
// 32-bit. Classic BPF has only JEQ, JGT, JGE and JSET; the other conditions
// are assembled as one of those with the two targets swapped.
type Cond uint8

// Conditions of [Builder.JumpIf] and [Builder.JumpIfX].
const (
	Eq        Cond = iota + 1 // A == v (JEQ)
	Ne                        // A != v (JEQ, targets swapped)
	Gt                        // A > v (JGT)
	Ge                        // A >= v (JGE)
	Lt                        // A < v (JGE, targets swapped)
	Le                        // A <= v (JGT, targets swapped)
	BitsSet                   // A & v != 0 (JSET)
	BitsClear                 // A & v == 0 (JSET, targets swapped)
)

var condNames = [...]string{Eq: "eq", Ne: "ne", Gt: "gt", Ge: "ge", Lt: "lt", Le: "le",
	BitsSet: "bitsset", BitsClear: "bitsclear"}

// String returns the name of the condition, such as "ne".
func (c Cond) String() string {
	if int(c) < len(condNames) && condNames[c] != "" {
		return condNames[c]
	}
	return fmt.Sprintf("Cond(%d)", uint8(c))
}

// Negate returns the condition that holds exactly when c does not.
func (c Cond) Negate() Cond {
	switch c {
	case Eq:
		return Ne
	case Ne:
		return Eq
	case Gt:
		return Le
	case Le:
		return Gt
	case Ge:
		return Lt
	case Lt:
		return Ge
	case BitsSet:
		return BitsClear
	case BitsClear:
		return BitsSet
	}
	return c
}

// jump returns the jump operation for c and whether the targets must be
// swapped.
func (c Cond) jump() (op JumpOp, swap, ok bool) {
	switch c {
	case Eq:
		return JEQ, false, true
	case Ne:
		return JEQ, true, true
	case Gt:
		return JGT, false, true
	case Le:
		return JGT, true, true
	case Ge:
		return JGE, false, true
	case Lt:
		return JGE, true, true
	case BitsSet:
		return JSET, false, true
	case BitsClear:
		return JSET, true, true
	}
	return 0, false, false
}

// Builder assembles a program from instructions and string labels. The zero
// value is an empty builder ready to use.
//
// Methods append one instruction each (Label appends none). The first error
// (a backward jump, a label defined twice, a bad argument) is recorded with
// its PC and label and returned by [Builder.Assemble]; later calls are still
// accepted, so a caller can build the whole program and check once.
//
// Labels name the next instruction appended after [Builder.Label]. Jumps
// may only go forward, to a label defined after the jump. In conditional
// jumps the empty label "" means the next instruction (fall through).
type Builder struct {
	insns  []pendingInsn
	labels map[string]int // label → index of the instruction it names
	names  map[int]string // index → first label defined there, for errors
	err    error
}

// pendingInsn is an instruction whose jump targets may still be labels.
type pendingInsn struct {
	ins Instruction
	// For jumps: the labels of the targets ("" = next instruction), or,
	// for raw jumps appended with Append, the target indexes.
	jt, jf       string
	rawT, rawF   int
	isRaw, isJmp bool
}

// Len returns the number of instructions appended so far, which is the PC
// (in builder numbering, see [Error]) of the next instruction.
func (b *Builder) Len() int { return len(b.insns) }

// Err returns the first error recorded so far, if any.
func (b *Builder) Err() error { return b.err }

// fail records err at the current PC unless an error is already recorded.
func (b *Builder) fail(label string, sentinel error, format string, args ...any) {
	if b.err != nil {
		return
	}
	e := pcError(len(b.insns), sentinel, format, args...)
	e.Label = label
	b.err = e
}

func (b *Builder) stmt(code uint16, k uint32) {
	b.insns = append(b.insns, pendingInsn{ins: Stmt(code, k)})
}

// Label defines name as the label of the next instruction appended. A label
// may be defined once; several labels may name the same instruction.
func (b *Builder) Label(name string) {
	if name == "" {
		b.fail(name, ErrInvalidLabel, "empty label name")
		return
	}
	if b.labels == nil {
		b.labels = make(map[string]int)
		b.names = make(map[int]string)
	}
	if at, ok := b.labels[name]; ok {
		b.fail(name, ErrDuplicateLabel, "first defined at pc %d", at)
		return
	}
	pc := len(b.insns)
	b.labels[name] = pc
	if _, ok := b.names[pc]; !ok {
		b.names[pc] = name
	}
}

// checkForward records an error if label is already defined, which would
// make a jump to it backward.
func (b *Builder) checkForward(label string) {
	if label == "" {
		return
	}
	if at, ok := b.labels[label]; ok {
		b.fail(label, ErrBackwardJump, "label is at pc %d", at)
	}
}

// LoadAbs appends "ld [off]": A = the 32-bit word at offset off of
// seccomp_data.
func (b *Builder) LoadAbs(off uint32) { b.stmt(opLdAbsW, off) }

// LoadNr appends "ld [0]": A = seccomp_data.nr.
func (b *Builder) LoadNr() { b.LoadAbs(OffsetNr) }

// LoadArch appends "ld [4]": A = seccomp_data.arch.
func (b *Builder) LoadArch() { b.LoadAbs(OffsetArch) }

// LoadArgLow appends a load of the low 32 bits of argument i (0 to 5) on a
// little-endian machine (see [ArgLow]).
func (b *Builder) LoadArgLow(i int) {
	if i < 0 || i >= NumArgs {
		b.fail("", ErrInvalidArgument, "seccomp argument index %d", i)
		i = 0
	}
	b.LoadAbs(ArgLow(i))
}

// LoadArgHigh appends a load of the high 32 bits of argument i (0 to 5) on a
// little-endian machine (see [ArgHigh]).
func (b *Builder) LoadArgHigh(i int) {
	if i < 0 || i >= NumArgs {
		b.fail("", ErrInvalidArgument, "seccomp argument index %d", i)
		i = 0
	}
	b.LoadAbs(ArgHigh(i))
}

// LoadImm appends "ld #k": A = k.
func (b *Builder) LoadImm(k uint32) { b.stmt(opLdImm, k) }

// LoadLen appends "ld #len": A = 64, the size of seccomp_data.
func (b *Builder) LoadLen() { b.stmt(opLdLen, 0) }

// LoadMem appends "ld M[slot]": A = scratch memory slot (0 to 15).
func (b *Builder) LoadMem(slot uint32) { b.stmt(opLdMem, slot) }

// LoadXImm appends "ldx #k": X = k.
func (b *Builder) LoadXImm(k uint32) { b.stmt(opLdxImm, k) }

// LoadXLen appends "ldx #len": X = 64.
func (b *Builder) LoadXLen() { b.stmt(opLdxLen, 0) }

// LoadXMem appends "ldx M[slot]": X = scratch memory slot (0 to 15).
func (b *Builder) LoadXMem(slot uint32) { b.stmt(opLdxMem, slot) }

// Store appends "st M[slot]": scratch memory slot (0 to 15) = A.
func (b *Builder) Store(slot uint32) { b.stmt(opSt, slot) }

// StoreX appends "stx M[slot]": scratch memory slot (0 to 15) = X.
func (b *Builder) StoreX(slot uint32) { b.stmt(opStx, slot) }

// ALU appends "op #k": A = A op k. Use [Builder.Neg] for ALUNeg.
func (b *Builder) ALU(op ALUOp, k uint32) {
	if op == ALUNeg {
		b.fail("", ErrInvalidArgument, "ALUNeg takes no operand; use Neg")
	}
	b.stmt(Code(ClassALU, op, SrcK), k)
}

// ALUX appends "op x": A = A op X. A division by X = 0 makes the program
// return 0 (SECCOMP_RET_KILL_THREAD).
func (b *Builder) ALUX(op ALUOp) {
	if op == ALUNeg {
		b.fail("", ErrInvalidArgument, "ALUNeg takes no operand; use Neg")
	}
	b.stmt(Code(ClassALU, op, SrcX), 0)
}

// Neg appends "neg": A = -A.
func (b *Builder) Neg() { b.stmt(opNeg, 0) }

// TAX appends "tax": X = A.
func (b *Builder) TAX() { b.stmt(opTax, 0) }

// TXA appends "txa": A = X.
func (b *Builder) TXA() { b.stmt(opTxa, 0) }

// Ret appends "ret #k": return k.
func (b *Builder) Ret(k uint32) { b.stmt(opRetK, k) }

// RetAction appends a return of the seccomp action a.
func (b *Builder) RetAction(a Action) { b.Ret(uint32(a)) }

// RetA appends "ret a": return A.
func (b *Builder) RetA() { b.stmt(opRetA, 0) }

// Jump appends "ja label": an unconditional jump to label, which must be
// defined later.
func (b *Builder) Jump(label string) {
	if label == "" {
		b.fail(label, ErrInvalidLabel, "ja needs a label")
	}
	b.checkForward(label)
	b.insns = append(b.insns, pendingInsn{ins: Stmt(opJa, 0), jt: label, isJmp: true})
}

// JumpIf appends a conditional jump comparing A with k: to label jt if cond
// holds and to label jf otherwise. An empty label means the next
// instruction. Targets more than 255 instructions away are reached through
// trampolines that Assemble inserts.
func (b *Builder) JumpIf(cond Cond, k uint32, jt, jf string) {
	b.condJump(cond, SrcK, k, jt, jf)
}

// JumpIfX appends a conditional jump comparing A with X, as [Builder.JumpIf]
// does with a constant.
func (b *Builder) JumpIfX(cond Cond, jt, jf string) {
	b.condJump(cond, SrcX, 0, jt, jf)
}

func (b *Builder) condJump(cond Cond, src Src, k uint32, jt, jf string) {
	op, swap, ok := cond.jump()
	if !ok {
		b.fail("", ErrInvalidArgument, "unknown condition %v", cond)
		op = JEQ
	}
	b.checkForward(jt)
	b.checkForward(jf)
	if swap {
		jt, jf = jf, jt
	}
	b.insns = append(b.insns, pendingInsn{ins: Stmt(Code(ClassJMP, op, src), k), jt: jt, jf: jf, isJmp: true})
}

// Append appends raw instructions. The offsets of jumps among them are
// taken relative to the builder's numbering (the jump at PC p goes to
// instruction p+1+offset, counted in [Builder.Len] terms) and may be
// lengthened by trampolines like those of labelled jumps.
func (b *Builder) Append(insns ...Instruction) {
	for _, ins := range insns {
		pc := len(b.insns)
		p := pendingInsn{ins: ins}
		switch {
		case ins.Code == opJa:
			p.isJmp, p.isRaw = true, true
			p.rawT = pc + 1 + int(min(ins.K, MaxInstructions))
		case isCondJump(ins.Code):
			p.isJmp, p.isRaw = true, true
			p.rawT, p.rawF = pc+1+int(ins.Jt), pc+1+int(ins.Jf)
		}
		b.insns = append(b.insns, p)
	}
}

// target resolves one jump target of the instruction at index i to an
// instruction index.
func (b *Builder) target(i int, label string, raw int) (int, error) {
	p := b.insns[i]
	if p.isRaw {
		if raw >= len(b.insns) {
			return 0, pcError(i, ErrJumpOutOfRange, "raw jump to pc %d of %d", raw, len(b.insns))
		}
		return raw, nil
	}
	if label == "" {
		if i+1 >= len(b.insns) {
			return 0, pcError(i, ErrJumpOutOfRange, "fall-through past the last instruction")
		}
		return i + 1, nil
	}
	t, ok := b.labels[label]
	if !ok {
		e := pcError(i, ErrUndefinedLabel, "")
		e.Label = label
		return 0, e
	}
	if t <= i {
		e := pcError(i, ErrBackwardJump, "label is at pc %d", t)
		e.Label = label
		return 0, e
	}
	if t >= len(b.insns) {
		e := pcError(i, ErrJumpOutOfRange, "label is at the end of the program, with no instruction")
		e.Label = label
		return 0, e
	}
	return t, nil
}

// Assemble resolves labels, inserts trampolines for conditional jumps whose
// targets are more than 255 instructions away, validates the result with
// [Validate] and returns it. Errors are [*Error] values; their PCs count the
// instructions appended to the builder, without trampolines.
//
// A conditional jump that needs a trampoline jumps to an unconditional jump
// to its target placed right after it, or shares the trampoline of a later
// conditional jump to the same target when that one is in range. Only jumps
// reach trampolines; nothing falls through into them.
func (b *Builder) Assemble() ([]Instruction, error) {
	if b.err != nil {
		return nil, b.err
	}
	n := len(b.insns)
	if n == 0 {
		return nil, &Error{Err: ErrEmpty}
	}
	tt := make([]int, n) // true (or JA) target index of each jump
	tf := make([]int, n) // false target index of each conditional jump
	for i, p := range b.insns {
		if !p.isJmp {
			continue
		}
		var err error
		if tt[i], err = b.target(i, p.jt, p.rawT); err != nil {
			return nil, b.annotate(err)
		}
		if p.ins.Code != opJa {
			if tf[i], err = b.target(i, p.jf, p.rawF); err != nil {
				return nil, b.annotate(err)
			}
		}
	}

	lay := layoutTrampolines(b.insns, tt, tf)
	pos, owned := lay.pos, lay.owned
	if pos[n] > MaxInstructions {
		return nil, b.annotate(pcError(n-1, ErrTooLong, "%d instructions after adding trampolines", pos[n]))
	}

	out := make([]Instruction, 0, pos[n])
	origin := make([]int, 0, pos[n]) // builder index of each output instruction
	for i, p := range b.insns {
		ins := p.ins
		switch {
		case !p.isJmp:
		case ins.Code == opJa:
			ins.K = uint32(pos[tt[i]] - pos[i] - 1)
		default:
			ins.Jt = condOffset(pos[i], lay.via[2*i])
			ins.Jf = condOffset(pos[i], lay.via[2*i+1])
			out = append(out, ins)
			origin = append(origin, i)
			for _, t := range owned[i] {
				ja := len(out)
				out = append(out, Stmt(opJa, uint32(pos[t]-ja-1)))
				origin = append(origin, i)
			}
			continue
		}
		out = append(out, ins)
		origin = append(origin, i)
	}
	if len(out) != pos[n] {
		return nil, bug("assembled %d instructions, laid out %d", len(out), pos[n])
	}
	if err := Validate(out); err != nil {
		var e *Error
		if errors.As(err, &e) && e.PC < len(origin) {
			e.PC = origin[e.PC]
		}
		return nil, b.annotate(err)
	}
	return out, nil
}

// trampolineLayout is where the instructions of a builder and the
// trampolines land in the assembled program.
type trampolineLayout struct {
	// pos[i] is the final PC of builder instruction i; pos[n] is the
	// length of the program.
	pos []int
	// owned[i] lists the targets (builder indexes) of the trampolines
	// placed right after conditional jump i, in order.
	owned map[int][]int
	// via[2*i] and via[2*i+1] are the final PCs that the true and false
	// sides of conditional jump i jump to: their target or a trampoline.
	via []int
}

// layoutTrampolines decides where trampolines go. A conditional jump whose
// target is more than 255 instructions away jumps to a trampoline ("ja" to
// the target) that is in range: one placed after a later conditional jump
// to the same target if there is one, else a new one placed right after
// itself. Jumps are considered from last to first, so that earlier jumps can
// share the trampolines of later ones. Inserting a trampoline moves the
// instructions after it and can push other jumps out of range, so the
// layout is recomputed after each insertion until no jump needs a new
// trampoline. Trampolines are only added, never removed, so this ends; and
// each trampoline stays used by its owner, whose target only gets farther.
func layoutTrampolines(insns []pendingInsn, tt, tf []int) trampolineLayout {
	n := len(insns)
	lay := trampolineLayout{
		pos:   make([]int, n+1),
		owned: make(map[int][]int),
		via:   make([]int, 2*n),
	}
	// tpos[t] lists the final PCs of the trampolines to target t, ascending.
	tpos := make(map[int][]int)
	layout := func() {
		clear(tpos)
		p := 0
		for i := range n {
			lay.pos[i] = p
			p++
			for _, t := range lay.owned[i] {
				tpos[t] = append(tpos[t], p)
				p++
			}
		}
		lay.pos[n] = p
	}
	// resolve sets the final PC that one side of jump i goes to, or
	// creates a trampoline and reports false.
	resolve := func(i, side, t int) bool {
		from := lay.pos[i]
		if lay.pos[t]-from-1 <= MaxCondJump {
			lay.via[2*i+side] = lay.pos[t]
			return true
		}
		// The nearest trampoline to t after the jump, if in range.
		ps := tpos[t]
		if k, _ := slices.BinarySearch(ps, from+1); k < len(ps) && ps[k]-from-1 <= MaxCondJump {
			lay.via[2*i+side] = ps[k]
			return true
		}
		lay.owned[i] = append(lay.owned[i], t)
		return false
	}
	for done := false; !done; {
		layout()
		done = true
		for i := n - 1; i >= 0 && done; i-- {
			if !insns[i].isJmp || insns[i].ins.Code == opJa {
				continue
			}
			done = resolve(i, 0, tt[i]) && resolve(i, 1, tf[i])
		}
	}
	return lay
}

// annotate adds the label defined at the error's PC, if the error has none.
func (b *Builder) annotate(err error) error {
	var e *Error
	if errors.As(err, &e) && e.Label == "" {
		e.Label = b.names[e.PC]
	}
	return err
}
