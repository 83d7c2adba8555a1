package tests

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/sandlock-go/sandlock-go/clone3"
	"github.com/sandlock-go/sandlock-go/sandlock"
)

// Probe operations for the supervisor tests.
func init() {
	ops := map[string]func(args []string) error{
		// forkn:N:MODE makes up to N processes that stay alive until all
		// are made, with MODE fork (the fork system call where it
		// exists), clone (clone(SIGCHLD), what fork is on arm64),
		// cloneparent (clone(CLONE_PARENT|SIGCHLD)) or spawn (os/exec,
		// clone(CLONE_VM|CLONE_VFORK)). It fails with "made=K errno=E"
		// when a creation failed, and returns nil when all N were made.
		"forkn": func(a []string) error {
			n, _ := strconv.Atoi(a[0])
			return forkN(n, a[1])
		},
		// forkseq:N makes N processes one after the other, each waited
		// for before the next.
		"forkseq": func(a []string) error {
			n, _ := strconv.Atoi(a[0])
			for i := range n {
				if err := forkN(1, "clone"); err != nil {
					return fmt.Errorf("fork %d: %w", i, err)
				}
			}
			return nil
		},
		// getuid reports the uid as an error "uid=N".
		"getuid": func([]string) error { return fmt.Errorf("uid=%d", unix.Getuid()) },
		// nested:N runs /bin/true in a sandbox of its own with
		// MaxProcesses N (0: no supervisor). A nested listener's error
		// is reported as EBUSY when it is ErrNestedSupervisor wrapping
		// the seccomp step's EBUSY.
		"nested": func(a []string) error {
			n, _ := strconv.Atoi(a[0])
			p := withoutProc(base()) // /proc would need the supervisor's /proc rules
			p.Limits.MaxProcesses = n
			err := sandlock.Command(p, "/bin/true").Run()
			var ce *clone3.ChildError
			if errors.Is(err, sandlock.ErrNestedSupervisor) && errors.As(err, &ce) && errors.Is(err, unix.EBUSY) {
				return unix.EBUSY
			}
			return err
		},
	}
	for name, fn := range ops {
		if _, dup := extraProbeOps[name]; dup {
			panic("probe op registered twice: " + name)
		}
		extraProbeOps[name] = fn
	}
}

// forkN makes up to n child processes (see the forkn probe), then releases
// and reaps them.
func forkN(n int, mode string) error {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return err
	}
	var pids []int
	var cmds []*exec.Cmd
	var failed error
	for range n {
		if mode == "spawn" {
			// The child blocks reading the pipe (fd 0) until we close
			// our write end.
			cmd := exec.Command("/bin/sh", "-c", "read x")
			stdin, err := forkStdin(p[0])
			if err != nil {
				failed = err
				break
			}
			cmd.Stdin = stdin
			err = cmd.Start()
			stdin.Close()
			if err != nil {
				var errno syscall.Errno
				errors.As(err, &errno)
				failed = errno
				break
			}
			cmds = append(cmds, cmd)
			continue
		}
		pid, errno := rawFork(mode, p[0], p[1])
		if errno != 0 {
			failed = errno
			break
		}
		pids = append(pids, pid)
	}
	unix.Close(p[1])
	unix.Close(p[0])
	for _, pid := range pids {
		var ws unix.WaitStatus
		for {
			if _, err := unix.Wait4(pid, &ws, 0, nil); err != unix.EINTR {
				break
			}
		}
	}
	for _, c := range cmds {
		_ = c.Wait()
	}
	if failed != nil {
		name := failed.Error()
		if e, ok := failed.(syscall.Errno); ok {
			name = unix.ErrnoName(e)
		}
		return fmt.Errorf("made=%d errno=%s", len(pids)+len(cmds), name)
	}
	return nil
}

// forkStdin returns a new *os.File for fd, for a child's stdin.
func forkStdin(fd int) (*os.File, error) {
	d, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(d), "fork-stdin"), nil
}

// rawFork makes a process with the fork system call (mode "fork", where it
// exists) or clone (modes "clone", "cloneparent"); the child closes w, waits
// for EOF on r and exits. The child runs no Go code that could touch the
// runtime: raw system calls on memory allocated before the fork only.
func rawFork(mode string, r, w int) (int, syscall.Errno) {
	buf := make([]byte, 1)
	bufp := uintptr(unsafe.Pointer(&buf[0]))
	var pid uintptr
	var e syscall.Errno
	switch {
	case mode == "fork" && sysFork >= 0:
		pid, _, e = syscall.RawSyscall(uintptr(sysFork), 0, 0, 0)
	case mode == "cloneparent":
		pid, _, e = syscall.RawSyscall6(unix.SYS_CLONE, unix.CLONE_PARENT|uintptr(unix.SIGCHLD), 0, 0, 0, 0, 0)
	default:
		pid, _, e = syscall.RawSyscall6(unix.SYS_CLONE, uintptr(unix.SIGCHLD), 0, 0, 0, 0, 0)
	}
	if e != 0 {
		return 0, e
	}
	if pid == 0 {
		syscall.RawSyscall(unix.SYS_CLOSE, uintptr(w), 0, 0)
		for {
			_, _, e := syscall.RawSyscall(unix.SYS_READ, uintptr(r), bufp, 1)
			if e != unix.EINTR {
				break
			}
		}
		syscall.RawSyscall(unix.SYS_EXIT_GROUP, 0, 0, 0)
	}
	runtime.KeepAlive(buf)
	return int(pid), 0
}
