package tests

import (
	"fmt"
	"runtime"
	"strconv"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// metaLegacyNr are the metadata calls of amd64 only (fsmeta_amd64_test.go).
var metaLegacyNr = map[string]uintptr{}

// The metadata calls without a constant in x/sys on every architecture
// (the same numbers on amd64 and arm64).
const (
	sysFchmodat2     = 452
	sysSetxattrat    = 463
	sysRemovexattrat = 466
)

// metaTime is the time the time-setting probes set (seconds).
const metaTime = 1000000000

func init() {
	// meta:CALL:PATH makes one metadata call on PATH with raw system
	// calls: mode 0600, owner the caller's own uid and gid, times
	// metaTime, xattr user.sandlock="v" (set) or removed. The fd variants
	// open PATH read-only first; the *-empty variants open it O_PATH (no
	// access: Landlock lets it through) and use AT_EMPTY_PATH; *-opath
	// variants give an O_PATH fd to the fd call.
	extraProbeOps["meta"] = func(a []string) error { return metaCall(a[0], a[1]) }
	// metarace:ALLOWED:OTHER:N chmods (0600, then 0644 back) the path in
	// one buffer N times while two threads rewrite the buffer between
	// ALLOWED and OTHER (same length). Reports "ok=A failed=F".
	extraProbeOps["metarace"] = func(a []string) error {
		allowed, other := []byte(a[0]+"\x00"), []byte(a[1]+"\x00")
		n, _ := strconv.Atoi(a[2])
		buf := make([]byte, len(allowed))
		copy(buf, allowed)
		var stop atomic.Bool
		done := make(chan struct{}, 2)
		for range 2 {
			go func() {
				runtime.LockOSThread()
				for i := 0; !stop.Load(); i++ {
					src := allowed
					if i%2 == 1 {
						src = other
					}
					for j := range src {
						*(*byte)(unsafe.Pointer(&buf[j])) = src[j] // racy on purpose
					}
				}
				done <- struct{}{}
			}()
		}
		ok, failed := 0, 0
		p := uintptr(unsafe.Pointer(&buf[0]))
		for i := range n {
			mode := uintptr(0o600)
			if i%2 == 1 {
				mode = 0o644
			}
			if _, _, e := unix.Syscall(unix.SYS_FCHMODAT, ^uintptr(99), p, mode); e != 0 {
				failed++
			} else {
				ok++
			}
		}
		stop.Store(true)
		<-done
		<-done
		runtime.KeepAlive(buf)
		return fmt.Errorf("ok=%d failed=%d", ok, failed)
	}
	// metaflip:LINK:A:B:N chmods LINK (a symbolic link) N times while
	// a thread keeps replacing it (symlink + rename) by a link to A or to
	// B. Reports "ok=A failed=F".
	extraProbeOps["metaflip"] = func(a []string) error {
		link := a[0]
		n, _ := strconv.Atoi(a[3])
		var stop atomic.Bool
		done := make(chan struct{})
		go func() {
			runtime.LockOSThread()
			for i := 0; !stop.Load(); i++ {
				tmp := link + ".tmp"
				_ = unix.Symlink(a[1+i%2], tmp)
				_ = unix.Rename(tmp, link)
			}
			close(done)
		}()
		ok, failed := 0, 0
		for i := range n {
			mode := uint32(0o600)
			if i%2 == 1 {
				mode = 0o644
			}
			if unix.Fchmodat(unix.AT_FDCWD, link, mode, 0) != nil {
				failed++
			} else {
				ok++
			}
		}
		stop.Store(true)
		<-done
		return fmt.Errorf("ok=%d failed=%d", ok, failed)
	}
}

func metaCall(call, path string) error {
	p, err := unix.BytePtrFromString(path)
	if err != nil {
		return err
	}
	pp := uintptr(unsafe.Pointer(p))
	zero, nameB := make([]byte, 1), []byte("user.sandlock\x00")
	empty, name := uintptr(unsafe.Pointer(&zero[0])), uintptr(unsafe.Pointer(&nameB[0]))
	defer runtime.KeepAlive(zero)
	defer runtime.KeepAlive(nameB)
	value := []byte("v")
	vp := uintptr(unsafe.Pointer(&value[0]))
	uid, gid := uintptr(unix.Getuid()), uintptr(unix.Getgid())
	ts := [2]unix.Timespec{{Sec: metaTime}, {Sec: metaTime}}
	tsp := uintptr(unsafe.Pointer(&ts))
	tv := [2]unix.Timeval{{Sec: metaTime}, {Sec: metaTime}}
	tvp := uintptr(unsafe.Pointer(&tv))
	ub := [2]int64{metaTime, metaTime}
	ubp := uintptr(unsafe.Pointer(&ub))
	xargs := struct {
		value       uint64
		size, flags uint32
	}{uint64(vp), 1, 0}
	xap := uintptr(unsafe.Pointer(&xargs))
	const cwd = ^uintptr(99) // AT_FDCWD
	open := func(flags int) (uintptr, error) {
		fd, err := unix.Open(path, flags|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
		return uintptr(fd), err
	}
	var e unix.Errno
	sys := func(nr uintptr, a ...uintptr) {
		a = append(a, 0, 0, 0, 0, 0, 0)
		_, _, e = unix.Syscall6(nr, a[0], a[1], a[2], a[3], a[4], a[5])
	}
	var fd uintptr
	switch call {
	case "fchmod", "fchown", "futimesat-null", "utimensat-null", "fsetxattr", "fremovexattr":
		fd, err = open(unix.O_RDONLY)
	case "fchmodat2-empty", "fchownat-empty", "utimensat-empty", "setxattrat-empty", "fchmod-opath":
		fd, err = open(unix.O_PATH)
	}
	if err != nil {
		return err
	}
	defer unix.Close(int(fd))
	if nr, ok := metaLegacyNr[call]; ok {
		switch call {
		case "chmod":
			sys(nr, pp, 0o600)
		case "chown", "lchown":
			sys(nr, pp, uid, gid)
		case "utime":
			sys(nr, pp, ubp)
		case "utimes":
			sys(nr, pp, tvp)
		case "futimesat":
			sys(nr, cwd, pp, tvp)
		case "futimesat-null":
			sys(nr, fd, 0, tvp)
		}
		runtime.KeepAlive(p)
		runtime.KeepAlive(&ts)
		runtime.KeepAlive(&tv)
		runtime.KeepAlive(&ub)
		return errOrNil(e)
	}
	switch call {
	case "fchmod", "fchmod-opath":
		sys(unix.SYS_FCHMOD, fd, 0o600)
	case "fchmodat":
		sys(unix.SYS_FCHMODAT, cwd, pp, 0o600)
	case "fchmodat2":
		sys(sysFchmodat2, cwd, pp, 0o600, 0)
	case "fchmodat2-empty":
		sys(sysFchmodat2, fd, empty, 0o600, unix.AT_EMPTY_PATH)
	case "fchown":
		sys(unix.SYS_FCHOWN, fd, uid, gid)
	case "fchownat":
		sys(unix.SYS_FCHOWNAT, cwd, pp, uid, gid, 0)
	case "lchownat":
		sys(unix.SYS_FCHOWNAT, cwd, pp, uid, gid, unix.AT_SYMLINK_NOFOLLOW)
	case "fchownat-empty":
		sys(unix.SYS_FCHOWNAT, fd, empty, uid, gid, unix.AT_EMPTY_PATH)
	case "utimensat":
		sys(unix.SYS_UTIMENSAT, cwd, pp, tsp, 0)
	case "lutimensat":
		sys(unix.SYS_UTIMENSAT, cwd, pp, tsp, unix.AT_SYMLINK_NOFOLLOW)
	case "utimensat-null":
		sys(unix.SYS_UTIMENSAT, fd, 0, tsp, 0)
	case "utimensat-empty":
		sys(unix.SYS_UTIMENSAT, fd, empty, tsp, unix.AT_EMPTY_PATH)
	case "setxattr":
		sys(unix.SYS_SETXATTR, pp, name, vp, 1, 0)
	case "lsetxattr":
		sys(unix.SYS_LSETXATTR, pp, name, vp, 1, 0)
	case "fsetxattr":
		sys(unix.SYS_FSETXATTR, fd, name, vp, 1, 0)
	case "setxattrat":
		sys(sysSetxattrat, cwd, pp, 0, name, xap, 16)
	case "setxattrat-empty":
		sys(sysSetxattrat, fd, empty, unix.AT_EMPTY_PATH, name, xap, 16)
	case "removexattr":
		sys(unix.SYS_REMOVEXATTR, pp, name)
	case "lremovexattr":
		sys(unix.SYS_LREMOVEXATTR, pp, name)
	case "fremovexattr":
		sys(unix.SYS_FREMOVEXATTR, fd, name)
	case "removexattrat":
		sys(sysRemovexattrat, cwd, pp, 0, name)
	default:
		return fmt.Errorf("unknown metadata call %q", call)
	}
	runtime.KeepAlive(p)
	runtime.KeepAlive(&value)
	runtime.KeepAlive(&ts)
	runtime.KeepAlive(&xargs)
	return errOrNil(e)
}

func errOrNil(e unix.Errno) error {
	if e != 0 {
		return e
	}
	return nil
}
