//go:build linux

package sandlock

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Path resolution on behalf of a sandboxed process.
//
// The supervisor resolves a path the way the kernel would for the caller,
// to an O_PATH file descriptor of the object, without granting anything:
// O_PATH opens, readlink and stat are not file accesses (Landlock does not
// govern them either), so the supervisor's own thread does them. The
// decisions (deny set, /proc rules, virtual files) are then made on that
// object's (dev, ino) and on kernel-made names of it, and the access
// itself (the open with the caller's flags, a create, a rename) is made by
// a Landlock-restricted opener thread on that very object through
// /proc/self/fd/N, so that no second path walk can be redirected.
//
// Two things differ between the supervisor and the caller during a walk:
// "/proc/self" (and thread-self) names the supervisor, and magic links
// (/proc/PID/fd/N, cwd, root, exe) refer to some process's table. The fast
// path is one openat2 with RESOLVE_NO_MAGICLINKS; when it fails with ELOOP
// (a magic link on the way) the path is walked component by component
// (walk), with "self" replaced by the caller's pid and magic links followed
// only for processes of the sandbox. When the fast path lands in the
// supervisor's own /proc/PID (it went through /proc/self), the rest of the
// path is resolved again under the caller's /proc/PID.

// maxSymlinks is the kernel's MAXSYMLINKS.
const maxSymlinks = 40

// procRootIno is PROC_ROOT_INO: the inode number of the root of procfs.
const procRootIno = 1

type devIno struct{ dev, ino uint64 }

func statKey(st *unix.Stat_t) devIno { return devIno{uint64(st.Dev), st.Ino} }

// caller is the thread a notification came from.
type caller struct {
	n    *notif
	tid  int
	tgid int // 0 until known
	// procUsed is set once anything was taken from /proc/TID (the
	// caller's cwd, a dirfd, its tgid or umask): TID may have been
	// reused if the caller died meanwhile, so the notification must be
	// checked (idValid) again before acting on what was taken.
	procUsed bool
}

func (c *caller) getTgid() int {
	if c.tgid == 0 {
		c.procUsed = true
		c.tgid = procStatusInt(c.tid, "Tgid:")
		if c.tgid == 0 {
			c.tgid = c.tid
		}
	}
	return c.tgid
}

// procStatusInt reads one numeric field of /proc/PID/status (0 when it
// cannot). Octal for Umask.
func procStatusInt(pid int, field string) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte(field)); ok {
			base := 10
			if field == "Umask:" {
				base = 8
			}
			n, _ := strconv.ParseInt(string(bytes.TrimSpace(v)), base, 64)
			return int(n)
		}
	}
	return 0
}

// dirfdOf opens (O_PATH) the caller's directory fd, or its working
// directory for AT_FDCWD. A bad fd is EBADF, as the kernel says.
func dirfdOf(c *caller, dirfd int) (int, error) {
	c.procUsed = true
	p := "/proc/" + strconv.Itoa(c.tid) + "/cwd"
	if dirfd != unix.AT_FDCWD {
		if dirfd < 0 {
			return -1, unix.EBADF
		}
		p = "/proc/" + strconv.Itoa(c.tid) + "/fd/" + strconv.Itoa(dirfd)
	}
	fd, err := unix.Open(p, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		if err == unix.ENOENT && dirfd != unix.AT_FDCWD {
			return -1, unix.EBADF
		}
		return -1, err
	}
	return fd, nil
}

// fdPath is the kernel's name of an fd of ours (d_path).
func fdPath(fd int) string {
	buf := make([]byte, unix.PathMax)
	n, err := unix.Readlink("/proc/self/fd/"+strconv.Itoa(fd), buf)
	if err != nil {
		return ""
	}
	return string(buf[:n])
}

// resolveReq is one path to resolve.
type resolveReq struct {
	dirfd   int    // the caller's dirfd (AT_FDCWD: its cwd)
	path    string // as the caller gave it
	follow  bool   // follow a symbolic link in the last component
	dir     bool   // O_DIRECTORY
	resolve uint64 // openat2's RESOLVE_* flags from the caller
}

// resolve returns an O_PATH|O_CLOEXEC fd of the object req names for the
// caller, or the errno the kernel would give.
func (fc *fsCtx) resolve(c *caller, req resolveReq) (int, error) {
	if req.path == "" {
		return -1, unix.ENOENT // AT_EMPTY_PATH is handled by the callers
	}
	base := unix.AT_FDCWD
	if !filepath.IsAbs(req.path) || req.resolve&(unix.RESOLVE_BENEATH|unix.RESOLVE_IN_ROOT) != 0 {
		fd, err := dirfdOf(c, req.dirfd)
		if err != nil {
			return -1, err
		}
		defer unix.Close(fd)
		base = fd
	}
	flags := uint64(unix.O_PATH | unix.O_CLOEXEC)
	if !req.follow {
		flags |= unix.O_NOFOLLOW
	}
	if req.dir {
		flags |= unix.O_DIRECTORY
	}
	fd, err := openat2(base, req.path, flags, req.resolve|unix.RESOLVE_NO_MAGICLINKS)
	switch {
	case (err == unix.ELOOP || err == unix.ENOENT || err == unix.ENOTDIR) && req.resolve == 0:
		// ELOOP: a magic link on the way. ENOENT, ENOTDIR: maybe the
		// supervisor's /proc/self lacks what the caller's has
		// (/dev/fd/63 through /proc/self/fd). The walk decides.
		return fc.walk(c, base, req.path, req.follow, req.dir)
	case err != nil:
		return -1, err
	}
	return fc.remapSelf(c, fd, req)
}

func openat2(dirfd int, path string, flags, resolve uint64) (int, error) {
	for {
		fd, err := unix.Openat2(dirfd, path, &unix.OpenHow{Flags: flags, Resolve: resolve})
		if err != unix.EINTR {
			return fd, err
		}
	}
}

// remapSelf: an fd that landed in the supervisor's own /proc/PID came
// there through /proc/self or /proc/thread-self; resolve the rest again
// under the caller's. A path naming the supervisor's pid is EACCES, as
// for any process outside the sandbox (through a symbolic link to it, the
// caller gets its own entries: nothing of the supervisor is ever shown).
func (fc *fsCtx) remapSelf(c *caller, fd int, req resolveReq) (int, error) {
	if !fc.proc {
		return fd, nil
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || uint64(st.Dev) != fc.procDev {
		return fd, nil
	}
	p := fdPath(fd)
	self := "/proc/" + strconv.Itoa(fc.selfPid)
	rest, ok := strings.CutPrefix(p, self)
	if !ok || (rest != "" && rest[0] != '/') {
		return fd, nil
	}
	unix.Close(fd)
	if slices.Contains(strings.Split(req.path, "/"), strconv.Itoa(fc.selfPid)) {
		return -1, unix.EACCES // the supervisor, named by its pid
	}
	target := "/proc/" + strconv.Itoa(c.getTgid())
	if t, ok := strings.CutPrefix(rest, "/task/"+strconv.Itoa(unix.Gettid())); ok && (t == "" || t[0] == '/') {
		rest = "/task/" + strconv.Itoa(c.tid) + t
	}
	flags := uint64(unix.O_PATH | unix.O_CLOEXEC)
	if !req.follow {
		flags |= unix.O_NOFOLLOW
	}
	if req.dir {
		flags |= unix.O_DIRECTORY
	}
	return openat2(unix.AT_FDCWD, target+rest, flags, unix.RESOLVE_NO_MAGICLINKS|unix.RESOLVE_NO_SYMLINKS)
}

// walk resolves path component by component from base (AT_FDCWD for an
// absolute path), as the caller would: "self" and "thread-self" at the
// root of procfs name the caller, and magic links under /proc/PID are
// followed by the kernel for a PID of the sandbox only (EACCES otherwise).
func (fc *fsCtx) walk(c *caller, base int, path string, follow, mustDir bool) (int, error) {
	var cur int
	var err error
	if filepath.IsAbs(path) || base == unix.AT_FDCWD {
		cur, err = unix.Open("/", unix.O_PATH|unix.O_CLOEXEC|unix.O_DIRECTORY, 0)
	} else {
		cur, err = unix.Dup(base)
	}
	if err != nil {
		return -1, err
	}
	trailingSlash := strings.HasSuffix(path, "/")
	comps := strings.Split(path, "/")
	links := 0
	fail := func(e error) (int, error) { unix.Close(cur); return -1, e }
	for len(comps) > 0 {
		comp := comps[0]
		comps = comps[1:]
		last := true
		for _, r := range comps {
			if r != "" {
				last = false
			}
		}
		if comp == "" || comp == "." {
			continue
		}
		var cst unix.Stat_t
		if err := unix.Fstat(cur, &cst); err != nil {
			return fail(err)
		}
		if uint64(cst.Dev) == fc.procDev && cst.Ino == procRootIno {
			switch comp {
			case "self":
				comps = append([]string{strconv.Itoa(c.getTgid())}, comps...)
				continue
			case "thread-self":
				comps = append([]string{strconv.Itoa(c.getTgid()), "task", strconv.Itoa(c.tid)}, comps...)
				continue
			}
		}
		nfd, err := openat2(cur, comp, unix.O_PATH|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
		if err != nil {
			return fail(err)
		}
		var st unix.Stat_t
		if err := unix.Fstat(nfd, &st); err != nil {
			unix.Close(nfd)
			return fail(err)
		}
		if st.Mode&unix.S_IFMT != unix.S_IFLNK || (last && !follow && !trailingSlash) {
			unix.Close(cur)
			cur = nfd
			continue
		}
		if links++; links > maxSymlinks {
			unix.Close(nfd)
			return fail(unix.ELOOP)
		}
		if uint64(st.Dev) == fc.procDev && !(uint64(cst.Dev) == fc.procDev && cst.Ino == procRootIno) {
			// A magic link of /proc/PID/...: the kernel follows it
			// into process PID's tables; only for the sandbox's own.
			unix.Close(nfd)
			if pid := procPid(fdPath(cur)); pid <= 0 || !fc.visible(pid, c.getTgid()) {
				return fail(unix.EACCES)
			}
			tfd, err := openat2(cur, comp, unix.O_PATH|unix.O_CLOEXEC, 0)
			if err != nil {
				return fail(err)
			}
			unix.Close(cur)
			cur = tfd
			continue
		}
		buf := make([]byte, unix.PathMax)
		n, err := unix.Readlinkat(cur, comp, buf)
		unix.Close(nfd)
		if err != nil {
			return fail(err)
		}
		target := string(buf[:n])
		if strings.HasPrefix(target, "/") {
			root, err := unix.Open("/", unix.O_PATH|unix.O_CLOEXEC|unix.O_DIRECTORY, 0)
			if err != nil {
				return fail(err)
			}
			unix.Close(cur)
			cur = root
		}
		rest := comps
		if trailingSlash && last {
			rest = append(rest, "")
		}
		comps = append(strings.Split(target, "/"), rest...)
	}
	if mustDir || trailingSlash {
		var st unix.Stat_t
		if err := unix.Fstat(cur, &st); err != nil {
			return fail(err)
		}
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			return fail(unix.ENOTDIR)
		}
	}
	return cur, nil
}

// procPid returns N for a name /proc/N or /proc/N/..., else 0.
func procPid(p string) int {
	rest, ok := strings.CutPrefix(p, "/proc/")
	if !ok {
		return 0
	}
	num, _, _ := strings.Cut(rest, "/")
	n, err := strconv.Atoi(num)
	if err != nil || n <= 0 {
		return 0
	}
	return n
}

// procStat reads ppid and pgrp from /proc/PID/stat.
func procStat(pid int) (ppid, pgrp int, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, errors.New("sandlock: malformed /proc stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 3 {
		return 0, 0, errors.New("sandlock: malformed /proc stat")
	}
	ppid, _ = strconv.Atoi(f[1])
	pgrp, _ = strconv.Atoi(f[2])
	return ppid, pgrp, nil
}

// visible reports whether process (or thread) pid belongs to the sandbox:
// the caller itself, the leader, a member of the leader's process group,
// or a descendant of the leader. A process that left the group and was
// reparented away from the leader's tree (a double-forked daemon) is not
// seen as a member: hidden from its siblings, never the other way round.
func (fc *fsCtx) visible(pid, callerTgid int) bool {
	if pid == callerTgid || pid == fc.leader {
		return true
	}
	for range 128 {
		if pid <= 1 || pid == fc.selfPid {
			return false
		}
		ppid, pgrp, err := procStat(pid)
		if err != nil {
			return false
		}
		if pgrp == fc.leader || ppid == fc.leader {
			return true
		}
		pid = ppid
	}
	return false
}

// sensitive are kernel files denied whenever /proc or /sys is reachable,
// with everything beneath them.
var sensitive = []string{
	"/proc/kcore", "/proc/kmsg", "/proc/kallsyms", "/proc/keys", "/proc/key-users",
	"/proc/sysrq-trigger", "/proc/kpagecount", "/proc/kpageflags", "/proc/kpagecgroup",
	"/proc/timer_list", "/proc/sched_debug", "/proc/vmallocinfo",
	"/sys/firmware", "/sys/kernel/security", "/sys/kernel/debug", "/sys/kernel/tracing",
	"/sys/class/net",
}

// pseudoFS are the file systems whose objects get the name checks (their
// names are made by the kernel and cannot be renamed by the sandbox).
var pseudoFS = map[int64]bool{
	unix.PROC_SUPER_MAGIC: true, unix.SYSFS_MAGIC: true, unix.SECURITYFS_MAGIC: true,
	unix.DEBUGFS_MAGIC: true, unix.TRACEFS_MAGIC: true, unix.EFIVARFS_MAGIC: true,
}

// check decides an object resolved for caller c: EACCES when it is denied
// (Filesystem.Deny, a sensitive kernel file, another process's /proc
// entry), else 0. It also returns the object's name for procfs objects
// ("" otherwise), for the virtual-file match.
func (fc *fsCtx) check(c *caller, fd int, st *unix.Stat_t) (string, syscall.Errno) {
	if fc.denied[statKey(st)] || fc.live.pathDenied(statKey(st)) {
		return "", unix.EACCES
	}
	if fc.deniedDirs || fc.live.hasDeniedDirs() {
		under, err := fc.underDeniedDir(fd, st)
		if err != nil || under {
			return "", unix.EACCES
		}
	}
	if !fc.proc && !fc.sys {
		return "", 0
	}
	var sfs unix.Statfs_t
	if err := unix.Fstatfs(fd, &sfs); err != nil {
		return "", unix.EACCES
	}
	if !pseudoFS[int64(sfs.Type)] {
		return "", 0
	}
	name := fdPath(fd)
	for _, s := range sensitive {
		if name == s || strings.HasPrefix(name, s+"/") {
			return "", unix.EACCES
		}
	}
	if pid := procPid(name); pid > 0 && !fc.visible(pid, c.getTgid()) {
		return "", unix.EACCES
	}
	return name, 0
}

// underDeniedDir reports whether a denied directory is an ancestor of the
// object (or the object itself). It walks up with "..", which follows the
// live dentry tree (and crosses mount points upwards), from the object if
// it is a directory, else from its parent. The parent of a file is found
// by its kernel name, then verified (the name in that directory must still
// be this inode); a file moved meanwhile is retried, then denied.
//
// Soundness: nothing beneath a denied directory can be moved out of it or
// linked elsewhere by the sandbox (rename and link with a source beneath a
// denied directory are denied), so an object beneath one at the open is
// still beneath it during the walk; renaming an ancestor of the denied
// directory moves the denied directory with it.
func (fc *fsCtx) underDeniedDir(fd int, st *unix.Stat_t) (bool, error) {
	found, _, err := walkUp(fd, st, func(k devIno) bool { return fc.denied[k] || fc.live.pathDenied(k) })
	return found, err
}

// walkUp reports whether match holds for a directory on the way from the
// object fd (stat st) up to the root: from the object itself when it is a
// directory, else from the directory holding it (parentOf). named is
// false, and nothing is walked, for an object with no name in the tree
// (an unlinked file, a pipe, a socket, an anonymous inode). A nil match
// only establishes named. The walk follows ".." on O_PATH fds, so it goes
// up the live dentry tree and across mount points, as Landlock does.
func walkUp(fd int, st *unix.Stat_t, match func(devIno) bool) (found, named bool, err error) {
	if st.Mode&unix.S_IFMT != unix.S_IFDIR && st.Nlink == 0 {
		return false, false, nil // unlinked (memfd, O_TMPFILE, deleted): in no directory
	}
	var cur int
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		if cur, err = unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0); err != nil {
			return false, true, err
		}
	} else {
		if cur, err = parentOf(fd, st); err != nil {
			return false, true, err
		}
		if cur < 0 {
			return false, false, nil // no name in the tree (pipe, socket, anon inode)
		}
	}
	defer func() { unix.Close(cur) }()
	if match == nil {
		return false, true, nil
	}
	for range 4096 {
		var cs unix.Stat_t
		if err := unix.Fstat(cur, &cs); err != nil {
			return false, true, err
		}
		if match(statKey(&cs)) {
			return true, true, nil
		}
		up, err := openat2(cur, "..", unix.O_PATH|unix.O_CLOEXEC|unix.O_DIRECTORY, 0)
		if err != nil {
			return false, true, err
		}
		var us unix.Stat_t
		if err := unix.Fstat(up, &us); err != nil {
			unix.Close(up)
			return false, true, err
		}
		if statKey(&us) == statKey(&cs) {
			unix.Close(up)
			return false, true, nil // the root
		}
		unix.Close(cur)
		cur = up
	}
	return false, true, errors.New("sandlock: directory tree too deep")
}

// parentOf opens the directory holding the non-directory fd: -1 when the
// object has no name in the tree.
func parentOf(fd int, st *unix.Stat_t) (int, error) {
	for range 3 {
		name := fdPath(fd)
		if !strings.HasPrefix(name, "/") {
			return -1, nil
		}
		if strings.HasSuffix(name, " (deleted)") {
			continue
		}
		dir, err := unix.Open(filepath.Dir(name), unix.O_PATH|unix.O_CLOEXEC|unix.O_DIRECTORY, 0)
		if err != nil {
			continue
		}
		var ls unix.Stat_t
		if unix.Fstatat(dir, filepath.Base(name), &ls, unix.AT_SYMLINK_NOFOLLOW) == nil && statKey(&ls) == statKey(st) {
			return dir, nil
		}
		unix.Close(dir)
	}
	return -1, errors.New("sandlock: the file moved while its directory was looked up")
}
