//go:build linux

package sandlock

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// The metadata interception: chmod, chown, utimes and the xattr calls.
//
// Landlock governs no metadata: without this feature a sandbox may change
// the mode, owner, times and extended attributes of any file its uid owns,
// anywhere on the host (a root sandbox, capless but uid 0, could make
// /usr/bin/python3 setuid). In every supervised sandbox each of these calls
// is notified, and the supervisor
//  1. copies the arguments once (path, mode, owner, times, xattr name and
//     value) and checks the notification is still pending;
//  2. resolves the path (or takes the caller's fd, or its dirfd for
//     AT_EMPTY_PATH) to an O_PATH fd of the object, as the caller would
//     (fsresolve_linux.go), a symbolic link itself when the call does not
//     follow one;
//  3. decides on that object: allowed only when the policy grants write
//     access to it (Filesystem.Write or WriteIfExists, with Landlock's
//     hierarchy: a grant on a file covers that inode, a grant on a
//     directory covers it and everything beneath it, which is checked by
//     walking up the real tree with ".." from the object, or from the
//     directory holding a non-directory), and never on a Filesystem.Deny
//     object or a device node; otherwise EACCES, as Landlock answers a
//     denied write;
//  4. acts on that very object through the magic link /proc/self/fd/N
//     with the copied arguments, on its own capless thread (the same uid
//     and no capabilities, as the sandbox: ownership rules stay the
//     kernel's), and answers with the result.
//
// TOCTOU: the caller's memory is read once and never again (no CONTINUE),
// so a path or buffer rewritten by another thread after the copy changes
// nothing. The decision and the act are on the same O_PATH fd: a rename or
// symbolic-link swap after the resolution can only make the call act on
// the object that was checked. What remains is the object moving between
// the decision and the act: the sandbox cannot move an object between a
// write grant and elsewhere (Landlock refuses a rename or link whose
// source or target directory is not write-granted), and a denied object
// never moves (fsdeny_linux.go); the host may move files, which is its
// own doing.

// metaCalls are the calls of the metadata interception (names missing on
// an architecture are skipped).
var metaCalls = []string{
	"chmod", "fchmod", "fchmodat", "fchmodat2",
	"chown", "fchown", "lchown", "fchownat",
	"utime", "utimes", "futimesat", "utimensat",
	"setxattr", "lsetxattr", "fsetxattr", "setxattrat",
	"removexattr", "lremovexattr", "fremovexattr", "removexattrat",
}

// metaFeature governs metadata changes (on in every supervised sandbox).
var metaFeature = feature{
	name: "metadata",
	calls: func(p *Policy) []string {
		if p.seccomp.nested {
			return nil
		}
		return metaCalls
	},
	setup: setupMeta,
	// In a sandbox nested without a listener of its own, the outer
	// sandbox's supervisor decides these calls on its own policy.
	optional: true,
}

// metaCtx is the metadata interception's state for one sandbox.
type metaCtx struct {
	fc *fsCtx
	// roots are the write-granted objects: files and directories.
	roots map[devIno]bool
	// dirRoots: some root is a directory (else no walk up is needed).
	dirRoots bool
}

// writeRoots stats the write grants (following symbolic links, as
// Landlock does when the rule is added). Missing ones are skipped: a
// missing Write path is already an error of the plan.
func writeRoots(p *Policy) (map[devIno]bool, bool) {
	roots := map[devIno]bool{}
	dirs := false
	for _, g := range append(append([]string{}, p.Filesystem.Write...), p.Filesystem.WriteIfExists...) {
		abs, err := filepath.Abs(g)
		if err != nil {
			continue
		}
		var st unix.Stat_t
		if unix.Stat(abs, &st) != nil {
			continue
		}
		roots[statKey(&st)] = true
		dirs = dirs || st.Mode&unix.S_IFMT == unix.S_IFDIR
	}
	return roots, dirs
}

func setupMeta(sv *supervision) (map[string]dispatch, error) {
	fc, err := newFsCtx(sv)
	if err != nil {
		return nil, err
	}
	m := &metaCtx{fc: fc}
	m.roots, m.dirRoots = writeRoots(sv.policy)
	hs := map[string]dispatch{}
	for name, fn := range m.handlers() {
		// Slow: resolving a path may block (FUSE, NFS).
		hs[name] = dispatch{fn: fn, slow: true}
	}
	return hs, nil
}

// metaTarget says which object a call names.
type metaTarget struct {
	dirfd   int    // the caller's dirfd (AT_FDCWD: its cwd), or its fd
	pathPtr uint64 // the path's address in the caller
	byFd    bool   // fchmod, fchown, fsetxattr, ...: the fd itself
	// nullFd: a NULL path means the fd itself (utimensat, futimesat,
	// setxattrat with AT_EMPTY_PATH).
	nullFd bool
	follow bool // follow a symbolic link in the last component
	empty  bool // AT_EMPTY_PATH: an empty path means the dirfd itself
}

// run performs one metadata call: resolve t, decide, act with apply on
// the object's /proc/self/fd name (or its fd), answer with the result.
// The caller's memory was read before (the arguments of apply); only the
// path is read here, once.
func (m *metaCtx) run(n *notif, t metaTarget, apply func(fd int, proc string) error) verdictResp {
	c := &caller{n: n, tid: n.pid}
	fd, e := m.target(c, t)
	if e != 0 {
		return respErrno(e)
	}
	defer unix.Close(fd)
	if e := m.decide(c, fd); e != 0 {
		return respErrno(e)
	}
	if !idValid(n.lfd, n.id) {
		return respErrno(unix.ENOENT)
	}
	var err error
	for {
		if err = apply(fd, "/proc/self/fd/"+strconv.Itoa(fd)); err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return respErrno(errnoOf(err))
	}
	return respVal(0)
}

// target returns an O_PATH fd (ours) of the object t names for c.
func (m *metaCtx) target(c *caller, t metaTarget) (int, syscall.Errno) {
	byFd := t.byFd || (t.nullFd && t.pathPtr == 0)
	if byFd {
		if t.dirfd < 0 {
			if t.dirfd == unix.AT_FDCWD && !t.byFd {
				return -1, unix.EFAULT // a NULL path relative to the cwd
			}
			return -1, unix.EBADF
		}
		if fdIsOPath(c.tid, t.dirfd) {
			return -1, unix.EBADF // the calls on an fd refuse O_PATH fds
		}
		fd, err := dirfdOf(c, t.dirfd)
		if err != nil {
			return -1, errnoOf(err)
		}
		return fd, 0
	}
	path, e := readPath(c.n, t.pathPtr)
	if e != 0 {
		return -1, e
	}
	if path == "" {
		if !t.empty {
			return -1, unix.ENOENT
		}
		fd, err := dirfdOf(c, t.dirfd)
		if err != nil {
			return -1, errnoOf(err)
		}
		return fd, 0
	}
	fd, err := m.fc.resolve(c, resolveReq{dirfd: t.dirfd, path: path, follow: t.follow})
	if err != nil {
		return -1, errnoOf(err)
	}
	return fd, 0
}

// fdIsOPath reports whether fd of thread tid is an O_PATH fd (its fdinfo
// flags, octal).
func fdIsOPath(tid, fd int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(tid) + "/fdinfo/" + strconv.Itoa(fd))
	if err != nil {
		return false // gone: dirfdOf answers EBADF
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "flags:"); ok {
			f, _ := strconv.ParseUint(strings.TrimSpace(v), 8, 64)
			return f&unix.O_PATH != 0
		}
	}
	return false
}

// decide answers 0 when the metadata of the object (fd, O_PATH) may be
// changed, else EACCES.
func (m *metaCtx) decide(c *caller, fd int) syscall.Errno {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return errnoOf(err)
	}
	if t := st.Mode & unix.S_IFMT; t == unix.S_IFCHR || t == unix.S_IFBLK {
		// A device node is the host's (/dev/null is granted writable by
		// default): its mode or owner is never the sandbox's to change.
		return unix.EACCES
	}
	if _, e := m.fc.check(c, fd, &st); e != 0 {
		return unix.EACCES
	}
	ok, err := m.writable(fd, &st)
	if err != nil || !ok {
		return unix.EACCES
	}
	return 0
}

// writable reports whether the object is write-granted: itself a root, or
// beneath a directory root. An object with no name in the tree (a pipe, a
// socket, a memfd, an O_TMPFILE or deleted file: no link left) belongs to
// no host path and is writable.
func (m *metaCtx) writable(fd int, st *unix.Stat_t) (bool, error) {
	if m.roots[statKey(st)] {
		return true, nil
	}
	var match func(devIno) bool
	if m.dirRoots {
		match = func(k devIno) bool { return m.roots[k] }
	}
	found, named, err := walkUp(fd, st, match)
	return found || !named && err == nil, err
}
