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

// superviseChild starts the supervisor of a child spawned for pl, taking
// the listener from it. It returns nil, nil when pl needs no supervisor.
func superviseChild(child *clone3.Child, pl *plan) (*supervisor, error) {
	if len(pl.notify) == 0 {
		return nil, nil
	}
	if child.Listener == nil {
		return nil, errors.New("sandlock: the child handed over no seccomp listener")
	}
	a := archFor("")
	builtin := map[string]notifHandler{}
	var onExit func()
	if pl.maxProcesses > 0 {
		limit, err := newProcLimit(pl.maxProcesses, child.Pid)
		if err != nil {
			return nil, err
		}
		for _, name := range processCreation {
			builtin[name] = limit.handle
		}
		onExit = limit.close
	}
	lfd := int(child.Listener.Fd())
	handlers := map[int]notifHandler{}
	for _, name := range pl.notify {
		nr, ok := a.nr(name)
		if !ok {
			continue
		}
		var users []Handler
		for _, h := range pl.handlers {
			if h.Syscall == name {
				users = append(users, h.Handler)
			}
		}
		switch {
		case len(users) > 0:
			handlers[nr] = chain(builtin[name], users, name, lfd)
		case builtin[name] != nil:
			handlers[nr] = builtin[name]
		}
	}
	listener := child.Listener
	child.Listener = nil // the supervisor owns it now
	s, err := startSupervisor(listener, handlers, !pl.noSyncWakeUp, onExit)
	if err != nil && onExit != nil {
		onExit()
	}
	return s, err
}
