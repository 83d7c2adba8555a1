package bpfasm

import (
	"slices"
	"sort"
)

// Pass is one optimization pass. Func must return a program that behaves
// like its input for every seccomp_data, whose conditional jumps all fit in
// 8 bits, and which is not longer than the input; it reports whether it
// changed anything. Func must not modify its input.
//
// Preconditions: the input of Func is valid (see [Validate]).
type Pass struct {
	Name string
	Func func(prog []Instruction) ([]Instruction, bool)
}

// Passes returns the passes that [Optimize] runs, in order:
//
//   - "thread-jumps": [ThreadJumps]
//   - "merge-returns": [MergeReturns]
//   - "redundant-loads": [RemoveRedundantLoads]
//   - "dead-code": [RemoveDeadCode]
func Passes() []Pass {
	return []Pass{
		{Name: "thread-jumps", Func: ThreadJumps},
		{Name: "merge-returns", Func: MergeReturns},
		{Name: "redundant-loads", Func: RemoveRedundantLoads},
		{Name: "dead-code", Func: RemoveDeadCode},
	}
}

// maxRounds bounds the fixpoint loop. Every pass makes progress on a measure
// that cannot grow forever, so the bound is only a guard.
const maxRounds = 1000

// Optimize runs [Passes] over prog until none of them changes anything and
// returns the result, which behaves like prog for every input. It returns an
// error if prog is not valid.
//
// Every result of a pass is checked with [Validate]; a result that the
// kernel's checker would reject is discarded. This can only happen with
// programs that read scratch memory, because the kernel's check of scratch
// memory depends on the order of the instructions (see [Validate]).
func Optimize(prog []Instruction) ([]Instruction, error) {
	return OptimizeWith(prog, Passes())
}

// OptimizeWith is [Optimize] with a caller-chosen ordered list of passes.
func OptimizeWith(prog []Instruction, passes []Pass) ([]Instruction, error) {
	out, _, err := optimize(prog, passes)
	return out, err
}

// optimize is OptimizeWith that also returns the names of the passes whose
// results were discarded because they did not validate.
func optimize(prog []Instruction, passes []Pass) ([]Instruction, []string, error) {
	if err := Validate(prog); err != nil {
		return nil, nil, err
	}
	cur := slices.Clone(prog)
	var discarded []string
	for range maxRounds {
		changed := false
		for _, p := range passes {
			next, ok := p.Func(cur)
			if !ok {
				continue
			}
			if len(next) > len(cur) || Validate(next) != nil {
				discarded = append(discarded, p.Name)
				continue
			}
			cur, changed = next, true
		}
		if !changed {
			break
		}
	}
	return cur, discarded, nil
}

// target returns the PC that a jump at pc with offset off lands on.
func target(pc int, off uint32) int { return pc + 1 + int(off) }

// condOffset returns the offset of a conditional jump from pc to t. A pass
// that asks for an offset out of range is broken; it panics rather than
// silently truncating the offset to 8 bits.
func condOffset(pc, t int) uint8 {
	off := t - pc - 1
	if off < 0 || off > MaxCondJump {
		panic(bug("conditional jump from pc %d to %d", pc, t))
	}
	return uint8(off)
}

// jaOffset returns the offset of an unconditional jump from pc to t.
func jaOffset(pc, t int) uint32 {
	off := t - pc - 1
	if off < 0 {
		panic(bug("backward jump from pc %d to %d", pc, t))
	}
	return uint32(off)
}

// ThreadJumps makes jumps go straight to their final destination:
//
//   - a jump to a "ja" jumps to the target of the "ja" instead;
//   - a "ja" to a return becomes a copy of that return;
//   - a conditional jump to a conditional jump with the same opcode and
//     constant jumps to where the second one goes, since A and X are the
//     same at both and so is the outcome;
//   - a conditional jump whose two targets are equal becomes a "ja" (a
//     "ja +0" when both fall through, which [RemoveDeadCode] deletes).
//
// A conditional jump is only redirected to a target at most 255
// instructions away.
//
// Preconditions: prog is valid.
func ThreadJumps(prog []Instruction) ([]Instruction, bool) {
	out := slices.Clone(prog)
	changed := false
	for pc, ins := range out {
		switch {
		case ins.Code == opJa:
			t := target(pc, ins.K)
			for out[t].Code == opJa {
				t = target(t, out[t].K)
			}
			if isReturn(out[t].Code) {
				out[pc] = out[t]
				changed = true
			} else if t != target(pc, ins.K) {
				out[pc].K = jaOffset(pc, t)
				changed = true
			}
		case isCondJump(ins.Code):
			jt := threadCond(out, pc, target(pc, uint32(ins.Jt)), true)
			jf := threadCond(out, pc, target(pc, uint32(ins.Jf)), false)
			next := ins
			next.Jt, next.Jf = condOffset(pc, jt), condOffset(pc, jf)
			if jt == jf {
				next = Stmt(opJa, jaOffset(pc, jt))
			}
			if next != ins {
				out[pc] = next
				changed = true
			}
		}
	}
	return out, changed
}

// threadCond follows the chain of jumps from t, the target of the
// conditional jump at pc on its taken (or not taken) side, as far as the
// conditional jump can reach.
func threadCond(prog []Instruction, pc, t int, taken bool) int {
	c := prog[pc]
	for {
		n := prog[t]
		var next int
		switch {
		case n.Code == opJa:
			next = target(t, n.K)
		case n.Code == c.Code && (c.Src() == SrcX || n.K == c.K):
			if taken {
				next = target(t, uint32(n.Jt))
			} else {
				next = target(t, uint32(n.Jf))
			}
		default:
			return t
		}
		if next-pc-1 > MaxCondJump {
			return t
		}
		t = next
	}
}

// retKey identifies returns that return the same value for the same A.
type retKey struct {
	code uint16
	k    uint32
}

func keyOf(ins Instruction) retKey {
	if ins.Code == opRetA {
		return retKey{code: opRetA}
	}
	return retKey{code: ins.Code, k: ins.K}
}

// MergeReturns redirects every jump to a return to the last identical
// return that the jump can reach (any distance for "ja", at most 255
// instructions for a conditional jump). Returns that are then reached by no
// jump and no fall-through are dead, and [RemoveDeadCode] deletes them.
//
// Preconditions: prog is valid.
func MergeReturns(prog []Instruction) ([]Instruction, bool) {
	rets := make(map[retKey][]int)
	for pc, ins := range prog {
		if isReturn(ins.Code) {
			k := keyOf(ins)
			rets[k] = append(rets[k], pc) // ascending
		}
	}
	// best returns the last PC of an identical return reachable from pc
	// when the current target is t.
	best := func(pc, t int, limit int) int {
		ps := rets[keyOf(prog[t])]
		// Index of the first return beyond reach.
		i := sort.SearchInts(ps, pc+2+limit)
		if i == 0 || ps[i-1] < t {
			return t
		}
		return ps[i-1]
	}
	out := slices.Clone(prog)
	changed := false
	for pc, ins := range prog {
		switch {
		case ins.Code == opJa:
			t := target(pc, ins.K)
			if isReturn(prog[t].Code) {
				if u := best(pc, t, len(prog)); u != t {
					out[pc].K = jaOffset(pc, u)
					changed = true
				}
			}
		case isCondJump(ins.Code):
			if t := target(pc, uint32(ins.Jt)); isReturn(prog[t].Code) {
				if u := best(pc, t, MaxCondJump); u != t {
					out[pc].Jt = condOffset(pc, u)
					changed = true
				}
			}
			if t := target(pc, uint32(ins.Jf)); isReturn(prog[t].Code) {
				if u := best(pc, t, MaxCondJump); u != t {
					out[pc].Jf = condOffset(pc, u)
					changed = true
				}
			}
		}
	}
	return out, changed
}

// RemoveDeadCode deletes the instructions that no path from the first
// instruction reaches and the no-op jumps ("ja +0", and conditional jumps
// with both offsets 0), and fixes the offsets of the remaining jumps. Jumps
// only get shorter.
//
// Preconditions: prog is valid.
func RemoveDeadCode(prog []Instruction) ([]Instruction, bool) {
	n := len(prog)
	reach := make([]bool, n)
	reach[0] = true
	for pc, ins := range prog {
		if !reach[pc] {
			continue
		}
		switch {
		case isReturn(ins.Code):
		case ins.Code == opJa:
			reach[target(pc, ins.K)] = true
		case isCondJump(ins.Code):
			reach[target(pc, uint32(ins.Jt))] = true
			reach[target(pc, uint32(ins.Jf))] = true
		default:
			reach[pc+1] = true
		}
	}
	keep := make([]bool, n)
	removed := false
	for pc, ins := range prog {
		nop := (ins.Code == opJa && ins.K == 0) ||
			(isCondJump(ins.Code) && ins.Jt == 0 && ins.Jf == 0)
		keep[pc] = reach[pc] && !nop
		removed = removed || !keep[pc]
	}
	if !removed {
		return prog, false
	}
	// newPC[pc] is the new PC of the first kept instruction at or after pc:
	// where a jump to pc must now go. The last instruction is a return, so
	// it is kept.
	newPC := make([]int, n+1)
	kept := 0
	for pc := range n {
		if keep[pc] {
			kept++
		}
	}
	newPC[n] = kept
	for pc := n - 1; pc >= 0; pc-- {
		newPC[pc] = newPC[pc+1]
		if keep[pc] {
			newPC[pc]--
		}
	}
	out := make([]Instruction, 0, kept)
	for pc, ins := range prog {
		if !keep[pc] {
			continue
		}
		from := newPC[pc]
		switch {
		case ins.Code == opJa:
			ins.K = jaOffset(from, newPC[target(pc, ins.K)])
		case isCondJump(ins.Code):
			ins.Jt = condOffset(from, newPC[target(pc, uint32(ins.Jt))])
			ins.Jf = condOffset(from, newPC[target(pc, uint32(ins.Jf))])
		}
		out = append(out, ins)
	}
	return out, true
}

// valKind says what is known about the value of a register or slot.
type valKind uint8

const (
	valUnknown valKind = iota
	valAbs             // the seccomp_data word at offset k
	valImm             // the constant k
)

// val is a value that does not change during a run of the program, so two
// equal vals denote equal numbers wherever they are observed.
type val struct {
	kind valKind
	k    uint32
}

func (v val) known() bool { return v.kind != valUnknown }

func meet(a, b val) val {
	if a == b {
		return a
	}
	return val{}
}

// regState is what is known about A, X and scratch memory before an
// instruction, on every path that reaches it.
type regState struct {
	reached bool
	a, x    val
	m       [ScratchSlots]val
}

func (s *regState) merge(from *regState) {
	if !s.reached {
		*s = *from
		return
	}
	s.a = meet(s.a, from.a)
	s.x = meet(s.x, from.x)
	for i := range s.m {
		s.m[i] = meet(s.m[i], from.m[i])
	}
}

// RemoveRedundantLoads replaces with "ja +0" (deleted by [RemoveDeadCode])
// every load into A or X, and every "tax" or "txa", after which the register
// would hold the value it already holds on every path to the instruction.
// Values are tracked only as seccomp_data words ("ld [k]") and constants
// ("ld #k", "ld #len"), also through scratch memory and tax/txa; ALU results
// are unknown.
//
// Preconditions: prog is valid.
func RemoveRedundantLoads(prog []Instruction) ([]Instruction, bool) {
	n := len(prog)
	st := make([]regState, n)
	st[0].reached = true
	var out []Instruction
	for pc, ins := range prog {
		s := st[pc]
		if !s.reached {
			continue
		}
		redundant := false
		setA := func(v val) {
			redundant = v.known() && s.a == v
			s.a = v
		}
		setX := func(v val) {
			redundant = v.known() && s.x == v
			s.x = v
		}
		switch {
		case ins.Code == opLdAbsW:
			setA(val{valAbs, ins.K})
		case ins.Code == opLdImm:
			setA(val{valImm, ins.K})
		case ins.Code == opLdLen:
			setA(val{valImm, SeccompDataSize})
		case ins.Code == opLdMem:
			setA(s.m[ins.K])
		case ins.Code == opLdxImm:
			setX(val{valImm, ins.K})
		case ins.Code == opLdxLen:
			setX(val{valImm, SeccompDataSize})
		case ins.Code == opLdxMem:
			setX(s.m[ins.K])
		case ins.Code == opTax:
			setX(s.a)
		case ins.Code == opTxa:
			setA(s.x)
		case ins.Code == opSt:
			s.m[ins.K] = s.a
		case ins.Code == opStx:
			s.m[ins.K] = s.x
		case isReturn(ins.Code):
			continue
		case ins.Code == opJa:
			st[target(pc, ins.K)].merge(&s)
			continue
		case isCondJump(ins.Code):
			st[target(pc, uint32(ins.Jt))].merge(&s)
			st[target(pc, uint32(ins.Jf))].merge(&s)
			continue
		default: // ALU
			s.a = val{}
		}
		if redundant {
			if out == nil {
				out = slices.Clone(prog)
			}
			out[pc] = Stmt(opJa, 0)
		}
		st[pc+1].merge(&s)
	}
	if out == nil {
		return prog, false
	}
	return out, true
}
