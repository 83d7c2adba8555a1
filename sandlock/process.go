//go:build linux

package sandlock

import (
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sandlock-go/sandlock-go/clone3"
)

const (
	sigStop = unix.SIGSTOP
	sigCont = unix.SIGCONT
)

// process is the live half of a Sandbox: the child, its timer and its
// outcome. It holds no reference to the Sandbox, so a Sandbox dropped
// without Close can be collected and its cleanup can kill the process.
//
// Exactly one call of reap (through wait, whose sync.Once makes later
// callers block until it is done) waits for and reaps the child; everyone
// else learns the outcome from state and done. While the child is not
// reaped its pid and process-group id cannot be reused, so signals sent
// under mu while !reaped always reach the sandbox.
//
// There is no reaper goroutine: Wait, Close, Spawn's error path and the
// cleanup reap, as os/exec's Wait does. A goroutine per sandbox costs a
// scheduler wake-up (a thread hand-off) per spawn, a tenth of a spawn here.
type process struct {
	pid     int
	pgid    int
	child   *clone3.Child
	timeout time.Duration
	maxCPU  int         // Limits.MaxCPU; 1-99 starts a throttle at Start
	ttyFd   int         // >= 0: give the terminal back to our group after exit
	sup     *supervisor // nil: no notifications
	escapes *escapes    // processes that left the leader's group

	mu       sync.Mutex
	exited   bool // the leader exited (not yet reaped, maybe)
	reaped   bool
	timer    *time.Timer
	throttle *cpuThrottle // the CPU limit's duty cycle, once started
	paused   bool         // stopped by Sandbox.Pause: the throttle must not continue it
	timedOut atomic.Bool
	// killed is why the supervisor killed the sandbox (a limit), if it
	// did; the first reason sticks.
	killed atomic.Pointer[error]

	once    sync.Once
	state   *ProcessState
	waitErr error
	done    chan struct{} // closed when reaped
}

func newProcess(child *clone3.Child, pl *plan) *process {
	p := &process{
		pid:     child.Pid,
		pgid:    child.Pid, // setpgid(0, 0) in the child
		child:   child,
		timeout: pl.timeout,
		maxCPU:  pl.maxCPU,
		ttyFd:   -1,
		done:    make(chan struct{}),
		escapes: newEscapes(child.Pid, pl.foreground),
	}
	if pl.foreground {
		p.ttyFd = pl.ttyFd
	}
	return p
}

// wait reaps the child (blocking until it exits) exactly once; concurrent
// and later callers wait for that and return.
func (p *process) wait() { p.once.Do(p.reap) }

// reap waits for the leader to exit, kills what is left of its process
// group while the group id is still reserved by the zombie leader, then
// reaps the leader and releases the child's resources.
func (p *process) reap() {
	defer close(p.done)
	for {
		var info unix.Siginfo
		err := unix.Waitid(unix.P_PIDFD, p.child.Pidfd, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if err != unix.EINTR {
			break
		}
	}
	p.mu.Lock()
	p.exited = true
	_ = unix.Kill(-p.pgid, unix.SIGKILL)
	// Then everything that left the group (escapes). The leader's zombie
	// still holds the sandbox's session and group ids meanwhile.
	p.escapes.sweep(os.Getpid())
	p.escapes.end()
	p.reaped = true
	if p.timer != nil {
		p.timer.Stop()
	}
	throttle := p.throttle
	p.mu.Unlock()
	if throttle != nil {
		throttle.stop() // it signals nothing from now on: p.exited is set
	}
	p.state, p.waitErr = reapPid(p.pid)
	if p.sup != nil {
		// Anything of the sandbox still alive (it left the process group)
		// gets ENOSYS for notified calls from now on.
		p.sup.stop()
	}
	p.child.Close()
	if p.ttyFd >= 0 {
		takeTerminal(p.ttyFd)
	}
}

// reapPid reaps pid, which must be our exited, unreaped child: then its pid
// cannot have been reused, and wait4 returns at once.
func reapPid(pid int) (*ProcessState, error) {
	st := &ProcessState{pid: pid}
	for {
		_, err := syscall.Wait4(pid, &st.status, 0, &st.rusage)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return st, os.NewSyscallError("wait4", err)
		}
		return st, nil
	}
}

func (p *process) startTimer() {
	if p.timeout <= 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.timer = time.AfterFunc(p.timeout, func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.exited {
			return
		}
		p.timedOut.Store(true)
		p.signalLocked(unix.SIGKILL)
	})
}

// startThrottle starts the CPU limit's duty cycle, if the policy has one.
func (p *process) startThrottle() {
	if p.maxCPU <= 0 || p.maxCPU >= 100 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exited || p.throttle != nil {
		return
	}
	p.throttle = startThrottle(p, p.maxCPU)
}

// pause stops (or continues) the process group for Sandbox.Pause (or
// Resume), and records it so that the CPU throttle leaves a paused
// sandbox stopped.
func (p *process) pause(stop bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.reaped {
		return os.ErrProcessDone
	}
	p.paused = stop
	if stop {
		return p.signalLocked(sigStop)
	}
	return p.signalLocked(sigCont)
}

// killFor kills the sandbox for reason (ErrMemoryLimit, ...): the first
// reason is what Wait reports.
func (p *process) killFor(reason error) {
	p.killed.CompareAndSwap(nil, &reason)
	p.killGroup()
}

func (p *process) reason() error {
	if r := p.killed.Load(); r != nil {
		return *r
	}
	return nil
}

// killGroup sends SIGKILL to the process group and the leader.
func (p *process) killGroup() {
	_ = p.signalGroup(unix.SIGKILL)
}

func (p *process) signalGroup(sig unix.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.reaped {
		return os.ErrProcessDone
	}
	return p.signalLocked(sig)
}

func (p *process) signalLocked(sig unix.Signal) error {
	err := unix.Kill(-p.pgid, sig)
	// The leader too, through its pidfd, in case it left the group.
	if e := p.child.Signal(sig); err != nil && e == nil {
		err = nil
	}
	if err == unix.ESRCH {
		return os.ErrProcessDone
	}
	return err
}

// takeTerminal makes our process group the foreground group of the terminal
// on fd again.
func takeTerminal(fd int) { _ = SetForeground(fd, unix.Getpgrp()) }

// SetForeground makes process group pgid the foreground group of the
// terminal on fd (tcsetpgrp). SIGTTOU is blocked on the calling thread
// meanwhile: a background group calling tcsetpgrp would otherwise be stopped
// by it. sandlock-run uses it to relay job control (^Z, fg).
func SetForeground(fd, pgid int) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var set, old unix.Sigset_t
	sigaddset(&set, unix.SIGTTOU)
	if err := unix.PthreadSigmask(unix.SIG_BLOCK, &set, &old); err != nil {
		return err
	}
	err := unix.IoctlSetPointerInt(fd, unix.TIOCSPGRP, pgid)
	_ = unix.PthreadSigmask(unix.SIG_SETMASK, &old, nil)
	return err
}

func sigaddset(set *unix.Sigset_t, sig unix.Signal) {
	n := uint(sig - 1)
	set.Val[n/64] |= 1 << (n % 64)
}
