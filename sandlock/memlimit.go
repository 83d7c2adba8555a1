//go:build linux

package sandlock

import (
	"bytes"
	"errors"
	"os"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
)

// memoryCalls are the system calls the memory limit is notified of: those
// that commit memory (mmap, mprotect and pkey_mprotect making a mapping
// writable, mremap, brk) and those that copy a process's memory (fork,
// vfork, clone). munmap is not: releases are credited when the kernel's
// figures are read again (the next call of that process, or a
// reconciliation), so a munmap costs no round trip.
var memoryCalls = []string{"mmap", "mprotect", "pkey_mprotect", "mremap", "brk", "clone", "fork", "vfork"}

// Flags of mmap, mremap and clone read from the registers.
const (
	mapTypeMask     = 0x03 // MAP_SHARED, MAP_PRIVATE, MAP_SHARED_VALIDATE
	mapPrivate      = 0x02
	mapFixed        = 0x10
	mapAnonymous    = 0x20
	mapGrowsdown    = 0x0100
	mapFixedNoRepl  = 0x100000
	mremapDontUnmap = 4
	protWrite       = 0x2
	cloneVM         = 0x00000100
	kcmpVM          = 1 // KCMP_VM
)

// sysFork and sysVfork are the numbers of fork and vfork on this
// architecture, -1 where they do not exist (arm64).
var (
	sysFork  = sync.OnceValue(func() int { return nrOrNone("fork") })
	sysVfork = sync.OnceValue(func() int { return nrOrNone("vfork") })
)

func nrOrNone(name string) int {
	if a := archFor(""); a != nil {
		if nr, ok := a.nr(name); ok {
			return nr
		}
	}
	return -1
}

// memLimit enforces Limits.MaxMemory (docs/design.md, "Memory limit").
//
// What it counts, for the whole sandbox: the sum over its live processes
// of each one's private writable memory as the kernel accounts it (the
// "data" column of /proc/PID/statm: data_vm + stack_vm, the memory
// RLIMIT_DATA limits, plus stacks), plus the shared anonymous mappings
// (MAP_SHARED|MAP_ANONYMOUS) the processes hold, each counted once.
// Virtual sizes, not resident ones: untouched memory counts (a calloc'd
// 200 MiB buffer is 200 MiB), as the kernel's commit accounting does.
//
// The kernel is the source of truth: at each notification the caller's
// figure is read again from /proc, so frees (munmap, a shrinking brk, an
// exec that replaced the image, an exit) are credited without being
// notified. What the figures cannot show yet is charged on top, as an
// upper bound: the call being decided, calls answered CONTINUE whose
// thread may still be inside them (in flight), forks whose child was not
// seen yet, shared anonymous memory since the last reconciliation. When
// that sum would exceed the limit, the supervisor reconciles (every
// member's figures and mappings read again, the call's exact effect
// computed from /proc/PID/maps) before it kills the sandbox with
// ErrMemoryLimit. So a kill is never due to a stale estimate, and the
// estimates never count less than the kernel will.
//
// It is a quick handler, but a policy callback (events_linux.go) can put
// fork and clone in a slow chain, so handle takes mu. The limit can be
// lowered while the sandbox runs (EventContext.RestrictMaxMemory): live.
type memLimit struct {
	mu      sync.Mutex
	max     uint64
	live    *liveState // nil: max stays
	page    uint64
	kill    func(error)
	members map[int]*memProc // tgid -> process
	tids    map[int]int      // thread -> tgid, for threads other than the first
	forks   []memFork        // forks answered CONTINUE whose child is not a member yet
	buf     []byte           // for reading small /proc files
}

// memProc is one process of the sandbox.
type memProc struct {
	pidfd int
	ppid  int // the member it was found under (0: none)
	// sharesMM: found sharing its parent's memory (vfork, CLONE_VM before
	// exec): its figure is the parent's, not counted twice.
	sharesMM bool
	size     uint64      // private writable bytes at the last reading
	shared   uint64      // shared anonymous bytes charged to it
	inflight []memCharge // calls answered CONTINUE, maybe not visible in size yet
}

// memCharge is the upper bound of one call's growth, charged until its
// thread is seen outside the call.
type memCharge struct {
	tid, nr int
	bytes   uint64
}

// memFork is a fork answered CONTINUE: its child's copy of the parent's
// memory is charged until a walk after the fork returned saw the child.
type memFork struct {
	memCharge
	tgid int
}

func newMemLimit(max uint64, leader int, kill func(error)) (*memLimit, error) {
	fd, err := unix.PidfdOpen(leader, 0)
	if err != nil {
		return nil, os.NewSyscallError("pidfd_open", err)
	}
	m := &memLimit{
		max: max, page: uint64(os.Getpagesize()), kill: kill,
		members: map[int]*memProc{leader: {pidfd: fd}}, tids: map[int]int{}, buf: make([]byte, 1024),
	}
	return m, nil
}

// close releases the pidfds. Only after the supervisor's loop ended.
func (m *memLimit) close() {
	for pid, mp := range m.members {
		unix.Close(mp.pidfd)
		delete(m.members, pid)
	}
}

// handle is the notifHandler of memoryCalls.
//
// TOCTOU: the decision reads only the notification's registers (lengths,
// protections, flags, addresses as numbers) and the kernel's own figures
// of the sandbox's processes (/proc/PID/statm, /proc/PID/maps), never the
// caller's memory, so CONTINUE after it is sound: nothing the sandbox
// changes afterwards changes what the kernel does with this call. Races
// with the sandbox's other threads only ever make the estimate larger:
// their calls are charged until their threads are seen outside them, and
// frees are credited only once the kernel shows them. What the kernel
// does beyond the estimate per process (an exec's new image, a call whose
// effect exceeds its registers' upper bound) is capped by RLIMIT_DATA.
func (m *memLimit) handle(n *notif) verdictResp {
	m.mu.Lock()
	defer m.mu.Unlock()
	if (n.nr == unix.SYS_CLONE && n.args[0]&cloneThread != 0) || n.nr == sysVfork() {
		return respContinue // the same memory: nothing is copied
	}
	tgid := m.tgidOf(n.pid)
	if tgid <= 0 {
		return respErrno(unix.ENOMEM) // the caller is going away
	}
	mp := m.adopt(tgid, 0)
	if mp == nil {
		return respErrno(unix.ENOMEM)
	}
	m.dropExited()
	m.settleForks(n.pid)
	m.refresh(tgid, mp, n.pid)
	charge, sticky := m.estimate(n, mp)
	if m.total()+charge > m.limit() {
		m.reconcile(n.pid)
		mp = m.members[tgid]
		if mp == nil {
			return respErrno(unix.ENOMEM)
		}
		charge, sticky = m.exact(n, tgid, mp, charge, sticky)
		if m.total()+charge > m.limit() {
			m.kill(ErrMemoryLimit)
			return respErrno(unix.ENOMEM)
		}
	}
	switch {
	case charge == 0:
	case n.nr == unix.SYS_CLONE || n.nr == sysFork():
		m.forks = append(m.forks, memFork{memCharge{n.pid, n.nr, charge}, tgid})
	case sticky:
		mp.shared += charge
	default:
		mp.inflight = append(mp.inflight, memCharge{n.pid, n.nr, charge})
	}
	return respContinue
}

// limit is the limit in force: the policy's, or lower once restricted.
func (m *memLimit) limit() uint64 {
	if m.live != nil {
		return m.live.maxMemory(m.max)
	}
	return m.max
}

// total is the sandbox's charge: every member's figure and pending charges.
func (m *memLimit) total() uint64 {
	var t uint64
	for _, mp := range m.members {
		if !mp.sharesMM {
			t += mp.size
		}
		t += mp.shared
		for _, c := range mp.inflight {
			t += c.bytes
		}
	}
	for _, f := range m.forks {
		t += f.bytes
	}
	return t
}

// tgidOf returns the process of thread tid, or 0 when it is gone.
func (m *memLimit) tgidOf(tid int) int {
	if _, ok := m.members[tid]; ok {
		return tid
	}
	if tgid, ok := m.tids[tid]; ok {
		// A thread id may be reused once its thread is gone: trust the
		// cache only while tid is still a thread of tgid.
		if unix.Access("/proc/"+strconv.Itoa(tgid)+"/task/"+strconv.Itoa(tid), unix.F_OK) == nil {
			return tgid
		}
		delete(m.tids, tid)
	}
	tgid := tgidOf(tid)
	if tgid > 0 && tgid != tid {
		m.tids[tid] = tgid
	}
	return tgid
}

// adopt returns member tgid, making it one (pinned by a pidfd) if needed.
func (m *memLimit) adopt(tgid, parent int) *memProc {
	if mp, ok := m.members[tgid]; ok {
		return mp
	}
	fd, err := unix.PidfdOpen(tgid, 0)
	if err != nil {
		return nil
	}
	mp := &memProc{pidfd: fd, ppid: parent}
	m.members[tgid] = mp
	return mp
}

// dropExited forgets members that exited (zombies hold no memory): the
// credit on exit. One poll over every pidfd: a pidfd is readable once its
// process exited.
func (m *memLimit) dropExited() {
	fds := make([]unix.PollFd, 0, len(m.members))
	pids := make([]int, 0, len(m.members))
	for pid, mp := range m.members {
		fds = append(fds, unix.PollFd{Fd: int32(mp.pidfd), Events: unix.POLLIN})
		pids = append(pids, pid)
	}
	for {
		_, err := unix.Poll(fds, 0)
		if err != unix.EINTR {
			break
		}
	}
	for i, fd := range fds {
		if fd.Revents != 0 {
			unix.Close(int(fd.Fd))
			delete(m.members, pids[i])
		}
	}
	for tid, tgid := range m.tids {
		if _, ok := m.members[tgid]; !ok {
			delete(m.tids, tid)
		}
	}
}

// settleForks walks the process tree when forks are pending: their
// children become members (with their own figures) and the forks whose
// thread left the call are settled. Which forks left is read before the
// walk, so that a child made by a fork that returned is visible to it
// (the process limit's lesson, proclimit.go).
func (m *memLimit) settleForks(caller int) {
	if len(m.forks) == 0 {
		return
	}
	left := make([]bool, len(m.forks))
	for i, f := range m.forks {
		left[i] = f.tid == caller || !m.inCall(f.tgid, f.tid, f.nr)
	}
	queue := make([]int, 0, len(m.members))
	for pid := range m.members {
		queue = append(queue, pid)
	}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for k := range childrenOf(p) {
			if _, ok := m.members[k]; ok {
				continue
			}
			if mp := m.adopt(k, p); mp != nil {
				m.refresh(k, mp, 0)
				queue = append(queue, k)
			}
		}
	}
	kept := m.forks[:0]
	for i, f := range m.forks {
		if !left[i] {
			kept = append(kept, f)
		}
	}
	m.forks = kept
}

// refresh settles the in-flight calls of member tgid whose thread left
// them (caller, when not 0, is in a new call: its earlier one is over),
// then reads the member's figure. Settling comes first, so that a call
// settled as over is in the figure read after it.
func (m *memLimit) refresh(tgid int, mp *memProc, caller int) {
	kept := mp.inflight[:0]
	for _, c := range mp.inflight {
		if c.tid != caller && m.inCall(tgid, c.tid, c.nr) {
			kept = append(kept, c)
		}
	}
	mp.inflight = kept
	mp.sharesMM = mp.ppid != 0 && sameMM(tgid, mp.ppid)
	mp.size = m.statmData(tgid) * m.page
}

// inCall is inSyscall (proclimit.go) without allocations: whether thread
// tid of tgid may still be inside system call nr ("running" counts: the
// kernel cannot tell).
func (m *memLimit) inCall(tgid, tid, nr int) bool {
	b, err := m.read("/proc/" + strconv.Itoa(tgid) + "/task/" + strconv.Itoa(tid) + "/syscall")
	if err != nil {
		return err != unix.ENOENT && err != unix.ESRCH
	}
	f, _, _ := bytes.Cut(bytes.TrimSpace(b), []byte{' '})
	if string(f) == "running" {
		return true
	}
	n, err := strconv.Atoi(string(f))
	return err != nil || n == nr
}

// read reads a small /proc file into m.buf with raw system calls (half
// the cost of os.ReadFile, on the path of every notification).
func (m *memLimit) read(path string) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	n := 0
	for n < len(m.buf) {
		k, err := unix.Read(fd, m.buf[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		if k == 0 {
			break
		}
		n += k
	}
	return m.buf[:n], nil
}

// reconcile reads every member's figures again, settles every in-flight
// call it can, and replaces the shared anonymous charges by what the
// members map (each shared object counted once).
func (m *memLimit) reconcile(caller int) {
	m.dropExited()
	m.settleForks(caller)
	seen := map[string]bool{}
	for pid, mp := range m.members {
		m.refresh(pid, mp, caller)
		mp.shared = 0
		forEachMapping(pid, func(v vma) {
			if v.sharedAnon() && !seen[v.inode] {
				seen[v.inode] = true
				mp.shared += v.end - v.start
			}
		})
	}
}

// estimate is the upper bound of what call n adds to the charge, from its
// registers alone; sticky charges (shared anonymous memory, mremap growth)
// stay until the next reconciliation, the others until the caller's
// thread left the call.
func (m *memLimit) estimate(n *notif, mp *memProc) (charge uint64, sticky bool) {
	a := n.args
	switch n.nr {
	case unix.SYS_MMAP:
		length, prot, flags := m.roundUp(a[1]), a[2], a[3]
		switch {
		case flags&mapTypeMask == mapPrivate && prot&protWrite != 0 && flags&mapGrowsdown == 0:
			return length, false
		case flags&mapTypeMask != mapPrivate && flags&mapAnonymous != 0:
			return length, true
		}
	case unix.SYS_MPROTECT, unix.SYS_PKEY_MPROTECT:
		if a[2]&protWrite != 0 {
			return m.roundUp(a[1]), false
		}
	case unix.SYS_MREMAP:
		oldLen, newLen := m.roundUp(a[1]), m.roundUp(a[2])
		if a[3]&mremapDontUnmap != 0 {
			return newLen, true
		}
		if newLen > oldLen {
			return newLen - oldLen, true
		}
	case unix.SYS_BRK:
		// The whole heap after the call: the heap already there is in
		// the figure too, so this counts it twice (the exact path reads
		// the heap's end from the maps when that matters).
		if start := m.roundUp(m.startBrk(n.pid)); a[0] > start {
			return m.roundUp(a[0]) - start, false
		}
		return 0, false
	case unix.SYS_CLONE, sysFork():
		if n.nr == unix.SYS_CLONE && a[0]&cloneVM != 0 {
			return 0, false
		}
		if mp.sharesMM {
			return 0, false
		}
		return mp.size, false
	}
	return 0, false
}

// exact recomputes the charge of call n from the caller's mappings, for
// calls whose upper bound assumed the worst: a MAP_FIXED mapping over
// memory already counted, mprotect of memory already writable, mremap of
// memory that is not counted.
func (m *memLimit) exact(n *notif, tgid int, mp *memProc, charge uint64, sticky bool) (uint64, bool) {
	a := n.args
	switch n.nr {
	case unix.SYS_MMAP:
		if sticky || charge == 0 || a[3]&(mapFixed|mapFixedNoRepl) == 0 {
			return charge, sticky
		}
		start, end := a[0], a[0]+charge
		covered := m.overlap(tgid, start, end, vma.counted)
		return charge - min(charge, covered), false
	case unix.SYS_MPROTECT, unix.SYS_PKEY_MPROTECT:
		if charge == 0 {
			return 0, false
		}
		start := a[0]
		return m.overlap(tgid, start, start+charge, func(v vma) bool {
			return v.private && !v.write && v.object != "[stack]"
		}), false
	case unix.SYS_MREMAP:
		var found *vma
		forEachMapping(tgid, func(v vma) {
			if found == nil && v.start <= a[0] && a[0] < v.end {
				found = &v
			}
		})
		if found == nil || !(found.counted() || found.sharedAnon()) {
			return 0, false
		}
		return charge, sticky
	case unix.SYS_BRK:
		return m.brkGrowth(tgid, a[0]), false
	case unix.SYS_CLONE, sysFork():
		return mp.size, false
	}
	return charge, sticky
}

// brkGrowth is what brk(addr) adds to process pid's heap: the page-rounded
// distance from the heap's end ([heap] in /proc/PID/maps, or the heap's
// start from /proc/PID/stat when it is empty) to addr.
func (m *memLimit) brkGrowth(pid int, addr uint64) uint64 {
	if addr == 0 {
		return 0 // a query
	}
	var end uint64
	forEachMapping(pid, func(v vma) {
		if v.object == "[heap]" {
			end = v.end
		}
	})
	if end == 0 {
		end = m.roundUp(m.startBrk(pid))
	}
	if end == 0 {
		return m.roundUp(addr) // unknown heap: the worst case
	}
	if want := m.roundUp(addr); want > end {
		return want - end
	}
	return 0
}

// overlap sums the bytes of [start, end) covered by mappings of pid that
// match.
func (m *memLimit) overlap(pid int, start, end uint64, match func(vma) bool) uint64 {
	var n uint64
	forEachMapping(pid, func(v vma) {
		lo, hi := max(start, v.start), min(end, v.end)
		if lo < hi && match(v) {
			n += hi - lo
		}
	})
	return n
}

// roundUp rounds n up to whole pages, saturating.
func (m *memLimit) roundUp(n uint64) uint64 {
	r := (n + m.page - 1) &^ (m.page - 1)
	if r < n {
		return ^uint64(0) &^ (m.page - 1)
	}
	return r
}

// statmData returns the "data" column of /proc/PID/statm (pages of
// private writable memory and stack), 0 for a process gone or without
// memory (a zombie).
func (m *memLimit) statmData(pid int) uint64 {
	b, err := m.read("/proc/" + strconv.Itoa(pid) + "/statm")
	if err != nil {
		return 0
	}
	f := bytes.Fields(b)
	if len(f) < 6 {
		return 0
	}
	n, _ := strconv.ParseUint(string(f[5]), 10, 64)
	return n
}

// startBrk returns the start of process pid's heap (field 47, start_brk,
// of /proc/PID/stat; fields counted from 1, the state being field 3), or 0.
func (m *memLimit) startBrk(pid int) uint64 {
	b, err := m.read("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 45 {
		return 0
	}
	n, _ := strconv.ParseUint(string(f[44]), 10, 64)
	return n
}

// sameMM reports whether processes a and b share their memory (kcmp
// KCMP_VM): a vfork or CLONE_VM child before its exec.
func sameMM(a, b int) bool {
	r, _, errno := unix.Syscall6(unix.SYS_KCMP, uintptr(a), uintptr(b), kcmpVM, 0, 0, 0)
	return errno == 0 && r == 0
}

// vma is one line of /proc/PID/maps.
type vma struct {
	start, end     uint64
	write, private bool
	object         string // the pathname column: "[heap]", "/dev/zero (deleted)", ...
	inode          string
}

// counted reports whether the mapping is in statm's data column.
func (v vma) counted() bool { return v.private && (v.write || v.object == "[stack]") }

// sharedAnon reports whether the mapping is shared anonymous memory
// (MAP_SHARED|MAP_ANONYMOUS shows as a deleted /dev/zero).
func (v vma) sharedAnon() bool { return !v.private && v.object == "/dev/zero (deleted)" }

// errMapsLine is returned by parseMapsLine for a line it cannot read.
var errMapsLine = errors.New("sandlock: unreadable /proc/PID/maps line")

// parseMapsLine reads "start-end perms offset dev inode [path]". The
// object of a shared anonymous mapping is made unique by its inode.
func parseMapsLine(line []byte) (vma, error) {
	f := bytes.Fields(line)
	if len(f) < 5 || len(f[1]) != 4 {
		return vma{}, errMapsLine
	}
	lo, hi, ok := bytes.Cut(f[0], []byte{'-'})
	if !ok {
		return vma{}, errMapsLine
	}
	s, err1 := strconv.ParseUint(string(lo), 16, 64)
	e, err2 := strconv.ParseUint(string(hi), 16, 64)
	if err1 != nil || err2 != nil || e < s {
		return vma{}, errMapsLine
	}
	v := vma{start: s, end: e, write: f[1][1] == 'w', private: f[1][3] == 'p', inode: string(f[4])}
	if len(f) > 5 {
		v.object = string(bytes.Join(f[5:], []byte{' '}))
	}
	return v, nil
}

// forEachMapping calls fn for each mapping of process pid.
func forEachMapping(pid int, fn func(vma)) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/maps")
	if err != nil {
		return
	}
	for len(b) > 0 {
		line, rest, _ := bytes.Cut(b, []byte{'\n'})
		b = rest
		if v, err := parseMapsLine(line); err == nil {
			fn(v)
		}
	}
}

func setupMemLimit(sv *supervision) (map[string]dispatch, error) {
	m, err := newMemLimit(sv.policy.Limits.memoryLimit(), sv.pid, sv.kill)
	if err != nil {
		return nil, err
	}
	m.live = sv.live
	sv.atExit = append(sv.atExit, m.close)
	hs := map[string]dispatch{}
	for _, name := range memoryCalls {
		hs[name] = dispatch{fn: m.handle}
	}
	return hs, nil
}
