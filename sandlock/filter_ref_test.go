package sandlock

import (
	"slices"

	"github.com/sandlock-go/sandlock-go/bpfasm"
)

// This file is the reference model of the seccomp filter: what the policy
// says, written directly from docs/design.md as plain Go over a
// seccomp_data, without rules, intervals or BPF. The tests and fuzz targets
// compare the compiled program, run in bpfasm's interpreter, with it.

var (
	refAllow      = bpfasm.ActionAllow
	refNotify     = bpfasm.ActionUserNotif
	refKill       = bpfasm.ActionKillProcess
	refEPERM      = bpfasm.Errno(1)
	refENOSYS     = bpfasm.Errno(38)
	refEAFNOSUPP  = bpfasm.Errno(97)
	refEOPNOTSUPP = bpfasm.Errno(95)
)

func inGroups(groups []denyGroup, name string) bool {
	for _, g := range groups {
		if slices.Contains(g.names, name) {
			return true
		}
	}
	return false
}

// refVerdict is the action the filter for cfg must return for d.
func refVerdict(cfg filterConfig, d bpfasm.SeccompData) bpfasm.Action {
	a := cfg.arch
	if d.Arch != a.audit {
		return refKill // i386 int 0x80, arm32, anything foreign
	}
	nr := uint32(d.Nr)
	if nr > uint32(a.maxNr()) {
		if a.x32 && nr != 0xffffffff && nr&0x40000000 != 0 {
			return refKill // x32
		}
		return refENOSYS // newer than the table, or -1
	}
	name := a.name(int(nr))
	if name == "" {
		return refAllow // a hole in the table: the kernel says ENOSYS itself
	}
	if slices.Contains(cfg.trampolineCalls(), name) {
		if name == "sendmsg" && uint32(d.Args[2])&0x20000000 != 0 {
			return refEOPNOTSUPP // TCP Fast Open (the trampoline never sets it)
		}
		return refAllow
	}
	base := refAllow
	if slices.Contains(cfg.notify, name) {
		base = refNotify
	}
	low := func(i int) uint32 { return uint32(d.Args[i]) }
	sysv := !cfg.sysvIPC && slices.Contains(sysvIPC, name)
	extra := slices.Contains(cfg.extraDeny, name)

	// TCP Fast Open on a sending call the supervisor does not see.
	if arg, ok := map[string]int{"sendto": 3, "sendmsg": 2, "sendmmsg": 3}[name]; ok && base == refAllow &&
		!extra && low(arg)&0x20000000 != 0 {
		return refEOPNOTSUPP
	}
	if cfg.noSupervisor {
		if inGroups(noSupervisorDeny, name) || sysv || extra {
			return refEPERM
		}
		if name == "ioctl" && slices.Contains(deniedIoctls, low(1)) {
			return refEPERM
		}
		return base
	}
	if name == "clone3" {
		return refENOSYS
	}
	if inGroups(defaultDeny, name) || sysv || extra {
		return refEPERM
	}
	switch name {
	case "clone":
		if low(0)&0x7e028000 != 0 { // CLONE_NEW* and CLONE_PARENT
			return refEPERM
		}
		if low(0)&0x10000 != 0 && !extra {
			return refAllow // threads are never notified
		}
	case "ioctl":
		if slices.Contains(deniedIoctls, low(1)) {
			return refEPERM
		}
	case "prctl":
		if slices.Contains(deniedPrctls, low(0)) {
			return refEPERM
		}
	case "personality":
		if low(0) != 0xffffffff {
			return refEPERM
		}
	case "setsockopt":
		if cfg.noSourceRoute && (low(1) == 0 && low(2) == 4 || low(1) == 41 && (low(2) == 5 || low(2) == 57)) {
			return refEPERM // source routing
		}
	case "sendto":
		if base == refNotify && low(5) == 0 {
			return refAllow // no address: nothing to decide
		}
	case "socketpair":
		if low(0) != 1 { // AF_UNIX
			return refEAFNOSUPP
		}
	case "bind":
		if cfg.netlinkVirtual && low(2) == 12 { // sizeof(struct sockaddr_nl)
			return refNotify
		}
	case "socket":
		switch low(0) {
		case 1: // AF_UNIX
		case 16: // AF_NETLINK: only NETLINK_ROUTE, only to the virtual netlink
			if !cfg.netlinkVirtual || low(2) != 0 {
				return refEAFNOSUPP
			}
			return refNotify
		case 2, 10: // AF_INET, AF_INET6
			switch low(1) & 0xf {
			case 1: // SOCK_STREAM: TCP only (not MPTCP, SCTP, SMC)
				if low(2) != 0 && low(2) != 6 {
					return refEPERM
				}
			case 2: // SOCK_DGRAM: UDP and ping sockets
				if !cfg.allowDatagram || !slices.Contains([]uint32{0, 1, 17, 58}, low(2)) {
					return refEPERM
				}
			default:
				return refEPERM
			}
		default:
			return refEAFNOSUPP
		}
	}
	return base
}

// refArgFree reports whether the verdict for nr on the native architecture
// depends on nothing but nr, and is ALLOW: then the kernel's action cache
// must be able to skip the filter.
func refArgFree(cfg filterConfig, nr int) bool {
	name := cfg.arch.name(nr)
	if name == "" || slices.Contains(cfg.trampolineCalls(), name) && name != "sendmsg" {
		return true
	}
	if slices.Contains(cfg.notify, name) || slices.Contains(cfg.extraDeny, name) ||
		(!cfg.sysvIPC && slices.Contains(sysvIPC, name)) {
		return false
	}
	if cfg.noSupervisor {
		return !inGroups(noSupervisorDeny, name) && !slices.Contains([]string{"ioctl", "sendto", "sendmsg", "sendmmsg"}, name)
	}
	switch name {
	case "clone3", "clone", "ioctl", "prctl", "personality", "socket", "socketpair", "sendto", "sendmsg", "sendmmsg":
		return false
	case "bind":
		return !cfg.netlinkVirtual
	case "setsockopt":
		return !cfg.noSourceRoute
	}
	return !inGroups(defaultDeny, name)
}
