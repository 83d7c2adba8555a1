//go:build linux

package clone3

import (
	"encoding/binary"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// compile turns attr into the child program. statusFd and eventFd are the
// parent's fds for the child's end of the status channel and the park
// eventfd. Each step's Desc names it in errors.
//
// Step order (each later policy layer slots into its bracket):
//
//	[legacy clone only: rt_sigaction(SIG_DFL) for each handled signal]
//	dup3 control fds above every referenced fd, O_CLOEXEC
//	prctl(PR_SET_PDEATHSIG, SIGKILL); getppid() == parent
//	setsid | setpgid(0, 0)
//	stdio plan: dup3 low sources high, then dup3 into place / clear CLOEXEC
//	close_range over every other fd
//	chdir
//	prlimit64 ...
//	[sched_setaffinity]
//	prctl(PR_SET_NO_NEW_PRIVS)
//	[PR_SET_SECUREBITS, PR_CAP_AMBIENT_CLEAR_ALL, capset(0)]
//	[landlock_restrict_self]
//	[seccomp(SET_MODE_FILTER), listener stored into the SCM_RIGHTS slot]
//	[getpid, ioctl(0, TIOCSPGRP) when Foreground]
//	sendmsg(READY [+ listener]) == 16     (write(READY) with ListenerByPidfd)
//	read(eventfd) == 8                      <- parked here
//	rt_sigprocmask(SETMASK, empty)
//	execve
//
// struct msghdr on 64-bit Linux (include/linux/socket.h); checked against
// unix.Msghdr in the tests.
const (
	msghdrIov        = 16
	msghdrIovlen     = 24
	msghdrControl    = 32
	msghdrControllen = 40
	msghdrSize       = 56
)

// LockedSecurebits is SECBIT_NOROOT | SECBIT_NOROOT_LOCKED |
// SECBIT_KEEP_CAPS_LOCKED | SECBIT_NO_CAP_AMBIENT_RAISE |
// SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED (include/uapi/linux/securebits.h):
// uid 0 gets no capabilities at execve, ambient capabilities cannot be
// raised, and none of it can be undone.
const LockedSecurebits = 1<<0 | 1<<1 | 1<<5 | 1<<6 | 1<<7

func compile(attr *Attr, statusFd, eventFd int, legacy bool) (*Program, error) {
	p := newProgram()

	if legacy {
		// clone(2) drops CLONE_CLEAR_SIGHAND: reset every handled signal.
		zero := p.Alloc(32, 8) // struct sigaction {handler, flags, restorer, mask} = SIG_DFL
		for _, sig := range handledSignals() {
			p.Call(fmt.Sprintf("rt_sigaction %d SIG_DFL", sig), unix.SYS_RT_SIGACTION, V(uint64(sig)), Ref(zero), V(0), V(8))
		}
	}

	// The control fds go above every fd the child refers to.
	n := len(attr.Files)
	base := n
	for _, f := range attr.Files {
		base = max(base, f+1)
	}
	base = max(base, statusFd+1, eventFd+1)
	var ctl []int
	ctl = append(ctl, statusFd, eventFd)
	if attr.Landlock != nil {
		base = max(base, attr.Landlock.RulesetFD+1)
		ctl = append(ctl, attr.Landlock.RulesetFD)
	}
	newStatus, newEvent := base, base+1
	newRuleset := base + 2
	for i, fd := range ctl {
		s := Step{Nr: unix.SYS_DUP3, Desc: fmt.Sprintf("dup3 control fd %d to %d", fd, base+i), Ret: -1}
		s.Args[0], s.Args[1], s.Args[2] = V(uint64(fd)), V(uint64(base+i)), V(unix.O_CLOEXEC)
		if i == 0 {
			s.Flags = FlagStore
			s.Ret = hStatusFD
		}
		p.Add(s)
	}
	tmp := base + len(ctl) // scratch fds for the stdio plan start here

	p.Call("prctl PR_SET_PDEATHSIG", unix.SYS_PRCTL, V(unix.PR_SET_PDEATHSIG), V(uint64(unix.SIGKILL)))
	p.Add(Step{Nr: unix.SYS_GETPPID, Desc: "parent died before the child was confined (getppid)", Ret: -1,
		Flags: FlagExpect, Exp: uint64(os.Getpid()), Ferr: uint64(unix.ESRCH)})

	switch {
	case attr.Setsid:
		p.Call("setsid", unix.SYS_SETSID)
	case attr.Setpgid:
		p.Call("setpgid", unix.SYS_SETPGID, V(0), V(0))
	}

	// Stdio plan, pass 1: a source below n could be overwritten by pass 2,
	// so copy it above everything first (close-on-exec: only pass 2's
	// copies survive execve).
	src := append([]int(nil), attr.Files...)
	for i, f := range src {
		if f >= 0 && f < n && f != i {
			p.Call(fmt.Sprintf("dup3 fd %d to %d", f, tmp+i), unix.SYS_DUP3, V(uint64(f)), V(uint64(tmp+i)), V(unix.O_CLOEXEC))
			src[i] = tmp + i
		}
	}
	// Pass 2: put each source in place, without close-on-exec.
	for i, f := range src {
		switch {
		case f < 0:
			p.Add(Step{Nr: unix.SYS_CLOSE, Desc: fmt.Sprintf("close fd %d", i), Args: [6]Arg{V(uint64(i))}, Flags: FlagIgnore, Ret: -1})
		case f == i:
			p.Call(fmt.Sprintf("clear close-on-exec on fd %d", i), unix.SYS_FCNTL, V(uint64(i)), V(unix.F_SETFD), V(0))
		default:
			p.Call(fmt.Sprintf("dup3 fd %d to %d", f, i), unix.SYS_DUP3, V(uint64(f)), V(uint64(i)), V(0))
		}
	}
	// Close everything else: the gap below the control fds and all above.
	if base > n {
		p.Call(fmt.Sprintf("close_range %d-%d", n, base-1), unix.SYS_CLOSE_RANGE, V(uint64(n)), V(uint64(base-1)), V(0))
	}
	p.Call(fmt.Sprintf("close_range %d-", tmp), unix.SYS_CLOSE_RANGE, V(uint64(tmp)), V(0xffffffff), V(0))

	if attr.Dir != "" {
		p.Call("chdir "+attr.Dir, unix.SYS_CHDIR, Ref(p.CString(attr.Dir)))
	}
	for _, rl := range attr.Rlimits {
		off := p.Alloc(16, 8)
		p.PutU64(off, rl.Cur)
		p.PutU64(off+8, rl.Max)
		p.Call(fmt.Sprintf("prlimit64 %s", rlimitName(rl.Resource)), unix.SYS_PRLIMIT64, V(0), V(uint64(rl.Resource)), Ref(off), V(0))
	}
	if len(attr.CPUAffinity) > 0 {
		size := cpuMaskSize(attr.CPUAffinity)
		mask := p.Alloc(size, 8)
		for _, c := range attr.CPUAffinity {
			p.data[mask+c/8] |= 1 << (c % 8)
		}
		p.Call(fmt.Sprintf("sched_setaffinity %v", attr.CPUAffinity), unix.SYS_SCHED_SETAFFINITY, V(0), V(uint64(size)), Ref(mask))
	}
	if attr.NoNewPrivs {
		p.Call("prctl PR_SET_NO_NEW_PRIVS", unix.SYS_PRCTL, V(unix.PR_SET_NO_NEW_PRIVS), V(1), V(0), V(0), V(0))
	}
	if attr.DropCapabilities {
		if attr.LockRoot {
			p.Call("prctl PR_SET_SECUREBITS", unix.SYS_PRCTL, V(unix.PR_SET_SECUREBITS), V(LockedSecurebits), V(0), V(0), V(0))
		}
		p.Call("prctl PR_CAP_AMBIENT_CLEAR_ALL", unix.SYS_PRCTL, V(unix.PR_CAP_AMBIENT), V(unix.PR_CAP_AMBIENT_CLEAR_ALL), V(0), V(0), V(0))
		// capset(&{_LINUX_CAPABILITY_VERSION_3, pid 0}, &zero[2]).
		hdr := p.Alloc(8, 8)
		binary.LittleEndian.PutUint32(p.data[hdr:], unix.LINUX_CAPABILITY_VERSION_3)
		data := p.Alloc(24, 8)
		p.Call("capset (drop all capabilities)", unix.SYS_CAPSET, Ref(hdr), Ref(data))
	}
	if attr.Landlock != nil {
		p.Call("landlock_restrict_self", unix.SYS_LANDLOCK_RESTRICT_SELF, V(uint64(newRuleset)), V(attr.Landlock.Flags))
	}

	// READY message, with room for the listener in an SCM_RIGHTS message.
	rec := p.Alloc(recordSize, 8)
	p.PutU64(rec, tagReady)
	iov := p.Alloc(16, 8)
	p.PutRef(iov, rec)
	p.PutU64(iov+8, recordSize)
	msg := p.Alloc(msghdrSize, 8)
	p.PutRef(msg+msghdrIov, iov)
	p.PutU64(msg+msghdrIovlen, 1)

	if attr.Seccomp != nil {
		prog := p.Alloc(8*len(attr.Seccomp.Filter), 8)
		for i, ins := range attr.Seccomp.Filter {
			w := p.data[prog+8*i:]
			binary.LittleEndian.PutUint16(w[0:], ins.Code)
			w[2], w[3] = ins.Jt, ins.Jf
			binary.LittleEndian.PutUint32(w[4:], ins.K)
		}
		fprog := p.Alloc(16, 8) // struct sock_fprog {u16 len; pad; ptr}
		p.PutU64(fprog, uint64(len(attr.Seccomp.Filter)))
		p.PutRef(fprog+8, prog)
		s := Step{Nr: unix.SYS_SECCOMP, Desc: "seccomp SECCOMP_SET_MODE_FILTER", Ret: -1,
			Args: [6]Arg{V(unix.SECCOMP_SET_MODE_FILTER), V(attr.Seccomp.Flags), Ref(fprog)}}
		switch {
		case attr.Seccomp.Flags&unix.SECCOMP_FILTER_FLAG_NEW_LISTENER != 0 && attr.Seccomp.ListenerByPidfd:
			p.listenerSlot = p.Alloc(8, 8)
			s.Flags = FlagStore
			s.Ret = p.listenerSlot
		case attr.Seccomp.Flags&unix.SECCOMP_FILTER_FLAG_NEW_LISTENER != 0:
			space := unix.CmsgSpace(4)
			cmsg := p.Alloc(space, 8)
			// struct cmsghdr {u64 len; s32 level; s32 type}, then the fd.
			p.PutU64(cmsg, uint64(unix.CmsgLen(4)))
			binary.LittleEndian.PutUint32(p.data[cmsg+8:], unix.SOL_SOCKET)
			binary.LittleEndian.PutUint32(p.data[cmsg+12:], unix.SCM_RIGHTS)
			p.PutRef(msg+msghdrControl, cmsg)
			p.PutU64(msg+msghdrControllen, uint64(space))
			s.Flags = FlagStore
			s.Ret = cmsg + unix.CmsgLen(0)
		}
		p.Add(s)
	}

	if attr.Foreground {
		// tcsetpgrp(0, getpid()), as late as possible: only READY can
		// fail after it. Every signal is blocked, so the kernel does not
		// send SIGTTOU to this background process group.
		slot := p.Alloc(8, 8)
		p.Add(Step{Nr: unix.SYS_GETPID, Desc: "getpid", Flags: FlagStore, Ret: slot})
		p.Call("ioctl TIOCSPGRP on fd 0", unix.SYS_IOCTL, V(0), V(unix.TIOCSPGRP), Ref(slot))
	}
	if p.listenerSlot != 0 {
		// No sendmsg after the filter: READY is a plain write (every
		// signal is blocked, so a dead parent's EPIPE raises nothing).
		p.Add(Step{Nr: unix.SYS_WRITE, Desc: "write READY", Ret: -1,
			Args:  [6]Arg{V(uint64(newStatus)), Ref(rec), V(recordSize)},
			Flags: FlagExpect, Exp: recordSize, Ferr: uint64(unix.EIO)})
	} else {
		p.Add(Step{Nr: unix.SYS_SENDMSG, Desc: "sendmsg READY", Ret: -1,
			Args:  [6]Arg{V(uint64(newStatus)), Ref(msg), V(unix.MSG_NOSIGNAL)},
			Flags: FlagExpect, Exp: recordSize, Ferr: uint64(unix.EIO)})
	}
	buf := p.Alloc(8, 8)
	p.Add(Step{Nr: unix.SYS_READ, Desc: "park (read eventfd)", Ret: -1,
		Args:  [6]Arg{V(uint64(newEvent)), Ref(buf), V(8)},
		Flags: FlagExpect, Exp: 8, Ferr: uint64(unix.ECANCELED)})
	empty := p.Alloc(8, 8)
	p.Call("rt_sigprocmask SIG_SETMASK empty", unix.SYS_RT_SIGPROCMASK, V(unix.SIG_SETMASK), Ref(empty), V(0), V(8))
	path := p.CString(attr.Path)
	argv := p.CStringArray(attr.Argv)
	envp := p.CStringArray(attr.Env)
	p.Call("execve "+attr.Path, unix.SYS_EXECVE, Ref(path), Ref(argv), Ref(envp))
	return p, nil
}

// cpuMaskSize is the size in bytes of a CPU mask holding cpus: whole
// 64-bit words, as the kernel reads them.
func cpuMaskSize(cpus []int) int {
	hi := 0
	for _, c := range cpus {
		hi = max(hi, c)
	}
	return (hi/64 + 1) * 8
}

func rlimitName(r int) string {
	switch r {
	case unix.RLIMIT_NOFILE:
		return "RLIMIT_NOFILE"
	case unix.RLIMIT_CORE:
		return "RLIMIT_CORE"
	case unix.RLIMIT_NPROC:
		return "RLIMIT_NPROC"
	case unix.RLIMIT_AS:
		return "RLIMIT_AS"
	case unix.RLIMIT_CPU:
		return "RLIMIT_CPU"
	case unix.RLIMIT_FSIZE:
		return "RLIMIT_FSIZE"
	case unix.RLIMIT_STACK:
		return "RLIMIT_STACK"
	case unix.RLIMIT_DATA:
		return "RLIMIT_DATA"
	}
	return fmt.Sprintf("resource %d", r)
}
