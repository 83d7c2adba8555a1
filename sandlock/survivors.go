//go:build linux

package sandlock

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
)

// escapes tracks where the processes of one sandbox can be when they are
// not in the leader's process group, so that the end of the sandbox
// (the leader's exit, Close, a timeout, a limit) kills every one of them:
// "no survivors".
//
// A sandbox that is not in the terminal's foreground runs in a session of
// its own (the leader calls setsid before the program starts): setpgid can
// then only move its processes between groups of that session, and
// setsid, the only way out of the session, is notified. In the foreground
// the leader shares the caller's session (it needs the terminal), so
// setpgid is checked too: a process may make a new group or join one of
// the sandbox's groups, never another group of the caller's session (the
// shell's, say), which it could hide in.
//
// Identification is by number, safely: a session or group id is the pid
// of the process that made it, and the kernel keeps that pid number
// allocated while any process still has it as its session or group id.
// So while a process with session S (or group G) exists, S (G) is the
// sandbox's; only after the last one died could the number be reused. As
// a second guard, sweep kills only processes with no_new_privs set and a
// seccomp filter, which every sandboxed process has and cannot drop.
type escapes struct {
	id         int // the leader's pid: the sandbox, for the watchdog
	foreground bool
	session    int // the sandbox's own session (not foreground), else 0

	mu       sync.Mutex
	sessions []int // sessions made by setsid inside the sandbox
	groups   []int // the leader's group and, in the foreground, groups made inside
	moved    bool  // a setsid or setpgid was let through: sweep must scan
}

// newEscapes starts the tracking of the sandbox whose leader is leader,
// and registers it with the watchdog.
func newEscapes(leader int, foreground bool) *escapes {
	e := &escapes{id: leader, foreground: foreground, groups: []int{leader}}
	if !foreground {
		e.session = leader
		watchdogOpen(wdSession, leader, leader)
	} else {
		watchdogOpen(wdGroup, leader, leader)
	}
	return e
}

// end tells the watchdog that the sandbox is gone (after sweep).
func (e *escapes) end() { watchdogClose(e.id) }

// escapeCalls are the notified system calls of the tracking.
var escapeCalls = []string{"setsid", "setpgid"}

// handle decides setsid and setpgid. It is quick (registers only, no
// memory), so it runs serialized with the other quick handlers.
//
// TOCTOU: the decision reads only the registers and records numbers; the
// kernel then runs the call as made. A setsid answered CONTINUE that then
// fails leaves a recorded session nobody has: harmless (sweep kills only
// members, and the number cannot belong to anyone else while the caller
// lives; after that the guards in sweep apply).
func (e *escapes) handle(n *notif) verdictResp {
	e.mu.Lock()
	defer e.mu.Unlock()
	caller := tgidOf(n.pid)
	if caller <= 0 {
		return respErrno(unix.ESRCH)
	}
	switch n.nr {
	case unix.SYS_SETSID:
		if !slices.Contains(e.sessions, caller) {
			e.sessions = append(e.sessions, caller)
			watchdogTell(wdSession, e.id, caller)
		}
		e.moved = true
		return respContinue
	case unix.SYS_SETPGID:
		pid, pgid := int(int32(n.args[0])), int(int32(n.args[1]))
		if pid == 0 {
			pid = caller
		}
		if pgid == 0 {
			pgid = pid // a new group named after its first member
		}
		if e.foreground && pgid != pid && !slices.Contains(e.groups, pgid) {
			// Joining a group of the caller's session that the sandbox
			// did not make: the shell's, another job's.
			return respErrno(unix.EPERM)
		}
		if !slices.Contains(e.groups, pgid) {
			e.groups = append(e.groups, pgid)
			watchdogTell(wdGroup, e.id, pgid)
		}
		e.moved = true
		return respContinue
	}
	return respContinue
}

// sweep SIGKILLs every process of the sandbox outside the leader's
// group (which the caller kills itself while the leader's zombie holds its
// id). It scans /proc only when a process moved; it repeats until a scan
// finds nothing alive, so that processes forked during a scan are caught
// by the next (killed ones cannot fork). Killed processes that are not our
// children are reaped by their new parent.
func (e *escapes) sweep(self int) {
	e.mu.Lock()
	moved := e.moved
	sessions := slices.Clone(e.sessions)
	if e.session != 0 {
		sessions = append(sessions, e.session)
	}
	groups := slices.Clone(e.groups)
	e.mu.Unlock()
	if !moved {
		return
	}
	for range 100 {
		if killMembers(self, sessions, groups) == 0 {
			return
		}
	}
}

// killMembers SIGKILLs the live processes in one of sessions or groups
// that carry the sandbox's marks, and returns how many it signalled.
func killMembers(self int, sessions, groups []int) int {
	d, err := os.Open("/proc")
	if err != nil {
		return 0
	}
	names, _ := d.Readdirnames(-1)
	d.Close()
	killed := 0
	for _, name := range names {
		pid, err := strconv.Atoi(name)
		if err != nil || pid == self {
			continue
		}
		state, pgrp, sid, ok := statOf(pid)
		if !ok || state == 'Z' || state == 'X' {
			continue
		}
		if !slices.Contains(sessions, sid) && !slices.Contains(groups, pgrp) {
			continue
		}
		// Pin the process, then check its marks: a pid reused after the
		// stat is caught by the check, one reused after the check cannot
		// be signalled through the old pidfd.
		fd, err := unix.PidfdOpen(pid, 0)
		if err != nil {
			continue
		}
		if sandboxed(pid) {
			if unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0) == nil {
				killed++
			}
		}
		unix.Close(fd)
	}
	return killed
}

// statOf reads state, process group and session of pid from
// /proc/PID/stat.
func statOf(pid int) (state byte, pgrp, sid int, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, 0, false
	}
	// comm may hold spaces and parentheses: the fields start after the
	// last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, 0, false
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 4 || len(f[0]) != 1 {
		return 0, 0, 0, false
	}
	pgrp, e1 := strconv.Atoi(string(f[2]))
	sid, e2 := strconv.Atoi(string(f[3]))
	return f[0][0], pgrp, sid, e1 == nil && e2 == nil
}

// sandboxed reports whether pid has no_new_privs and a seccomp filter, as
// every process of a sandbox has (both are inherited and cannot be
// undone).
func sandboxed(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return false
	}
	return bytes.Contains(b, []byte("\nNoNewPrivs:\t1\n")) && bytes.Contains(b, []byte("\nSeccomp:\t2\n"))
}
