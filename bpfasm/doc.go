// Package bpfasm is a pure-Go classic BPF toolchain for seccomp filters: an
// assembler with symbolic labels, a validator that applies the kernel's
// checks, a disassembler and text parser, a binary encoder and decoder, an
// interpreter, and an optimizer.
//
// Warning: bpfasm is a low-level package. Its API may change before sandlock
// reaches v1; most callers want the seccomp policy of package sandlock.
//
// The package builds on every GOOS and GOARCH, uses neither unsafe nor
// golang.org/x/sys, and never talks to the kernel: programs are plain data.
// Installing a filter is the caller's business.
//
// # Instructions
//
// [Instruction] mirrors struct sock_filter. Opcodes are built from typed fields
// ([Class], [Size], [Mode], [ALUOp], [JumpOp], [Src], [RetSrc], [MiscOp]) with
// [Code], and raw instructions from [Stmt] and [Jump], which are the BPF_STMT
// and BPF_JUMP macros of include/uapi/linux/filter.h.
//
// # Assembling
//
// A [Builder] appends instructions and resolves string labels when
// [Builder.Assemble] is called. Labels are forward-only, as classic BPF jumps
// are. Conditional jumps have 8-bit offsets; when a target is more than 255
// instructions away the assembler inserts an unconditional jump (JA, 32-bit
// offset) as a trampoline. An empty label means "fall through":
//
//	var b bpfasm.Builder
//	b.LoadArch()
//	b.JumpIf(bpfasm.Eq, 0xc000003e, "", "kill") // AUDIT_ARCH_X86_64
//	b.LoadNr()
//	b.JumpIf(bpfasm.Eq, 39, "allow", "")        // getpid
//	b.RetAction(bpfasm.Errno(1))
//	b.Label("allow")
//	b.RetAction(bpfasm.ActionAllow)
//	b.Label("kill")
//	b.RetAction(bpfasm.ActionKillProcess)
//	prog, err := b.Assemble()
//
// # Validation
//
// [Validate] accepts exactly the programs that the kernel's
// bpf_check_classic (net/core/filter.c) followed by seccomp_check_filter
// (kernel/seccomp.c) accept: 1 to 4096 instructions, the seccomp subset of
// opcodes, loads only of aligned 32-bit words inside seccomp_data, jumps that
// land inside the program, a return as the last instruction, no division by a
// constant zero, no constant shift of 32 or more, scratch memory indices below
// 16, and the kernel's scratch-memory check (no read of a slot that is not
// written on every path to the read, computed as the kernel computes it).
//
// # Byte order
//
// The kernel loads seccomp_data words in the byte order of the filtered task.
// This package models little-endian machines (amd64, arm64, riscv64,
// loong64, ...): [ArgLow] and [ArgHigh] give the offsets of the low and high
// halves of an argument on such machines, [SeccompData.Marshal] writes
// little-endian bytes, [Encode] and [Decode] use little-endian struct
// sock_filter, and the interpreter reads little-endian words.
//
// # Running and optimizing
//
// [Run] and [Interpreter] execute a validated program over a 64-byte
// seccomp_data buffer as the kernel does. [ConstantAllow] emulates the
// kernel's seccomp action cache, which skips the filter for system calls
// that it can prove always allowed. [Optimize] runs an ordered list of
// [Pass] values to a fixpoint; every pass preserves the behaviour of the
// program for every input, never makes a cacheable system call uncacheable,
// and never lengthens a conditional jump past 255.
//
// On Linux the tests check [Validate] and [Run] against the running kernel
// by installing programs in helper processes. [ConstantAllow] follows the
// kernel source; kernels without CONFIG_SECCOMP_CACHE_DEBUG do not expose
// the cache, so it is not checked against a kernel.
//
// # Text
//
// [Disassemble] (also [Program.String]) prints one line per instruction with
// its PC, absolute jump targets and pretty-printed seccomp actions;
// [ParseText] reads that listing back, so that text and binary round-trip
// exactly.
package bpfasm
