package sandlock

// The seccomp filter compiler. Its output is plain data: a classic BPF
// program built with package bpfasm, optimized, and checked against the
// kernel's 4096-instruction limit. Nothing here talks to the kernel.
//
// Program layout (amd64 shown; arm64 has no x32 block):
//
//	      ld  [4]                          arch
//	      jeq #AUDIT_ARCH_<native>  ──no──> ret KILL_PROCESS   (i386 int 0x80, arm32 compat)
//	      ld  [0]                          nr
//	      jeq #ioctl, #socket, #clone ─yes─> their blocks (hot: only uncached
//	                                         calls run the filter at all)
//	      jgt #<highest known nr>   ──yes─> high
//	  ┌── binary search on nr (jge splits, balanced over runs of equal verdicts)
//	  │     leaf: a run of numbers with the same plain verdict ─> its return
//	  │     leaf: one number with argument checks ─────────────> its block
//	  │
//	  ├── block clone:       ld args[0]; jset #CLONE_NEW* ─> ERRNO(EPERM) else pass
//	  ├── block ioctl:       ld args[1]; search the denied commands ─> ERRNO(EPERM) else pass
//	  ├── block socket:      ld args[0]; UNIX ─> pass; NETLINK with args[2] ROUTE ─> USER_NOTIF
//	  │                      (virtual netlink only); INET|INET6 ─> and #0xf;
//	  │                      STREAM (|DGRAM) ─> pass else ERRNO(EPERM); else ERRNO(EAFNOSUPPORT)
//	  ├── block bind:        (virtual netlink only) ld args[2]; 12 ─> USER_NOTIF else pass
//	  ├── block prctl:       ld args[0]; DUMPABLE|SECUREBITS|PTRACER ─> ERRNO(EPERM) else pass
//	  ├── block personality: ld args[0]; 0xffffffff ─> pass else ERRNO(EPERM)
//	  │
//	  └── high: jeq #0xffffffff ─> ERRNO(ENOSYS)         nr -1 (a tracer skipping a call)
//	            jset #0x40000000 ─> KILL_PROCESS          x32
//	            ─> ERRNO(ENOSYS)                          newer than our table: fail closed
//	returns: ALLOW, USER_NOTIF, ERRNO(EPERM), ERRNO(ENOSYS), ERRNO(EAFNOSUPPORT), KILL_PROCESS
//
// "pass" is the system call's base action: ALLOW, or USER_NOTIF when the
// supervisor handles it. Arguments are compared on their low 32 bits (see
// argTest). Every plainly allowed system call reaches "ret ALLOW" through
// loads of nr and arch and constant jumps only, so the kernel's action
// cache (Linux 5.11) skips the filter for it: read, write, futex, mmap and
// the like never run BPF at all.

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/sandlock-go/sandlock-go/bpfasm"
)

// maxFilterLen is the kernel's BPF_MAXINSNS for classic BPF.
const maxFilterLen = 4096

// errFilterTooLong reports a filter over the kernel's limit.
var errFilterTooLong = errors.New("sandlock: seccomp filter too long")

// compiledFilter is the result of compileFilter.
type compiledFilter struct {
	prog        []bpfasm.Instruction // optimized
	unoptimized int                  // length before bpfasm.Optimize
}

// compileFilter builds, assembles and optimizes the filter for cfg.
func compileFilter(cfg filterConfig) (*compiledFilter, error) {
	for _, n := range cfg.notify {
		if slices.Contains(cfg.trampolineCalls(), n) && !slices.Contains(notifiableTrampoline, n) {
			// The child makes these after the filter is installed, before
			// (or without) a supervisor: they cannot be notified.
			return nil, fmt.Errorf("sandlock: seccomp filter: %s cannot be notified (the child's own calls after the filter are always allowed)", n)
		}
	}
	rules, notified := buildRules(cfg)
	b := emitFilter(cfg.arch, rules, notified)
	raw, err := b.Assemble()
	if err != nil {
		if errors.Is(err, bpfasm.ErrTooLong) {
			return nil, fmt.Errorf("%w: %v (the kernel's limit is %d)", errFilterTooLong, err, maxFilterLen)
		}
		return nil, fmt.Errorf("sandlock: assemble seccomp filter: %w", filterBug(err))
	}
	prog, err := bpfasm.Optimize(raw)
	if err != nil {
		return nil, fmt.Errorf("sandlock: optimize seccomp filter: %w", filterBug(err))
	}
	if len(prog) > maxFilterLen {
		return nil, fmt.Errorf("%w: %d instructions, the kernel's limit is %d", errFilterTooLong, len(prog), maxFilterLen)
	}
	return &compiledFilter{prog: prog, unoptimized: len(raw)}, nil
}

// filterCache memoizes compiled filters by configuration: every Create
// compiles its policy's filter (about 0.3 ms), and policies repeat. It
// holds at most filterCacheMax entries and starts over when full.
var filterCache struct {
	mu sync.Mutex
	m  map[string]*compiledFilter
}

const filterCacheMax = 64

// key identifies the filter cfg compiles to.
func (cfg *filterConfig) key() string {
	set := func(names []string) string {
		s := slices.Clone(names)
		slices.Sort(s)
		return strings.Join(slices.Compact(s), ",")
	}
	return fmt.Sprintf("%s|%t|%t|%t|%t|%t|%t|%s|%s", cfg.arch.goarch, cfg.noSupervisor, cfg.sysvIPC,
		cfg.allowDatagram, cfg.netlinkVirtual, cfg.sendmsgFree, cfg.noSourceRoute, set(cfg.extraDeny), set(cfg.notify))
}

// compileFilterCached is compileFilter through filterCache. The result is
// shared: callers must not modify its program.
func compileFilterCached(cfg filterConfig) (*compiledFilter, error) {
	k := cfg.key()
	filterCache.mu.Lock()
	f, ok := filterCache.m[k]
	filterCache.mu.Unlock()
	if ok {
		return f, nil
	}
	f, err := compileFilter(cfg)
	if err != nil {
		return nil, err
	}
	filterCache.mu.Lock()
	if filterCache.m == nil || len(filterCache.m) >= filterCacheMax {
		filterCache.m = make(map[string]*compiledFilter)
	}
	filterCache.m[k] = f
	filterCache.mu.Unlock()
	return f, nil
}

// hotSyscalls are the argument-filtered calls that the filter dispatches
// before its binary search, most frequent first.
var hotSyscalls = []string{"ioctl", "socket", "clone"}

// filterBug marks an error that means the compiler is broken.
func filterBug(err error) error { return fmt.Errorf("internal error (a bug): %w", err) }

// emitter holds the state of one emission.
type emitter struct {
	b      bpfasm.Builder
	labels int
	// rets are the actions jumped to, by label; they are emitted last.
	rets map[string]bpfasm.Action
	// retLabels caches each action's label (Action.String is not cheap
	// and ret is called for every syscall).
	retLabels map[bpfasm.Action]string
}

func (e *emitter) fresh() string {
	e.labels++
	return "L" + strconv.Itoa(e.labels)
}

// ret returns the label of the shared "ret action".
func (e *emitter) ret(a bpfasm.Action) string {
	if l, ok := e.retLabels[a]; ok {
		return l
	}
	l := "ret " + a.String()
	e.rets[l] = a
	e.retLabels[a] = l
	return l
}

// interval is a run [lo, hi] of values that go to the same label.
type interval struct {
	lo, hi uint32
	label  string
}

// emitFilter lays out the program described atop this file.
func emitFilter(a *filterArch, rules map[int]syscallRule, notified map[int]bool) *bpfasm.Builder {
	e := &emitter{rets: make(map[string]bpfasm.Action), retLabels: make(map[bpfasm.Action]string)}
	b := &e.b
	base := func(nr int) bpfasm.Action {
		if notified[nr] {
			return bpfasm.ActionUserNotif
		}
		return bpfasm.ActionAllow
	}
	resolve := func(nr int, v verdict) string {
		if v.pass {
			return e.ret(base(nr))
		}
		return e.ret(v.action)
	}

	b.LoadArch()
	b.JumpIf(bpfasm.Eq, a.audit, "native", "")
	b.RetAction(bpfasm.ActionKillProcess)
	b.Label("native")
	b.LoadNr()
	// The hot argument-filtered calls first: only calls that the action
	// cache cannot skip run the filter, and of those these are the
	// frequent ones.
	hot := map[int]bool{}
	for _, name := range hotSyscalls {
		if nr, ok := a.nr(name); ok && len(rules[nr].rules) > 0 {
			hot[nr] = true
			b.JumpIf(bpfasm.Eq, uint32(nr), "sys "+strconv.Itoa(nr), "")
		}
	}
	maxNr := a.maxNr()
	b.JumpIf(bpfasm.Gt, uint32(maxNr), "high", "")

	// Leaves of the search: runs of numbers with the same label. The hot
	// numbers never get here; they join the runs around them.
	var ivs []interval
	var blocks []int
	for nr := 0; nr <= maxNr; nr++ {
		var l string
		r, ok := rules[nr]
		switch {
		case !ok:
			l = e.ret(base(nr))
		case len(r.rules) == 0:
			l = resolve(nr, r.def)
		default:
			blocks = append(blocks, nr)
			if hot[nr] {
				continue
			}
			l = "sys " + strconv.Itoa(nr)
		}
		if n := len(ivs); n > 0 && ivs[n-1].label == l {
			ivs[n-1].hi = uint32(nr)
			continue
		}
		ivs = append(ivs, interval{uint32(nr), uint32(nr), l})
	}
	e.search(ivs)

	for _, nr := range blocks {
		r := rules[nr]
		b.Label("sys " + strconv.Itoa(nr))
		for _, ar := range r.rules {
			next := e.fresh()
			for i, t := range ar.tests {
				yes := resolve(nr, ar.verdict)
				if i < len(ar.tests)-1 {
					yes = e.fresh()
				}
				e.test(t, yes, next)
				if i < len(ar.tests)-1 {
					b.Label(yes)
				}
			}
			b.Label(next)
		}
		b.Jump(resolve(nr, r.def))
	}

	b.Label("high")
	enosys := e.ret(bpfasm.Errno(errnoENOSYS))
	if a.x32 {
		b.JumpIf(bpfasm.Eq, 0xffffffff, enosys, "")
		b.JumpIf(bpfasm.BitsSet, x32SyscallBit, e.ret(bpfasm.ActionKillProcess), enosys)
	} else {
		b.Jump(enosys)
	}

	labels := make([]string, 0, len(e.rets))
	for l := range e.rets {
		labels = append(labels, l)
	}
	// ALLOW first (the common case), then the rest by decreasing
	// permissiveness, as in the kernel's ordering of actions.
	slices.SortFunc(labels, func(x, y string) int {
		return cmp.Compare(actionRank(e.rets[y]), actionRank(e.rets[x]))
	})
	for _, l := range labels {
		b.Label(l)
		b.RetAction(e.rets[l])
	}
	return b
}

// actionRank orders actions as the kernel does when filters disagree (the
// lower, the stronger), with the data as a tie-breaker.
func actionRank(a bpfasm.Action) int64 {
	k := int64(int32(a.Kind()))
	return k<<16 | int64(a.Data())
}

// test emits a test of argument t.arg: a jump to yes when it holds, to no
// otherwise.
func (e *emitter) test(t argTest, yes, no string) {
	b := &e.b
	b.LoadArgLow(t.arg)
	switch t.op {
	case testAny:
		b.JumpIf(bpfasm.BitsSet, t.mask, yes, no)
		return
	case testIn:
		if t.mask != 0xffffffff {
			b.ALU(bpfasm.ALUAnd, t.mask)
		}
		if len(t.vals) <= 4 {
			for i, v := range t.vals {
				if i == len(t.vals)-1 {
					b.JumpIf(bpfasm.Eq, v, yes, no)
				} else {
					b.JumpIf(bpfasm.Eq, v, yes, "")
				}
			}
			return
		}
		// A binary search over the values and the gaps between them.
		var ivs []interval
		lo := uint32(0)
		for _, v := range t.vals {
			if v > lo {
				ivs = append(ivs, interval{lo, v - 1, no})
			}
			ivs = append(ivs, interval{v, v, yes})
			lo = v + 1
		}
		if last := t.vals[len(t.vals)-1]; last != 0xffffffff {
			ivs = append(ivs, interval{last + 1, 0xffffffff, no})
		}
		e.search(ivs)
	}
}

// search emits a balanced binary search that, with A inside the runs ivs
// (sorted, contiguous), jumps to the label of the run holding A. A run that
// is a single value between two runs of the same label becomes one jeq.
func (e *emitter) search(ivs []interval) {
	b := &e.b
	if len(ivs) == 1 {
		b.Jump(ivs[0].label)
		return
	}
	if len(ivs) == 3 && ivs[0].label == ivs[2].label && ivs[1].lo == ivs[1].hi {
		b.JumpIf(bpfasm.Eq, ivs[1].lo, ivs[1].label, ivs[0].label)
		return
	}
	mid := len(ivs) / 2
	left, right := ivs[:mid], ivs[mid:]
	jt, jf := "", ""
	if len(right) == 1 {
		jt = right[0].label
	} else if len(left) > 1 {
		jt = e.fresh()
	}
	if len(left) == 1 {
		jf = left[0].label
	}
	b.JumpIf(bpfasm.Ge, right[0].lo, jt, jf)
	if len(left) > 1 {
		e.search(left)
	}
	if len(right) > 1 {
		if jt != "" {
			b.Label(jt)
		}
		e.search(right)
	}
}
