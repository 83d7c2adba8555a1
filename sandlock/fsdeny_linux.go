//go:build linux

package sandlock

import (
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Filesystem.Deny for the calls other than open: exec, link, rename,
// symlink and truncate. Each resolves its paths like the open interception
// and decides on the objects.
//
// TOCTOU, per call:
//   - link, rename, symlink and truncate are made on behalf, by an opener
//     thread (under the sandbox's Landlock ruleset), on the directory fds
//     that were checked, so the kernel never re-reads the caller's memory.
//     The last component is resolved again by that call (a name in a
//     checked directory); it cannot become a denied object meanwhile: the
//     set of names of a denied object is frozen for the sandbox (no link,
//     no rename with it, or anything beneath a denied directory, as
//     source), and a new file is never a denied object.
//   - execve and execveat cannot be made on behalf. They are checked on a
//     copy of the path, then answered CONTINUE, and the kernel reads the
//     path again. A program that rewrites the path from another thread (or
//     through shared memory) between the check and the kernel's read can
//     exec a denied file: the check stops every exec of a denied program
//     by name, symbolic link or hard link, not a deliberate race. Reading
//     a denied file is never possible this way (opens are on behalf); what
//     the race gains is running it. An interpreter named by a #! line is
//     opened by the kernel, not by a system call, and is not checked.

// denyHandlers returns the handlers of denyCalls.
func (fc *fsCtx) denyHandlers() map[string]notifHandler {
	at := func(a uint64) int { return int(int32(a)) }
	return map[string]notifHandler{
		"execve": func(n *notif) verdictResp {
			return fc.exec(n, unix.AT_FDCWD, n.args[0], 0)
		},
		"execveat": func(n *notif) verdictResp {
			return fc.exec(n, at(n.args[0]), n.args[1], n.args[4])
		},
		"link": func(n *notif) verdictResp {
			return fc.link(n, unix.AT_FDCWD, n.args[0], unix.AT_FDCWD, n.args[1], 0)
		},
		"linkat": func(n *notif) verdictResp {
			return fc.link(n, at(n.args[0]), n.args[1], at(n.args[2]), n.args[3], n.args[4])
		},
		"rename": func(n *notif) verdictResp {
			return fc.rename(n, unix.AT_FDCWD, n.args[0], unix.AT_FDCWD, n.args[1], 0)
		},
		"renameat": func(n *notif) verdictResp {
			return fc.rename(n, at(n.args[0]), n.args[1], at(n.args[2]), n.args[3], 0)
		},
		"renameat2": func(n *notif) verdictResp {
			return fc.rename(n, at(n.args[0]), n.args[1], at(n.args[2]), n.args[3], n.args[4])
		},
		"symlink": func(n *notif) verdictResp {
			return fc.symlink(n, n.args[0], unix.AT_FDCWD, n.args[1])
		},
		"symlinkat": func(n *notif) verdictResp {
			return fc.symlink(n, n.args[0], at(n.args[1]), n.args[2])
		},
		"truncate": fc.truncate,
	}
}

// checkPath resolves and checks one path: 0 when allowed (fd is then an
// O_PATH fd of the object, ours), else the errno.
func (fc *fsCtx) checkPath(c *caller, dirfd int, path string, follow bool) (int, syscall.Errno) {
	fd, err := fc.resolve(c, resolveReq{dirfd: dirfd, path: path, follow: follow})
	if err != nil {
		return -1, errnoOf(err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return -1, errnoOf(err)
	}
	if _, e := fc.check(c, fd, &st); e != 0 {
		unix.Close(fd)
		return -1, e
	}
	return fd, 0
}

func (fc *fsCtx) exec(n *notif, dirfd int, pathPtr, flags uint64) verdictResp {
	c := &caller{n: n, tid: n.pid}
	path, e := readPath(n, pathPtr)
	if e != 0 {
		return respErrno(e)
	}
	if path == "" && flags&unix.AT_EMPTY_PATH != 0 {
		fd, err := dirfdOf(c, dirfd)
		if err != nil {
			return respErrno(errnoOf(err))
		}
		defer unix.Close(fd)
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			return respErrno(errnoOf(err))
		}
		if _, e := fc.check(c, fd, &st); e != 0 {
			return respErrno(e)
		}
		return respContinue
	}
	fd, e := fc.checkPath(c, dirfd, path, flags&unix.AT_SYMLINK_NOFOLLOW == 0)
	if e == unix.EACCES {
		return respErrno(e)
	}
	if e == 0 {
		unix.Close(fd)
	}
	// Other errors (ENOENT, ...) are left to the kernel's own walk.
	return respContinue
}

// parentOfPath resolves the directory holding path's last component and
// checks it (creating in or moving out of a denied directory is denied):
// the directory's O_PATH fd and the component.
func (fc *fsCtx) parentOfPath(c *caller, dirfd int, path string) (int, string, syscall.Errno) {
	p := strings.TrimRight(path, "/")
	if p == "" {
		return -1, "", unix.EBUSY // "/" itself
	}
	dir, base := filepath.Split(p)
	if dir == "" {
		dir = "."
	}
	if base == "." || base == ".." {
		return -1, "", unix.EBUSY
	}
	fd, e := fc.checkPath(c, dirfd, dir, true)
	if e != 0 {
		return -1, "", e
	}
	return fd, base, 0
}

// checkEntry checks the object named base in the checked directory dfd,
// if there is one.
func (fc *fsCtx) checkEntry(c *caller, dfd int, base string) syscall.Errno {
	fd, err := openat2(dfd, base, unix.O_PATH|unix.O_CLOEXEC|unix.O_NOFOLLOW, unix.RESOLVE_BENEATH)
	if err == unix.ENOENT {
		return 0
	}
	if err != nil {
		return errnoOf(err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return errnoOf(err)
	}
	_, e := fc.check(c, fd, &st)
	return e
}

// onBehalf runs fn on an opener thread once the notification is known to
// be still pending, and answers with its result.
func (fc *fsCtx) onBehalf(n *notif, fn func() error) verdictResp {
	if !idValid(n.lfd, n.id) {
		return respErrno(unix.ENOENT)
	}
	var err error
	if fc.op.do(func() { err = fn() }) != nil {
		return respErrno(unix.EACCES)
	}
	if err != nil {
		return respErrno(errnoOf(err))
	}
	return respVal(0)
}

// readPaths copies the two path arguments of a link, rename or symlink.
func readPaths(n *notif, a, b uint64) (string, string, syscall.Errno) {
	pa, e := readPath(n, a)
	if e != 0 {
		return "", "", e
	}
	pb, e := readPath(n, b)
	return pa, pb, e
}

func (fc *fsCtx) link(n *notif, odir int, oldPtr uint64, ndir int, newPtr uint64, flags uint64) verdictResp {
	c := &caller{n: n, tid: n.pid}
	oldPath, newPath, e := readPaths(n, oldPtr, newPtr)
	if e != 0 {
		return respErrno(e)
	}
	if flags&^uint64(unix.AT_SYMLINK_FOLLOW|unix.AT_EMPTY_PATH) != 0 {
		return respErrno(unix.EINVAL)
	}
	var src int
	if oldPath == "" && flags&unix.AT_EMPTY_PATH != 0 {
		fd, err := dirfdOf(c, odir)
		if err != nil {
			return respErrno(errnoOf(err))
		}
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			unix.Close(fd)
			return respErrno(errnoOf(err))
		}
		if _, e := fc.check(c, fd, &st); e != 0 {
			unix.Close(fd)
			return respErrno(e)
		}
		src = fd
	} else {
		if src, e = fc.checkPath(c, odir, oldPath, flags&unix.AT_SYMLINK_FOLLOW != 0); e != 0 {
			return respErrno(e)
		}
	}
	defer unix.Close(src)
	dfd, base, e := fc.parentOfPath(c, ndir, newPath)
	if e != 0 {
		return respErrno(e)
	}
	defer unix.Close(dfd)
	// linkat through the magic link of our O_PATH fd: the kernel links
	// the checked object itself.
	return fc.onBehalf(n, func() error {
		return unix.Linkat(unix.AT_FDCWD, "/proc/self/fd/"+itoa(src), dfd, base, unix.AT_SYMLINK_FOLLOW)
	})
}

func (fc *fsCtx) rename(n *notif, odir int, oldPtr uint64, ndir int, newPtr uint64, flags uint64) verdictResp {
	c := &caller{n: n, tid: n.pid}
	oldPath, newPath, e := readPaths(n, oldPtr, newPtr)
	if e != 0 {
		return respErrno(e)
	}
	if oldPath == "" || newPath == "" {
		return respErrno(unix.ENOENT)
	}
	ofd, obase, e := fc.parentOfPath(c, odir, oldPath)
	if e != 0 {
		return respErrno(e)
	}
	defer unix.Close(ofd)
	nfd, nbase, e := fc.parentOfPath(c, ndir, newPath)
	if e != 0 {
		return respErrno(e)
	}
	defer unix.Close(nfd)
	// The source must not be denied (or beneath a denied directory); the
	// target neither, when it exists (replacing or exchanging it).
	if e := fc.checkEntry(c, ofd, obase); e != 0 {
		return respErrno(e)
	}
	if e := fc.checkEntry(c, nfd, nbase); e != 0 {
		return respErrno(e)
	}
	return fc.onBehalf(n, func() error {
		return unix.Renameat2(ofd, obase, nfd, nbase, uint(flags))
	})
}

func (fc *fsCtx) symlink(n *notif, targetPtr uint64, ndir int, linkPtr uint64) verdictResp {
	c := &caller{n: n, tid: n.pid}
	target, linkPath, e := readPaths(n, targetPtr, linkPtr)
	if e != 0 {
		return respErrno(e)
	}
	if target == "" || linkPath == "" {
		return respErrno(unix.ENOENT)
	}
	// The target is a string: a link to a denied object is harmless,
	// every open through it is decided on the object. Where the link is
	// made is checked.
	dfd, base, e := fc.parentOfPath(c, ndir, linkPath)
	if e != 0 {
		return respErrno(e)
	}
	defer unix.Close(dfd)
	return fc.onBehalf(n, func() error { return unix.Symlinkat(target, dfd, base) })
}

func (fc *fsCtx) truncate(n *notif) verdictResp {
	c := &caller{n: n, tid: n.pid}
	path, e := readPath(n, n.args[0])
	if e != 0 {
		return respErrno(e)
	}
	if path == "" {
		return respErrno(unix.ENOENT)
	}
	if int64(n.args[1]) < 0 {
		return respErrno(unix.EINVAL)
	}
	fd, e := fc.checkPath(c, unix.AT_FDCWD, path, true)
	if e != 0 {
		return respErrno(e)
	}
	defer unix.Close(fd)
	return fc.onBehalf(n, func() error {
		return unix.Truncate("/proc/self/fd/"+itoa(fd), int64(n.args[1]))
	})
}
