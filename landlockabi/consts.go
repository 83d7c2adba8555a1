//go:build linux

package landlockabi

import "golang.org/x/sys/unix"

// Filesystem access rights (enum LANDLOCK_ACCESS_FS_* in
// include/uapi/linux/landlock.h). They are the values of
// landlock_ruleset_attr.handled_access_fs and
// landlock_path_beneath_attr.allowed_access.
const (
	LANDLOCK_ACCESS_FS_EXECUTE     = unix.LANDLOCK_ACCESS_FS_EXECUTE     // Execute a file.
	LANDLOCK_ACCESS_FS_WRITE_FILE  = unix.LANDLOCK_ACCESS_FS_WRITE_FILE  // Open a file with write access.
	LANDLOCK_ACCESS_FS_READ_FILE   = unix.LANDLOCK_ACCESS_FS_READ_FILE   // Open a file with read access.
	LANDLOCK_ACCESS_FS_READ_DIR    = unix.LANDLOCK_ACCESS_FS_READ_DIR    // Open a directory or list its content.
	LANDLOCK_ACCESS_FS_REMOVE_DIR  = unix.LANDLOCK_ACCESS_FS_REMOVE_DIR  // Remove an empty directory or rename one.
	LANDLOCK_ACCESS_FS_REMOVE_FILE = unix.LANDLOCK_ACCESS_FS_REMOVE_FILE // Unlink or rename a file.
	LANDLOCK_ACCESS_FS_MAKE_CHAR   = unix.LANDLOCK_ACCESS_FS_MAKE_CHAR   // Create, rename or link a character device.
	LANDLOCK_ACCESS_FS_MAKE_DIR    = unix.LANDLOCK_ACCESS_FS_MAKE_DIR    // Create or rename a directory.
	LANDLOCK_ACCESS_FS_MAKE_REG    = unix.LANDLOCK_ACCESS_FS_MAKE_REG    // Create, rename or link a regular file.
	LANDLOCK_ACCESS_FS_MAKE_SOCK   = unix.LANDLOCK_ACCESS_FS_MAKE_SOCK   // Create, rename or link a UNIX domain socket.
	LANDLOCK_ACCESS_FS_MAKE_FIFO   = unix.LANDLOCK_ACCESS_FS_MAKE_FIFO   // Create, rename or link a named pipe.
	LANDLOCK_ACCESS_FS_MAKE_BLOCK  = unix.LANDLOCK_ACCESS_FS_MAKE_BLOCK  // Create, rename or link a block device.
	LANDLOCK_ACCESS_FS_MAKE_SYM    = unix.LANDLOCK_ACCESS_FS_MAKE_SYM    // Create, rename or link a symbolic link.

	// LANDLOCK_ACCESS_FS_REFER allows linking or renaming a file from or to
	// a different directory. Unlike every other right, reparenting is denied
	// by any filesystem ruleset even when REFER is not handled; see the
	// package comment. Requires Landlock ABI 2.
	LANDLOCK_ACCESS_FS_REFER = unix.LANDLOCK_ACCESS_FS_REFER

	// LANDLOCK_ACCESS_FS_TRUNCATE allows truncate(2), ftruncate(2),
	// creat(2) and open(2) with O_TRUNC. Requires Landlock ABI 3.
	LANDLOCK_ACCESS_FS_TRUNCATE = unix.LANDLOCK_ACCESS_FS_TRUNCATE

	// LANDLOCK_ACCESS_FS_IOCTL_DEV allows ioctl(2) on character and block
	// devices opened after the ruleset is enforced. Requires Landlock ABI 5.
	LANDLOCK_ACCESS_FS_IOCTL_DEV = unix.LANDLOCK_ACCESS_FS_IOCTL_DEV
)

// Network access rights (enum LANDLOCK_ACCESS_NET_*). They are the values of
// landlock_ruleset_attr.handled_access_net and
// landlock_net_port_attr.allowed_access. Requires Landlock ABI 4.
const (
	LANDLOCK_ACCESS_NET_BIND_TCP    = unix.LANDLOCK_ACCESS_NET_BIND_TCP    // Bind a TCP socket to a local port.
	LANDLOCK_ACCESS_NET_CONNECT_TCP = unix.LANDLOCK_ACCESS_NET_CONNECT_TCP // Connect a TCP socket to a remote port.
)

// Scopes (LANDLOCK_SCOPE_*), the values of landlock_ruleset_attr.scoped.
// A scoped domain cannot reach the resource in a process outside it.
// Requires Landlock ABI 6.
const (
	// LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET denies connecting to (or sending a
	// datagram to) an abstract UNIX socket created outside the domain.
	LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET = unix.LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET
	// LANDLOCK_SCOPE_SIGNAL denies sending a signal to a process outside
	// the domain (kill(2) then fails with EPERM).
	LANDLOCK_SCOPE_SIGNAL = unix.LANDLOCK_SCOPE_SIGNAL
)

// Flags of landlock_create_ruleset(2).
const (
	// LANDLOCK_CREATE_RULESET_VERSION, with a NULL attr and size 0, makes
	// landlock_create_ruleset return the highest supported ABI version.
	LANDLOCK_CREATE_RULESET_VERSION = unix.LANDLOCK_CREATE_RULESET_VERSION
	// LANDLOCK_CREATE_RULESET_ERRATA, with a NULL attr and size 0, makes
	// landlock_create_ruleset return the bitmask of fixed errata. Kernels
	// that predate it (before Linux 6.15 and its stable backports) answer
	// EINVAL.
	LANDLOCK_CREATE_RULESET_ERRATA = unix.LANDLOCK_CREATE_RULESET_ERRATA
)

// Rule types of landlock_add_rule(2) (enum landlock_rule_type).
const (
	// LANDLOCK_RULE_PATH_BENEATH takes a landlock_path_beneath_attr.
	LANDLOCK_RULE_PATH_BENEATH = unix.LANDLOCK_RULE_PATH_BENEATH
	// LANDLOCK_RULE_NET_PORT takes a landlock_net_port_attr. x/sys/unix
	// v0.50.0 does not define it. Requires Landlock ABI 4.
	LANDLOCK_RULE_NET_PORT = 0x2
)

// Flags of landlock_restrict_self(2). They control audit logging of denials
// and do not change what is enforced. Requires Landlock ABI 7.
const (
	// LANDLOCK_RESTRICT_SELF_LOG_SAME_EXEC_OFF stops logging denials of the
	// calling program until it calls execve(2).
	LANDLOCK_RESTRICT_SELF_LOG_SAME_EXEC_OFF = unix.LANDLOCK_RESTRICT_SELF_LOG_SAME_EXEC_OFF
	// LANDLOCK_RESTRICT_SELF_LOG_NEW_EXEC_ON logs denials of programs run
	// by execve(2) after the restriction (off by default).
	LANDLOCK_RESTRICT_SELF_LOG_NEW_EXEC_ON = unix.LANDLOCK_RESTRICT_SELF_LOG_NEW_EXEC_ON
	// LANDLOCK_RESTRICT_SELF_LOG_SUBDOMAINS_OFF stops logging denials of
	// nested domains. It is the only flag that also works with a ruleset
	// fd of -1.
	LANDLOCK_RESTRICT_SELF_LOG_SUBDOMAINS_OFF = unix.LANDLOCK_RESTRICT_SELF_LOG_SUBDOMAINS_OFF
)

// AccessFile is the set of filesystem rights that apply to a regular file
// (and to any other non-directory). A path-beneath rule whose parent fd is
// not a directory may grant only these; the kernel rejects any other right
// with EINVAL. It mirrors ACCESS_FILE in security/landlock/fs.c.
const AccessFile = LANDLOCK_ACCESS_FS_EXECUTE |
	LANDLOCK_ACCESS_FS_WRITE_FILE |
	LANDLOCK_ACCESS_FS_READ_FILE |
	LANDLOCK_ACCESS_FS_TRUNCATE |
	LANDLOCK_ACCESS_FS_IOCTL_DEV
