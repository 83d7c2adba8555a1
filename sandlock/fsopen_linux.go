//go:build linux

package sandlock

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// The open interception: Filesystem.Deny, the /proc and /sys rules and
// every virtual file are decided here, on the object an open resolves to.
//
// For each open, openat, openat2 and creat of the sandbox the supervisor
//  1. copies the path once from the caller's memory and checks the
//     notification is still pending (readChecked);
//  2. resolves it as the caller would (fsresolve_linux.go) to an O_PATH fd
//     of the object, relative to the caller's dirfd or cwd taken through
//     /proc/TID/fd/N or /proc/TID/cwd while the caller waits;
//  3. decides on that object: its (dev, ino) against the denied set, its
//     ancestry against denied directories, the /proc rules, the virtual
//     files;
//  4. acts on that object, never on the path again: a virtual file is a
//     sealed memfd; anything else is reopened through /proc/self/fd/N with
//     the caller's flags by an opener thread restricted by the sandbox's
//     own Landlock ruleset (fsopener_linux.go), so that Landlock decides
//     exactly as for the caller; a create happens with O_EXCL in the
//     parent directory that was checked;
//  5. injects the result with SECCOMP_IOCTL_NOTIF_ADDFD and
//     SECCOMP_ADDFD_FLAG_SEND (the caller's O_CLOEXEC kept), which also
//     answers the call; or answers the errno.
//
// TOCTOU: the caller's memory is read once (1) and never again; the
// kernel never re-reads the path (no CONTINUE). Between 2 and 4 the name
// may change, but the decision and the access are on the same object
// (the O_PATH fd), so a racing rename or symlink swap can only make the
// open act on the object that was checked. Landlock stays authoritative:
// the access is made under the sandbox's ruleset.

// fsCtx is the open interception's state for one sandbox.
type fsCtx struct {
	sv         *supervision
	op         *opener
	denied     map[devIno]bool // Filesystem.Deny objects
	deniedDirs bool            // some of them are directories
	live       *liveState      // objects the policy callback denied since
	proc, sys  bool            // the /proc and /sys rules are on
	procDev    uint64
	selfPid    int
	leader     int
	// virtual files: by object for existing host files, by procfs name
	// (with /proc/self for any /proc/PID), and by lexical path for files
	// the host does not have.
	virtByObj  map[devIno]*virtualFile
	virtByName map[string]*virtualFile
}

// openCalls are the system calls that open files.
var openCalls = []string{"open", "openat", "openat2", "creat"}

// denyCalls are the other calls that name a path, notified with Deny.
var denyCalls = []string{
	"execve", "execveat", "link", "linkat", "rename", "renameat", "renameat2",
	"symlink", "symlinkat", "truncate",
}

// fsCalls lists the calls of the open interception for p.
func fsCalls(p *Policy) []string {
	var calls []string
	// A policy callback may deny paths at run time (EventContext.DenyPath).
	dyn := p.OnEvent != nil
	if dyn || len(p.Filesystem.Deny) > 0 || p.procReachable() || p.sysReachable() || len(virtualFiles(p)) > 0 {
		calls = append(calls, openCalls...)
	}
	if dyn || len(p.Filesystem.Deny) > 0 {
		calls = append(calls, denyCalls...)
	}
	return calls
}

// fsFeature is the open interception, in the features list.
var fsFeature = feature{name: "file system interception", calls: fsCalls, setup: setupFS}

// errDenyMissing is wrapped for a Filesystem.Deny path that cannot be
// looked up at Create.
var errDenyMissing = errors.New("cannot look up the denied path")

// denySet stats each Filesystem.Deny path (following symbolic links: the
// object is denied, whatever names it).
func denySet(p *Policy) (map[devIno]bool, bool, error) {
	set := map[devIno]bool{}
	dirs := false
	for _, d := range p.Filesystem.Deny {
		var st unix.Stat_t
		if err := unix.Stat(d, &st); err != nil {
			return nil, false, &PolicyError{Field: "filesystem.deny", Value: d, Err: fmt.Errorf("%w: %w", errDenyMissing, err)}
		}
		set[statKey(&st)] = true
		dirs = dirs || st.Mode&unix.S_IFMT == unix.S_IFDIR
	}
	return set, dirs, nil
}

// newFsCtx is the state the file system features share for one sandbox:
// its deny set, what of /proc and /sys it reaches, and who it is.
func newFsCtx(sv *supervision) (*fsCtx, error) {
	p := sv.policy
	denied, dirs, err := denySet(p)
	if err != nil {
		return nil, err
	}
	fc := &fsCtx{
		sv: sv, denied: denied, deniedDirs: dirs, live: sv.live,
		proc: p.procReachable(), sys: p.sysReachable(),
		selfPid: os.Getpid(), leader: sv.pid,
		virtByObj: map[devIno]*virtualFile{}, virtByName: map[string]*virtualFile{},
	}
	var st unix.Stat_t
	if err := unix.Stat("/proc", &st); err == nil {
		fc.procDev = uint64(st.Dev)
	}
	return fc, nil
}

func setupFS(sv *supervision) (map[string]dispatch, error) {
	p := sv.policy
	fc, err := newFsCtx(sv)
	if err != nil {
		return nil, err
	}
	for _, v := range virtualFiles(p) {
		fc.addVirtual(v)
	}
	rfd := -1
	if sv.plan != nil && sv.plan.landlock != nil {
		rfd = sv.plan.landlock.fd
	}
	if fc.op, err = newOpener(rfd); err != nil {
		return nil, err
	}
	sv.atExit = append(sv.atExit, fc.op.close)
	hs := map[string]dispatch{}
	for _, name := range openCalls {
		hs[name] = dispatch{fn: fc.openHandler(name), slow: true}
	}
	for name, fn := range fc.denyHandlers() {
		hs[name] = dispatch{fn: fn, slow: true}
	}
	return hs, nil
}

// addVirtual registers v under the name the supervisor's own resolution of
// its path gives (so that every spelling matches), or its cleaned path when
// the host has no such file.
func (fc *fsCtx) addVirtual(v virtualFile) {
	vf := v
	fd, err := unix.Open(v.path, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		fc.virtByName[filepath.Clean(v.path)] = &vf
		return
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil {
		return
	}
	if uint64(st.Dev) == fc.procDev {
		fc.virtByName[procKey(fdPath(fd), fc.selfPid)] = &vf
		return
	}
	fc.virtByObj[statKey(&st)] = &vf
}

// procKey names a procfs object with /proc/self for any /proc/PID.
func procKey(name string, _ int) string {
	if pid := procPid(name); pid > 0 {
		rest := strings.TrimPrefix(name, "/proc/")
		_, after, _ := strings.Cut(rest, "/")
		if after == "" {
			return "/proc/self"
		}
		// /proc/PID/task/TID/x is /proc/self/x as well.
		if t, ok := strings.CutPrefix(after, "task/"); ok {
			if _, x, ok := strings.Cut(t, "/"); ok {
				after = x
			}
		}
		return "/proc/self/" + after
	}
	return name
}

// openArgs are an open-family call's arguments.
type openArgs struct {
	dirfd   int
	pathPtr uint64
	flags   uint64
	mode    uint32
	resolve uint64
}

// decodeOpen reads the arguments of call; openat2's struct open_how is
// copied from memory (its size checked as the kernel does).
func (fc *fsCtx) decodeOpen(name string, n *notif) (openArgs, syscall.Errno) {
	a := n.args
	// open, creat and openat drop unknown flags and mode bits, as the
	// kernel does for them (openat2 rejects them instead).
	legacy := func(dirfd int, path, flags, mode uint64) openArgs {
		return openArgs{dirfd: dirfd, pathPtr: path, flags: flags & validOpenFlags &^ uint64(unix.O_LARGEFILE), mode: uint32(mode) & 0o7777}
	}
	switch name {
	case "open":
		return legacy(unix.AT_FDCWD, a[0], a[1], a[2]), 0
	case "creat":
		return legacy(unix.AT_FDCWD, a[0], unix.O_CREAT|unix.O_WRONLY|unix.O_TRUNC, a[1]), 0
	case "openat":
		return legacy(int(int32(a[0])), a[1], uint64(uint32(a[2])), a[3]), 0
	}
	// openat2(dirfd, path, how, size)
	size := a[3]
	if size < 24 {
		return openArgs{}, unix.EINVAL
	}
	if size > 4096 {
		return openArgs{}, unix.E2BIG
	}
	how := make([]byte, size)
	if e := readChecked(n.lfd, n, a[2], how); e != 0 {
		return openArgs{}, e
	}
	for _, b := range how[24:] {
		if b != 0 {
			return openArgs{}, unix.E2BIG
		}
	}
	le := binary.LittleEndian
	oa := openArgs{dirfd: int(int32(a[0])), pathPtr: a[1], flags: le.Uint64(how[0:]), mode: uint32(le.Uint64(how[8:])), resolve: le.Uint64(how[16:])}
	mode := le.Uint64(how[8:])
	switch {
	case oa.flags&^validOpenFlags != 0, mode&^0o7777 != 0,
		mode != 0 && oa.flags&unix.O_CREAT == 0 && oa.flags&unix.O_TMPFILE != unix.O_TMPFILE:
		return openArgs{}, unix.EINVAL
	}
	return oa, 0
}

// readPath copies a NUL-terminated path from the caller, page by page so
// that a path near an unmapped page is still read. ENAMETOOLONG past
// PATH_MAX, EFAULT when unreadable, ENOENT when the caller is gone.
func readPath(n *notif, addr uint64) (string, syscall.Errno) {
	if addr == 0 {
		return "", unix.EFAULT
	}
	var out []byte
	for len(out) < unix.PathMax {
		chunk := 4096 - int(addr%4096)
		chunk = min(chunk, unix.PathMax-len(out))
		buf := make([]byte, chunk)
		if err := readChildMem(n.pid, addr, buf); err != nil {
			return "", unix.EFAULT
		}
		if i := slices.Index(buf, 0); i >= 0 {
			out = append(out, buf[:i]...)
			if !idValid(n.lfd, n.id) {
				return "", unix.ENOENT
			}
			return string(out), 0
		}
		out = append(out, buf...)
		addr += uint64(chunk)
	}
	return "", unix.ENAMETOOLONG
}

// openHandler is the handler of one open-family call.
func (fc *fsCtx) openHandler(name string) notifHandler {
	return func(n *notif) verdictResp {
		oa, e := fc.decodeOpen(name, n)
		if e != 0 {
			return respErrno(e)
		}
		path, e := readPath(n, oa.pathPtr)
		if e != 0 {
			return respErrno(e)
		}
		if path == "" {
			return respErrno(unix.ENOENT)
		}
		return fc.open(&caller{n: n, tid: n.pid}, oa, path)
	}
}

// open decides and performs one open on behalf of the caller.
func (fc *fsCtx) open(c *caller, oa openArgs, path string) verdictResp {
	flags := oa.flags
	creat := flags&unix.O_CREAT != 0 && flags&unix.O_TMPFILE != unix.O_TMPFILE
	excl := creat && flags&unix.O_EXCL != 0
	req := resolveReq{
		dirfd: oa.dirfd, path: path, resolve: oa.resolve,
		follow: flags&unix.O_NOFOLLOW == 0 && !excl,
		dir:    flags&unix.O_DIRECTORY != 0 && flags&unix.O_TMPFILE != unix.O_TMPFILE,
	}
	for range 4 {
		fd, err := fc.resolve(c, req)
		if err == unix.ENOENT && creat {
			v, retry := fc.create(c, oa, path)
			if retry {
				continue
			}
			return v
		}
		if err == unix.ENOENT {
			if v := fc.virtByName[fc.lexical(c, oa.dirfd, path)]; v != nil {
				return fc.serveVirtual(c, v, flags)
			}
		}
		if err != nil {
			return respErrno(errnoOf(err))
		}
		return fc.openExisting(c, fd, oa)
	}
	return respErrno(unix.EACCES)
}

// openExisting finishes an open whose object exists (fd: O_PATH, ours).
func (fc *fsCtx) openExisting(c *caller, fd int, oa openArgs) verdictResp {
	defer unix.Close(fd)
	flags := oa.flags
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return respErrno(errnoOf(err))
	}
	if flags&unix.O_CREAT != 0 && flags&unix.O_EXCL != 0 && flags&unix.O_TMPFILE != unix.O_TMPFILE {
		return respErrno(unix.EEXIST)
	}
	name, e := fc.check(c, fd, &st)
	if e != 0 {
		return respErrno(e)
	}
	if v := fc.virtual(name, &st); v != nil {
		return fc.serveVirtual(c, v, flags)
	}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK && flags&unix.O_PATH == 0 {
		return respErrno(unix.ELOOP) // O_NOFOLLOW on a symbolic link
	}
	if flags&unix.O_PATH != 0 {
		// The kernel cannot inject an O_PATH fd (ADDFD takes fget, which
		// refuses them). An O_PATH fd grants no access of its own: every
		// use that reaches content or makes a name (an open through
		// /proc/self/fd, openat relative to it, linkat or execveat with
		// AT_EMPTY_PATH) comes back here and is decided on its object.
		// So the kernel makes it (CONTINUE) once the object was checked;
		// a racing path swap can only hand out a handle for metadata
		// (fstat, fchdir), which Deny does not cover in any case.
		return respContinue
	}
	tmpfile := flags&unix.O_TMPFILE == unix.O_TMPFILE
	var umask int
	if tmpfile {
		c.procUsed = true
		umask = procStatusInt(c.tid, "Umask:")
	}
	// The notification was checked after the path was read; check it
	// again only if something was taken from /proc/TID since (the TID
	// may name another process if the caller died). Otherwise ADDFD
	// itself fails for a notification that is gone.
	if c.procUsed && !idValid(c.n.lfd, c.n.id) {
		return respErrno(unix.ENOENT)
	}
	reopen := flags&^uint64(unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW) | unix.O_CLOEXEC
	var mode uint64
	if tmpfile {
		mode = uint64(oa.mode)
	}
	// The open and the injection both run on the opener thread: the
	// caller is answered from there, before this thread is woken with
	// the result.
	var v verdictResp
	if fifoMayBlock(st.Mode, flags) {
		// May wait forever for a peer: watched, and woken or
		// abandoned once nobody waits for it (fsfifo_linux.go). The
		// job owns its own dup of the checked object, so that an
		// abandoned job never reopens a reused fd number.
		jfd, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			return respErrno(errnoOf(err))
		}
		// Likewise the listener: the supervisor closes its own when it
		// ends, and an abandoned job must never ADDFD into a reused fd
		// number (another sandbox's listener). The id is copied: n is
		// reused for the thread's next notification.
		jlfd, err := unix.FcntlInt(uintptr(c.n.lfd), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			unix.Close(jfd)
			return respErrno(errnoOf(err))
		}
		n, id := c.n, c.n.id
		res := make(chan verdictResp, 1)
		derr := fc.op.doWatched(func() {
			defer unix.Close(jfd)
			defer unix.Close(jlfd)
			nfd, err := openat2m(unix.AT_FDCWD, procSelfFd(jfd), reopen, 0, 0)
			if err != nil {
				res <- respErrno(errnoOf(err))
				return
			}
			res <- inject(jlfd, id, nfd, flags)
			unix.Close(nfd)
		}, func() bool { return notifGone(n) }, func() bool { return wakeFIFO(fd, flags) })
		if derr != nil {
			return respErrno(unix.EACCES)
		}
		return <-res
	}
	if derr := fc.op.do(func() {
		if tmpfile {
			unix.Umask(umask)
		}
		nfd, err := openat2m(unix.AT_FDCWD, procSelfFd(fd), reopen, mode, 0)
		if err != nil {
			v = respErrno(errnoOf(err))
			return
		}
		v = inject(c.n.lfd, c.n.id, nfd, flags)
		unix.Close(nfd)
	}); derr != nil {
		return respErrno(unix.EACCES)
	}
	return v
}

// create makes a new file for an O_CREAT open whose path does not exist:
// in the parent directory resolved and checked here, with O_EXCL, by an
// opener thread under the caller's umask. retry is true when a file of
// that name appeared meanwhile (the open starts over).
func (fc *fsCtx) create(c *caller, oa openArgs, path string) (v verdictResp, retry bool) {
	if strings.HasSuffix(path, "/") {
		return respErrno(unix.EISDIR), false
	}
	dir, base := filepath.Split(path)
	if base == "." || base == ".." {
		return respErrno(unix.EISDIR), false
	}
	if dir == "" {
		dir = "."
	}
	pfd, err := fc.resolve(c, resolveReq{dirfd: oa.dirfd, path: dir, follow: true, dir: true, resolve: oa.resolve})
	if err != nil {
		return respErrno(errnoOf(err)), false
	}
	defer unix.Close(pfd)
	var st unix.Stat_t
	if err := unix.Fstat(pfd, &st); err != nil {
		return respErrno(errnoOf(err)), false
	}
	if _, e := fc.check(c, pfd, &st); e != 0 {
		return respErrno(e), false
	}
	// The umask comes from /proc/TID: read it before the check that
	// the caller is still the one waiting.
	umask := procStatusInt(c.tid, "Umask:")
	if !idValid(c.n.lfd, c.n.id) {
		return respErrno(unix.ENOENT), false
	}
	flags := oa.flags | unix.O_EXCL | unix.O_CLOEXEC | unix.O_NOFOLLOW
	var nfd int
	var res verdictResp
	if derr := fc.op.do(func() {
		unix.Umask(umask)
		nfd, err = openat2m(unix.AT_FDCWD, procSelfFd(pfd)+"/"+base, flags, uint64(oa.mode), 0)
		if err == nil {
			res = inject(c.n.lfd, c.n.id, nfd, oa.flags)
			unix.Close(nfd)
		}
	}); derr != nil {
		return respErrno(unix.EACCES), false
	}
	switch {
	case err == unix.EEXIST && oa.flags&unix.O_EXCL == 0:
		var ls unix.Stat_t
		if unix.Fstatat(pfd, base, &ls, unix.AT_SYMLINK_NOFOLLOW) == nil && ls.Mode&unix.S_IFMT == unix.S_IFLNK {
			// A dangling symbolic link: creating its target is refused
			// (a classic redirection; docs/notes-fs.md).
			return respErrno(unix.EACCES), false
		}
		return verdictResp{}, true
	case err != nil:
		return respErrno(errnoOf(err)), false
	}
	return res, false
}

// lexical is the cleaned absolute path of path for the caller (for virtual
// files the host does not have).
func (fc *fsCtx) lexical(c *caller, dirfd int, path string) string {
	if filepath.IsAbs(path) {
		return filepath.Clean(path)
	}
	fd, err := dirfdOf(c, dirfd)
	if err != nil {
		return ""
	}
	defer unix.Close(fd)
	return filepath.Join(fdPath(fd), path)
}

// virtual returns the virtual file served for the object, if any.
func (fc *fsCtx) virtual(name string, st *unix.Stat_t) *virtualFile {
	if name != "" && uint64(st.Dev) == fc.procDev {
		return fc.virtByName[procKey(name, fc.selfPid)]
	}
	return fc.virtByObj[statKey(st)]
}

// serveVirtual injects a sealed memfd holding v's content. Virtual files
// are read-only: asking to write, truncate or list them is EACCES,
// EACCES and ENOTDIR.
func (fc *fsCtx) serveVirtual(c *caller, v *virtualFile, flags uint64) verdictResp {
	switch {
	case flags&unix.O_DIRECTORY != 0:
		return respErrno(unix.ENOTDIR)
	case flags&(unix.O_WRONLY|unix.O_RDWR|unix.O_TRUNC) != 0:
		return respErrno(unix.EACCES)
	}
	content, err := v.content()
	if err != nil {
		return respErrno(unix.EIO)
	}
	fd, err := sealedMemfd(filepath.Base(v.path), content)
	if err != nil {
		return respErrno(errnoOf(err))
	}
	defer unix.Close(fd)
	return inject(c.n.lfd, c.n.id, fd, flags)
}

// sealedMemfd makes a memfd holding content that nobody can change
// (F_SEAL_WRITE, GROW, SHRINK, SEAL), its offset at 0.
func sealedMemfd(name string, content []byte) (int, error) {
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return -1, os.NewSyscallError("memfd_create", err)
	}
	for off := 0; off < len(content); {
		n, err := unix.Pwrite(fd, content[off:], int64(off))
		if err != nil {
			unix.Close(fd)
			return -1, os.NewSyscallError("pwrite", err)
		}
		off += n
	}
	seals := unix.F_SEAL_SEAL | unix.F_SEAL_WRITE | unix.F_SEAL_GROW | unix.F_SEAL_SHRINK
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, seals); err != nil {
		unix.Close(fd)
		return -1, os.NewSyscallError("fcntl F_ADD_SEALS", err)
	}
	return fd, nil
}

// inject installs our fd in the caller (SECCOMP_IOCTL_NOTIF_ADDFD with
// SEND: the new fd number is the call's result), close-on-exec when the
// caller asked O_CLOEXEC.
func inject(lfd int, id uint64, fd int, flags uint64) verdictResp {
	var buf [24]byte
	b := buf[:]
	le := binary.LittleEndian
	le.PutUint64(b[0:], id)
	le.PutUint32(b[8:], unix.SECCOMP_ADDFD_FLAG_SEND)
	le.PutUint32(b[12:], uint32(fd))
	if flags&unix.O_CLOEXEC != 0 {
		le.PutUint32(b[20:], unix.O_CLOEXEC)
	}
	var err error
	for {
		if err = ioctlBuf(lfd, unix.SECCOMP_IOCTL_NOTIF_ADDFD, b); err != unix.EINTR {
			break
		}
	}
	if err != nil {
		// EMFILE and friends: the call was not answered; answer it.
		// ENOENT: the caller is gone, answering fails harmlessly.
		return respErrno(errnoOf(err))
	}
	return verdictResp{sent: true}
}

// validOpenFlags is the kernel's VALID_OPEN_FLAGS.
const validOpenFlags = uint64(unix.O_ACCMODE | unix.O_CREAT | unix.O_EXCL | unix.O_NOCTTY | unix.O_TRUNC |
	unix.O_APPEND | unix.O_NONBLOCK | unix.O_SYNC | unix.O_DSYNC | unix.O_ASYNC | unix.O_DIRECT |
	unix.O_LARGEFILE | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_NOATIME | unix.O_CLOEXEC |
	unix.O_PATH | unix.O_TMPFILE)

func openat2m(dirfd int, path string, flags, mode, resolve uint64) (int, error) {
	for {
		fd, err := unix.Openat2(dirfd, path, &unix.OpenHow{Flags: flags, Mode: mode, Resolve: resolve})
		if err != unix.EINTR {
			return fd, err
		}
	}
}

func errnoOf(err error) syscall.Errno {
	var e syscall.Errno
	if errors.As(err, &e) {
		return e
	}
	return unix.EACCES
}

func itoa(n int) string { return strconv.Itoa(n) }

// procSelfFd is "/proc/self/fd/N" for our fd N.
func procSelfFd(fd int) string { return "/proc/self/fd/" + strconv.Itoa(fd) }
