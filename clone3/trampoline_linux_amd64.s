// The clone3 trampoline for linux/amd64. See trampoline_linux.go for the
// contract and program.go for the header and step layouts.
//
// Invariants:
//   - The parent path touches only AX, CX, DX, SI, DI, R8, R10, R11, R12, R13
//     and returns normally; it never uses R14 (g) or X15.
//   - The child path runs on the arena stack, calls no Go code, makes no
//     use of the stack and never returns: it ends in execve or exit_group.
//   - Errors are results in [-4095, -1] (unsigned compare against -4095).

#include "textflag.h"

#define SYS_write		1
#define SYS_rt_sigprocmask	14
#define SYS_clone		56
#define SYS_exit_group		231
#define SYS_clone3		435
#define SYS_getpid		39
#define SYS_gettid		186

#define SIG_SETMASK	2

#define H_STEPS		0
#define H_NSTEPS	8
#define H_STATUSFD	16
#define H_ERRTAG	24
#define H_ERRVAL	32
#define H_LEGACY	40
#define H_LFLAGS	48
#define H_STACKTOP	56
#define H_PIDFD		64
#define H_FULLMASK	72
#define H_OLDMASK	80
#define H_CLONEARGS	88
#define H_MAINONLY	176

#define ERR_NOT_MAIN	0x10000

#define F_IGNORE	1
#define F_STORE		2
#define F_EXPECT	4

#define STEP_SIZE	88

// func rawSpawn(hdr uintptr) (pid uintptr, errno uintptr)
TEXT ·rawSpawn(SB), NOSPLIT|NOFRAME, $0-24
	MOVQ	hdr+0(FP), R12

	// Main-thread-only spawns: the check and the clone run in this one
	// assembly function, which cannot be preempted or moved to another
	// thread in between.
	MOVQ	H_MAINONLY(R12), AX
	TESTQ	AX, AX
	JEQ	spawn
	MOVQ	$SYS_gettid, AX
	SYSCALL
	MOVQ	AX, R13
	MOVQ	$SYS_getpid, AX
	SYSCALL
	CMPQ	AX, R13
	JEQ	spawn
	MOVQ	$-1, pid+8(FP)
	MOVQ	$ERR_NOT_MAIN, errno+16(FP)
	RET

spawn:
	// Block every signal; the old mask goes to the header.
	MOVQ	$SYS_rt_sigprocmask, AX
	MOVQ	$SIG_SETMASK, DI
	LEAQ	H_FULLMASK(R12), SI
	LEAQ	H_OLDMASK(R12), DX
	MOVQ	$8, R10
	SYSCALL

	MOVQ	H_LEGACY(R12), AX
	TESTQ	AX, AX
	JNE	legacy
	MOVQ	$SYS_clone3, AX
	LEAQ	H_CLONEARGS(R12), DI
	MOVQ	$88, SI
	SYSCALL
	JMP	cloned

legacy:
	// clone(flags|exit_signal, stack_top, parent_tid=&pidfd, child_tid, tls)
	MOVQ	$SYS_clone, AX
	MOVQ	H_LFLAGS(R12), DI
	MOVQ	H_STACKTOP(R12), SI
	LEAQ	H_PIDFD(R12), DX
	XORQ	R10, R10
	XORQ	R8, R8
	SYSCALL

cloned:
	TESTQ	AX, AX
	JEQ	child

	// Parent: restore the mask, then return pid or errno.
	MOVQ	AX, R13
	MOVQ	$SYS_rt_sigprocmask, AX
	MOVQ	$SIG_SETMASK, DI
	LEAQ	H_OLDMASK(R12), SI
	XORQ	DX, DX
	MOVQ	$8, R10
	SYSCALL
	CMPQ	R13, $-4095
	JCC	failed
	MOVQ	R13, pid+8(FP)
	MOVQ	$0, errno+16(FP)
	RET

failed:
	NEGQ	R13
	MOVQ	$-1, pid+8(FP)
	MOVQ	R13, errno+16(FP)
	RET

child:
	// R12 = header, R13 = current step, BX = step index.
	MOVQ	H_STEPS(R12), R13
	XORQ	BX, BX

loop:
	CMPQ	BX, H_NSTEPS(R12)
	JCC	ranout
	MOVQ	0(R13), AX
	MOVQ	8(R13), DI
	MOVQ	16(R13), SI
	MOVQ	24(R13), DX
	MOVQ	32(R13), R10
	MOVQ	40(R13), R8
	MOVQ	48(R13), R9
	SYSCALL
	MOVQ	56(R13), CX
	CMPQ	AX, $-4095
	JCC	syserr
	TESTQ	$F_STORE, CX
	JEQ	nostore
	MOVQ	64(R13), DX
	MOVL	AX, 0(DX)

nostore:
	TESTQ	$F_EXPECT, CX
	JEQ	next
	CMPQ	AX, 72(R13)
	JEQ	next
	MOVQ	80(R13), AX
	JMP	fail

syserr:
	TESTQ	$F_IGNORE, CX
	JNE	next
	NEGQ	AX
	JMP	fail

next:
	ADDQ	$STEP_SIZE, R13
	INCQ	BX
	JMP	loop

ranout:
	XORQ	AX, AX

fail:
	// AX = errno. Record {1<<63 | step, errno} and send it.
	MOVQ	$0x8000000000000000, DX
	ORQ	BX, DX
	MOVQ	DX, H_ERRTAG(R12)
	MOVQ	AX, H_ERRVAL(R12)
	MOVQ	$SYS_write, AX
	MOVL	H_STATUSFD(R12), DI
	LEAQ	H_ERRTAG(R12), SI
	MOVQ	$16, DX
	SYSCALL

die:
	MOVQ	$SYS_exit_group, AX
	MOVQ	$127, DI
	SYSCALL
	JMP	die
