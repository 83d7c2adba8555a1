//go:build linux

package landlockabi

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// This file holds the only uses of unsafe in the package: passing struct
// pointers to the three Landlock system calls. Each conversion to uintptr
// happens inside the Syscall argument list, as the unsafe.Pointer rules
// require.

// createRuleset calls landlock_create_ruleset(attr, size, flags). A nil attr
// is passed as NULL.
func createRuleset(attr *RulesetAttr, size uintptr, flags uint32) (int, unix.Errno) {
	r, _, e := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET,
		uintptr(unsafe.Pointer(attr)), size, uintptr(flags))
	if e != 0 {
		return -1, e
	}
	return int(r), 0
}

// addPathBeneathRule calls landlock_add_rule(fd, LANDLOCK_RULE_PATH_BENEATH,
// attr, flags) with attr in the kernel's packed layout.
func addPathBeneathRule(fd int, attr *[SizeofPathBeneathAttr]byte, flags uint32) unix.Errno {
	_, _, e := unix.Syscall6(unix.SYS_LANDLOCK_ADD_RULE, uintptr(fd),
		LANDLOCK_RULE_PATH_BENEATH, uintptr(unsafe.Pointer(attr)), uintptr(flags), 0, 0)
	return e
}

// addNetPortRule calls landlock_add_rule(fd, LANDLOCK_RULE_NET_PORT, attr,
// flags).
func addNetPortRule(fd int, attr *NetPortAttr, flags uint32) unix.Errno {
	_, _, e := unix.Syscall6(unix.SYS_LANDLOCK_ADD_RULE, uintptr(fd),
		LANDLOCK_RULE_NET_PORT, uintptr(unsafe.Pointer(attr)), uintptr(flags), 0, 0)
	return e
}
