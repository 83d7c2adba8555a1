//go:build linux

package sandlock

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// cloneThread and cloneParent are CLONE_THREAD and CLONE_PARENT.
const (
	cloneThread = 0x00010000
	cloneParent = 0x00008000
)

// procLimit enforces Limits.MaxProcesses: the number of live processes in
// the sandbox (zombies count until reaped, threads never do). It is a
// quick handler, but a policy callback (events_linux.go) can put the
// creation calls in a slow chain, so handle takes mu. The limit can be
// lowered while the sandbox runs (EventContext.RestrictMaxProcesses).
//
// Counting does not trust the notifications alone (upstream increments at
// fork and decrements at wait notifications, which drifts: a wait that
// reaps nothing, a child reaped by SIGCHLD=SIG_IGN). At each fork-like
// notification it refreshes the set of members from the kernel:
//
//   - members are the processes known to be in the sandbox, each held by a
//     pidfd, so a pid is never confused with a later process of the same
//     number. pidfd_send_signal(fd, 0) fails with ESRCH only once the
//     process is reaped: a zombie still counts.
//   - the children of every live member (/proc/P/task/*/children, zombies
//     included) become members, transitively.
//   - forks answered CONTINUE whose child may not exist yet are pending;
//     a pending fork is settled when its thread has left the system call
//     (/proc/P/task/T/syscall), makes another notification, or a child of
//     its process appeared that was not there when it was answered.
//
// The decision is live + pending >= max → EAGAIN. Over-counting is
// possible for a moment (a thread back in a new fork before the scan), so
// the limit is never exceeded; a process that was reparented outside the
// sandbox before any scan saw it (its parent died at once) is missed
// until it forks itself (the caller of a notification always becomes a
// member).
type procLimit struct {
	mu      sync.Mutex
	max     int
	live    *liveState  // nil: max stays
	pgid    int         // the sandbox's process group (the leader's pid)
	members map[int]int // tgid -> pidfd
	pending []pendingFork
}

type pendingFork struct {
	tid, tgid int
	nr        int
	before    map[int]bool // children of tgid when the fork was answered
}

func newProcLimit(max, leader int) (*procLimit, error) {
	fd, err := unix.PidfdOpen(leader, 0)
	if err != nil {
		return nil, os.NewSyscallError("pidfd_open", err)
	}
	return &procLimit{max: max, pgid: leader, members: map[int]int{leader: fd}}, nil
}

// close releases the pidfds. Only after the supervisor's loop ended.
func (l *procLimit) close() {
	for pid, fd := range l.members {
		unix.Close(fd)
		delete(l.members, pid)
	}
}

// handle is the notifHandler of clone, fork and vfork.
//
// TOCTOU: the decision reads only the notification's registers (clone's
// flags) and the kernel's process table, never the caller's memory, so
// CONTINUE after it is sound: nothing the caller changes afterwards
// changes what the kernel does with this call.
func (l *procLimit) handle(n *notif) verdictResp {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n.nr == unix.SYS_CLONE && n.args[0]&cloneThread != 0 {
		return respContinue // a thread, not a process
	}
	if n.nr == unix.SYS_CLONE && n.args[0]&cloneParent != 0 {
		// The child would be our sibling's, outside the tree the count
		// walks (for the leader: a child of the supervisor's process).
		return respErrno(unix.EPERM)
	}
	tgid := n.pid // a process's first thread: its id is the tgid
	if _, member := l.members[tgid]; !member {
		tgid = tgidOf(n.pid)
	}
	if tgid <= 0 {
		return respErrno(unix.EAGAIN) // the caller is going away
	}
	l.adopt(tgid)
	kids := l.refresh(n.pid)
	if len(l.members)+len(l.pending) >= l.limit() {
		return respErrno(unix.EAGAIN)
	}
	before, ok := kids[tgid]
	if !ok {
		before = childrenOf(tgid)
	}
	l.pending = append(l.pending, pendingFork{tid: n.pid, tgid: tgid, nr: n.nr, before: before})
	return respContinue
}

// limit is the limit in force: the policy's, or lower once restricted.
func (l *procLimit) limit() int {
	if l.live != nil {
		return l.live.maxProcesses(l.max)
	}
	return l.max
}

// adopt makes tgid a member if it is not one yet.
func (l *procLimit) adopt(tgid int) {
	if _, ok := l.members[tgid]; ok {
		return
	}
	if fd, err := unix.PidfdOpen(tgid, 0); err == nil {
		l.members[tgid] = fd
	}
}

// refresh drops reaped members, adds the children of live ones and settles
// pending forks; it returns the children of each process it scanned. caller is the thread of the notification being decided:
// it is in a new system call, so its earlier fork is over.
func (l *procLimit) refresh(caller int) (kids map[int]map[int]bool) {
	for pid, fd := range l.members {
		if unix.PidfdSendSignal(fd, 0, nil, 0) == unix.ESRCH {
			unix.Close(fd)
			delete(l.members, pid)
		}
	}
	// Which pending forks have left their system call is read before the
	// walk: a fork that returned before the walk made its child visible to
	// it, so "left, and no new child seen" then really means no child. Read
	// after the walk, a child created in between would be missed and the
	// limit exceeded by one.
	left := make([]bool, len(l.pending))
	for i, pf := range l.pending {
		left[i] = pf.tid == caller || !inSyscall(pf.tgid, pf.tid, pf.nr)
	}
	kids = map[int]map[int]bool{}
	queue := make([]int, 0, len(l.members))
	for pid := range l.members {
		queue = append(queue, pid)
	}
	l.walk(queue, kids)
	// In answer order, so that an earlier fork claims its child before a
	// later fork of the same process can.
	kept := l.pending[:0]
	claimed := map[int]bool{}
	lost := false
	for i, pf := range l.pending {
		if newChild(kids[pf.tgid], pf.before, claimed) {
			continue
		}
		if _, live := l.members[pf.tgid]; !live || procGone(pf.tgid) {
			// The parent exited: its child, if it made one, was
			// reparented outside the tree before we saw it.
			lost = true
			continue
		}
		if left[i] {
			continue
		}
		kept = append(kept, pf)
	}
	l.pending = kept
	if lost {
		l.walk(l.groupOrphans(), kids)
	}
	return kids
}

// walk adds the descendants of the processes in queue to the members,
// recording the children of each process it scans in kids.
func (l *procLimit) walk(queue []int, kids map[int]map[int]bool) {
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		c := childrenOf(p)
		kids[p] = c
		for k := range c {
			if _, ok := l.members[k]; ok {
				continue
			}
			fd, err := unix.PidfdOpen(k, 0)
			if err != nil {
				continue // gone already: reaped, it does not count
			}
			l.members[k] = fd
			queue = append(queue, k)
		}
	}
}

// groupOrphans adopts the processes of the sandbox's process group that
// are not members yet (orphans reparented outside the tree) and returns
// them. It reads all of /proc, so it runs only when a fork's parent exited
// before its child was seen. An orphan that also left the process group
// is missed until it makes a process itself.
func (l *procLimit) groupOrphans() []int {
	var found []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if _, ok := l.members[pid]; ok || pgidOf(pid) != l.pgid {
			continue
		}
		fd, err := unix.PidfdOpen(pid, 0)
		if err != nil {
			continue
		}
		if pgidOf(pid) != l.pgid { // the pid was reused meanwhile
			unix.Close(fd)
			continue
		}
		l.members[pid] = fd
		found = append(found, pid)
	}
	return found
}

// pgidOf returns the process group of pid from /proc/PID/stat, or 0.
func pgidOf(pid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// pid (comm) state ppid pgrp ...: comm may hold anything.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 3 {
		return 0
	}
	n, _ := strconv.Atoi(f[2])
	return n
}

// procGone reports whether process pid has exited (a zombie or gone).
func procGone(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(f) == 0 || f[0] == "Z" || f[0] == "X"
}

// newChild reports (and claims) a child in now that was not in before and
// that no other pending fork claimed.
func newChild(now, before, claimed map[int]bool) bool {
	for c := range now {
		if !before[c] && !claimed[c] {
			claimed[c] = true
			return true
		}
	}
	return false
}

// childrenOf returns the children of process pid over all its threads,
// zombies included.
func childrenOf(pid int) map[int]bool {
	out := map[int]bool{}
	tasks, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
	if err != nil {
		return out
	}
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", pid, t.Name()))
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if k, err := strconv.Atoi(f); err == nil {
				out[k] = true
			}
		}
	}
	return out
}

// inSyscall reports whether thread tid of tgid may still be in system call
// nr: it is blocked in it, or running (then the kernel cannot tell, and the
// fork stays pending until its child shows or the thread blocks elsewhere).
// A thread that is gone is in no call.
func inSyscall(tgid, tid, nr int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/syscall", tgid, tid))
	if err != nil {
		return !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ESRCH)
	}
	f, _, _ := strings.Cut(strings.TrimSpace(string(b)), " ")
	if f == "running" {
		return true
	}
	n, err := strconv.Atoi(f)
	return err != nil || n == nr
}

// tgidOf returns the thread group of thread tid, or 0 when it is gone.
func tgidOf(tid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(tid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Tgid:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	return 0
}
