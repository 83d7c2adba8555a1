package tests

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Probe operations for the seccomp tests. Where it can, each one is made
// so that without the filter the kernel would answer something other than
// EPERM (a path that does not exist, a bad fd, a NULL pointer), so that an
// EPERM can only come from the filter, not from Landlock (which also fails
// mount and friends with EPERM) or the kernel's own checks.
func init() {
	num := func(s string) uintptr {
		v, err := strconv.ParseUint(s, 0, 64)
		if err != nil {
			panic(fmt.Sprintf("probe: bad number %q", s))
		}
		return uintptr(v)
	}
	ops := map[string]func(args []string) error{
		// raw:NR:A0:A1...: a system call with numeric arguments.
		"raw": func(a []string) error {
			var v [6]uintptr
			for i, s := range a[1:] {
				v[i] = num(s)
			}
			_, _, e := unix.Syscall6(num(a[0]), v[0], v[1], v[2], v[3], v[4], v[5])
			return errnoOrNil(e)
		},
		"statfs": func(a []string) error {
			var st unix.Statfs_t
			return unix.Statfs(a[0], &st)
		},
		"chdir": func(a []string) error { return unix.Chdir(a[0]) },
		"opath": func(a []string) error {
			fd, err := unix.Open(a[0], unix.O_PATH|unix.O_CLOEXEC, 0)
			if err == nil {
				unix.Close(fd)
			}
			return err
		},
		"mount":      func(a []string) error { return unix.Mount("none", a[0], "tmpfs", 0, "") },
		"umount2":    func(a []string) error { return unix.Unmount(a[0], 0) },
		"pivot_root": func(a []string) error { return unix.PivotRoot(a[0], a[1]) },
		"chroot":     func(a []string) error { return unix.Chroot(a[0]) },
		"fsopen":     func(a []string) error { return closeFd(unix.Fsopen(a[0], unix.FSOPEN_CLOEXEC)) },
		"fspick": func(a []string) error {
			return closeFd(unix.Fspick(unix.AT_FDCWD, a[0], unix.FSPICK_CLOEXEC))
		},
		"open_tree": func(a []string) error {
			return closeFd(unix.OpenTree(unix.AT_FDCWD, a[0], unix.OPEN_TREE_CLOEXEC))
		},
		// socket:DOMAIN:TYPE[:PROTOCOL]
		"socket": func(a []string) error {
			proto := 0
			if len(a) > 2 {
				proto = int(num(a[2]))
			}
			return closeFd(unix.Socket(int(num(a[0])), int(num(a[1])), proto))
		},
		// socketpair:DOMAIN:TYPE
		"socketpair": func(a []string) error {
			fds, err := unix.Socketpair(int(num(a[0])), int(num(a[1])), 0)
			if err == nil {
				unix.Close(fds[0])
				unix.Close(fds[1])
			}
			return err
		},
		// ioctlpipe:REQ on a pipe, with a pointer to an int (FIONREAD fills
		// it; TIOCSTI and the SIOC* queries fail with ENOTTY on a pipe
		// when the filter lets them through).
		"ioctlpipe": func(a []string) error {
			var p [2]int
			if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
				return err
			}
			defer unix.Close(p[0])
			defer unix.Close(p[1])
			_, err := unix.IoctlGetInt(p[0], uint(num(a[0])))
			return err
		},
		// shmget / msgget / semget: create a private object, then remove
		// it.
		"shmget": func([]string) error {
			id, err := unix.SysvShmGet(unix.IPC_PRIVATE, 4096, unix.IPC_CREAT|0o600)
			if err != nil {
				return err
			}
			_, err = unix.SysvShmCtl(id, unix.IPC_RMID, nil)
			return err
		},
		"msgget": func([]string) error {
			r, _, e := unix.Syscall(unix.SYS_MSGGET, unix.IPC_PRIVATE, unix.IPC_CREAT|0o600, 0)
			if e != 0 {
				return e
			}
			_, _, e = unix.Syscall(unix.SYS_MSGCTL, r, unix.IPC_RMID, 0)
			return errnoOrNil(e)
		},
		"semget": func([]string) error {
			r, _, e := unix.Syscall(unix.SYS_SEMGET, unix.IPC_PRIVATE, 1, unix.IPC_CREAT|0o600)
			if e != 0 {
				return e
			}
			_, _, e = unix.Syscall6(unix.SYS_SEMCTL, r, 0, unix.IPC_RMID, 0, 0, 0)
			return errnoOrNil(e)
		},
		// spawn[:CLONEFLAGS]: fork and exec /bin/true the way Go does
		// (clone, not clone3), with extra clone flags.
		"spawn": func(a []string) error {
			cmd := exec.Command("/bin/true")
			if len(a) > 0 {
				cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: num(a[0])}
			}
			return cmd.Run()
		},
		// exec:PROG:ARGS...: run a program (through PATH) and report its
		// failure with its output.
		"exec": func(a []string) error {
			out, err := exec.Command(a[0], a[1:]...).CombinedOutput()
			if err != nil {
				return fmt.Errorf("%v: %s", err, strings.TrimSpace(string(out)))
			}
			return nil
		},
		// gothreads: start 32 OS threads (clone with CLONE_THREAD) that
		// each make a system call.
		"gothreads": func([]string) error {
			done := make(chan int, 32)
			for range 32 {
				go func() {
					runtime.LockOSThread() // never reused: the next one is a new thread
					done <- unix.Gettid()
				}()
			}
			seen := map[int]bool{}
			for range 32 {
				seen[<-done] = true
			}
			if len(seen) != 32 {
				return fmt.Errorf("%d distinct threads", len(seen))
			}
			return nil
		},
		// personality:PERSONA; 0xffffffff queries.
		"personality": func(a []string) error {
			_, _, e := unix.Syscall(unix.SYS_PERSONALITY, num(a[0]), 0, 0)
			return errnoOrNil(e)
		},
		// prctl:OPTION:ARG2
		"prctl": func(a []string) error {
			var arg uintptr
			if len(a) > 1 {
				arg = num(a[1])
			}
			_, _, e := unix.Syscall6(unix.SYS_PRCTL, num(a[0]), arg, 0, 0, 0, 0)
			return errnoOrNil(e)
		},
		"getpid": func([]string) error {
			if unix.Getpid() != os.Getpid() {
				return fmt.Errorf("getpid disagrees")
			}
			return nil
		},
	}
	for name, fn := range ops {
		if _, dup := extraProbeOps[name]; dup {
			panic("probe op registered twice: " + name)
		}
		extraProbeOps[name] = fn
	}
}

func errnoOrNil(e syscall.Errno) error {
	if e != 0 {
		return e
	}
	return nil
}

func closeFd(fd int, err error) error {
	if err == nil {
		unix.Close(fd)
	}
	return err
}
