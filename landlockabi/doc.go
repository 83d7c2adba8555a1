// Package landlockabi is the raw Landlock layer of sandlock-go: the kernel's
// constants under their C names, structs that mirror
// include/uapi/linux/landlock.h, one thin wrapper per system call, a table of
// what each Landlock ABI version can enforce, and a pure [Downgrade] that
// fits a wanted set of protections to an ABI and reports what it had to drop.
//
// This package is low-level and its API may change. Programs that want a
// sandbox should use package sandlock, which builds on it.
//
// The package is Linux-only: on other systems it contains nothing but this
// comment.
//
// # Kernel floors
//
// Every identifier that needs more than Landlock ABI 1 (Linux 5.13) says so
// in its doc comment ("Requires Landlock ABI 4."). The versions are:
//
//	ABI 1  Linux 5.13  filesystem rights EXECUTE … MAKE_SYM (13 rights)
//	ABI 2  Linux 5.19  + REFER (link or rename across directories)
//	ABI 3  Linux 6.2   + TRUNCATE
//	ABI 4  Linux 6.7   + network rights BIND_TCP, CONNECT_TCP
//	ABI 5  Linux 6.10  + IOCTL_DEV
//	ABI 6  Linux 6.12  + scopes ABSTRACT_UNIX_SOCKET, SIGNAL
//	ABI 7  Linux 6.15  + landlock_restrict_self logging flags
//
// ABI 0 in this package means "no Landlock": the kernel lacks it
// (ENOSYS) or it is disabled at boot (EOPNOTSUPP). Versions above
// [MaxKnownABI] are treated as [MaxKnownABI]: this package never asks the
// kernel to handle a right it does not know about.
//
// # Building and applying a ruleset
//
// A supervisor builds the ruleset in the parent and only applies it in the
// child, right after setting no_new_privs:
//
//	abi, err := landlockabi.ABIVersion()            // 0 and ErrNotSupported without Landlock
//	eff, dropped := landlockabi.Downgrade(wanted, abi)
//	if err := dropped.Err(abi); err != nil && strict {
//		return err // names each missing protection and the ABI that adds it
//	}
//	fd, err := landlockabi.BuildRuleset(abi, eff.Attr(), pathRules, netRules)
//	// … in the child, on the thread that will execve:
//	//     prctl(PR_SET_NO_NEW_PRIVS, 1); landlockabi.RestrictSelf(fd, eff.RestrictFlags)
//
// # Errors
//
// Every system call error is a [*SyscallError] that names the operation and
// wraps the errno, so errors.Is(err, unix.EACCES) works. When Landlock is
// missing or disabled the error also satisfies errors.Is(err,
// [ErrNotSupported]). [Features.Err] turns what [Downgrade] dropped into an
// [*UnsupportedFeatureError].
//
// # Cross-directory rename and link (REFER)
//
// Any ruleset that handles a filesystem right denies reparenting (link or
// rename of a file into another directory) unless a rule grants
// LANDLOCK_ACCESS_FS_REFER, and only ABI 2 and later can grant it. On ABI 1
// such renames and links therefore always fail with EXDEV, whatever the
// rules say. Dropping REFER in [Downgrade] never weakens the sandbox; it only
// takes away the ability to allow reparenting (see [Feature.Weakens]).
package landlockabi
