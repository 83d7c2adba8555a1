// Package clone3 starts a child process with raw clone3(2) and runs a
// precomputed program of raw system calls in it, with no Go runtime code in
// the child.
//
// It is the low-level engine under package sandlock and may change without
// notice; most users want sandlock instead.
//
// # Model
//
// The parent describes the child as data ([Attr]). [Spawn] compiles that
// description into a program of steps (see [Program]), lays the program, every
// string, argv, envp, the seccomp filter and a private stack out in one mmap'd
// arena, and calls a small assembly trampoline on a dedicated, permanently
// locked OS thread. The trampoline blocks every signal, calls
//
//	clone3(CLONE_VM | CLONE_PIDFD | CLONE_CLEAR_SIGHAND, exit_signal=SIGCHLD)
//
// on the arena's stack, and restores the mask in the parent. The child loops
// over the steps with the SYSCALL instruction only: no allocation, no stack
// growth, no Go function calls. Each step may ignore an error, store its
// result into the arena (for example the seccomp listener fd into the
// SCM_RIGHTS control message) or demand an exact result.
//
// The child sets itself up (moves its control fds high, PR_SET_PDEATHSIG,
// setpgid, the stdio plan, close_range, chdir, prlimit, NO_NEW_PRIVS, Landlock,
// seccomp), sends a READY record over a SOCK_SEQPACKET status channel, parks
// in a blocking read of an eventfd, and on release restores an empty signal
// mask and calls execve. A failing step sends {step, errno} on the status
// channel and exits with status 127; the parent turns that into a
// [*ChildError] naming the step.
//
// # Protocol
//
//	parent (spawner thread)                 child (trampoline)
//	-----------------------                 ------------------
//	build arena, socketpair, eventfd
//	block signals; clone3 ----------------> steps 0..k (set-up, policy)
//	restore mask; close child end            |
//	wait for a record  <------------------- sendmsg READY [+ SCM_RIGHTS listener]
//	Spawn returns (child parked)            read(eventfd)  ... parked ...
//	Release: write(eventfd, 1) -----------> read returns 8
//	                                        rt_sigprocmask(empty)
//	wait for EOF or a record  <------------ execve: status fd is O_CLOEXEC, so
//	                                        EOF means exec happened (or death)
//
// Any step failure: <- {1<<63 | step, errno}; exit_group(127).
//
// # Fallback
//
// When clone3 returns ENOSYS (seccomp profiles of some container runtimes do
// this) the legacy clone(2) is used instead. It silently drops the upper 32
// flag bits, so CLONE_CLEAR_SIGHAND is replaced by one rt_sigaction(SIG_DFL)
// step per signal that has a handler in the parent.
//
// Never CLONE_VFORK: a parked vfork child keeps the spawning thread inside a
// system call and a garbage-collector stop-the-world then waits forever. Never
// a plain fork: its cost grows with the parent's resident memory.
package clone3
