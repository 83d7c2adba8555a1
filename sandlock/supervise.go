//go:build linux

package sandlock

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/sandlock-go/sandlock-go/clone3"
)

// ErrNestedSupervisor reports that the sandbox could not get a seccomp
// listener because the calling process already runs under one (inside a
// supervised sandbox): the kernel allows one listener per filter chain.
// Nothing runs with the supervisor's protections silently dropped; a
// nested sandbox needs --no-supervisor (ExecNoSupervisor) on one side.
var ErrNestedSupervisor = errors.New("sandlock: already inside a supervised sandbox; use --no-supervisor")

// noKillableRecv is set once the kernel refused
// SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (before 5.19: EINVAL).
var noKillableRecv atomic.Bool

// listenerFlags are the seccomp flags of a supervised sandbox's filter:
// a listener, and WAIT_KILLABLE_RECV where the kernel has it, so that
// once the supervisor received a notification only a fatal signal
// interrupts the caller (no signal-restart storms of half-handled calls).
func listenerFlags() uint64 {
	f := uint64(unix.SECCOMP_FILTER_FLAG_NEW_LISTENER)
	if !noKillableRecv.Load() {
		f |= unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
	}
	return f
}

// isSeccompStep reports whether err is the child's seccomp step failing
// with errno.
func isSeccompStep(err error, errno unix.Errno) bool {
	var ce *clone3.ChildError
	return errors.As(err, &ce) && ce.Errno == errno && strings.HasPrefix(ce.Op, "seccomp")
}

// spawn runs clone3.Spawn for plan, retrying without WAIT_KILLABLE_RECV
// when the kernel refuses it, and maps a nested listener's EBUSY to
// ErrNestedSupervisor.
func spawn(ctx context.Context, pl *plan) (*clone3.Child, error) {
	child, err := clone3.Spawn(ctx, pl.attr)
	if err != nil && pl.attr.Seccomp != nil && pl.attr.Seccomp.Flags&unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV != 0 &&
		isSeccompStep(err, unix.EINVAL) {
		noKillableRecv.Store(true)
		pl.attr.Seccomp.Flags &^= unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
		child, err = clone3.Spawn(ctx, pl.attr)
	}
	if err != nil && len(pl.notify) > 0 && isSeccompStep(err, unix.EBUSY) {
		return nil, fmt.Errorf("%w (%w)", ErrNestedSupervisor, err)
	}
	return child, err
}

// supervision is what a built-in feature gets to set itself up for one
// sandbox.
type supervision struct {
	policy *Policy // the validated policy
	plan   *plan
	pid    int // the leader, parked: not yet exec'd
	pidfd  int // the leader's pidfd (owned by the child handle)
	lfd    int // the listener
	// kill SIGKILLs the whole sandbox; Wait then reports an *ExitError
	// whose Reason is reason (ErrMemoryLimit, ...). It may be called from
	// any handler, more than once; the first reason sticks.
	kill func(reason error)
	// atExit collects clean-ups, run after the supervisor's last thread
	// ended (or when its set-up failed), in reverse order.
	atExit []func()
}

// feature is one built-in supervisor feature.
type feature struct {
	name string
	// calls lists the system calls the feature needs notified under p;
	// none means the feature is off for p.
	calls func(p *Policy) []string
	// setup builds the feature's handlers for one sandbox, by system call
	// name. Names it did not ask for in calls are ignored.
	setup func(sv *supervision) (map[string]dispatch, error)
}

// features are the built-in supervisor features. For a system call
// handled by several, they run in this order, then the user's handlers;
// the first answer other than CONTINUE wins.
var features = []feature{
	{
		name: "process limit",
		calls: func(p *Policy) []string {
			if p.Limits.MaxProcesses > 0 {
				return processCreation
			}
			return nil
		},
		setup: setupProcLimit,
	},
	{name: "network", calls: netCalls, setup: setupNetwork},
}

// superviseChild starts the supervisor of a child spawned for pl, taking
// the listener from it; kill kills the sandbox with a reason. It returns
// nil, nil when pl needs no supervisor.
func superviseChild(child *clone3.Child, pl *plan, kill func(error)) (*supervisor, error) {
	if len(pl.notify) == 0 {
		return nil, nil
	}
	if child.Listener == nil {
		return nil, errors.New("sandlock: the child handed over no seccomp listener")
	}
	a := archFor("")
	lfd := int(child.Listener.Fd())
	sv := &supervision{policy: &pl.policy, plan: pl, pid: child.Pid, pidfd: child.Pidfd, lfd: lfd, kill: kill}
	cleanup := func() {
		for i := len(sv.atExit) - 1; i >= 0; i-- {
			sv.atExit[i]()
		}
	}
	builtin := map[string][]dispatch{}
	for _, f := range features {
		calls := f.calls(sv.policy)
		if len(calls) == 0 {
			continue
		}
		hs, err := f.setup(sv)
		if err != nil {
			cleanup()
			return nil, fmt.Errorf("sandlock: supervisor: %s: %w", f.name, err)
		}
		for _, name := range calls {
			if d, ok := hs[name]; ok {
				builtin[name] = append(builtin[name], d)
			}
		}
	}
	handlers := map[int]dispatch{}
	for _, name := range pl.notify {
		nr, ok := a.nr(name)
		if !ok {
			continue
		}
		var users []SyscallHandler
		for _, h := range pl.handlers {
			if h.Syscall == name {
				users = append(users, h)
			}
		}
		if d, ok := chain(builtin[name], users, name, lfd); ok {
			handlers[nr] = d
		}
	}
	listener := child.Listener
	child.Listener = nil // the supervisor owns it now
	s, err := startSupervisor(listener, handlers, !pl.noSyncWakeUp, cleanup)
	if err != nil {
		cleanup()
	}
	return s, err
}

func setupProcLimit(sv *supervision) (map[string]dispatch, error) {
	limit, err := newProcLimit(sv.policy.Limits.MaxProcesses, sv.pid)
	if err != nil {
		return nil, err
	}
	sv.atExit = append(sv.atExit, limit.close)
	hs := map[string]dispatch{}
	for _, name := range processCreation {
		hs[name] = dispatch{fn: limit.handle}
	}
	return hs, nil
}

// virtualFile is a file the supervisor serves instead of the real one: an
// open of path (every spelling of it) gets a sealed memfd holding content.
type virtualFile struct {
	path    string
	content func() ([]byte, error) // called at each open
}

// virtualFileProviders list, for a policy, the files a sandbox gets as
// virtual files (hostname, /proc/meminfo, /etc/hosts, ...). Each feature
// that serves virtual files adds one provider; the open-interception
// feature serves them all, and is on when any provider returns a file.
var virtualFileProviders []func(p *Policy) []virtualFile

// virtualFiles collects the virtual files of p.
func virtualFiles(p *Policy) []virtualFile {
	var vs []virtualFile
	for _, f := range virtualFileProviders {
		vs = append(vs, f(p)...)
	}
	return vs
}
