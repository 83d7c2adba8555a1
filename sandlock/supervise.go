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
		if onlyOptional(pl) {
			// Inside a supervised sandbox, whose supervisor also sees
			// this sandbox's calls: run without a listener of our own.
			return spawnNested(ctx, pl)
		}
		return nil, fmt.Errorf("%w (%w)", ErrNestedSupervisor, err)
	}
	return child, err
}

// onlyOptional reports whether every system call pl notifies is there
// for optional features only.
func onlyOptional(pl *plan) bool {
	if len(pl.handlers) > 0 || len(pl.policy.seccomp.notifyContinue) > 0 {
		return false
	}
	for _, f := range features {
		// Ambient features follow the others: off once the optional
		// ones are dropped.
		if !f.optional && !f.ambient && len(f.calls(&pl.policy)) > 0 {
			return false
		}
	}
	return true
}

// spawnNested spawns pl without its optional features and without a
// listener.
func spawnNested(ctx context.Context, pl *plan) (*clone3.Child, error) {
	pl.policy.seccomp.nested = true
	pl.policy.cacheNotified()
	filter, err := pl.policy.seccompProgram()
	if err != nil {
		return nil, err
	}
	pl.attr.Seccomp = &clone3.Seccomp{Filter: filter}
	pl.notify = nil
	return clone3.Spawn(ctx, pl.attr)
}

// supervision is what a built-in feature gets to set itself up for one
// sandbox.
type supervision struct {
	policy *Policy // the validated policy
	plan   *plan
	// escapes tracks processes that leave the leader's group; the
	// process sweeps them at the end.
	escapes *escapes
	pid     int // the leader, parked: not yet exec'd
	pidfd   int // the leader's pidfd (owned by the child handle)
	lfd     int // the listener
	// kill SIGKILLs the whole sandbox; Wait then reports an *ExitError
	// whose Reason is reason (ErrMemoryLimit, ...). It may be called from
	// any handler, more than once; the first reason sticks.
	kill func(reason error)
	// atExit collects clean-ups, run after the supervisor's last thread
	// ended (or when its set-up failed), in reverse order.
	atExit []func()
	// live holds what the policy callback changed while the sandbox runs
	// (events_linux.go); the limits, the open interception and the
	// network layer consult it. Never nil.
	live *liveState
}

// feature is one built-in supervisor feature.
type feature struct {
	name string
	// calls lists the system calls the feature needs notified under p;
	// none means the feature is off for p.
	calls func(p *Policy) []string
	// argFiltered are the calls of calls that the filter notifies only
	// for some arguments (its rules in specialRules decide which); their
	// base action stays ALLOW unless another feature needs them all.
	argFiltered []string
	// ambient features are on only in sandboxes that have a supervisor
	// for another reason (Policy.featureCalls).
	ambient bool
	// setup builds the feature's handlers for one sandbox, by system call
	// name. Names it did not ask for in calls are ignored.
	setup func(sv *supervision) (map[string]dispatch, error)
	// optional features are dropped when the sandbox cannot have a
	// listener because it runs inside a supervised sandbox (EBUSY): their
	// job is done by the outer sandbox's supervisor too.
	optional bool
}

// features are the built-in supervisor features. For a system call
// handled by several, they run in this order, then the user's handlers;
// the first answer other than CONTINUE wins. The order is explicit: the
// policy callback decides before the process and memory limits count a
// fork and before the open interception opens on behalf.
var features = []feature{
	{
		name: "escape tracking",
		calls: func(p *Policy) []string {
			if p.seccomp.nested {
				return nil
			}
			return escapeCalls
		},
		setup:    setupEscapes,
		optional: true,
	},
	eventsFeature,
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
	{
		name: "memory limit",
		calls: func(p *Policy) []string {
			if p.Limits.MaxMemory != "" {
				return memoryCalls
			}
			return nil
		},
		setup: setupMemLimit,
	},
	netvirtFeature,
	// After netvirt: its fake netlink sockets are AF_UNIX.
	{name: "network", calls: netCalls, setup: setupNetwork},
	fsFeature,
	procFeature,
	metaFeature,
	listenFeature,
}

// superviseChild starts the supervisor of a child spawned for pl, taking
// the listener from it; kill kills the sandbox with a reason. It returns
// nil, nil when pl needs no supervisor.
func superviseChild(child *clone3.Child, pl *plan, kill func(error), esc *escapes) (*supervisor, error) {
	if len(pl.notify) == 0 {
		return nil, nil
	}
	if child.Listener == nil {
		return nil, errors.New("sandlock: the child handed over no seccomp listener")
	}
	a := archFor("")
	lfd := int(child.Listener.Fd())
	sv := &supervision{policy: &pl.policy, plan: pl, escapes: esc, pid: child.Pid, pidfd: child.Pidfd, lfd: lfd, kill: kill, live: newLiveState()}
	cleanup := func() {
		for i := len(sv.atExit) - 1; i >= 0; i-- {
			sv.atExit[i]()
		}
	}
	builtin := map[string][]dispatch{}
	allCalls := sv.policy.featureCalls()
	for i, f := range features {
		calls := allCalls[i]
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

func setupEscapes(sv *supervision) (map[string]dispatch, error) {
	d := dispatch{fn: sv.escapes.handle}
	return map[string]dispatch{"setsid": d, "setpgid": d}, nil
}

func setupProcLimit(sv *supervision) (map[string]dispatch, error) {
	limit, err := newProcLimit(sv.policy.Limits.MaxProcesses, sv.pid)
	if err != nil {
		return nil, err
	}
	limit.live = sv.live
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
