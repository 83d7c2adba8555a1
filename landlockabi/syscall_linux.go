package landlockabi

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// CreateRuleset calls landlock_create_ruleset(2) with the first size bytes
// of attr and returns the new ruleset fd. The kernel always creates it
// O_CLOEXEC. The caller closes it with unix.Close.
//
// Pass size = [AttrSize](abi) for the kernel's ABI: 8 on ABI 1–3, 16 on
// ABI 4–5, 24 on ABI 6 and later. A size larger than [SizeofRulesetAttr],
// or too small to carry a non-zero field of attr, is refused with an error
// that wraps unix.EINVAL before any system call, so that a protection is
// never silently cut off. flags must be 0 when attr is not nil; with a nil
// attr and size 0, prefer [ABIVersion] and [Errata].
//
// Kernel errors (each wrapped in a [*SyscallError]): EINVAL for an
// unknown right or scope, ENOMSG when attr handles nothing, ENOSYS or
// EOPNOTSUPP ([ErrNotSupported]) without Landlock.
func CreateRuleset(attr *RulesetAttr, size uintptr, flags uint32) (int, error) {
	const op = "landlock_create_ruleset"
	if attr != nil {
		if size > SizeofRulesetAttr {
			return -1, fmt.Errorf("%s: attr size %d is larger than struct landlock_ruleset_attr (%d bytes): %w",
				op, size, SizeofRulesetAttr, unix.EINVAL)
		}
		for _, f := range []struct {
			name string
			end  uintptr
			v    uint64
		}{
			{"handled_access_net", 16, attr.HandledAccessNet},
			{"scoped", 24, attr.Scoped},
		} {
			if f.v != 0 && size < f.end {
				return -1, fmt.Errorf("%s: attr size %d leaves out %s %#x (needs size %d): %w",
					op, size, f.name, f.v, f.end, unix.EINVAL)
			}
		}
	}
	fd, errno := createRuleset(attr, size, flags)
	if errno != 0 {
		e := syscallErr(op, errno)
		if errno == unix.ENOMSG {
			e.hint = "the ruleset handles no access right and no scope"
		}
		return -1, e
	}
	return fd, nil
}

// ABIVersion returns the highest Landlock ABI version the running kernel
// supports (landlock_create_ruleset(NULL, 0,
// LANDLOCK_CREATE_RULESET_VERSION)). Without Landlock it returns 0 and an
// error that is [ErrNotSupported] and still wraps unix.ENOSYS (not built
// in) or unix.EOPNOTSUPP (disabled at boot).
//
// N.B. The number can be higher than [MaxKnownABI]; the table functions
// treat such a version as [MaxKnownABI].
func ABIVersion() (int, error) {
	v, errno := createRuleset(nil, 0, LANDLOCK_CREATE_RULESET_VERSION)
	if errno != 0 {
		return 0, syscallErr("landlock_create_ruleset version", errno)
	}
	return v, nil
}

// Errata returns the bitmask of Landlock errata fixed in the running kernel
// (landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_ERRATA)). Each
// bit is a numbered fix; see the kernel's security/landlock/errata/ files.
// A kernel that predates the query answers EINVAL, and one without Landlock
// ENOSYS or EOPNOTSUPP: all three give an error that is [ErrNotSupported]
// and wraps the errno.
//
// Requires Linux 6.15 or a stable kernel with the query backported.
func Errata() (uint64, error) {
	v, errno := createRuleset(nil, 0, LANDLOCK_CREATE_RULESET_ERRATA)
	if errno != 0 {
		e := syscallErr("landlock_create_ruleset errata", errno)
		if errno == unix.EINVAL {
			e.unsupported, e.hint = true, "kernel predates the errata query"
		}
		return 0, e
	}
	return uint64(v), nil
}

// AddPathBeneathRule calls landlock_add_rule(2) with
// LANDLOCK_RULE_PATH_BENEATH: it allows access (LANDLOCK_ACCESS_FS_*
// rights) on the file hierarchy below parentFd, an fd preferably opened
// with O_PATH. The kernel does not keep parentFd; the caller may close it
// after the call.
//
// Kernel errors (each wrapped in a [*SyscallError]): EINVAL if access is
// not a subset of the ruleset's handled_access_fs, or if parentFd is not a
// directory and access holds more than [AccessFile]; ENOMSG if access is 0;
// EBADF or EBADFD for a bad fd.
func AddPathBeneathRule(rulesetFd int, access uint64, parentFd int) error {
	attr := PathBeneathAttr{AllowedAccess: access, ParentFd: int32(parentFd)}.Marshal()
	if errno := addPathBeneathRule(rulesetFd, &attr, 0); errno != 0 {
		return syscallErr("landlock_add_rule path-beneath", errno)
	}
	return nil
}

// AddNetPortRule calls landlock_add_rule(2) with LANDLOCK_RULE_NET_PORT: it
// allows access (LANDLOCK_ACCESS_NET_* rights) on TCP port port (host byte
// order).
//
// Kernel errors (each wrapped in a [*SyscallError]): EINVAL if access is
// not a subset of the ruleset's handled_access_net or port > 65535; ENOMSG
// if access is 0; EAFNOSUPPORT ([ErrNotSupported]) on a kernel without
// TCP/IP support.
//
// Requires Landlock ABI 4.
func AddNetPortRule(rulesetFd int, access uint64, port uint64) error {
	attr := NetPortAttr{AllowedAccess: access, Port: port}
	if errno := addNetPortRule(rulesetFd, &attr, 0); errno != 0 {
		e := syscallErr("landlock_add_rule net-port", errno)
		if errno == unix.EAFNOSUPPORT {
			e.unsupported, e.hint = true, "kernel built without TCP/IP"
		}
		return e
	}
	return nil
}

// RestrictSelf calls landlock_restrict_self(2): it enforces the ruleset
// rulesetFd on the calling thread, and on every process and thread it
// creates afterwards. flags are LANDLOCK_RESTRICT_SELF_* (0 before ABI 7;
// see [RestrictFlags]). The ruleset fd can be closed afterwards.
//
// Preconditions:
//   - The thread has no_new_privs set (prctl(PR_SET_NO_NEW_PRIVS, 1)), or
//     CAP_SYS_ADMIN in its user namespace; otherwise EPERM.
//
// Warning: Landlock restricts only the calling thread. In a Go program
// other threads stay unrestricted: call it from the thread that will
// execve (after runtime.LockOSThread), or on every thread with
// syscall.AllThreadsSyscall (setting no_new_privs the same way).
//
// Kernel errors (each wrapped in a [*SyscallError]): EPERM (see above),
// EINVAL for an unknown flag, EBADF or EBADFD for a bad fd, E2BIG when the
// thread already has 16 stacked domains.
func RestrictSelf(rulesetFd int, flags uint32) error {
	_, _, errno := unix.Syscall(unix.SYS_LANDLOCK_RESTRICT_SELF, uintptr(rulesetFd), uintptr(flags), 0)
	if errno != 0 {
		e := syscallErr("landlock_restrict_self", errno)
		if errno == unix.EPERM {
			e.hint = "needs no_new_privs or CAP_SYS_ADMIN"
		}
		return e
	}
	return nil
}
