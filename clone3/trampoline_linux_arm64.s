// The clone3 trampoline for linux/arm64. See trampoline_linux.go for the
// contract and program.go for the header and step layouts. It mirrors
// trampoline_linux_amd64.s instruction for instruction.
//
// Invariants:
//   - The parent path touches only R0-R3, R8, R19, R20 and returns normally;
//     it never uses R18 (platform), R26/R27 (REGTMP), R28 (g), R29 or R30.
//   - The child path runs on the arena stack (16-byte aligned), calls no Go
//     code and never returns: it ends in execve or exit_group.
//   - Errors are results in [-4095, -1]: CMN $4095 sets carry for them.
//   - legacy clone(2) on arm64 is (flags, stack, parent_tid, tls, child_tid).

#include "textflag.h"

#define SYS_write		64
#define SYS_exit_group		94
#define SYS_rt_sigprocmask	135
#define SYS_clone		220
#define SYS_clone3		435
#define SYS_getpid		172
#define SYS_gettid		178

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
	MOVD	hdr+0(FP), R19

	// Main-thread-only spawns: see trampoline_linux_amd64.s.
	MOVD	H_MAINONLY(R19), R0
	CBZ	R0, spawn
	MOVD	$SYS_gettid, R8
	SVC
	MOVD	R0, R20
	MOVD	$SYS_getpid, R8
	SVC
	CMP	R0, R20
	BEQ	spawn
	MOVD	$-1, R0
	MOVD	R0, pid+8(FP)
	MOVD	$ERR_NOT_MAIN, R0
	MOVD	R0, errno+16(FP)
	RET

spawn:
	MOVD	$SYS_rt_sigprocmask, R8
	MOVD	$SIG_SETMASK, R0
	ADD	$H_FULLMASK, R19, R1
	ADD	$H_OLDMASK, R19, R2
	MOVD	$8, R3
	SVC

	MOVD	H_LEGACY(R19), R0
	CBNZ	R0, legacy
	MOVD	$SYS_clone3, R8
	ADD	$H_CLONEARGS, R19, R0
	MOVD	$88, R1
	SVC
	B	cloned

legacy:
	MOVD	$SYS_clone, R8
	MOVD	H_LFLAGS(R19), R0
	MOVD	H_STACKTOP(R19), R1
	ADD	$H_PIDFD, R19, R2
	MOVD	$0, R3
	MOVD	$0, R4
	SVC

cloned:
	CBZ	R0, child

	MOVD	R0, R20
	MOVD	$SYS_rt_sigprocmask, R8
	MOVD	$SIG_SETMASK, R0
	ADD	$H_OLDMASK, R19, R1
	MOVD	$0, R2
	MOVD	$8, R3
	SVC
	CMN	$4095, R20
	BCS	failed
	MOVD	R20, pid+8(FP)
	MOVD	ZR, errno+16(FP)
	RET

failed:
	NEG	R20, R20
	MOVD	$-1, R0
	MOVD	R0, pid+8(FP)
	MOVD	R20, errno+16(FP)
	RET

child:
	// R19 = header, R20 = current step, R21 = step index.
	MOVD	H_STEPS(R19), R20
	MOVD	$0, R21

loop:
	MOVD	H_NSTEPS(R19), R22
	CMP	R22, R21
	BHS	ranout
	MOVD	0(R20), R8
	MOVD	8(R20), R0
	MOVD	16(R20), R1
	MOVD	24(R20), R2
	MOVD	32(R20), R3
	MOVD	40(R20), R4
	MOVD	48(R20), R5
	SVC
	MOVD	56(R20), R9
	CMN	$4095, R0
	BCS	syserr
	TST	$F_STORE, R9
	BEQ	nostore
	MOVD	64(R20), R10
	MOVW	R0, (R10)

nostore:
	TST	$F_EXPECT, R9
	BEQ	next
	MOVD	72(R20), R10
	CMP	R10, R0
	BEQ	next
	MOVD	80(R20), R0
	B	fail

syserr:
	TST	$F_IGNORE, R9
	BNE	next
	NEG	R0, R0
	B	fail

next:
	ADD	$STEP_SIZE, R20, R20
	ADD	$1, R21, R21
	B	loop

ranout:
	MOVD	$0, R0

fail:
	MOVD	$0x8000000000000000, R10
	ORR	R21, R10, R10
	MOVD	R10, H_ERRTAG(R19)
	MOVD	R0, H_ERRVAL(R19)
	MOVD	$SYS_write, R8
	MOVWU	H_STATUSFD(R19), R0
	ADD	$H_ERRTAG, R19, R1
	MOVD	$16, R2
	SVC

die:
	MOVD	$SYS_exit_group, R8
	MOVD	$127, R0
	SVC
	B	die
