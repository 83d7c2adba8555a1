//go:build linux

package sandlock

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// execve's argv is reported to the policy callback only when it cannot
// change between the supervisor's copy and the kernel's (which happens
// after the CONTINUE answer). The caller C is blocked in execve. Memory
// of C changes only through
//
//  1. a task using C's memory (mm): the other threads of C's thread
//     group, and processes created with CLONE_VM (vfork children, or
//     parents of C when C is such a child) with their threads;
//  2. another process writing a shared mapping, or the file behind a
//     private file mapping whose page C has not written yet (the page
//     still shows the file);
//  3. another process writing C's memory through the kernel:
//     process_vm_writev, ptrace, /proc/C/mem, a userfaultfd or io_uring
//     on C's memory, an asynchronous direct read of C's (Linux AIO);
//  4. C itself, which is blocked in the call until the answer.
//
// argvStable rules each out, in an order that keeps each ruling true until
// the exec copies argv:
//
//   - 1, threads: C's thread group has one thread. Only a task of the
//     group can add a thread to it, and the only one is blocked, so it
//     stays alone.
//   - 1, other processes: if no process of the sandbox ever asked for a
//     clone with CLONE_VM (without CLONE_THREAD) or a vfork (all are
//     notified to the callback's handler first, clone3 fails with ENOSYS),
//     no process shares an mm with another. Otherwise a scan compares C's
//     mm with every task's on the host (kcmp KCMP_VM); each task found
//     must be a vfork parent blocked until its child execs or exits
//     (vforkWaiting), which runs no user code before C's exec copied argv.
//     A task using C's mm can only be created by a task using it and
//     running (all others are blocked), so if there is none at one
//     instant none appears later. The scan is one instant only if no task
//     was created during it: the kernel's fork counter (/proc/stat
//     "processes") is read before and after, and the scan repeated when
//     it moved.
//   - 2: every byte of the pointer array and of the strings lies in a
//     private anonymous mapping (/proc/C/maps: 'p', no file). The mappings
//     of C cannot change: no task but C uses its mm.
//   - 3: the sandbox's filter denies ptrace, process_vm_writev,
//     userfaultfd and io_uring whatever the policy says; /proc/C/mem can
//     be opened for writing only where the policy grants writing /proc
//     (argvNeverReason refuses argv in such sandboxes); a process with a
//     Linux AIO context ([aio] mapping) is refused.
//
// What is read is then what the kernel copies. When a rule cannot be
// established the argv is not reported (Event.Argv nil) and
// Event.ArgvUnsafe says why; the call itself proceeds to the callback.

// Bounds of a reported argv: beyond them it is not copied (the callback
// gets ArgvUnsafe).
const (
	argvMaxCount = 4096
	argvMaxBytes = 256 << 10
)

// argvNeverReason returns why no argv can be trusted under p, or "".
func argvNeverReason(p *Policy) string {
	for _, w := range slices.Concat(p.Filesystem.Write, p.Filesystem.WriteIfExists) {
		c := strings.TrimSuffix(w, "/")
		if c == "" || c == "/proc" || strings.HasPrefix(c, "/proc/") {
			return "the policy grants writing " + w + ": another process could write the caller's memory through /proc/PID/mem"
		}
	}
	return ""
}

// execArgv returns the argv at addr of execve notification n, or nil and
// why it is not reported.
func (h *eventHub) execArgv(n *notif, addr uint64) ([]string, string) {
	if h.argvNever != "" {
		return nil, h.argvNever
	}
	if t := threadsOf(n.pid); t != 1 {
		return nil, fmt.Sprintf("the calling process has %d threads, which may change argv after the check", t)
	}
	if h.vmShared.Load() {
		if why := h.aloneInMM(n.pid); why != "" {
			return nil, why
		}
	}
	argv, ranges, why := readArgv(n, addr)
	if why != "" {
		return nil, why
	}
	if why := privateAnon(n.pid, ranges); why != "" {
		return nil, why
	}
	return argv, ""
}

// threadsOf returns the number of threads of tid's process (0: gone).
func threadsOf(tid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(tid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Threads:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	return 0
}

// memRange is [start, end) in the caller's memory.
type memRange struct{ start, end uint64 }

// readArgv copies the argv array at addr and its strings.
func readArgv(n *notif, addr uint64) ([]string, []memRange, string) {
	if addr == 0 {
		return []string{}, nil, "" // Linux runs a NULL argv as an empty one
	}
	var argv []string
	var ranges []memRange
	total := 0
	ptr := make([]byte, 8)
	for i := 0; ; i++ {
		if i > argvMaxCount {
			return nil, nil, fmt.Sprintf("argv has more than %d entries: not copied", argvMaxCount)
		}
		p := addr + uint64(8*i)
		if readChildMem(n.pid, p, ptr) != nil {
			return nil, nil, "argv is not readable"
		}
		ranges = append(ranges, memRange{p, p + 8})
		s := binary.LittleEndian.Uint64(ptr)
		if s == 0 {
			break
		}
		str, e := readCString(n.pid, s, argvMaxBytes-total)
		if e != "" {
			return nil, nil, e
		}
		total += len(str) + 1
		ranges = append(ranges, memRange{s, s + uint64(len(str)) + 1})
		argv = append(argv, str)
	}
	if argv == nil {
		argv = []string{}
	}
	return argv, ranges, ""
}

// readCString reads a NUL-terminated string of at most max bytes at addr,
// a page at most at a time (never across into an unmapped page).
func readCString(pid int, addr uint64, max int) (string, string) {
	var out []byte
	for len(out) < max {
		chunk := min(4096-int(addr%4096), max-len(out))
		buf := make([]byte, chunk)
		if readChildMem(pid, addr, buf) != nil {
			return "", "an argv string is not readable"
		}
		if i := bytes.IndexByte(buf, 0); i >= 0 {
			return string(append(out, buf[:i]...)), ""
		}
		out = append(out, buf...)
		addr += uint64(chunk)
	}
	return "", fmt.Sprintf("argv is longer than %d bytes: not copied", argvMaxBytes)
}

// privateAnon checks that every range lies in private anonymous mappings
// of pid and that pid has no Linux AIO context.
func privateAnon(pid int, ranges []memRange) string {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/maps")
	if err != nil {
		return "the caller's mappings are not readable"
	}
	defer f.Close()
	type vma struct {
		start, end uint64
		ok         bool
	}
	var vmas []vma
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 5 {
			continue
		}
		lo, hi, _ := strings.Cut(fs[0], "-")
		s, err1 := strconv.ParseUint(lo, 16, 64)
		e, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil {
			return "the caller's mappings are not readable"
		}
		path := ""
		if len(fs) >= 6 {
			path = fs[5]
		}
		if strings.HasPrefix(path, "/[aio]") {
			return "the calling process has a Linux AIO context, which may write its memory"
		}
		ok := len(fs[1]) == 4 && fs[1][3] == 'p' && fs[4] == "0"
		vmas = append(vmas, vma{s, e, ok})
	}
	if sc.Err() != nil {
		return "the caller's mappings are not readable"
	}
	for _, r := range ranges {
		at := r.start
		for at < r.end {
			i, found := slices.BinarySearchFunc(vmas, at, func(v vma, a uint64) int {
				switch {
				case v.end <= a:
					return -1
				case v.start > a:
					return 1
				}
				return 0
			})
			if !found {
				return "argv lies outside the caller's mappings"
			}
			if !vmas[i].ok {
				return "argv lies in a shared or file-backed mapping, which another process may write"
			}
			at = vmas[i].end
		}
	}
	return ""
}

// aloneInMM reports "" when every task but tid that uses tid's memory is
// a vfork parent waiting for its child (see vforkWaiting), else why that
// could not be established.
func (h *eventHub) aloneInMM(tid int) string {
	if _, _, e := unix.Syscall6(unix.SYS_KCMP, uintptr(tid), uintptr(tid), kcmpVM, 0, 0, 0); e != 0 {
		return fmt.Sprintf("cannot inspect the caller's memory: %v", e)
	}
	why := "tasks kept being created while checking who shares the caller's memory"
	for range 16 {
		before, err := forkCount()
		if err != nil {
			return "the kernel's fork counter is not readable"
		}
		w, sharers := scanMM(tid)
		if w != "" {
			return w
		}
		waiting := true
		for _, t := range sharers {
			if !h.vforkWaiting(t) {
				// A vfork parent runs kernel code from waking its child
				// until it sleeps in wait_for_vfork_done; the child can
				// reach its exec meanwhile. Look again shortly.
				why, waiting = fmt.Sprintf("task %d shares the caller's memory", t), false
				break
			}
		}
		if !waiting {
			time.Sleep(200 * time.Microsecond)
			continue
		}
		if after, err := forkCount(); err == nil && after == before {
			return ""
		}
	}
	return why
}

// vforkWaiting reports whether task t is blocked in vfork (or clone with
// CLONE_VFORK) waiting for its child to exec or exit: its system call is
// one of those and its wait channel is kernel_clone, where the only sleep
// is wait_for_vfork_done (a task still waiting for the supervisor's
// answer to that call sleeps in the seccomp code instead, and one inside
// copy_process shows a deeper function). Such a task runs no user code
// until its child, which uses the same memory (and so is the caller or
// another task the scan checks), has copied its argv in exec or exited;
// a fatal signal ends it without running user code either.
func (h *eventHub) vforkWaiting(t int) bool {
	w, err := os.ReadFile("/proc/" + strconv.Itoa(t) + "/wchan")
	if err != nil || string(w) != "kernel_clone" {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(t) + "/syscall")
	if err != nil {
		return false
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return false
	}
	nr, err := strconv.Atoi(f[0])
	if err != nil {
		return false
	}
	if v, ok := h.arch.nr("vfork"); ok && nr == v {
		return true
	}
	flags, err := strconv.ParseUint(strings.TrimPrefix(f[1], "0x"), 16, 64)
	c, ok := h.arch.nr("clone")
	return ok && err == nil && nr == c && flags&cloneVfork != 0 && flags&cloneThread == 0
}

// cloneVfork is CLONE_VFORK.
const cloneVfork = 0x4000

// scanMM compares tid's mm with every other task's on the host and returns
// the tasks that share it. A task the supervisor may not inspect (EPERM)
// does not share it: the caller's mm is inspectable (checked first), and a
// task using that mm is subject to the same check (the sandbox cannot
// enter another user namespace: the filter denies namespaces).
func scanMM(tid int) (string, []int) {
	tgid, _ := tgidPPid(tid)
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return "/proc is not readable", nil
	}
	var sharers []int
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil || pid == tgid {
			continue
		}
		tasks, err := os.ReadDir("/proc/" + p.Name() + "/task")
		if err != nil {
			continue // gone
		}
		for _, t := range tasks {
			t2, err := strconv.Atoi(t.Name())
			if err != nil {
				continue
			}
			r, _, e := unix.Syscall6(unix.SYS_KCMP, uintptr(tid), uintptr(t2), kcmpVM, 0, 0, 0)
			switch {
			case e == unix.ESRCH, e == unix.EPERM:
			case e != 0:
				return fmt.Sprintf("cannot compare the caller's memory with task %d's: %v", t2, e), nil
			case r == 0:
				sharers = append(sharers, t2)
			}
		}
	}
	return "", sharers
}

// forkCount reads the kernel's count of tasks created since boot.
func forkCount() (uint64, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	_, rest, ok := bytes.Cut(b, []byte("\nprocesses "))
	if !ok {
		return 0, fmt.Errorf("no processes line in /proc/stat")
	}
	line, _, _ := bytes.Cut(rest, []byte("\n"))
	return strconv.ParseUint(string(line), 10, 64)
}
