package bpfasm

// Validate checks prog as the kernel checks a seccomp filter: first
// bpf_check_classic (net/core/filter.c), then seccomp_check_filter
// (kernel/seccomp.c). It returns nil exactly when the kernel would accept the
// program, and otherwise an [*Error] naming the first offending PC and
// wrapping one of [ErrEmpty], [ErrTooLong], [ErrInvalidOpcode],
// [ErrInvalidLoad], [ErrDivideByZero], [ErrShiftTooLarge],
// [ErrInvalidScratch], [ErrJumpOutOfRange], [ErrNoReturn] or
// [ErrUninitializedScratch].
//
// Because jump offsets are unsigned, every jump is forward, and because the
// last instruction must be a return and every jump must land inside the
// program, every path through a valid program ends in a return.
//
// The scratch memory check is the kernel's check_load_and_stores, which is
// conservative: after a jump it only trusts what every jump to an instruction
// agrees on, and it also lets the state before a return flow into the next
// instruction. Some programs in which every real path writes a slot before
// reading it are therefore rejected, by the kernel and by Validate alike.
//
// Validate checks one program. When filters are stacked, the kernel also
// limits the total length of all the filters of a task (each counted with
// 4 extra instructions) to 32768 (MAX_INSNS_PER_PATH) and returns ENOMEM
// beyond it; that limit depends on the filters already installed and is not
// checked here.
func Validate(prog []Instruction) error {
	n := len(prog)
	if n == 0 {
		return &Error{PC: 0, Err: ErrEmpty}
	}
	if n > MaxInstructions {
		return pcError(MaxInstructions, ErrTooLong, "%d instructions", n)
	}
	for pc, ins := range prog {
		if err := checkInstruction(pc, n, ins); err != nil {
			return err
		}
	}
	if !isReturn(prog[n-1].Code) {
		return pcError(n-1, ErrNoReturn, "")
	}
	return checkScratch(prog)
}

// checkInstruction applies the per-instruction checks of both kernel
// checkers to the instruction at pc of a program of n instructions.
func checkInstruction(pc, n int, ins Instruction) error {
	if !isSeccomp(ins.Code) {
		if isClassic(ins.Code) {
			return pcError(pc, ErrInvalidOpcode, "%s is classic BPF but not seccomp",
				mnemonicOf(ins.Code))
		}
		return pcError(pc, ErrInvalidOpcode, "unknown opcode %#04x", ins.Code)
	}
	switch ins.Code {
	case opLdAbsW:
		if ins.K >= SeccompDataSize || ins.K%4 != 0 {
			return pcError(pc, ErrInvalidLoad, "offset %d", ins.K)
		}
	case opLdMem, opLdxMem, opSt, opStx:
		if ins.K >= ScratchSlots {
			return pcError(pc, ErrInvalidScratch, "M[%d]", ins.K)
		}
	case opALUBase | uint16(ALUDiv):
		if ins.K == 0 {
			return pcError(pc, ErrDivideByZero, "")
		}
	case opALUBase | uint16(ALULsh), opALUBase | uint16(ALURsh):
		if ins.K >= 32 {
			return pcError(pc, ErrShiftTooLarge, "shift by %d", ins.K)
		}
	case opJa:
		if uint64(ins.K) >= uint64(n-pc-1) {
			return pcError(pc, ErrJumpOutOfRange, "ja +%d from pc %d in a program of %d", ins.K, pc, n)
		}
	default:
		if isCondJump(ins.Code) {
			if pc+int(ins.Jt)+1 >= n || pc+int(ins.Jf)+1 >= n {
				return pcError(pc, ErrJumpOutOfRange, "jt +%d jf +%d from pc %d in a program of %d",
					ins.Jt, ins.Jf, pc, n)
			}
		}
	}
	return nil
}

// checkScratch is the kernel's check_load_and_stores. Preconditions: every
// instruction passed checkInstruction.
func checkScratch(prog []Instruction) error {
	masks := make([]uint16, len(prog))
	for i := range masks {
		masks[i] = 0xffff
	}
	var valid uint16
	for pc, ins := range prog {
		valid &= masks[pc]
		switch {
		case ins.Code == opSt || ins.Code == opStx:
			valid |= 1 << ins.K
		case ins.Code == opLdMem || ins.Code == opLdxMem:
			if valid&(1<<ins.K) == 0 {
				return pcError(pc, ErrUninitializedScratch, "M[%d]", ins.K)
			}
		case ins.Code == opJa:
			masks[pc+1+int(ins.K)] &= valid
			valid = 0xffff
		case isCondJump(ins.Code):
			masks[pc+1+int(ins.Jt)] &= valid
			masks[pc+1+int(ins.Jf)] &= valid
			valid = 0xffff
		}
	}
	return nil
}
