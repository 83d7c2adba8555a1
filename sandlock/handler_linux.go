//go:build linux

package sandlock

import "slices"

// Notification is one system call of the sandbox that the supervisor was
// notified of.
type Notification struct {
	// Syscall is the system call's name, Nr its number on this
	// architecture.
	Syscall string
	Nr      int
	// Pid is the calling thread's id (in the caller's pid namespace).
	Pid int
	// Args are the system call's arguments as registers.
	Args [6]uint64

	n          *notif
	listenerFd int
}

// ReadMemory copies len(buf) bytes at addr from the caller's memory, then
// checks that the caller still waits in this very system call. A non-nil
// error is a syscall.Errno to answer with (Fail): EFAULT when the memory
// cannot be read (fail closed, never Continue), ENOENT when the caller is
// gone. What was read may
// change right after; decide on buf, not on the caller's memory.
func (n *Notification) ReadMemory(addr uint64, buf []byte) error {
	if e := readChecked(n.listenerFd, n.n, addr, buf); e != 0 {
		return e
	}
	return nil
}

// userHandlerNames validates the handlers against the compiled policy: each
// must name a system call of this architecture that the policy does not
// deny whatever its arguments, and not one of the calls the sandbox makes
// itself after installing its filter. It returns the names to notify.
func (p *Policy) userHandlerNames(hs []SyscallHandler) ([]string, error) {
	if len(hs) == 0 {
		return nil, nil
	}
	cfg, err := p.filterConfig("", false)
	if err != nil {
		return nil, err
	}
	rules, _ := buildRules(cfg)
	var names []string
	denied := func(nr int) bool { r, ok := rules[nr]; return ok && r.denied() }
	for _, h := range hs {
		switch nr, ok := cfg.arch.nr(h.Syscall); {
		case h.Handler == nil:
			return nil, handlerError(h.Syscall, "nil Handler")
		case !ok:
			return nil, handlerError(h.Syscall, "no such system call on "+cfg.arch.goarch)
		case slices.Contains(trampolineSyscalls, h.Syscall):
			return nil, handlerError(h.Syscall, "the sandbox makes this call itself after installing its filter; it cannot be notified")
		case denied(nr):
			return nil, handlerError(h.Syscall, "denied by the policy; a handler answering Continue would let it through")
		}
		if !slices.Contains(names, h.Syscall) {
			names = append(names, h.Syscall)
		}
	}
	return names, nil
}

// chain builds the dispatch of one system call: the built-in handlers
// first, in order, then the user handlers in registration order; the first
// answer other than Continue wins. It is slow when any part of it is.
// ok is false when there is nothing to run (the call is answered
// CONTINUE).
func chain(builtin []dispatch, users []SyscallHandler, name string, listenerFd int) (d dispatch, ok bool) {
	for _, b := range builtin {
		d.slow = d.slow || b.slow
	}
	for _, u := range users {
		d.slow = d.slow || !u.Quick
	}
	switch {
	case len(builtin)+len(users) == 0:
		return d, false
	case len(builtin) == 1 && len(users) == 0:
		return builtin[0], true
	}
	d.fn = func(n *notif) verdictResp {
		for _, b := range builtin {
			if v := b.fn(n); !v.cont {
				return v
			}
		}
		un := &Notification{Syscall: name, Nr: n.nr, Pid: n.pid, Args: n.args, n: n, listenerFd: listenerFd}
		for _, h := range users {
			v := h.Handler.Handle(un)
			switch {
			case !v.ret:
				continue
			case v.errno != 0:
				return respErrno(v.errno)
			default:
				return respVal(v.val)
			}
		}
		return respContinue
	}
	return d, true
}
