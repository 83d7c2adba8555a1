//go:build linux

package sandlock

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// ErrNotEnforced is wrapped by the error of an EventContext method whose
// restriction nothing in this sandbox enforces (a limit the policy does
// not set, a network restriction without the network layer).
var ErrNotEnforced = errors.New("sandlock: not enforced in this sandbox")

// The policy callback (Policy.OnEvent): the supervisor reports process
// creations and opens to a Go function and waits for its verdict before
// the rest of the chain (process and memory limits, open interception)
// runs; the network layer reports its calls through networkEvent.
//
// TOCTOU: the callback's decision depends on registers and on the kernel's
// process table (pid, parent), never on the caller's memory, except for
// execve's argv, which is reported only when nothing can change it before
// the kernel copies it (argvStable, events_argv_linux.go). So answering
// CONTINUE after an Allow is sound: what runs is what was decided on.

// eventProcessCalls and eventFileCalls are the calls reported, by name.
var (
	eventProcessCalls = []string{"execve", "execveat", "clone", "fork", "vfork"}
	eventFileCalls    = []string{"open", "openat", "openat2"}
)

// eventsFeature is the policy callback, in the features list.
var eventsFeature = feature{name: "policy callback", calls: eventCalls, setup: setupEvents}

func eventCalls(p *Policy) []string {
	if p.OnEvent == nil {
		return nil
	}
	return append(append([]string(nil), eventProcessCalls...), eventFileCalls...)
}

// eventHub delivers one sandbox's events to its callback.
type eventHub struct {
	fn   EventFunc
	ctx  *EventContext
	arch *filterArch
	// fnMu serializes the callback.
	fnMu sync.Mutex
	// vmShared is set once a process of the sandbox asked to create a
	// process sharing its memory (clone with CLONE_VM without
	// CLONE_THREAD, vfork): from then on an exec's argv is reported only
	// after a scan finds no other user of the caller's memory.
	vmShared atomic.Bool
	// argvNever, if set, says why no argv can be trusted in this sandbox.
	argvNever string

	auditMu      sync.Mutex
	audit        []Event
	auditDropped int
}

func setupEvents(sv *supervision) (map[string]dispatch, error) {
	p := sv.policy
	h := &eventHub{fn: p.OnEvent, arch: archFor(""), argvNever: argvNeverReason(p)}
	h.ctx = &EventContext{live: sv.live, policy: p}
	sv.live.hub = h
	if sv.plan != nil {
		sv.plan.events = h
	}
	hs := map[string]dispatch{}
	for _, name := range eventCalls(p) {
		hs[name] = dispatch{fn: h.handle, slow: true}
	}
	return hs, nil
}

// handle is the notifHandler of the reported calls.
func (h *eventHub) handle(n *notif) verdictResp {
	name := h.arch.name(n.nr)
	ev := Event{Syscall: name, Tid: n.pid, Category: CategoryProcess}
	switch name {
	case "clone":
		if n.args[0]&cloneThread != 0 {
			return respContinue // a thread, not a process
		}
		if n.args[0]&cloneVM != 0 {
			h.vmShared.Store(true)
		}
	case "vfork":
		h.vmShared.Store(true)
	case "open", "openat", "openat2":
		ev.Category = CategoryFile
	}
	ev.Pid, ev.PPid = tgidPPid(n.pid)
	if ev.Pid <= 0 {
		return respErrno(unix.ESRCH) // the caller is going away
	}
	switch name {
	case "execve":
		ev.Argv, ev.ArgvUnsafe = h.execArgv(n, n.args[1])
	case "execveat":
		ev.Argv, ev.ArgvUnsafe = h.execArgv(n, n.args[2])
	}
	if !idValid(n.lfd, n.id) {
		return respErrno(unix.ENOENT)
	}
	if e := h.decide(&ev); e != 0 {
		return respErrno(e)
	}
	return respContinue
}

// decide runs the callback for ev and records it when audited; it
// returns the errno to fail the call with, 0 to let it proceed.
func (h *eventHub) decide(ev *Event) syscall.Errno {
	h.fnMu.Lock()
	v := h.fn(ev, h.ctx)
	h.fnMu.Unlock()
	if v.audit {
		h.record(*ev)
	}
	return v.errno
}

func (h *eventHub) record(ev Event) {
	h.auditMu.Lock()
	defer h.auditMu.Unlock()
	if len(h.audit) == auditCap {
		copy(h.audit, h.audit[1:])
		h.audit = h.audit[:auditCap-1]
		h.auditDropped++
	}
	h.audit = append(h.audit, ev)
}

// networkEvent reports a network call to the policy callback. It is the
// network layer's hook (the net branch): call it for connect, sendto and
// bind after copying and decoding the destination from the caller's memory
// and deciding on that copy with the network policy and
// liveState.networkAllowed (denied: the layer denies it), and before
// acting on behalf. It returns 0 to go on, or the errno to fail the call
// with: a denied call stays denied whatever the callback answers (it sees
// Denied set, and may audit it). With no callback it returns 0.
func (sv *supervision) networkEvent(n *notif, syscallName string, host netip.Addr, port uint16, denied bool) syscall.Errno {
	h := sv.live.hub
	if h == nil {
		return 0
	}
	ev := Event{Syscall: syscallName, Category: CategoryNetwork, Tid: n.pid, Port: port, Denied: denied}
	if host.IsValid() {
		ev.Host = host.Unmap().String()
	}
	ev.Pid, ev.PPid = tgidPPid(n.pid)
	e := h.decide(&ev)
	if denied {
		return 0 // the layer answers its own denial
	}
	return e
}

// AuditLog returns the events the policy callback answered Audit, oldest
// first (at most the last 4096), and how many older ones were dropped. It
// may be called at any time after Create, also after Wait.
func (sb *Sandbox) AuditLog() (events []Event, dropped int) {
	sb.mu.Lock()
	h := sb.events
	sb.mu.Unlock()
	if h == nil {
		return nil, 0
	}
	h.auditMu.Lock()
	defer h.auditMu.Unlock()
	return append([]Event(nil), h.audit...), h.auditDropped
}

// tgidPPid reads the process and parent of thread tid (0, 0: gone).
func tgidPPid(tid int) (tgid, ppid int) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(tid) + "/status")
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Tgid:"); ok {
			tgid, _ = strconv.Atoi(strings.TrimSpace(v))
		} else if v, ok := strings.CutPrefix(line, "PPid:"); ok {
			ppid, _ = strconv.Atoi(strings.TrimSpace(v))
			break
		}
	}
	return tgid, ppid
}

// liveState is what the policy callback changed while the sandbox runs.
// Every restriction only narrows the policy. Its methods are safe for
// concurrent use and on a nil *liveState (then nothing is restricted).
type liveState struct {
	hub *eventHub // set by the callback's setup, before the supervisor starts

	maxProcs atomic.Int64  // 0: not restricted
	maxMem   atomic.Uint64 // 0: not restricted

	// anyDenied is set once denied has an entry: the open interception's
	// fast path takes no lock before that.
	anyDenied atomic.Bool
	mu        sync.RWMutex
	denied    map[devIno]bool
	dirs      map[devIno]bool // the denied objects that are directories

	netEnforced atomic.Bool // the network layer consults networkAllowed
	netMu       sync.RWMutex
	net         [][]netip.Prefix // each restriction; an address must be in all
}

func newLiveState() *liveState {
	return &liveState{denied: map[devIno]bool{}, dirs: map[devIno]bool{}}
}

// maxProcesses returns the process limit in force given the policy's.
func (l *liveState) maxProcesses(policy int) int {
	if l == nil {
		return policy
	}
	if r := int(l.maxProcs.Load()); r > 0 && r < policy {
		return r
	}
	return policy
}

// maxMemory returns the memory limit in force given the policy's.
func (l *liveState) maxMemory(policy uint64) uint64 {
	if l == nil {
		return policy
	}
	if r := l.maxMem.Load(); r > 0 && r < policy {
		return r
	}
	return policy
}

// pathDenied reports whether the callback denied object k.
func (l *liveState) pathDenied(k devIno) bool {
	if l == nil || !l.anyDenied.Load() {
		return false
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.denied[k]
}

// hasDeniedDirs reports whether the callback denied a directory.
func (l *liveState) hasDeniedDirs() bool {
	if l == nil || !l.anyDenied.Load() {
		return false
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	return len(l.dirs) > 0
}

// enforceNetwork is called by the network layer's setup: it consults
// networkAllowed for every destination it decides on.
func (l *liveState) enforceNetwork() { l.netEnforced.Store(true) }

// networkAllowed reports whether the callback's network restrictions let
// the sandbox reach ip (any port, any protocol). The network layer
// consults it on the destination it copied, before acting on behalf.
func (l *liveState) networkAllowed(ip netip.Addr) bool {
	if l == nil {
		return true
	}
	ip = ip.Unmap()
	l.netMu.RLock()
	defer l.netMu.RUnlock()
	for _, set := range l.net {
		ok := false
		for _, p := range set {
			if p.Contains(ip) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// EventContext changes the policy of the sandbox an event came from,
// from the moment the method returns: restrictions are permanent and only
// ever narrow the policy (a restriction above the limit in force changes
// nothing). Calls already past the check they affect are not recalled.
type EventContext struct {
	live   *liveState
	policy *Policy
}

// RestrictMaxProcesses lowers Limits.MaxProcesses to n: creating a
// process beyond it then fails with EAGAIN. Processes already running
// stay. The policy must set Limits.MaxProcesses (ErrNotEnforced).
func (c *EventContext) RestrictMaxProcesses(n int) error {
	if c.policy.Limits.MaxProcesses <= 0 {
		return fmt.Errorf("%w: limits.max_processes is not set", ErrNotEnforced)
	}
	if n <= 0 {
		return &PolicyError{Field: "limits.max_processes", Value: n, Err: errors.New("must be positive")}
	}
	for {
		cur := c.live.maxProcs.Load()
		if cur > 0 && cur <= int64(n) {
			return nil
		}
		if c.live.maxProcs.CompareAndSwap(cur, int64(n)) {
			return nil
		}
	}
}

// RestrictMaxMemory lowers Limits.MaxMemory to bytes: the next memory call
// that finds the sandbox above it kills the sandbox (ErrMemoryLimit).
// The policy must set Limits.MaxMemory (ErrNotEnforced).
func (c *EventContext) RestrictMaxMemory(bytes uint64) error {
	if c.policy.Limits.MaxMemory == "" {
		return fmt.Errorf("%w: limits.max_memory is not set", ErrNotEnforced)
	}
	if bytes == 0 {
		return &PolicyError{Field: "limits.max_memory", Value: bytes, Err: errors.New("must be positive")}
	}
	for {
		cur := c.live.maxMem.Load()
		if cur > 0 && cur <= bytes {
			return nil
		}
		if c.live.maxMem.CompareAndSwap(cur, bytes) {
			return nil
		}
	}
}

// MaxProcesses and MaxMemory return the limits in force (0: none).
func (c *EventContext) MaxProcesses() int {
	return c.live.maxProcesses(c.policy.Limits.MaxProcesses)
}

// MaxMemory returns the memory limit in force in bytes (0: none).
func (c *EventContext) MaxMemory() uint64 { return c.live.maxMemory(c.policy.Limits.memoryLimit()) }

// DenyPath denies the object path names (symbolic links followed), as
// Filesystem.Deny does: opening, executing, linking, renaming or
// truncating it (or, for a directory, anything beneath it) fails with
// EACCES from now on, whatever name the sandbox uses.
func (c *EventContext) DenyPath(path string) error {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return &PolicyError{Field: "filesystem.deny", Value: path, Err: fmt.Errorf("%w: %w", errDenyMissing, err)}
	}
	k := statKey(&st)
	c.live.mu.Lock()
	defer c.live.mu.Unlock()
	c.live.denied[k] = true
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		c.live.dirs[k] = true
	}
	c.live.anyDenied.Store(true)
	return nil
}

// AllowPath undoes DenyPath for the object path names. It cannot lift
// Filesystem.Deny, nor grant anything the policy does not.
func (c *EventContext) AllowPath(path string) error {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return &PolicyError{Field: "filesystem.deny", Value: path, Err: fmt.Errorf("%w: %w", errDenyMissing, err)}
	}
	k := statKey(&st)
	for _, d := range c.policy.Filesystem.Deny {
		var ds unix.Stat_t
		if unix.Stat(d, &ds) == nil && statKey(&ds) == k {
			return &PolicyError{Field: "filesystem.deny", Value: path, Err: errors.New("denied by the policy; the callback cannot allow it")}
		}
	}
	c.live.mu.Lock()
	defer c.live.mu.Unlock()
	delete(c.live.denied, k)
	delete(c.live.dirs, k)
	return nil
}

// RestrictNetwork limits the destinations the sandbox may reach to the
// given addresses and prefixes (any port, any protocol); with none, no
// destination. Successive calls intersect. It needs the network layer,
// which consults it on the destination it copied (ErrNotEnforced without).
func (c *EventContext) RestrictNetwork(allowed ...netip.Prefix) error {
	if !c.live.netEnforced.Load() {
		return fmt.Errorf("%w: no network layer consults the restriction", ErrNotEnforced)
	}
	set := make([]netip.Prefix, 0, len(allowed))
	for _, p := range allowed {
		if !p.IsValid() {
			return &PolicyError{Field: "network.allow", Value: p.String(), Err: errors.New("invalid prefix")}
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		set = append(set, p.Masked())
	}
	c.live.netMu.Lock()
	defer c.live.netMu.Unlock()
	c.live.net = append(c.live.net, set)
	return nil
}
