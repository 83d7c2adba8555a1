package sandlock

import (
	"slices"

	"github.com/sandlock-go/sandlock-go/bpfasm"
)

// Linux constants the filter compares with. They are the same on amd64 and
// arm64 (asm-generic) and are spelled out here, not taken from x/sys/unix,
// so that filters for either architecture compile on any GOOS; a Linux test
// checks each against x/sys/unix.
const (
	errnoEPERM        = 1  // EPERM
	errnoENOSYS       = 38 // ENOSYS
	errnoEAFNOSUPPORT = 97 // EAFNOSUPPORT
	errnoEOPNOTSUPP   = 95 // EOPNOTSUPP

	afUNIX    = 1  // AF_UNIX
	afINET    = 2  // AF_INET
	afINET6   = 10 // AF_INET6
	afNETLINK = 16 // AF_NETLINK

	netlinkRoute = 0 // NETLINK_ROUTE

	// sockaddrNLLen is sizeof(struct sockaddr_nl): a bind whose address
	// length is this is notified when netlink is virtual (no INET, INET6
	// or usual unix address has that length).
	sockaddrNLLen = 12

	sockStream   = 1   // SOCK_STREAM
	sockDgram    = 2   // SOCK_DGRAM
	sockTypeMask = 0xf // SOCK_TYPE_MASK (net/socket.c): the rest are flags

	// cloneNamespaces is CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS |
	// CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET, the
	// namespace flags clone(2) can carry (CLONE_NEWTIME is a CSIGNAL bit
	// there and only reachable through clone3 and unshare).
	cloneNamespaces = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 |
		0x10000000 | 0x20000000 | 0x40000000

	cloneThreadFlag = 0x00010000 // CLONE_THREAD

	// cloneParentFlag is CLONE_PARENT: the new process would be the
	// caller's sibling; for the sandbox's first process, a child of the
	// supervisor's process, outside the sandbox's tree and process
	// accounting. Denied in every sandbox (upstream too refuses it).
	cloneParentFlag = 0x00008000

	prSetDumpable   = 4          // PR_SET_DUMPABLE
	prSetSecurebits = 28         // PR_SET_SECUREBITS
	prSetPtracer    = 0x59616d61 // PR_SET_PTRACER

	personalityQuery = 0xffffffff // personality(0xffffffff) only reads the persona

	msgFastOpenFlag = 0x20000000 // MSG_FASTOPEN

	solIP          = 0  // SOL_IP
	ipOptions      = 4  // IP_OPTIONS
	solIPv6        = 41 // SOL_IPV6
	ipv6_2292RTHDR = 5  // IPV6_2292RTHDR
	ipv6RTHDR      = 57 // IPV6_RTHDR

	// ipv6_2292PKTOPTIONS sets sticky IPv6 options from a control
	// message buffer (a routing header among them), and
	// ipv6FlowlabelMgr creates flow labels that carry options: both
	// reach the routing header without IPV6_RTHDR.
	ipv6_2292PKTOPTIONS = 6  // IPV6_2292PKTOPTIONS
	ipv6FlowlabelMgr    = 32 // IPV6_FLOWLABEL_MGR

	sockProtoDefault = 0  // the family's default protocol
	sockProtoICMP    = 1  // IPPROTO_ICMP
	sockProtoTCP     = 6  // IPPROTO_TCP
	sockProtoUDP     = 17 // IPPROTO_UDP
	sockProtoICMPV6  = 58 // IPPROTO_ICMPV6
)

// fastOpenFlagsArg is the flags argument of each sending call: MSG_FASTOPEN
// there makes a TCP connect that Landlock's connect hook never sees
// (tcp_sendmsg_fastopen calls __inet_stream_connect directly).
var fastOpenFlagsArg = map[string]int{"sendto": 3, "sendmsg": 2, "sendmmsg": 3}

// deniedIoctls are the ioctl commands the filter fails with EPERM: TIOCSTI
// (push input into the terminal: commands typed into the parent's shell),
// TIOCLINUX (the same on the Linux console, and console selection), and the
// SIOCGIF* queries and SIOCETHTOOL, which describe the host's network
// interfaces (netlink still answers those until the supervisor virtualises
// it), USERFAULTFD_IOC_NEW, which makes a userfaultfd out of
// /dev/userfaultfd, and the inode flag setters (chattr). Values from include/uapi/asm-generic/ioctls.h and
// include/uapi/linux/sockios.h; sorted.
var deniedIoctls = []uint32{
	0x5412, // TIOCSTI
	0x541c, // TIOCLINUX
	0x8910, // SIOCGIFNAME
	0x8912, // SIOCGIFCONF
	0x8913, // SIOCGIFFLAGS
	0x8915, // SIOCGIFADDR
	0x8917, // SIOCGIFDSTADDR
	0x8919, // SIOCGIFBRDADDR
	0x891b, // SIOCGIFNETMASK
	0x891d, // SIOCGIFMETRIC
	0x891f, // SIOCGIFMEM
	0x8921, // SIOCGIFMTU
	0x8925, // SIOCGIFENCAP
	0x8927, // SIOCGIFHWADDR
	0x8929, // SIOCGIFSLAVE
	0x8933, // SIOCGIFINDEX
	0x8935, // SIOCGIFPFLAGS
	0x8938, // SIOCGIFCOUNT
	0x8940, // SIOCGIFBR
	0x8942, // SIOCGIFTXQLEN
	0x8946, // SIOCETHTOOL
	0x8970, // SIOCGIFMAP
	0xaa00, // USERFAULTFD_IOC_NEW on /dev/userfaultfd: the userfaultfd(2) denial by another door
	// Inode flags and attributes: the kernel asks only for ownership and a
	// writable mount, not write access to the file, so a sandbox could
	// chattr (+d, +A, +S, ...) files it may only read. Denied outright;
	// a check of the write grant (as the metadata interception makes for
	// chmod) would need the ioctl notified.
	0x40046602, // FS_IOC32_SETFLAGS
	0x40047602, // FS_IOC32_SETVERSION
	0x40086602, // FS_IOC_SETFLAGS
	0x40087602, // FS_IOC_SETVERSION
	0x401c5820, // FS_IOC_FSSETXATTR
}

// deniedPrctls are the prctl options the filter fails with EPERM:
// PR_SET_DUMPABLE (the supervisor needs the process dumpable to read its
// memory), PR_SET_SECUREBITS and PR_SET_PTRACER (Yama exceptions).
var deniedPrctls = []uint32{prSetDumpable, prSetSecurebits, prSetPtracer}

// denyGroup is a list of system calls denied with EPERM for one reason.
type denyGroup struct {
	reason string
	names  []string
}

// defaultDeny is the deny list of every sandbox: upstream sandlock's
// DEFAULT_BLOCKLIST_SYSCALLS plus what it misses (the clock setters,
// syslog, chroot, kexec_file_load, quotactl_fd, the new mount API).
// personality is not here: it has an argument filter (queries pass).
// Names an architecture does not have are skipped there.
var defaultDeny = []denyGroup{
	{"mounts and root changes would rewrite the paths Landlock judges", []string{
		"mount", "umount2", "pivot_root", "chroot",
		"fsopen", "fsconfig", "fsmount", "fspick", "open_tree", "open_tree_attr", "move_mount", "mount_setattr"}},
	{"namespaces: a new user or mount namespace escapes the policy's assumptions", []string{
		"unshare", "setns"}},
	{"host administration", []string{
		"swapon", "swapoff", "reboot", "kexec_load", "kexec_file_load", "sethostname", "setdomainname",
		"quotactl", "quotactl_fd", "acct", "nfsservctl", "lookup_dcookie"}},
	{"the host clock", []string{"clock_settime", "settimeofday", "adjtimex", "clock_adjtime"}},
	{"the kernel log", []string{"syslog"}},
	{"kernel modules", []string{"init_module", "finit_module", "delete_module"}},
	{"kernel attack surface that seccomp cannot see into", []string{
		"perf_event_open", "bpf", "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register",
		"fanotify_init", "modify_ldt", "uselib"}},
	{"kernel keyrings are not namespaced", []string{"keyctl", "add_key", "request_key"}},
	{"other processes' memory", []string{"ptrace", "process_vm_readv", "process_vm_writev"}},
	{"opening files by handle bypasses path checks", []string{"open_by_handle_at", "name_to_handle_at"}},
	{"I/O ports", []string{"ioperm", "iopl"}},
}

// noSupervisorDeny is the deny list of ExecNoSupervisor: upstream's
// NO_SUPERVISOR_BLOCKLIST_SYSCALLS, relaxed so that a full sandbox (which
// needs seccomp, Landlock, clone and pidfds) can run inside, plus the
// calls of the same kind that upstream misses (kexec_file_load, the clock
// setters, syslog).
var noSupervisorDeny = []denyGroup{
	{"host administration", []string{"swapon", "swapoff", "reboot", "kexec_load", "kexec_file_load"}},
	{"the host clock", []string{"clock_settime", "settimeofday", "adjtimex", "clock_adjtime"}},
	{"the kernel log", []string{"syslog"}},
	{"kernel modules", []string{"init_module", "finit_module", "delete_module"}},
	{"kernel attack surface that seccomp cannot see into", []string{
		"perf_event_open", "bpf", "io_uring_setup", "io_uring_enter", "io_uring_register"}},
	{"I/O ports", []string{"ioperm", "iopl"}},
}

// SyscallGroupSysVIPC is the group of Syscalls.ExtraAllow that re-allows
// SysV IPC.
const SyscallGroupSysVIPC = "sysv_ipc"

// sysvIPC is the SysV IPC group, denied unless Syscalls.ExtraAllow names
// SyscallGroupSysVIPC: without an IPC namespace the keys are shared with the
// host. POSIX shared memory and message queues are files and are covered by
// Landlock.
var sysvIPC = []string{
	"shmget", "shmat", "shmdt", "shmctl",
	"msgget", "msgsnd", "msgrcv", "msgctl",
	"semget", "semop", "semctl", "semtimedop",
}

// trampolineSyscalls are the system calls the sandbox's child makes after
// its filter is installed (send READY, park in read, restore the signal
// mask, execve; on failure write and exit_group) and that ExecNoSupervisor
// makes after installing its own. Every filter allows them; policies
// cannot deny them.
var trampolineSyscalls = []string{
	"sendmsg", "read", "write", "rt_sigprocmask", "execve", "execveat", "exit_group",
}

// notifiableTrampoline are the trampoline's calls that a built-in feature
// may have notified: the child makes them only after Start, when its
// supervisor is already running (the program's execve). The others come
// before anyone holds the listener and can never be notified.
var notifiableTrampoline = []string{"execve", "execveat"}

// verdict is what a rule decides: a seccomp action, or pass, which means
// the system call's base action (ALLOW, or USER_NOTIF for system calls the
// supervisor handles).
type verdict struct {
	pass   bool
	action bpfasm.Action
}

var pass = verdict{pass: true}

func deny(errno uint16) verdict { return verdict{action: bpfasm.Errno(errno)} }

// testOp is how an argTest compares.
type testOp uint8

const (
	// testIn holds when (arg & mask) is one of vals.
	testIn testOp = iota + 1
	// testAny holds when arg & mask is not zero.
	testAny
)

// argTest is a test on the low 32 bits of one argument. Every argument the
// filter looks at is one the kernel truncates to 32 bits (an int or an
// unsigned int, or clone's flags, of which kernel_clone keeps the low half),
// so the high half is ignored on purpose: comparing all 64 bits would let
// ioctl(fd, TIOCSTI | 1<<32) through (CVE-2019-10063).
type argTest struct {
	arg  int
	op   testOp
	mask uint32
	vals []uint32 // testIn: sorted, distinct
}

// argRule decides verdict when all its tests hold.
type argRule struct {
	tests   []argTest
	verdict verdict
}

// syscallRule is the filter's decision for one system call: the first rule
// whose tests all hold decides, otherwise def.
type syscallRule struct {
	rules []argRule
	def   verdict
}

// denied reports whether the rule denies the call whatever its arguments.
func (r syscallRule) denied() bool { return len(r.rules) == 0 && !r.def.pass }

// filterConfig is everything the compiler reads, resolved from a policy.
type filterConfig struct {
	arch *filterArch
	// noSupervisor selects the deny-only filter of ExecNoSupervisor:
	// the relaxed list, no argument filters, no clone3 override.
	noSupervisor bool
	// extraDeny are system call names denied with EPERM on top.
	extraDeny []string
	// sysvIPC re-allows the SysV IPC group.
	sysvIPC bool
	// allowDatagram lets INET and INET6 SOCK_DGRAM sockets (UDP, ICMP
	// ping sockets) through; the network layer sets it.
	allowDatagram bool
	// netlinkVirtual notifies socket(AF_NETLINK, *, NETLINK_ROUTE) and
	// bind(fd, addr, sizeof(struct sockaddr_nl)) for the supervisor's
	// virtual netlink (netvirt.go); their base action stays. Without it
	// every AF_NETLINK socket fails with EAFNOSUPPORT.
	netlinkVirtual bool
	// notify are system calls whose base action is USER_NOTIF, for the
	// supervisor. Denials win over notification.
	notify []string
	// sendmsgFree says that the child makes no sendmsg after its filter
	// (its listener reaches the parent by pidfd_getfd, READY is a
	// write), so sendmsg may be notified: the network policy needs it.
	sendmsgFree bool
	// noSourceRoute denies the socket options that route packets through
	// an address other than the destination (IPv4 source routing options,
	// IPv6 routing headers), for policies whose destinations the
	// supervisor checks.
	noSourceRoute bool
}

// sourceRouteOptions are setsockopt(level, optname) pairs that make
// packets travel through an address the destination check never saw: IPv4
// IP_OPTIONS (loose/strict source routing sends to the route's first hop)
// and IPv6 routing headers (IPV6_RTHDR, IPV6_2292RTHDR, and the two ways
// around them: IPV6_2292PKTOPTIONS, IPV6_FLOWLABEL_MGR).
var sourceRouteOptions = []argRule{
	{tests: []argTest{{arg: 1, op: testIn, mask: 0xffffffff, vals: []uint32{solIP}},
		{arg: 2, op: testIn, mask: 0xffffffff, vals: []uint32{ipOptions}}}, verdict: deny(errnoEPERM)},
	{tests: []argTest{{arg: 1, op: testIn, mask: 0xffffffff, vals: []uint32{solIPv6}},
		{arg: 2, op: testIn, mask: 0xffffffff, vals: []uint32{ipv6_2292RTHDR, ipv6_2292PKTOPTIONS, ipv6FlowlabelMgr, ipv6RTHDR}}}, verdict: deny(errnoEPERM)},
}

// trampolineCalls are the calls the child makes after its filter under
// cfg: trampolineSyscalls, without sendmsg when cfg.sendmsgFree.
func (cfg *filterConfig) trampolineCalls() []string {
	if !cfg.sendmsgFree {
		return trampolineSyscalls
	}
	return slices.DeleteFunc(slices.Clone(trampolineSyscalls), func(n string) bool { return n == "sendmsg" })
}

// notify is the verdict of an argument rule that hands the call to the
// supervisor whatever the call's base action.
var notify = verdict{action: bpfasm.ActionUserNotif}

// specialRules are the argument filters of a sandbox's filter, by name.
func specialRules(allowDatagram, netlinkVirtual bool) map[string]syscallRule {
	inet := argTest{arg: 0, op: testIn, mask: 0xffffffff, vals: []uint32{afINET, afINET6}}
	stream := []argTest{inet, {arg: 1, op: testIn, mask: sockTypeMask, vals: []uint32{sockStream}},
		{arg: 2, op: testIn, mask: 0xffffffff, vals: []uint32{sockProtoDefault, sockProtoTCP}}}
	dgram := []argTest{inet, {arg: 1, op: testIn, mask: sockTypeMask, vals: []uint32{sockDgram}},
		{arg: 2, op: testIn, mask: 0xffffffff, vals: []uint32{sockProtoDefault, sockProtoICMP, sockProtoUDP, sockProtoICMPV6}}}
	socket := []argRule{{tests: []argTest{{arg: 0, op: testIn, mask: 0xffffffff, vals: []uint32{afUNIX}}}, verdict: pass}}
	if netlinkVirtual {
		socket = append(socket, argRule{tests: []argTest{
			{arg: 0, op: testIn, mask: 0xffffffff, vals: []uint32{afNETLINK}},
			{arg: 2, op: testIn, mask: 0xffffffff, vals: []uint32{netlinkRoute}},
		}, verdict: notify})
	}
	socket = append(socket, argRule{tests: stream, verdict: pass})
	if allowDatagram {
		socket = append(socket, argRule{tests: dgram, verdict: pass})
	}
	socket = append(socket, argRule{tests: []argTest{inet}, verdict: deny(errnoEPERM)})
	rules := map[string]syscallRule{
		// clone3's flags are in memory, where BPF cannot look: ENOSYS
		// makes libc and Go fall back to clone, whose flags it can.
		"clone3": {def: deny(errnoENOSYS)},
		"clone": {rules: []argRule{
			{tests: []argTest{{arg: 0, op: testAny, mask: cloneNamespaces | cloneParentFlag}}, verdict: deny(errnoEPERM)},
		}, def: pass},
		"ioctl": {rules: []argRule{
			{tests: []argTest{{arg: 1, op: testIn, mask: 0xffffffff, vals: deniedIoctls}}, verdict: deny(errnoEPERM)},
		}, def: pass},
		"prctl": {rules: []argRule{
			{tests: []argTest{{arg: 0, op: testIn, mask: 0xffffffff, vals: deniedPrctls}}, verdict: deny(errnoEPERM)},
		}, def: pass},
		"personality": {rules: []argRule{
			{tests: []argTest{{arg: 0, op: testIn, mask: 0xffffffff, vals: []uint32{personalityQuery}}}, verdict: pass},
		}, def: deny(errnoEPERM)},
		// socket(domain, type, protocol): UNIX passes; NETLINK_ROUTE
		// goes to the supervisor's virtual netlink when there is one; on
		// INET and INET6 only TCP streams (protocol 0 or IPPROTO_TCP)
		// and, when the network policy allows UDP or ICMP, UDP and ping
		// datagram sockets pass. Raw sockets, MPTCP, SCTP and SMC
		// (transports Landlock's TCP rights do not cover), and the
		// obsolete (INET, SOCK_PACKET), which the kernel turns into a
		// packet socket, fail with EPERM; other families, and every
		// other netlink protocol, fail with EAFNOSUPPORT, as if the
		// kernel lacked them.
		"socket": {rules: socket, def: deny(errnoEAFNOSUPPORT)},
		// socketpair(domain, ...): the kernel creates the sockets (loading
		// the family's module) before it checks that the family supports
		// pairs, so it is the socket rule's back door: only AF_UNIX passes.
		"socketpair": {rules: []argRule{
			{tests: []argTest{{arg: 0, op: testIn, mask: 0xffffffff, vals: []uint32{afUNIX}}}, verdict: pass},
		}, def: deny(errnoEAFNOSUPPORT)},
	}
	if netlinkVirtual {
		// bind(fd, addr, len): the virtual netlink socket is an AF_UNIX
		// socket that cannot take a sockaddr_nl itself.
		rules["bind"] = syscallRule{rules: []argRule{
			{tests: []argTest{{arg: 2, op: testIn, mask: 0xffffffff, vals: []uint32{sockaddrNLLen}}}, verdict: notify},
		}, def: pass}
	}
	return rules
}

// buildRules resolves cfg into a rule per system call number that is not
// plainly allowed, and the base action of each notified number.
func buildRules(cfg filterConfig) (rules map[int]syscallRule, notified map[int]bool) {
	a := cfg.arch
	rules = make(map[int]syscallRule)
	set := func(name string, r syscallRule) {
		if nr, ok := a.nr(name); ok {
			rules[nr] = r
		}
	}
	denyAll := func(groups []denyGroup) {
		for _, g := range groups {
			for _, n := range g.names {
				set(n, syscallRule{def: deny(errnoEPERM)})
			}
		}
	}
	if cfg.noSupervisor {
		denyAll(noSupervisorDeny)
		// The program runs in the caller's terminal session: TIOCSTI would
		// type into the caller's shell. The ioctl rule costs a nested
		// sandbox nothing.
		set("ioctl", specialRules(false, false)["ioctl"])
	} else {
		for name, r := range specialRules(cfg.allowDatagram, cfg.netlinkVirtual) {
			set(name, r)
		}
		denyAll(defaultDeny)
	}
	if !cfg.sysvIPC {
		denyAll([]denyGroup{{names: sysvIPC}})
	}
	if cfg.noSourceRoute && !cfg.noSupervisor {
		set("setsockopt", syscallRule{rules: sourceRouteOptions, def: pass})
	}
	// extra_deny replaces argument filters with a plain EPERM, and leaves
	// what is already denied as it is (clone3 keeps ENOSYS, which libc
	// understands).
	for _, n := range cfg.extraDeny {
		if nr, ok := a.nr(n); ok {
			if r, ok := rules[nr]; !ok || !r.denied() {
				rules[nr] = syscallRule{def: deny(errnoEPERM)}
			}
		}
	}
	notified = make(map[int]bool)
	for _, n := range cfg.notify {
		if nr, ok := a.nr(n); ok {
			notified[nr] = true
		}
	}
	// A notified clone still lets threads through without a round trip to
	// the supervisor: CLONE_THREAD makes no process.
	if nr, ok := a.nr("clone"); ok && notified[nr] && !cfg.noSupervisor {
		if r, ok := rules[nr]; ok && !r.denied() {
			r.rules = append(slices.Clone(r.rules), argRule{
				tests:   []argTest{{arg: 0, op: testAny, mask: cloneThreadFlag}},
				verdict: verdict{action: bpfasm.ActionAllow},
			})
			rules[nr] = r
		}
	}
	// A notified sendto without an address (send(2), addrlen 0) is let
	// through: the kernel then uses no address at all. Only the register
	// is read, so the supervisor would have nothing to decide.
	if nr, ok := a.nr("sendto"); ok && notified[nr] && !cfg.noSupervisor {
		if r, ok := rules[nr]; !ok || !r.denied() {
			r.def = pass
			r.rules = append(slices.Clone(r.rules), argRule{
				tests:   []argTest{{arg: 5, op: testIn, mask: 0xffffffff, vals: []uint32{0}}},
				verdict: verdict{action: bpfasm.ActionAllow},
			})
			rules[nr] = r
		}
	}
	// The trampoline's calls are never touched (Validate rejects them in
	// extra_deny; this is the backstop).
	for _, n := range cfg.trampolineCalls() {
		if nr, ok := a.nr(n); ok {
			delete(rules, nr)
			if !slices.Contains(notifiableTrampoline, n) {
				delete(notified, nr)
			}
		}
	}
	// TCP Fast Open through a sending call that the supervisor does not
	// see is refused with EOPNOTSUPP (what a kernel without TFO says;
	// programs fall back to connect, which Landlock judges). The
	// trampoline's own sendmsg (flags MSG_NOSIGNAL) never matches.
	for name, arg := range fastOpenFlagsArg {
		nr, ok := a.nr(name)
		if !ok || notified[nr] {
			continue
		}
		if r, ok := rules[nr]; !ok || !r.denied() {
			r.def = pass
			r.rules = append([]argRule{{
				tests:   []argTest{{arg: arg, op: testAny, mask: msgFastOpenFlag}},
				verdict: deny(errnoEOPNOTSUPP),
			}}, r.rules...)
			rules[nr] = r
		}
	}
	return rules, notified
}

// sortedNames returns the names of groups, sorted, for documentation.
func sortedNames(groups []denyGroup) []string {
	var out []string
	for _, g := range groups {
		out = append(out, g.names...)
	}
	slices.Sort(out)
	return out
}
