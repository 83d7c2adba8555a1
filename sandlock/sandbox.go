//go:build linux

package sandlock

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/sandlock-go/sandlock-go/clone3"
)

// State is where a Sandbox is in its lifecycle.
type State int

// The lifecycle states.
const (
	StateNew     State = iota // not created yet
	StateCreated              // child forked, policy installed, parked before execve
	StateRunning              // released to execve
	StatePaused               // process group stopped with SIGSTOP
	StateStopped              // reaped by Wait
	StateClosed               // closed; no child remains
)

func (s State) String() string {
	switch s {
	case StateNew:
		return "new"
	case StateCreated:
		return "created"
	case StateRunning:
		return "running"
	case StatePaused:
		return "paused"
	case StateStopped:
		return "stopped"
	case StateClosed:
		return "closed"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// Sandbox is a program to run under a Policy. Like os/exec's Cmd, its
// exported fields may be changed until Create (or Run, Spawn, Output) is
// called, and not after.
type Sandbox struct {
	// Path is the program to run. A name without a slash is looked up in
	// the sandbox's PATH (from its final environment) before anything is
	// forked.
	Path string
	// Args holds the command line, including the program name as Args[0].
	// Empty means []string{Path}.
	Args []string
	// Env is the base environment, "KEY=value" entries; nil means the
	// calling process's environment. Policy.Process then applies CleanEnv
	// and Env on top of it.
	Env []string
	// Dir is the working directory; empty means Policy.Process.Cwd, and if
	// that is empty too, the caller's working directory.
	Dir string
	// Stdin, Stdout and Stderr are as in os/exec: nil means the null
	// device, an *os.File is passed to the child directly, anything else is
	// copied through a pipe by a goroutine.
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// ExtraFiles become fds 3, 4, ... in the program. A nil entry leaves
	// that fd closed.
	ExtraFiles []*os.File
	// Policy is what the sandbox enforces.
	Policy Policy
	// Foreground makes the sandbox's process group the foreground group of
	// the terminal on Stdin, which must be the caller's controlling
	// terminal, and gives the terminal back after the program exits.
	Foreground bool
	// Handlers decide system calls of the sandbox in the supervisor, in
	// this order, after the built-in handlers (the process limit) answered
	// Continue. Create fails with an error wrapping ErrHandlerRejected for
	// a system call the policy denies (a Continue would let it through),
	// one this architecture lacks, or one the sandbox makes itself after
	// installing its filter (sendmsg, read, write, rt_sigprocmask, execve,
	// execveat, exit_group).
	Handlers []SyscallHandler
	// WaitDelay, as in os/exec, bounds how long Wait waits for the I/O
	// copying goroutines after the program exited; zero waits for EOF.
	WaitDelay time.Duration

	// ProcessState is set by Wait.
	ProcessState *ProcessState

	mu          sync.Mutex
	state       State
	starting    bool // Start is releasing the child (mu not held)
	protections []Protection
	events      *eventHub // the policy callback's, for AuditLog
	waiting     bool
	proc        *process
	io          *stdio
	cleanup     runtime.Cleanup
	hasClean    bool
}

// Command returns a Sandbox that runs name with args under policy. It sets
// only Policy, Path and Args; the lookup of name happens in Create.
func Command(policy Policy, name string, args ...string) *Sandbox {
	return &Sandbox{Policy: policy, Path: name, Args: append([]string{name}, args...)}
}

// State returns the lifecycle state.
func (sb *Sandbox) State() State {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	return sb.state
}

// Pid returns the sandboxed process's id, or 0 before Create.
func (sb *Sandbox) Pid() int {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	if sb.proc == nil {
		return 0
	}
	return sb.proc.pid
}

// Protections reports, after Create, each Landlock protection and whether
// this kernel enforces it for this sandbox.
func (sb *Sandbox) Protections() []Protection {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	return append([]Protection(nil), sb.protections...)
}

// Create forks the child, installs the whole policy in it and parks it before
// execve. Bad input is reported before anything is forked.
func (sb *Sandbox) Create() error { return sb.CreateContext(context.Background()) }

// CreateContext is Create with a context bounding the wait for the child's
// set-up.
func (sb *Sandbox) CreateContext(ctx context.Context) error {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	switch sb.state {
	case StateNew:
	case StateClosed:
		return ErrClosed
	default:
		return ErrAlreadyRunning
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	plan, err := sb.plan()
	if err != nil {
		return err
	}
	defer plan.landlock.close() // the child has its own copy once Spawn returns
	stdio, err := sb.openStdio()
	if err != nil {
		return err
	}
	plan.attr.Files = stdio.childFds()
	child, err := spawn(ctx, plan)
	stdio.closeChildEnds()
	if err != nil {
		if plan.foreground {
			// The child may have taken the terminal before it failed.
			takeTerminal(plan.ttyFd)
		}
		stdio.abort()
		return err
	}
	// The supervisor runs before Start: the program's execve and
	// everything after may be notified.
	p := newProcess(child, plan)
	sup, err := superviseChild(child, plan, p.killFor, p.escapes)
	if err != nil {
		_ = child.Signal(syscall.SIGKILL)
		p.wait()
		stdio.abort()
		return err
	}
	p.sup = sup
	sb.proc, sb.io = p, stdio
	sb.protections = plan.landlock.protections
	sb.events = plan.events
	stdio.startCopiers()
	sb.state = StateCreated
	// Safety net: a Sandbox dropped without Close must not leave a parked
	// or running child behind. The cleanup sees only the process.
	sb.cleanup = runtime.AddCleanup(sb, func(p *process) { p.killGroup(); go p.wait() }, p)
	sb.hasClean = true
	return nil
}

// Start releases the parked child to execve. It returns once the program was
// exec'd, or with the error that prevented it (*ChildError naming execve,
// ErrDiedBeforeStart).
func (sb *Sandbox) Start() error { return sb.StartContext(context.Background()) }

// StartContext is Start with a context bounding the wait for the exec.
func (sb *Sandbox) StartContext(ctx context.Context) error {
	sb.mu.Lock()
	switch {
	case sb.state == StateCreated && sb.starting:
		sb.mu.Unlock()
		return ErrAlreadyRunning
	case sb.state == StateCreated:
	case sb.state == StateNew:
		sb.mu.Unlock()
		return ErrNotCreated
	case sb.state == StateRunning, sb.state == StatePaused:
		sb.mu.Unlock()
		return ErrAlreadyRunning
	case sb.state == StateClosed:
		sb.mu.Unlock()
		return ErrClosed
	default:
		sb.mu.Unlock()
		return ErrNotRunning
	}
	if err := ctx.Err(); err != nil {
		sb.mu.Unlock()
		return fmt.Errorf("sandlock: start: %w", err) // still Created: nothing was released
	}
	// The release waits for the exec without holding mu: a parked child that
	// was stopped never execs, and Kill, Signal and Close must still reach it
	// (killing it ends the wait).
	sb.starting = true
	p := sb.proc
	sb.mu.Unlock()
	err := p.child.Release(ctx)
	sb.mu.Lock()
	defer sb.mu.Unlock()
	sb.starting = false
	if sb.state == StateClosed {
		return ErrClosed
	}
	switch {
	case err == nil:
		sb.state = StateRunning
		p.startTimer()
		p.startThrottle()
		// The watchdog (the owner's death) starts if the program is
		// still running in a moment.
		watchdogArm()
		return nil
	case errors.Is(err, clone3.ErrDied):
		sb.state = StateRunning // Wait reports how it died
		return ErrDiedBeforeStart
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		// The child may exec any moment now: do not leave it unsupervised.
		p.killGroup()
		sb.state = StateRunning
		return fmt.Errorf("sandlock: start: %w", err)
	default:
		// The exec failed; the child exits 127 and Wait reports it.
		sb.state = StateRunning
		return err
	}
}

// Wait waits for the program to exit and for the copying of its output, and
// reaps it. Any process left in the sandbox's process group is killed when
// the program exits. The error is nil for exit status 0, an *ExitError for
// any other exit (errors.Is(err, ErrTimedOut) after the timeout), or an I/O
// error from the copying.
func (sb *Sandbox) Wait() error {
	sb.mu.Lock()
	switch {
	case sb.state == StateNew:
		sb.mu.Unlock()
		return ErrNotCreated
	case sb.state == StateCreated:
		sb.mu.Unlock()
		return ErrNotStarted
	case sb.state == StateClosed:
		sb.mu.Unlock()
		return ErrClosed
	case sb.state == StateStopped || sb.waiting:
		sb.mu.Unlock()
		return errors.New("sandlock: Wait was already called")
	}
	sb.waiting = true
	p, stdio := sb.proc, sb.io
	sb.mu.Unlock()

	p.wait()
	copyErr := stdio.wait(sb.WaitDelay)

	sb.mu.Lock()
	sb.ProcessState = p.state
	if sb.state != StateClosed {
		sb.state = StateStopped
	}
	sb.waiting = false
	sb.stopCleanup()
	sb.mu.Unlock()

	switch {
	case p.waitErr != nil:
		return p.waitErr
	case p.reason() != nil:
		return &ExitError{ProcessState: p.state, Reason: p.reason()}
	case p.timedOut.Load():
		return &ExitError{ProcessState: p.state, TimedOut: true, Timeout: p.timeout}
	case !p.state.Success():
		return &ExitError{ProcessState: p.state}
	}
	return copyErr
}

// Run is Create, Start and Wait.
func (sb *Sandbox) Run() error {
	if err := sb.Spawn(); err != nil {
		return err
	}
	return sb.Wait()
}

// Spawn is Create and Start. If Start fails, the child is killed and reaped
// before Spawn returns; Wait still reports how it ended.
func (sb *Sandbox) Spawn() error {
	if err := sb.Create(); err != nil {
		return err
	}
	if err := sb.Start(); err != nil {
		sb.mu.Lock()
		p := sb.proc
		sb.mu.Unlock()
		p.killGroup()
		p.wait()
		return err
	}
	return nil
}

// Output runs the sandbox and returns its standard output, like os/exec.
func (sb *Sandbox) Output() ([]byte, error) {
	if sb.Stdout != nil {
		return nil, errors.New("sandlock: Stdout already set")
	}
	var stdout bytes.Buffer
	sb.Stdout = &stdout
	var stderr *tailBuffer
	if sb.Stderr == nil {
		stderr = &tailBuffer{max: 64 << 10}
		sb.Stderr = stderr
	}
	err := sb.Run()
	if ee, ok := err.(*ExitError); ok && stderr != nil {
		ee.Stderr = stderr.Bytes()
	}
	return stdout.Bytes(), err
}

// CombinedOutput runs the sandbox and returns standard output and standard
// error together.
func (sb *Sandbox) CombinedOutput() ([]byte, error) {
	if sb.Stdout != nil || sb.Stderr != nil {
		return nil, errors.New("sandlock: Stdout or Stderr already set")
	}
	var b bytes.Buffer
	sb.Stdout, sb.Stderr = &b, &b
	err := sb.Run()
	return b.Bytes(), err
}

// Kill sends SIGKILL to the sandbox's process group, parked or running.
func (sb *Sandbox) Kill() error {
	p, err := sb.live()
	if err != nil {
		return err
	}
	p.killGroup()
	return nil
}

// Pause stops the sandbox's process group with SIGSTOP. A paused sandbox
// stays stopped until Resume: the CPU limit's duty cycle (Limits.MaxCPU)
// never continues it.
func (sb *Sandbox) Pause() error { return sb.stopCont(true) }

// Resume continues a paused sandbox with SIGCONT.
func (sb *Sandbox) Resume() error { return sb.stopCont(false) }

func (sb *Sandbox) stopCont(stop bool) error {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	switch sb.state {
	case StateRunning, StatePaused:
	case StateCreated:
		return ErrNotStarted
	case StateClosed:
		return ErrClosed
	default:
		return ErrNotRunning
	}
	if err := sb.proc.pause(stop); err != nil {
		return err
	}
	sb.state = StateRunning
	if stop {
		sb.state = StatePaused
	}
	return nil
}

func (sb *Sandbox) live() (*process, error) {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	switch sb.state {
	case StateCreated, StateRunning, StatePaused:
		return sb.proc, nil
	case StateClosed:
		return nil, ErrClosed
	}
	return nil, ErrNotRunning
}

// Close kills and reaps whatever the sandbox still has (a parked or running
// child and its process group) and releases its resources. It is safe to
// call more than once and after Wait.
func (sb *Sandbox) Close() error {
	sb.mu.Lock()
	if sb.state == StateClosed {
		sb.mu.Unlock()
		return nil
	}
	p, stdio := sb.proc, sb.io
	sb.state = StateClosed
	sb.stopCleanup()
	sb.mu.Unlock()
	if p != nil {
		p.killGroup()
		p.wait()
	}
	if stdio != nil {
		stdio.abort()
	}
	return nil
}

func (sb *Sandbox) stopCleanup() {
	if sb.hasClean {
		sb.cleanup.Stop()
		sb.hasClean = false
	}
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) Bytes() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]byte(nil), t.b...)
}

// Signal sends sig to the sandbox's process group (and its leader), parked
// or running.
func (sb *Sandbox) Signal(sig os.Signal) error {
	s, ok := sig.(syscall.Signal)
	if !ok {
		return fmt.Errorf("sandlock: unsupported signal %v", sig)
	}
	p, err := sb.live()
	if err != nil {
		return err
	}
	return p.signalGroup(s)
}
