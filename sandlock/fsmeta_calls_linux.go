//go:build linux

package sandlock

import (
	"encoding/binary"
	"slices"
	"syscall"

	"golang.org/x/sys/unix"
)

// The metadata calls' arguments, decoded and copied as the kernel does
// (fs/open.c, fs/utimes.c, fs/xattr.c), and the act on behalf of each.
// Every handler copies what it needs from the caller's memory first, then
// run (fsmeta_linux.go) reads the path once, decides and acts: the kernel
// never reads the caller's memory for these calls (never CONTINUE).

// Kernel limits of the xattr calls.
const (
	xattrNameMax    = 255   // XATTR_NAME_MAX
	xattrSizeMax    = 65536 // XATTR_SIZE_MAX
	xattrArgsSize0  = 16    // XATTR_ARGS_SIZE_VER0: struct xattr_args
	xattrArgsMaxLen = 4096  // PAGE_SIZE, the largest struct accepted
)

// handlers returns the handler of each call of metaCalls.
func (m *metaCtx) handlers() map[string]notifHandler {
	at := func(a uint64) int { return int(int32(a)) }
	// The flags of fchmodat2, fchownat, utimensat and the *xattrat calls.
	atFlags := func(f uint64) (follow, empty bool, ok bool) {
		if f&^uint64(unix.AT_SYMLINK_NOFOLLOW|unix.AT_EMPTY_PATH) != 0 {
			return false, false, false
		}
		return f&unix.AT_SYMLINK_NOFOLLOW == 0, f&unix.AT_EMPTY_PATH != 0, true
	}
	path := func(dirfd int, p uint64, follow bool) metaTarget {
		return metaTarget{dirfd: dirfd, pathPtr: p, follow: follow}
	}
	byFd := func(fd uint64) metaTarget { return metaTarget{dirfd: at(fd), byFd: true} }

	chmod := func(n *notif, t metaTarget, mode uint64) verdictResp {
		return m.run(n, t, chmodOnBehalf(uint32(mode)&0o7777))
	}
	chown := func(n *notif, t metaTarget, uid, gid uint64) verdictResp {
		return m.run(n, t, func(fd int, _ string) error {
			return unix.Fchownat(fd, "", int(int32(uid)), int(int32(gid)), unix.AT_EMPTY_PATH)
		})
	}
	hs := map[string]notifHandler{
		"chmod":  func(n *notif) verdictResp { return chmod(n, path(unix.AT_FDCWD, n.args[0], true), n.args[1]) },
		"fchmod": func(n *notif) verdictResp { return chmod(n, byFd(n.args[0]), n.args[1]) },
		"fchmodat": func(n *notif) verdictResp {
			return chmod(n, path(at(n.args[0]), n.args[1], true), n.args[2])
		},
		"fchmodat2": func(n *notif) verdictResp {
			follow, empty, ok := atFlags(n.args[3])
			if !ok {
				return respErrno(unix.EINVAL)
			}
			t := path(at(n.args[0]), n.args[1], follow)
			t.empty = empty
			return chmod(n, t, n.args[2])
		},
		"chown": func(n *notif) verdictResp {
			return chown(n, path(unix.AT_FDCWD, n.args[0], true), n.args[1], n.args[2])
		},
		"lchown": func(n *notif) verdictResp {
			return chown(n, path(unix.AT_FDCWD, n.args[0], false), n.args[1], n.args[2])
		},
		"fchown": func(n *notif) verdictResp { return chown(n, byFd(n.args[0]), n.args[1], n.args[2]) },
		"fchownat": func(n *notif) verdictResp {
			follow, empty, ok := atFlags(n.args[4])
			if !ok {
				return respErrno(unix.EINVAL)
			}
			t := path(at(n.args[0]), n.args[1], follow)
			t.empty = empty
			return chown(n, t, n.args[2], n.args[3])
		},
		"utime": func(n *notif) verdictResp {
			ts, e := readUtimbuf(n, n.args[1])
			if e != 0 {
				return respErrno(e)
			}
			return m.run(n, path(unix.AT_FDCWD, n.args[0], true), utimesOnBehalf(ts))
		},
		"utimes": func(n *notif) verdictResp {
			ts, e := readTimevals(n, n.args[1])
			if e != 0 {
				return respErrno(e)
			}
			return m.run(n, path(unix.AT_FDCWD, n.args[0], true), utimesOnBehalf(ts))
		},
		"futimesat": func(n *notif) verdictResp {
			ts, e := readTimevals(n, n.args[2])
			if e != 0 {
				return respErrno(e)
			}
			t := path(at(n.args[0]), n.args[1], true)
			t.nullFd = true
			return m.run(n, t, utimesOnBehalf(ts))
		},
		"utimensat": m.utimensat,
		"setxattr": func(n *notif) verdictResp {
			return m.setxattr(n, path(unix.AT_FDCWD, n.args[0], true), n.args[1], n.args[2], n.args[3], n.args[4])
		},
		"lsetxattr": func(n *notif) verdictResp {
			return m.setxattr(n, path(unix.AT_FDCWD, n.args[0], false), n.args[1], n.args[2], n.args[3], n.args[4])
		},
		"fsetxattr": func(n *notif) verdictResp {
			return m.setxattr(n, byFd(n.args[0]), n.args[1], n.args[2], n.args[3], n.args[4])
		},
		"setxattrat": func(n *notif) verdictResp {
			follow, empty, ok := atFlags(n.args[2])
			if !ok {
				return respErrno(unix.EINVAL)
			}
			value, size, flags, e := readXattrArgs(n, n.args[4], n.args[5])
			if e != 0 {
				return respErrno(e)
			}
			t := path(at(n.args[0]), n.args[1], follow)
			t.empty, t.nullFd = empty, empty
			return m.setxattr(n, t, n.args[3], value, size, flags)
		},
		"removexattr": func(n *notif) verdictResp {
			return m.removexattr(n, path(unix.AT_FDCWD, n.args[0], true), n.args[1])
		},
		"lremovexattr": func(n *notif) verdictResp {
			return m.removexattr(n, path(unix.AT_FDCWD, n.args[0], false), n.args[1])
		},
		"fremovexattr": func(n *notif) verdictResp {
			return m.removexattr(n, byFd(n.args[0]), n.args[1])
		},
		"removexattrat": func(n *notif) verdictResp {
			follow, empty, ok := atFlags(n.args[2])
			if !ok {
				return respErrno(unix.EINVAL)
			}
			t := path(at(n.args[0]), n.args[1], follow)
			t.empty, t.nullFd = empty, empty
			return m.removexattr(n, t, n.args[3])
		},
	}
	return hs
}

// chmodOnBehalf changes the mode through the magic link, which lands on
// the object itself (a symbolic link too: the kernel refuses modes of
// links with EOPNOTSUPP, as for the caller's fchmodat2 NOFOLLOW).
func chmodOnBehalf(mode uint32) func(int, string) error {
	return func(_ int, proc string) error { return unix.Fchmodat(unix.AT_FDCWD, proc, mode, 0) }
}

// utimesOnBehalf sets times (nil: now) through the magic link.
func utimesOnBehalf(ts []unix.Timespec) func(int, string) error {
	if ts == nil {
		// NULL times is both UTIME_NOW, permission checks included.
		ts = []unix.Timespec{{Nsec: unix.UTIME_NOW}, {Nsec: unix.UTIME_NOW}}
	}
	return func(_ int, proc string) error { return unix.UtimesNanoAt(unix.AT_FDCWD, proc, ts, 0) }
}

// utimensat(dirfd, path, times, flags): a NULL path is the fd itself.
func (m *metaCtx) utimensat(n *notif) verdictResp {
	dirfd, flags := int(int32(n.args[0])), n.args[3]
	var ts []unix.Timespec
	if n.args[2] != 0 {
		b := make([]byte, 32)
		if e := readChecked(n.lfd, n, n.args[2], b); e != 0 {
			return respErrno(e)
		}
		le := binary.LittleEndian
		ts = []unix.Timespec{
			{Sec: int64(le.Uint64(b[0:])), Nsec: int64(le.Uint64(b[8:]))},
			{Sec: int64(le.Uint64(b[16:])), Nsec: int64(le.Uint64(b[24:]))},
		}
		if ts[0].Nsec == unix.UTIME_OMIT && ts[1].Nsec == unix.UTIME_OMIT {
			return respVal(0) // the kernel does nothing, not even the lookup
		}
		for _, t := range ts {
			if t.Nsec != unix.UTIME_NOW && t.Nsec != unix.UTIME_OMIT && (t.Nsec < 0 || t.Nsec >= 1e9) {
				return respErrno(unix.EINVAL)
			}
		}
	}
	if flags&^uint64(unix.AT_SYMLINK_NOFOLLOW|unix.AT_EMPTY_PATH) != 0 {
		return respErrno(unix.EINVAL)
	}
	if n.args[1] == 0 && dirfd != unix.AT_FDCWD && flags != 0 {
		return respErrno(unix.EINVAL) // futimens takes no flags
	}
	t := metaTarget{dirfd: dirfd, pathPtr: n.args[1], nullFd: true,
		follow: flags&unix.AT_SYMLINK_NOFOLLOW == 0, empty: flags&unix.AT_EMPTY_PATH != 0}
	return m.run(n, t, utimesOnBehalf(ts))
}

// readTimevals copies utimes' struct timeval[2] (NULL: now).
func readTimevals(n *notif, addr uint64) ([]unix.Timespec, syscall.Errno) {
	if addr == 0 {
		return nil, 0
	}
	b := make([]byte, 32)
	if e := readChecked(n.lfd, n, addr, b); e != 0 {
		return nil, e
	}
	le := binary.LittleEndian
	ts := make([]unix.Timespec, 2)
	for i := range ts {
		sec, usec := int64(le.Uint64(b[16*i:])), int64(le.Uint64(b[16*i+8:]))
		if usec < 0 || usec >= 1e6 {
			return nil, unix.EINVAL
		}
		ts[i] = unix.Timespec{Sec: sec, Nsec: usec * 1000}
	}
	return ts, 0
}

// readUtimbuf copies utime's struct utimbuf (NULL: now).
func readUtimbuf(n *notif, addr uint64) ([]unix.Timespec, syscall.Errno) {
	if addr == 0 {
		return nil, 0
	}
	b := make([]byte, 16)
	if e := readChecked(n.lfd, n, addr, b); e != 0 {
		return nil, e
	}
	le := binary.LittleEndian
	return []unix.Timespec{{Sec: int64(le.Uint64(b[0:]))}, {Sec: int64(le.Uint64(b[8:]))}}, 0
}

// readXattrName copies an xattr name: ERANGE when empty or longer than
// XATTR_NAME_MAX, EFAULT when unreadable.
func readXattrName(n *notif, addr uint64) (string, syscall.Errno) {
	if addr == 0 {
		return "", unix.EFAULT
	}
	var out []byte
	for len(out) <= xattrNameMax {
		chunk := min(4096-int(addr%4096), xattrNameMax+1-len(out))
		buf := make([]byte, chunk)
		if readChildMem(n.pid, addr, buf) != nil {
			return "", unix.EFAULT
		}
		if i := slices.Index(buf, 0); i >= 0 {
			out = append(out, buf[:i]...)
			if len(out) == 0 {
				return "", unix.ERANGE
			}
			if !idValid(n.lfd, n.id) {
				return "", unix.ENOENT
			}
			return string(out), 0
		}
		out = append(out, buf...)
		addr += uint64(chunk)
	}
	return "", unix.ERANGE
}

// readXattrValue copies an xattr value of size bytes.
func readXattrValue(n *notif, addr, size uint64) ([]byte, syscall.Errno) {
	if size > xattrSizeMax {
		return nil, unix.E2BIG
	}
	value := make([]byte, size)
	if size == 0 {
		return value, 0
	}
	if e := readChecked(n.lfd, n, addr, value); e != 0 {
		return nil, e
	}
	return value, 0
}

// readXattrArgs copies setxattrat's struct xattr_args {value, size,
// flags} of usize bytes (the kernel's copy_struct_from_user rules).
func readXattrArgs(n *notif, addr, usize uint64) (value, size, flags uint64, e syscall.Errno) {
	if usize < xattrArgsSize0 {
		return 0, 0, 0, unix.EINVAL
	}
	if usize > xattrArgsMaxLen {
		return 0, 0, 0, unix.E2BIG
	}
	b := make([]byte, usize)
	if e := readChecked(n.lfd, n, addr, b); e != 0 {
		return 0, 0, 0, e
	}
	for _, x := range b[xattrArgsSize0:] {
		if x != 0 {
			return 0, 0, 0, unix.E2BIG
		}
	}
	le := binary.LittleEndian
	return le.Uint64(b[0:]), uint64(le.Uint32(b[8:])), uint64(le.Uint32(b[12:])), 0
}

// setxattr copies name and value, then sets the attribute on the object
// through the magic link (on a symbolic link itself when t does not
// follow: the magic link lands on the link).
func (m *metaCtx) setxattr(n *notif, t metaTarget, namePtr, valuePtr, size, flags uint64) verdictResp {
	if flags&^uint64(unix.XATTR_CREATE|unix.XATTR_REPLACE) != 0 {
		return respErrno(unix.EINVAL)
	}
	name, e := readXattrName(n, namePtr)
	if e != 0 {
		return respErrno(e)
	}
	value, e := readXattrValue(n, valuePtr, size)
	if e != 0 {
		return respErrno(e)
	}
	return m.run(n, t, func(_ int, proc string) error { return unix.Setxattr(proc, name, value, int(flags)) })
}

// removexattr copies the name, then removes the attribute.
func (m *metaCtx) removexattr(n *notif, t metaTarget, namePtr uint64) verdictResp {
	name, e := readXattrName(n, namePtr)
	if e != 0 {
		return respErrno(e)
	}
	return m.run(n, t, func(_ int, proc string) error { return unix.Removexattr(proc, name) })
}
