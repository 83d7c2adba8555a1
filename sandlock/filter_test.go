package sandlock

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/sandlock-go/sandlock-go/bpfasm"
)

// testConfig is a named filter configuration.
type testConfig struct {
	name string
	cfg  filterConfig
}

// testConfigs are the policies the table tests cover, for each
// architecture.
func testConfigs(t testing.TB) []testConfig {
	t.Helper()
	var out []testConfig
	for _, goarch := range []string{"amd64", "arm64"} {
		a := archFor(goarch)
		if a == nil {
			t.Fatalf("no table for %s", goarch)
		}
		extra := []string{"getcwd", "open", "ioctl", "personality", "clone3", "fork", "mount", "no_such_call_here"}
		notify := []string{"socket", "openat", "clone", "wait4", "execveat_not_a_call", "connect", "mount"}
		for _, c := range []testConfig{
			{"default", filterConfig{}},
			{"sysv_ipc", filterConfig{sysvIPC: true}},
			{"datagram", filterConfig{allowDatagram: true}},
			{"extra_deny", filterConfig{extraDeny: extra}},
			{"notify", filterConfig{notify: notify}},
			{"everything", filterConfig{sysvIPC: true, allowDatagram: true, extraDeny: extra, notify: notify}},
			{"netlink", filterConfig{netlinkVirtual: true, notify: []string{"getsockname"}}},
			{"netlink_everything", filterConfig{netlinkVirtual: true, sysvIPC: true, allowDatagram: true,
				extraDeny: extra, notify: append([]string{"getsockname", "bind"}, notify...)}},
			{"network", filterConfig{allowDatagram: true, sendmsgFree: true, noSourceRoute: true,
				notify: []string{"connect", "sendto", "sendmsg", "sendmmsg", "bind"}}},
			{"no_supervisor", filterConfig{noSupervisor: true}},
			{"no_supervisor_extra", filterConfig{noSupervisor: true, sysvIPC: true, extraDeny: extra}},
		} {
			c.name = goarch + "/" + c.name
			c.cfg.arch = a
			out = append(out, c)
		}
	}
	return out
}

func mustCompile(t testing.TB, cfg filterConfig) (*compiledFilter, *bpfasm.Interpreter) {
	t.Helper()
	f, err := compileFilter(cfg)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	in, err := bpfasm.NewInterpreter(f.prog)
	if err != nil {
		t.Fatalf("compiled program does not validate: %v\n%v", err, bpfasm.Program(f.prog))
	}
	return f, in
}

// interestingArgs are argument values that sit on or next to every
// boundary the filter tests, alone and with high bits set (which the kernel
// ignores for every argument the filter looks at).
func interestingArgs() []uint64 {
	low := []uint32{0, 1, 2, 3, 4, 5, 9, 10, 11, 15, 16, 17, 18, 28, 38, 40, 0x11, 0x12, 0x80002, 0x80802,
		0x7e020000, 0x01200011, 0x59616d61, 0x59616d60, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff,
		0x541b, 0x5401, 0x5413, 0x8906, 0x89f0}
	for bit := range 32 {
		low = append(low, 1<<bit)
	}
	for _, v := range deniedIoctls {
		low = append(low, v-1, v, v+1)
	}
	var out []uint64
	for _, v := range low {
		out = append(out, uint64(v), uint64(v)|1<<32, uint64(v)|0xffffffff00000000)
	}
	return out
}

// TestFilterTable runs every system call number from 0 to 1023, the same
// numbers with the x32 bit, the compat architecture and out-of-range
// numbers through the compiled filter of each test policy, with
// interesting arguments, and compares each action with the reference
// model.
func TestFilterTable(t *testing.T) {
	args := interestingArgs()
	for _, tc := range testConfigs(t) {
		t.Run(tc.name, func(t *testing.T) {
			_, in := mustCompile(t, tc.cfg)
			a := tc.cfg.arch
			fails := 0
			check := func(d bpfasm.SeccompData) {
				t.Helper()
				got := bpfasm.Action(in.RunData(d))
				if want := refVerdict(tc.cfg, d); got != want && fails < 20 {
					fails++
					t.Errorf("nr %d (%s) arch %#x args %#x: got %v, want %v", d.Nr, a.name(int(d.Nr)), d.Arch, d.Args, got, want)
				}
			}
			special := specialRules(false, true)
			for nr := int32(0); nr < 1024; nr++ {
				d := bpfasm.SeccompData{Nr: nr, Arch: a.audit}
				check(d)
				check(bpfasm.SeccompData{Nr: nr, Arch: a.audit, Args: [6]uint64{^uint64(0), ^uint64(0), ^uint64(0), 1, 1, 1}})
				// Every argument value only where the filter looks at
				// arguments; a sample elsewhere.
				vals := args
				if _, ok := special[a.name(int(nr))]; !ok {
					vals = args[:len(args)/10]
				}
				for _, v := range vals {
					for i := range 3 {
						d := bpfasm.SeccompData{Nr: nr, Arch: a.audit}
						d.Args[i] = v
						check(d)
					}
				}
				// x32, the compat entry and a foreign architecture.
				check(bpfasm.SeccompData{Nr: nr | 0x40000000, Arch: a.audit})
				check(bpfasm.SeccompData{Nr: nr, Arch: a.compat})
				check(bpfasm.SeccompData{Nr: nr, Arch: auditArchX86_64 ^ auditArchAArch64 ^ a.audit})
			}
			// socket: every family against every type.
			if nr, ok := a.nr("socket"); ok {
				for _, dom := range args {
					for _, typ := range args {
						check(bpfasm.SeccompData{Nr: int32(nr), Arch: a.audit, Args: [6]uint64{dom, typ}})
					}
				}
			}
			for _, nr := range []uint32{uint32(a.maxNr()) + 1, 0x3fffffff, 0x40000000, 0x4000ffff, 0x7fffffff,
				0x80000000, 0xbfffffff, 0xc0000000, 0xfffffffe, 0xffffffff} {
				check(bpfasm.SeccompData{Nr: int32(nr), Arch: a.audit})
			}
		})
	}
}

// TestFilterExpectations pins the verdicts of the default filter for
// named calls, so that the reference model itself is checked against what
// docs/design.md promises.
func TestFilterExpectations(t *testing.T) {
	const (
		tiocsti  = 0x5412
		fionread = 0x541b
	)
	for _, goarch := range []string{"amd64", "arm64"} {
		a := archFor(goarch)
		cfg := filterConfig{arch: a}
		_, in := mustCompile(t, cfg)
		for _, tc := range []struct {
			name string
			args [6]uint64
			want bpfasm.Action
		}{
			{"read", [6]uint64{}, refAllow},
			{"getpid", [6]uint64{}, refAllow},
			{"execve", [6]uint64{}, refAllow},
			{"rt_sigprocmask", [6]uint64{}, refAllow},
			{"mount", [6]uint64{}, refEPERM},
			{"umount2", [6]uint64{}, refEPERM},
			{"chroot", [6]uint64{}, refEPERM},
			{"fsopen", [6]uint64{}, refEPERM},
			{"open_tree", [6]uint64{}, refEPERM},
			{"mount_setattr", [6]uint64{}, refEPERM},
			{"bpf", [6]uint64{}, refEPERM},
			{"io_uring_setup", [6]uint64{}, refEPERM},
			{"clock_settime", [6]uint64{}, refEPERM},
			{"syslog", [6]uint64{}, refEPERM},
			{"shmget", [6]uint64{}, refEPERM},
			{"semtimedop", [6]uint64{}, refEPERM},
			{"clone3", [6]uint64{}, refENOSYS},
			{"clone", [6]uint64{0x11}, refAllow},               // SIGCHLD: fork
			{"clone", [6]uint64{0x003d0f00}, refAllow},         // pthread_create's flags
			{"clone", [6]uint64{0x10000011}, refEPERM},         // CLONE_NEWUSER
			{"clone", [6]uint64{0x40000000 | 1<<32}, refEPERM}, // CLONE_NEWNET, high bits set
			{"clone", [6]uint64{0xffffffff00000011}, refAllow}, // high bits only: kernel_clone drops them
			{"ioctl", [6]uint64{0, tiocsti}, refEPERM},         // TIOCSTI
			{"ioctl", [6]uint64{0, 1<<32 | tiocsti}, refEPERM}, // CVE-2019-10063
			{"ioctl", [6]uint64{0, 0x8912}, refEPERM},          // SIOCGIFCONF
			{"ioctl", [6]uint64{0, 0x8946}, refEPERM},          // SIOCETHTOOL
			{"ioctl", [6]uint64{0, fionread}, refAllow},        // FIONREAD
			{"ioctl", [6]uint64{0, 0x5401}, refAllow},          // TCGETS
			{"ioctl", [6]uint64{0, 0x8914}, refAllow},          // SIOCSIFFLAGS: not a query (needs CAP_NET_ADMIN)
			{"prctl", [6]uint64{4}, refEPERM},                  // PR_SET_DUMPABLE
			{"prctl", [6]uint64{3}, refAllow},                  // PR_GET_DUMPABLE
			{"prctl", [6]uint64{0x59616d61}, refEPERM},         // PR_SET_PTRACER
			{"prctl", [6]uint64{15}, refAllow},                 // PR_SET_NAME
			{"personality", [6]uint64{0xffffffff}, refAllow},   // query
			{"personality", [6]uint64{0x0040000}, refEPERM},    // ADDR_NO_RANDOMIZE
			{"personality", [6]uint64{0}, refEPERM},            // PER_LINUX
			{"socket", [6]uint64{1, 1}, refAllow},              // AF_UNIX stream
			{"socket", [6]uint64{16, 3}, refEAFNOSUPP},         // AF_NETLINK route: no virtual netlink without a supervisor
			{"socket", [6]uint64{16, 3, 9}, refEAFNOSUPP},      // NETLINK_AUDIT
			{"bind", [6]uint64{3, 0, 12}, refAllow},            // not notified without a virtual netlink
			{"socket", [6]uint64{2, 1}, refAllow},              // AF_INET stream
			{"socket", [6]uint64{10, 0x80801}, refAllow},       // AF_INET6 stream|CLOEXEC|NONBLOCK
			{"socket", [6]uint64{2, 2}, refEPERM},              // AF_INET dgram
			{"socket", [6]uint64{10, 2}, refEPERM},             // AF_INET6 dgram
			{"socket", [6]uint64{2, 3}, refEPERM},              // AF_INET raw
			{"socket", [6]uint64{2, 10}, refEPERM},             // AF_INET SOCK_PACKET
			{"socket", [6]uint64{2, 5}, refEPERM},              // AF_INET seqpacket (SCTP)
			{"socket", [6]uint64{17, 3}, refEAFNOSUPP},         // AF_PACKET
			{"socket", [6]uint64{38, 5}, refEAFNOSUPP},         // AF_ALG
			{"socket", [6]uint64{40, 1}, refEAFNOSUPP},         // AF_VSOCK
			{"socket", [6]uint64{1<<32 | 17, 3}, refEAFNOSUPP}, // high bits do not help
			{"socket", [6]uint64{1<<32 | 2, 1<<32 | 3}, refEPERM},
		} {
			nr, ok := a.nr(tc.name)
			if !ok {
				t.Fatalf("%s: no %s", goarch, tc.name)
			}
			d := bpfasm.SeccompData{Nr: int32(nr), Arch: a.audit, Args: tc.args}
			if got := bpfasm.Action(in.RunData(d)); got != tc.want {
				t.Errorf("%s: %s%#x: got %v, want %v", goarch, tc.name, tc.args[:2], got, tc.want)
			}
			if got := refVerdict(cfg, d); got != tc.want {
				t.Errorf("%s: reference model: %s%#x: got %v, want %v", goarch, tc.name, tc.args[:2], got, tc.want)
			}
		}
		if nr, ok := a.nr("ioperm"); ok && goarch == "amd64" {
			if got := bpfasm.Action(in.RunData(bpfasm.SeccompData{Nr: int32(nr), Arch: a.audit})); got != refEPERM {
				t.Errorf("ioperm: %v", got)
			}
		}
	}
}

// TestFilterActionCache checks that every call whose verdict depends on
// nothing but its number and is ALLOW stays in the kernel's action cache,
// and that the argument-filtered calls do not pretend to.
func TestFilterActionCache(t *testing.T) {
	for _, tc := range testConfigs(t) {
		t.Run(tc.name, func(t *testing.T) {
			f, _ := mustCompile(t, tc.cfg)
			a := tc.cfg.arch
			for nr := 0; nr <= a.maxNr(); nr++ {
				got := bpfasm.ConstantAllow(f.prog, a.audit, int32(nr))
				if want := refArgFree(tc.cfg, nr); got != want {
					t.Errorf("nr %d (%s): ConstantAllow %v, want %v", nr, a.name(nr), got, want)
				}
			}
			if bpfasm.ConstantAllow(f.prog, a.compat, 0) {
				t.Errorf("compat arch cached as allowed")
			}
		})
	}
	// The hot calls, by name, for the default filter.
	for _, goarch := range []string{"amd64", "arm64"} {
		a := archFor(goarch)
		f, _ := mustCompile(t, filterConfig{arch: a})
		for _, name := range []string{"read", "write", "futex", "getpid", "mmap", "munmap", "brk", "close",
			"openat", "fstat", "rt_sigaction", "rt_sigreturn", "epoll_pwait", "nanosleep", "clock_gettime",
			"sched_yield", "exit_group", "madvise", "getrandom", "recvmsg", "wait4", "execve", "fork"} {
			nr, ok := a.nr(name)
			if !ok {
				continue // fork is amd64 only
			}
			if !bpfasm.ConstantAllow(f.prog, a.audit, int32(nr)) {
				t.Errorf("%s: %s is not in the action cache", goarch, name)
			}
		}
	}
}

// TestFilterTrampoline: the calls the child makes after installing the
// filter are allowed whatever the policy and the arguments.
func TestFilterTrampoline(t *testing.T) {
	for _, tc := range testConfigs(t) {
		_, in := mustCompile(t, tc.cfg)
		checkTrampoline(t, tc.name, tc.cfg, in)
	}
}

func checkTrampoline(t testing.TB, name string, cfg filterConfig, in *bpfasm.Interpreter) {
	t.Helper()
	a := cfg.arch
	for _, call := range cfg.trampolineCalls() {
		nr, ok := a.nr(call)
		if !ok {
			t.Fatalf("%s: no %s on %s", name, call, a.goarch)
		}
		for _, v := range []uint64{0, 1, 8, 16, 0x4000, 0xffffffff, 1 << 63} {
			d := bpfasm.SeccompData{Nr: int32(nr), Arch: a.audit, Args: [6]uint64{v, v, v, v, v, v}}
			if call == "sendmsg" {
				// The trampoline's sendmsg: flags MSG_NOSIGNAL (MSG_FASTOPEN
				// is refused on every sendmsg the supervisor does not see).
				d.Args[2] = 0x4000
			}
			if got := bpfasm.Action(in.RunData(d)); got != bpfasm.ActionAllow {
				t.Fatalf("%s: trampoline call %s(%#x...) gets %v", name, call, v, got)
			}
		}
	}
}

// TestFilterLayout checks the things that are not visible in verdicts:
// the first instructions, the limit, optimization.
func TestFilterLayout(t *testing.T) {
	for _, tc := range testConfigs(t) {
		f, _ := mustCompile(t, tc.cfg)
		p := f.prog
		if p[0] != bpfasm.Stmt(bpfasm.Code(bpfasm.ClassLD, bpfasm.SizeW, bpfasm.ModeABS), bpfasm.OffsetArch) {
			t.Errorf("%s: first instruction %v, want ld [4]", tc.name, p[0])
		}
		if len(p) > maxFilterLen || len(p) > f.unoptimized {
			t.Errorf("%s: %d instructions, %d before optimization", tc.name, len(p), f.unoptimized)
		}
		// Re-optimizing is a no-op: the optimizer ran to its fixpoint.
		again, err := bpfasm.Optimize(p)
		if err != nil || !slices.Equal(again, p) {
			t.Errorf("%s: optimizing again changed the program (%v)", tc.name, err)
		}
		// Depth: no path is longer than the binary search promises plus
		// the socket rule's family, type and protocol checks (TCP streams,
		// then UDP and ping datagrams when allowed, after the virtual
		// netlink's family and protocol).
		if d := maxDepth(p); d > 34 {
			t.Errorf("%s: a path runs %d instructions", tc.name, d)
		}
	}
}

// maxDepth returns the number of instructions on the longest path.
func maxDepth(p []bpfasm.Instruction) int {
	depth := make([]int, len(p)) // longest path from pc to a return
	for pc := len(p) - 1; pc >= 0; pc-- {
		ins := p[pc]
		switch {
		case ins.Class() == bpfasm.ClassRET:
			depth[pc] = 1
		case ins.Class() == bpfasm.ClassJMP && ins.JumpOp() == bpfasm.JA:
			depth[pc] = 1 + depth[pc+1+int(ins.K)]
		case ins.Class() == bpfasm.ClassJMP:
			depth[pc] = 1 + max(depth[pc+1+int(ins.Jt)], depth[pc+1+int(ins.Jf)])
		default:
			depth[pc] = 1 + depth[pc+1]
		}
	}
	return depth[0]
}

// TestFilterTooLong: a table so large that the program cannot fit is an
// error naming the limit, not a program the kernel rejects in the child.
func TestFilterTooLong(t *testing.T) {
	names := make([]string, 5000)
	var deny []string
	for i := range names {
		names[i] = fmt.Sprintf("call%d", i)
		if i%2 == 1 {
			deny = append(deny, names[i])
		}
	}
	names[0], names[1], names[2], names[3], names[4], names[5], names[6] =
		"sendmsg", "read", "write", "rt_sigprocmask", "execve", "execveat", "exit_group"
	a := newFilterArch("fake", auditArchX86_64, auditArchI386, false, names)
	_, err := compileFilter(filterConfig{arch: a, noSupervisor: true, sysvIPC: true, extraDeny: deny})
	if !errors.Is(err, errFilterTooLong) || !strings.Contains(err.Error(), "4096") {
		t.Fatalf("got %v, want errFilterTooLong naming the limit", err)
	}
}

func TestValidateSyscalls(t *testing.T) {
	for _, tc := range []struct {
		name  string
		s     Syscalls
		field string
		value string // substring of the error
	}{
		{"ok", Syscalls{ExtraDeny: []string{"getcwd", "open", "iopl"}, ExtraAllow: []string{"sysv_ipc"}}, "", ""},
		{"unknown names", Syscalls{ExtraDeny: []string{"mount", "frobnicate", "GETPID", ""}}, "syscalls.extra_deny", `"frobnicate", "GETPID", ""`},
		{"trampoline", Syscalls{ExtraDeny: []string{"execve", "read", "getcwd"}}, "syscalls.extra_deny", "execve, read: cannot be denied"},
		{"unknown group", Syscalls{ExtraAllow: []string{"sysv_ipc", "ptrace", "sysv"}}, "syscalls.extra_allow", `"ptrace", "sysv": unknown system call group (known: sysv_ipc)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := Policy{Syscalls: tc.s}
			err := p.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			var pe *PolicyError
			if !errors.As(err, &pe) || pe.Field != tc.field || !strings.Contains(err.Error(), tc.value) {
				t.Fatalf("got %v, want a *PolicyError for %s mentioning %q", err, tc.field, tc.value)
			}
		})
	}
}

// TestCompileSeccomp covers the exported inspection API and its listing.
func TestCompileSeccomp(t *testing.T) {
	for _, opts := range []SeccompOptions{{Arch: "amd64"}, {Arch: "arm64"}, {Arch: "amd64", NoSupervisor: true}} {
		f, err := CompileSeccomp(Policy{}, opts)
		if err != nil {
			t.Fatal(err)
		}
		l := f.Listing()
		head := fmt.Sprintf("# seccomp filter for linux/%s: %d instructions (%d before optimization", opts.Arch, len(f.Program), f.Unoptimized)
		if !strings.HasPrefix(l, head) {
			t.Errorf("listing starts %q, want %q", strings.SplitN(l, "\n", 2)[0], head)
		}
		if !opts.NoSupervisor && (!strings.Contains(l, "; mount") || !strings.Contains(l, "; ioctl")) {
			t.Errorf("%s listing names no system calls:\n%s", opts.Arch, l)
		}
		// The listing parses back into the program (comments are ignored).
		body := l[strings.IndexByte(l, '\n')+1:]
		back, err := bpfasm.ParseText(body)
		if err != nil || !slices.Equal(back, f.Program) {
			t.Errorf("%s: listing does not parse back: %v", opts.Arch, err)
		}
	}
	if _, err := CompileSeccomp(Policy{}, SeccompOptions{Arch: "mips"}); !errors.Is(err, ErrNotSupported) {
		t.Errorf("mips: %v, want ErrNotSupported", err)
	}
	if _, err := CompileSeccomp(Policy{Syscalls: Syscalls{ExtraDeny: []string{"nope"}}}, SeccompOptions{}); err == nil {
		t.Errorf("bad policy compiled")
	}
}

// TestDenyListsKnown: every name in the lists exists on amd64 or arm64
// (a typo would silently deny nothing).
func TestDenyListsKnown(t *testing.T) {
	var all []string
	for _, g := range append(slices.Clone(defaultDeny), noSupervisorDeny...) {
		all = append(all, g.names...)
	}
	all = append(all, sysvIPC...)
	all = append(all, trampolineSyscalls...)
	for name := range specialRules(false, true) {
		all = append(all, name)
	}
	for _, n := range all {
		if !knownSyscall(n) {
			t.Errorf("%q is not a system call of amd64 or arm64", n)
		}
	}
	// The relaxed list is a subset of the default one.
	for _, n := range sortedNames(noSupervisorDeny) {
		if !inGroups(defaultDeny, n) {
			t.Errorf("%s is denied without a supervisor but not by default", n)
		}
	}
}

// BenchmarkCompileFilter measures compiling the default filter, which
// every Create does (before its cache).
func BenchmarkCompileFilter(b *testing.B) {
	cfg := filterConfig{arch: archFor("amd64")}
	for b.Loop() {
		if _, err := compileFilter(cfg); err != nil {
			b.Fatal(err)
		}
	}
}

// TestFilterCache: equal configurations share one compiled program, in
// whatever order the names come; different ones do not.
func TestFilterCache(t *testing.T) {
	a := archFor("amd64")
	f1, err := compileFilterCached(filterConfig{arch: a, extraDeny: []string{"getcwd", "uname", "getcwd"}})
	if err != nil {
		t.Fatal(err)
	}
	f2, _ := compileFilterCached(filterConfig{arch: a, extraDeny: []string{"uname", "getcwd"}})
	f3, _ := compileFilterCached(filterConfig{arch: a, extraDeny: []string{"uname"}})
	if f1 != f2 || f1 == f3 {
		t.Fatalf("cache: same config shared %v, different config shared %v", f1 == f2, f1 == f3)
	}
	want, _ := compileFilter(filterConfig{arch: a, extraDeny: []string{"uname"}})
	if !slices.Equal(f3.prog, want.prog) {
		t.Fatal("cached program differs from a fresh one")
	}
}

// TestFilterRejectsNotifyingTrampolineCalls: the child's own calls after the
// filter cannot be notified (nobody holds the listener yet); asking for it is
// an error, not a silent drop.
func TestFilterRejectsNotifyingTrampolineCalls(t *testing.T) {
	for _, name := range trampolineSyscalls {
		if slices.Contains(notifiableTrampoline, name) {
			continue // TestFilterNotifiesExec
		}
		cfg := filterConfig{notify: []string{"openat", name}}
		cfg.arch = archFor("amd64")
		if _, err := compileFilter(cfg); err == nil || !strings.Contains(err.Error(), name+" cannot be notified") {
			t.Errorf("notify %s: %v", name, err)
		}
	}
}

// TestFilterNotifiedCloneLetsThreadsThrough: with clone notified (the
// process limit), threads are allowed by the filter itself, processes go
// to the supervisor, and namespace flags stay denied even on a thread.
func TestFilterNotifiedCloneLetsThreadsThrough(t *testing.T) {
	const (
		thread  = 0x00010000 | 0x00000100 | 0x00000800 // CLONE_THREAD|CLONE_VM|CLONE_SIGHAND
		forkish = 17                                   // SIGCHLD
		newns   = 0x00020000                           // CLONE_NEWNS
	)
	for _, goarch := range []string{"amd64", "arm64"} {
		a := archFor(goarch)
		nr, _ := a.nr("clone")
		for _, tc := range []struct {
			notify []string
			flags  uint64
			want   bpfasm.Action
		}{
			{[]string{"clone"}, thread, bpfasm.ActionAllow},
			{[]string{"clone"}, forkish, bpfasm.ActionUserNotif},
			{[]string{"clone"}, newns | thread, bpfasm.Errno(errnoEPERM)},
			{nil, thread, bpfasm.ActionAllow},
			{nil, forkish, bpfasm.ActionAllow},
		} {
			_, in := mustCompile(t, filterConfig{arch: a, notify: tc.notify})
			got := bpfasm.Action(in.RunData(bpfasm.SeccompData{Nr: int32(nr), Arch: a.audit, Args: [6]uint64{tc.flags}}))
			if got != tc.want {
				t.Errorf("%s notify %v clone(%#x): %v, want %v", goarch, tc.notify, tc.flags, got, tc.want)
			}
		}
	}
}
