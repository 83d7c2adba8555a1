package sandlock

import (
	"fmt"
	"syscall"
)

// EventFunc is the policy callback, Policy.OnEvent. It runs in the
// supervisor while the system call that caused ev waits for its verdict;
// ctx changes the sandbox's policy from then on (permanently, and only
// ever tighter). Calls of one sandbox are serialized: the function needs
// no lock for state that only it uses, but a function shared by several
// sandboxes runs concurrently for them.
//
// Warning: the sandbox's call waits for the function to return, and a
// sandbox whose function never returns hangs (it can still be killed).
// Keep it short; do not call the sandbox's own methods that wait for it
// (Wait) from it.
type EventFunc func(ev *Event, ctx *EventContext) EventVerdict

// EventCategory groups events.
type EventCategory int

// Event categories.
const (
	// CategoryFile: open, openat, openat2.
	CategoryFile EventCategory = iota
	// CategoryNetwork: connect, sendto, bind (reported by the network
	// layer with the destination it decided on).
	CategoryNetwork
	// CategoryProcess: execve, execveat, clone (of a process), fork,
	// vfork.
	CategoryProcess
	// CategoryMemory is reserved: no memory call is reported (notifying
	// every mmap for a callback would cost every program a round trip per
	// allocation).
	CategoryMemory
)

func (c EventCategory) String() string {
	switch c {
	case CategoryFile:
		return "file"
	case CategoryNetwork:
		return "network"
	case CategoryProcess:
		return "process"
	case CategoryMemory:
		return "memory"
	}
	return fmt.Sprintf("EventCategory(%d)", int(c))
}

// Event is one system call of the sandbox reported to Policy.OnEvent.
// Path strings are deliberately never reported: a path read from the
// caller's memory says nothing reliable about the object that would be
// opened (use EventContext.DenyPath, which decides on the object).
type Event struct {
	// Syscall is the system call's name ("openat", "execve", "clone").
	Syscall  string
	Category EventCategory
	// Pid is the calling process (its thread group id), Tid the calling
	// thread, PPid the process's parent (0 when it cannot be read).
	Pid, Tid, PPid int
	// Host and Port are the destination of a network event (Port 0: none).
	Host string
	Port uint16
	// Argv is the argument vector of an execve or execveat, reported only
	// when it cannot change between what the callback sees and what the
	// kernel copies (docs/notes-events.md, "argv"). Otherwise it is nil and
	// ArgvUnsafe says why; a callback that decides on arguments should deny
	// such an exec.
	Argv       []string
	ArgvUnsafe string
	// Denied reports that a built-in rule already denied the call (the
	// network layer reports denied destinations too); the verdict cannot
	// allow it.
	Denied bool
}

// ArgvContains reports whether Argv has an element equal to s.
func (ev *Event) ArgvContains(s string) bool {
	for _, a := range ev.Argv {
		if a == s {
			return true
		}
	}
	return false
}

// EventVerdict is the callback's answer. The zero value is Allow.
type EventVerdict struct {
	errno syscall.Errno
	audit bool
}

// Allow lets the call proceed (to the rest of the sandbox's rules).
var Allow = EventVerdict{}

// Deny makes the call fail with EPERM.
var Deny = EventVerdict{errno: syscall.EPERM}

// Audit allows the call and records the event in the sandbox's audit log
// (Sandbox.AuditLog).
var Audit = EventVerdict{audit: true}

// DenyErrno makes the call fail with errno; DenyErrno(0) is Deny.
func DenyErrno(errno syscall.Errno) EventVerdict {
	if errno == 0 {
		errno = syscall.EPERM
	}
	return EventVerdict{errno: errno}
}

// Errno is the errno the verdict fails the call with, 0 when it allows.
func (v EventVerdict) Errno() syscall.Errno { return v.errno }

// IsAudit reports whether v is Audit.
func (v EventVerdict) IsAudit() bool { return v.audit }

// auditCap bounds the audit log of one sandbox; older records are dropped
// (and counted) beyond it.
const auditCap = 4096
