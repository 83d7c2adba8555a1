package bpfasm

// ConstantAllow reports whether the kernel's seccomp action cache would
// record system call nr of architecture arch as always allowed by prog, so
// that the kernel skips running the filter for it. It emulates
// seccomp_is_filter_const_allow (kernel/seccomp.c, Linux 5.11 and later,
// CONFIG_SECCOMP_CACHE_NR_ONLY), which follows the program with only nr and
// arch known and gives up on anything else:
//
//   - "ld [0]" and "ld [4]" load nr and arch; a load of any other word
//     (arguments, instruction pointer) gives up;
//   - "ja", the four conditional jumps with a constant, and "and #k" are
//     followed; any other instruction (including "ld #k", "tax" and jumps
//     comparing with X) gives up;
//   - "ret #k" ends the emulation: the call is cached only if k is exactly
//     ActionAllow (ALLOW with non-zero data is not cached).
//
// So a filter keeps a system call in the cache only if every instruction on
// its path is one of those and the path ends in "ret ALLOW". The cache only
// covers the native and compat architectures and numbers below the arch's
// syscall count, and the kernel also always allows its uprobe and uretprobe
// calls; those rules are outside the filter and not modelled here.
//
// Preconditions: prog is valid (see [Validate]); ConstantAllow returns false
// for programs that run off their end.
func ConstantAllow(prog []Instruction, arch uint32, nr int32) bool {
	var reg uint32
	for pc := 0; pc < len(prog); pc++ {
		ins := prog[pc]
		switch ins.Code {
		case opLdAbsW:
			switch ins.K {
			case OffsetNr:
				reg = uint32(nr)
			case OffsetArch:
				reg = arch
			default:
				return false
			}
		case opRetK:
			return Action(ins.K) == ActionAllow
		case opJa:
			if uint64(ins.K) >= uint64(len(prog)) {
				return false
			}
			pc += int(ins.K)
		case opJeqK, opJgeK, opJgtK, opJsetK:
			var taken bool
			switch ins.JumpOp() {
			case JEQ:
				taken = reg == ins.K
			case JGE:
				taken = reg >= ins.K
			case JGT:
				taken = reg > ins.K
			case JSET:
				taken = reg&ins.K != 0
			}
			if taken {
				pc += int(ins.Jt)
			} else {
				pc += int(ins.Jf)
			}
		case opALUBase | uint16(ALUAnd) | uint16(SrcK):
			reg &= ins.K
		default:
			return false
		}
	}
	return false
}
