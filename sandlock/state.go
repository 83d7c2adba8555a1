//go:build linux

package sandlock

import (
	"strconv"
	"syscall"
	"time"
)

// ProcessState is how the sandboxed program ended, with the method set of
// os.ProcessState. (os.ProcessState cannot be built outside package os
// without os.FindProcess, whose first use forks a probe child.)
type ProcessState struct {
	pid    int
	status syscall.WaitStatus
	rusage syscall.Rusage
}

// Pid returns the process id of the program.
func (p *ProcessState) Pid() int { return p.pid }

// Exited reports whether the program exited (rather than being killed).
func (p *ProcessState) Exited() bool { return p.status.Exited() }

// Success reports whether the program exited with status 0.
func (p *ProcessState) Success() bool { return p.status.Exited() && p.status.ExitStatus() == 0 }

// ExitCode returns the exit status, or -1 when the program was killed by a
// signal.
func (p *ProcessState) ExitCode() int {
	if p == nil {
		return -1
	}
	return p.status.ExitStatus()
}

// Sys returns the syscall.WaitStatus.
func (p *ProcessState) Sys() any { return p.status }

// SysUsage returns the *syscall.Rusage of the program (its own usage, not
// its descendants'). N.B. ru_maxrss of a child started with CLONE_VM counts
// the parent's high-water mark, as with os/exec.
func (p *ProcessState) SysUsage() any { return &p.rusage }

// UserTime returns the user CPU time of the program.
func (p *ProcessState) UserTime() time.Duration {
	return time.Duration(p.rusage.Utime.Nano()) * time.Nanosecond
}

// SystemTime returns the system CPU time of the program.
func (p *ProcessState) SystemTime() time.Duration {
	return time.Duration(p.rusage.Stime.Nano()) * time.Nanosecond
}

// String is "exit status N" or "signal: NAME", as os.ProcessState says it.
func (p *ProcessState) String() string {
	if p == nil {
		return "<nil>"
	}
	ws := p.status
	switch {
	case ws.Exited():
		return "exit status " + strconv.Itoa(ws.ExitStatus())
	case ws.Signaled():
		s := "signal: " + ws.Signal().String()
		if ws.CoreDump() {
			s += " (core dumped)"
		}
		return s
	case ws.Stopped():
		return "stop signal: " + ws.StopSignal().String()
	}
	return "exit status unknown"
}
