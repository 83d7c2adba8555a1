package sandlock

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"

	"github.com/sandlock-go/sandlock-go/bpfasm"
)

// seccompHooks are settings of the seccomp filter that are not policy
// fields (they are not in the JSON form).
type seccompHooks struct {
	// allowDatagram lets INET and INET6 SOCK_DGRAM sockets (UDP and ICMP
	// ping sockets) through the filter. The network layer sets it when a
	// rule allows UDP or ICMP; the default denies them with EPERM.
	allowDatagram bool
	// disabled installs no filter at all, and allowAll a one-instruction
	// filter that allows everything. For tests and benchmarks only.
	disabled, allowAll bool
	// notifyContinue are system calls the supervisor is notified of and
	// answers CONTINUE, to measure the supervisor. For benchmarks only.
	notifyContinue []string
	// userNotify are the system calls of Sandbox.Handlers (set by plan on
	// its copy of the policy).
	userNotify []string
	// reach caches reachOf on plan's copy of the policy.
	reach reach
	// split caches notifiedSplit on plan's copy of the policy, once the
	// fields it reads are final (nil: not cached).
	split *notifiedLists
	// nested drops the optional supervisor features (escape tracking):
	// set when the sandbox is created inside a supervised sandbox, whose
	// own supervisor tracks escapes for both.
	nested bool
	// noSyncWakeUp leaves SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP off, to
	// measure what it changes. For benchmarks only.
	noSyncWakeUp bool
}

var (
	errUnknownSyscall = errors.New("unknown system call name")
	errUnknownGroup   = fmt.Errorf("unknown system call group (known: %s)", SyscallGroupSysVIPC)
	errTrampoline     = errors.New("cannot be denied: the sandbox makes this call itself after installing the filter, to start the program")
)

// validateSyscalls checks the Syscalls section: every ExtraDeny name must be
// a system call of amd64 or arm64, and none of the calls the sandbox makes
// after installing the filter; every ExtraAllow entry must be a known
// group. The errors name all offending entries.
func (p *Policy) validateSyscalls() error {
	s := &p.Syscalls
	var unknown, needed []string
	for _, n := range s.ExtraDeny {
		switch {
		case slices.Contains(trampolineSyscalls, n):
			needed = append(needed, n)
		case !knownSyscall(n):
			unknown = append(unknown, fmt.Sprintf("%q", n))
		}
	}
	if len(unknown) > 0 {
		return &PolicyError{Field: "syscalls.extra_deny", Value: strings.Join(unknown, ", "), Err: errUnknownSyscall}
	}
	if len(needed) > 0 {
		return &PolicyError{Field: "syscalls.extra_deny", Value: strings.Join(needed, ", "), Err: errTrampoline}
	}
	var groups []string
	for _, g := range s.ExtraAllow {
		if g != SyscallGroupSysVIPC {
			groups = append(groups, fmt.Sprintf("%q", g))
		}
	}
	if len(groups) > 0 {
		return &PolicyError{Field: "syscalls.extra_allow", Value: strings.Join(groups, ", "), Err: errUnknownGroup}
	}
	return nil
}

// datagramAllowed reports whether the filter lets INET and INET6 datagram
// sockets through. The network layer decides (seccompHooks.allowDatagram).
func (p *Policy) datagramAllowed() bool {
	return p.seccomp.allowDatagram || p.netProtos()&(protoUDP|protoICMP) != 0
}

// filterConfig resolves the policy into the compiler's input for goarch
// ("" means the running architecture).
//
// Preconditions: p.Validate() is nil.
func (p *Policy) filterConfig(goarch string, noSupervisor bool) (filterConfig, error) {
	a := archFor(goarch)
	if a == nil {
		if goarch == "" {
			goarch = runtime.GOARCH
		}
		return filterConfig{}, fmt.Errorf("sandlock: no seccomp system call table for GOARCH %s: %w", goarch, ErrNotSupported)
	}
	cfg := filterConfig{
		arch:          a,
		noSupervisor:  noSupervisor,
		extraDeny:     p.Syscalls.ExtraDeny,
		sysvIPC:       slices.Contains(p.Syscalls.ExtraAllow, SyscallGroupSysVIPC),
		allowDatagram: p.datagramAllowed(),
	}
	if !noSupervisor {
		_, cfg.notify = p.notifiedSplit()
		cfg.netlinkVirtual = p.netlinkVirtual()
		cfg.sendmsgFree = slices.Contains(cfg.notify, "sendmsg")
		cfg.noSourceRoute = p.networkSupervised()
	}
	return cfg, nil
}

// processCreation are the system calls that make a process (clone3 is
// ENOSYS in every sandbox; fork and vfork exist on amd64 only).
var processCreation = []string{"clone", "fork", "vfork"}

// featureCalls returns the system calls each built-in feature needs
// notified under p, indexed like features (nil: the feature is off).
// Ambient features are on only in sandboxes that have a supervisor for
// another reason (another feature or a handler); they never make one.
func (p *Policy) featureCalls() [][]string {
	calls := make([][]string, len(features))
	supervised := len(p.seccomp.notifyContinue)+len(p.seccomp.userNotify) > 0
	for i, f := range features {
		if !f.ambient {
			calls[i] = f.calls(p)
			supervised = supervised || len(calls[i]) > 0
		}
	}
	if supervised {
		for i, f := range features {
			if f.ambient {
				calls[i] = f.calls(p)
			}
		}
	}
	return calls
}

// supervised reports whether the sandbox has a supervisor.
func (p *Policy) supervised() bool { return len(p.notified()) > 0 }

// notified lists the system calls the supervisor handles for this policy;
// empty means the sandbox needs no supervisor.
func (p *Policy) notified() []string {
	names, _ := p.notifiedSplit()
	return names
}

// notifiedSplit is notified, and among those the calls whose base action
// in the filter is USER_NOTIF: all but the ones that every feature asking
// for them notifies only for some arguments (feature.argFiltered).
func (p *Policy) notifiedSplit() (all, base []string) {
	if c := p.seccomp.split; c != nil {
		return c.all, c.base
	}
	add := func(list []string, n string) []string {
		if !slices.Contains(list, n) {
			list = append(list, n)
		}
		return list
	}
	for i, calls := range p.featureCalls() {
		for _, n := range calls {
			all = add(all, n)
			if !slices.Contains(features[i].argFiltered, n) {
				base = add(base, n)
			}
		}
	}
	for _, n := range slices.Concat(p.seccomp.notifyContinue, p.seccomp.userNotify) {
		all, base = add(all, n), add(base, n)
	}
	return all, base
}

// notifiedLists is a cached notifiedSplit.
type notifiedLists struct{ all, base []string }

// cacheNotified computes notifiedSplit once for the rest of p's life; the
// fields it reads must not change afterwards (or the cache be dropped).
func (p *Policy) cacheNotified() {
	p.seccomp.split = nil
	all, base := p.notifiedSplit()
	p.seccomp.split = &notifiedLists{all, base}
}

// SeccompOptions select the filter CompileSeccomp compiles.
type SeccompOptions struct {
	// Arch is the GOARCH to compile for: "amd64" or "arm64". Empty means
	// the running architecture.
	Arch string
	// NoSupervisor compiles the deny-only filter of ExecNoSupervisor
	// instead of the filter of a Sandbox.
	NoSupervisor bool
}

// SeccompFilter is a compiled seccomp filter, for inspection: sandlock-run
// check --dump-filter prints it.
type SeccompFilter struct {
	// Arch is the GOARCH the filter is for.
	Arch string
	// Program is the optimized program, as installed.
	Program bpfasm.Program
	// Unoptimized is the length of the program before bpfasm.Optimize.
	Unoptimized int
}

// CompileSeccomp compiles the seccomp filter that a sandbox with policy
// installs (or, with NoSupervisor, that ExecNoSupervisor installs). It is
// pure: it validates the policy and builds the program without touching
// the kernel. The filter is described in docs/design.md ("Seccomp filter").
func CompileSeccomp(policy Policy, opts SeccompOptions) (*SeccompFilter, error) {
	if err := policy.Validate(); err != nil {
		return nil, err
	}
	cfg, err := policy.filterConfig(opts.Arch, opts.NoSupervisor)
	if err != nil {
		return nil, err
	}
	f, err := compileFilterCached(cfg)
	if err != nil {
		return nil, err
	}
	return &SeccompFilter{Arch: cfg.arch.goarch, Program: slices.Clone(f.prog), Unoptimized: f.unoptimized}, nil
}

// Listing returns the disassembly of the program with its instruction
// counts in a header, and the name of each system call number the program
// compares nr with as a comment. bpfasm.ParseText reads it back.
func (f *SeccompFilter) Listing() string {
	a := archFor(f.Arch)
	var sb strings.Builder
	fmt.Fprintf(&sb, "# seccomp filter for linux/%s: %d instructions (%d before optimization, limit %d)\n",
		f.Arch, len(f.Program), f.Unoptimized, maxFilterLen)
	holdsNr := nrHolders(f.Program)
	lines := strings.SplitAfter(f.Program.String(), "\n")
	for pc, ins := range f.Program {
		line := lines[pc]
		var note string
		switch {
		case ins.Class() != bpfasm.ClassJMP || ins.JumpOp() == bpfasm.JA || ins.Src() != bpfasm.SrcK:
		case holdsNr[pc] == holdsYes && a != nil:
			if name := a.name(int(ins.K)); name != "" {
				note = name
			}
		case ins.K == a.audit:
			note = "AUDIT_ARCH of linux/" + f.Arch
		}
		if note != "" {
			line = fmt.Sprintf("%-30s ; %s\n", strings.TrimSuffix(line, "\n"), note)
		}
		sb.WriteString(line)
	}
	return sb.String()
}

// What A holds at an instruction, for listings.
const (
	holdsUnset = iota
	holdsYes   // seccomp_data.nr on every path
	holdsNo    // something else on some path
)

// nrHolders computes, for each instruction of a valid program, whether A
// holds seccomp_data.nr there. Jumps only go forward, so one pass in order
// sees every predecessor of an instruction before it.
func nrHolders(prog []bpfasm.Instruction) []int {
	st := make([]int, len(prog)+1)
	st[0] = holdsNo
	meet := func(pc, s int) {
		if pc >= len(st) {
			return
		}
		switch {
		case st[pc] == holdsUnset:
			st[pc] = s
		case st[pc] != s:
			st[pc] = holdsNo
		}
	}
	ldNr := bpfasm.Code(bpfasm.ClassLD, bpfasm.SizeW, bpfasm.ModeABS)
	for pc, ins := range prog {
		s := st[pc]
		if s == holdsUnset {
			continue // unreachable
		}
		switch {
		case ins.Class() == bpfasm.ClassRET:
		case ins.Class() == bpfasm.ClassJMP && ins.JumpOp() == bpfasm.JA:
			meet(pc+1+int(ins.K), s)
		case ins.Class() == bpfasm.ClassJMP:
			meet(pc+1+int(ins.Jt), s)
			meet(pc+1+int(ins.Jf), s)
		case ins.Code == ldNr && ins.K == bpfasm.OffsetNr:
			meet(pc+1, holdsYes)
		case ins.Class() == bpfasm.ClassLD || ins.Class() == bpfasm.ClassALU ||
			(ins.Class() == bpfasm.ClassMISC && ins.MiscOp() == bpfasm.TXA):
			meet(pc+1, holdsNo)
		default:
			meet(pc+1, s)
		}
	}
	return st[:len(prog)]
}
