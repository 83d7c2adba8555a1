package tests

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/sandlock-go/sandlock-go/sandlock"
)

// The kernel tests of the seccomp filter. Each runs the probe (the test
// binary) in a real sandbox and asserts the errno of each operation. Every
// denial has a positive twin, an allowed neighbour that must succeed, so
// that a filter that denies everything fails. The interpreter tests in
// package sandlock cover every number and argument; these check that the
// kernel agrees on a representative set.

// raw formats a probe "raw" operation: a system call with numeric
// arguments.
func raw(nr uintptr, args ...uint64) string {
	s := fmt.Sprintf("raw:%d", nr)
	for _, a := range args {
		s += fmt.Sprintf(":%#x", a)
	}
	return s
}

const (
	absent  = "/nonexistent-sandlock"
	badFd   = 0xffffffff // -1 as an int argument
	noPid   = 0x7fffffff // a pid that does not exist
	epermOK = "EPERM"
)

// TestSeccompMountFamily: the old and the new mount API and chroot. The
// paths do not exist and the fds are bad, so without the filter the kernel
// would say ENOENT or EBADF (Landlock checks mounts after the path lookup);
// chroot("/"), fsopen, fspick and open_tree would even succeed as root.
func TestSeccompMountFamily(t *testing.T) {
	checkOps(t, base(), []opCase{
		{"mount:" + absent, epermOK},
		{"umount2:" + absent, epermOK},
		{"pivot_root:" + absent + ":" + absent + "2", epermOK},
		{"chroot:/", epermOK},
		{"fsopen:tmpfs", epermOK},
		{"fspick:/", epermOK},
		{"open_tree:/", epermOK},
		{raw(unix.SYS_MOVE_MOUNT, badFd, 0, badFd, 0, 0), epermOK},
		{raw(unix.SYS_MOUNT_SETATTR, badFd, 0, 0, 0, 0), epermOK},
		{raw(unix.SYS_FSCONFIG, badFd, 0, 0, 0, 0), epermOK},
		{raw(unix.SYS_FSMOUNT, badFd, 0, 0), epermOK},
		// Twins: looking at mounts and moving around is fine.
		{"statfs:/", "OK"},
		{"chdir:/", "OK"},
		{"opath:/", "OK"},
		{raw(unix.SYS_GETCWD, 0, 0), "ERANGE"},
	})
}

// TestSeccompDenyList calls each system call of the default deny list with
// arguments that would fail (or do nothing) without the filter.
func TestSeccompDenyList(t *testing.T) {
	cases := []opCase{
		{raw(unix.SYS_SWAPON, 0, 0), epermOK},
		{raw(unix.SYS_SWAPOFF, 0), epermOK},
		{raw(unix.SYS_REBOOT, 0, 0, 0, 0), epermOK},                     // bad magic: EINVAL
		{raw(unix.SYS_SETHOSTNAME, 0, 100000), epermOK},                 // too long: EINVAL
		{raw(unix.SYS_SETDOMAINNAME, 0, 100000), epermOK},               // too long: EINVAL
		{raw(unix.SYS_KEXEC_LOAD, 0, 0xffffffff, 0, 0), epermOK},        // too many segments: EINVAL
		{raw(unix.SYS_KEXEC_FILE_LOAD, badFd, badFd, 0, 0, 0), epermOK}, // EBADF
		{raw(unix.SYS_INIT_MODULE, 0, 0, 0), epermOK},
		{raw(unix.SYS_FINIT_MODULE, badFd, 0, 0), epermOK},
		{raw(unix.SYS_DELETE_MODULE, 0, 0), epermOK},
		{raw(unix.SYS_SETNS, badFd, 0), epermOK},
		{raw(unix.SYS_PERF_EVENT_OPEN, 0, 0, badFd, badFd, 0), epermOK},
		{raw(unix.SYS_BPF, 0xffff, 0, 0), epermOK},
		{raw(unix.SYS_USERFAULTFD, 0xffffffff), epermOK},
		{raw(unix.SYS_KEYCTL, 0xffff, 0, 0, 0, 0), epermOK},
		{raw(unix.SYS_ADD_KEY, 0, 0, 0, 0, 0), epermOK},
		{raw(unix.SYS_REQUEST_KEY, 0, 0, 0, 0), epermOK},
		{raw(unix.SYS_PTRACE, unix.PTRACE_ATTACH, noPid), epermOK},
		{raw(unix.SYS_PROCESS_VM_READV, noPid, 0, 0, 0, 0, 0), epermOK},
		{raw(unix.SYS_PROCESS_VM_WRITEV, noPid, 0, 0, 0, 0, 0), epermOK},
		{raw(unix.SYS_OPEN_BY_HANDLE_AT, badFd, 0, 0), epermOK},
		{raw(unix.SYS_NAME_TO_HANDLE_AT, badFd, 0, 0, 0, 0), epermOK},
		{raw(unix.SYS_QUOTACTL, 0, 0, 0, 0), epermOK},
		{raw(unix.SYS_QUOTACTL_FD, badFd, 0, 0, 0), epermOK},
		{raw(unix.SYS_ACCT, 1), epermOK}, // a bad pointer: EFAULT
		{raw(unix.SYS_LOOKUP_DCOOKIE, 0, 0, 0), epermOK},
		{raw(unix.SYS_NFSSERVCTL, 0, 0, 0), epermOK},
		{raw(unix.SYS_IO_URING_SETUP, 0, 0), epermOK},
		{raw(unix.SYS_IO_URING_ENTER, badFd, 0, 0, 0, 0, 0), epermOK},
		{raw(unix.SYS_IO_URING_REGISTER, badFd, 0, 0, 0), epermOK},
		{raw(unix.SYS_CLOCK_SETTIME, unix.CLOCK_MONOTONIC, 0), epermOK},
		{raw(unix.SYS_SETTIMEOFDAY, 0, 0), epermOK}, // a no-op: OK
		{raw(unix.SYS_ADJTIMEX, 0), epermOK},
		{raw(unix.SYS_CLOCK_ADJTIME, 0, 0), epermOK},
		{raw(unix.SYS_SYSLOG, 10, 0, 0), epermOK}, // SYSLOG_ACTION_SIZE_BUFFER
		// Twins.
		{raw(unix.SYS_GETPPID), "OK"},
		{raw(unix.SYS_SCHED_YIELD), "OK"},
		{raw(unix.SYS_EVENTFD2, 0, unix.EFD_CLOEXEC), "OK"},
		{raw(unix.SYS_EPOLL_CREATE1, unix.EPOLL_CLOEXEC), "OK"},
		{raw(unix.SYS_GETRANDOM, 0, 0, 0), "OK"},
		{raw(unix.SYS_CLOCK_GETTIME, unix.CLOCK_MONOTONIC, 0), "EFAULT"},
		{raw(unix.SYS_KILL, 0, 0), "OK"},
	}
	checkOps(t, base(), append(cases, archDenyCases()...))
}

func TestSeccompPtracePersonalityPrctl(t *testing.T) {
	checkOps(t, base(), []opCase{
		{raw(unix.SYS_PTRACE, unix.PTRACE_ATTACH, noPid), epermOK}, // ESRCH without the filter
		{"kill-self", "OK"},
		{"personality:0x0040000", epermOK}, // ADDR_NO_RANDOMIZE
		{"personality:0x0", epermOK},       // PER_LINUX: a change too
		{"personality:0xffffffff", "OK"},   // the query
		{"prctl:4:1", epermOK},             // PR_SET_DUMPABLE
		{"prctl:28:0", epermOK},            // PR_SET_SECUREBITS
		{"prctl:0x59616d61:0", epermOK},    // PR_SET_PTRACER
		{"prctl:3", "OK"},                  // PR_GET_DUMPABLE
		{"prctl:27", "OK"},                 // PR_GET_SECUREBITS
		{"prctl:39", "OK"},                 // PR_GET_NO_NEW_PRIVS
	})
}

func TestSeccompSockets(t *testing.T) {
	checkOps(t, base(), []opCase{
		{"socket:2:3:1", epermOK},       // AF_INET SOCK_RAW ICMP
		{"socket:10:3:58", epermOK},     // AF_INET6 SOCK_RAW ICMPV6
		{"socket:2:0x80803:1", epermOK}, // raw with CLOEXEC|NONBLOCK
		{"socket:2:2", epermOK},         // UDP: denied by default
		{"socket:10:2", epermOK},        // UDPv6
		{"socket:2:2:1", epermOK},       // ICMP ping socket
		{"socket:2:10", epermOK},        // (AF_INET, SOCK_PACKET) is a packet socket
		{"socket:2:5:132", epermOK},     // SCTP
		{"socket:17:3", "EAFNOSUPPORT"}, // AF_PACKET
		{"socket:38:5", "EAFNOSUPPORT"}, // AF_ALG
		{"socket:40:1", "EAFNOSUPPORT"}, // AF_VSOCK
		{"socket:0x100000011:3", "EAFNOSUPPORT"},
		// socketpair creates the sockets before it checks for pair
		// support: without the filter these would be ENOTSUP/EOPNOTSUPP.
		{"socketpair:40:1", "EAFNOSUPPORT"}, // AF_VSOCK
		{"socketpair:2:2", "EAFNOSUPPORT"},  // AF_INET datagram
		{"socketpair:1:1", "OK"},            // AF_UNIX: the twin
		// Twins.
		{"socket:1:1", "OK"},       // AF_UNIX stream
		{"socket:1:2", "OK"},       // AF_UNIX datagram
		{"socket:2:1", "OK"},       // TCP
		{"socket:2:0x80801", "OK"}, // TCP, CLOEXEC|NONBLOCK
		{"socket:10:1", "OK"},      // TCPv6
		{"socket:16:3:0", "OK"},    // AF_NETLINK route: the virtual view (netvirt_test.go)
		{"self-abstract:sl-seccomp", "OK"},
	})
}

// TestSeccompIoctl: TIOCSTI and friends on a pipe. The pipe is not a
// terminal, so without the filter the kernel would say ENOTTY; with the
// high half of the command set, the kernel still sees TIOCSTI (it takes the
// command as an unsigned int), and so must the filter (CVE-2019-10063).
func TestSeccompIoctl(t *testing.T) {
	checkOps(t, base(), []opCase{
		{"ioctlpipe:0x5412", epermOK},      // TIOCSTI
		{"ioctlpipe:0x100005412", epermOK}, // TIOCSTI | 1<<32
		{"ioctlpipe:0xffffffff00005412", epermOK},
		{"ioctlpipe:0x541c", epermOK}, // TIOCLINUX
		{"ioctlpipe:0x8912", epermOK}, // SIOCGIFCONF
		{"ioctlpipe:0x8933", epermOK}, // SIOCGIFINDEX
		{"ioctlpipe:0x8927", epermOK}, // SIOCGIFHWADDR
		{"ioctlpipe:0x8946", epermOK}, // SIOCETHTOOL
		// Twins.
		{"ioctlpipe:0x541b", "OK"},      // FIONREAD
		{"ioctlpipe:0x10000541b", "OK"}, // FIONREAD | 1<<32: the kernel ignores the high half
		{"ioctlpipe:0x5401", "ENOTTY"},  // TCGETS reaches the kernel
		{"ioctlpipe:0x5413", "ENOTTY"},  // TIOCGWINSZ
	})
}

func TestSeccompSysVIPC(t *testing.T) {
	checkOps(t, base(), []opCase{
		{"shmget", epermOK},
		{"msgget", epermOK},
		{"semget", epermOK},
		{raw(unix.SYS_SHMAT, badFd, 0, 0), epermOK},
		{raw(unix.SYS_SEMTIMEDOP, badFd, 0, 0, 0), epermOK},
		{"getpid", "OK"},
	})
	p := base()
	p.Syscalls.ExtraAllow = []string{sandlock.SyscallGroupSysVIPC}
	checkOps(t, p, []opCase{
		{"shmget", "OK"},
		{"msgget", "OK"},
		{"semget", "OK"},
		{raw(unix.SYS_SHMAT, badFd, 0, 0), "EINVAL"},
	})
}

// TestSeccompNamespaces: unshare and clone with namespace flags fail; clone
// without them (fork, threads) works.
func TestSeccompNamespaces(t *testing.T) {
	checkOps(t, base(), []opCase{
		{raw(unix.SYS_UNSHARE, unix.CLONE_NEWUSER), epermOK},
		{raw(unix.SYS_UNSHARE, unix.CLONE_NEWNS), epermOK},
		{raw(unix.SYS_UNSHARE, unix.CLONE_NEWNET), epermOK},
		{fmt.Sprintf("spawn:%#x", unix.CLONE_NEWUSER), epermOK},
		{fmt.Sprintf("spawn:%#x", unix.CLONE_NEWNS), epermOK},
		{fmt.Sprintf("spawn:%#x", unix.CLONE_NEWPID|unix.CLONE_NEWNET), epermOK},
		{"spawn", "OK"},
		{"gothreads", "OK"},
	})
}

// TestSeccompClone3: clone3 fails with ENOSYS (clone3(NULL, 0) is EINVAL
// where clone3 is allowed), and programs whose libc or runtime tries clone3
// first still fork and start threads.
func TestSeccompClone3(t *testing.T) {
	checkOps(t, base(), []opCase{
		{raw(unix.SYS_CLONE3, 0, 0), "ENOSYS"},
		{raw(unix.SYS_GETPID), "OK"},
		{"spawn", "OK"},
		{"gothreads", "OK"},
		{"exec:sh:-c:echo a | cat | wc -c >/dev/null", "OK"},
	})
	t.Run("shell", func(t *testing.T) {
		out, errs, err := run(t, sandlock.Command(base(), "sh", "-c", "echo abc | tr a-c x-z | cat; (echo sub) & wait"))
		if err != nil || out != "xyz\nsub\n" {
			t.Fatalf("shell pipeline: %q %q %v", out, errs, err)
		}
	})
	t.Run("python", func(t *testing.T) {
		py := ""
		for _, p := range []string{"/usr/bin/python3", "/usr/local/bin/python3"} {
			if _, err := os.Stat(p); err == nil {
				py = p
				break
			}
		}
		if py == "" {
			t.Skip("no python3 in /usr/bin or /usr/local/bin")
		}
		code := `
import os, threading
out = []
ts = [threading.Thread(target=out.append, args=(i,)) for i in range(4)]
for t in ts: t.start()
for t in ts: t.join()
pid = os.fork()
if pid == 0:
    os._exit(7)
_, st = os.waitpid(pid, 0)
print(sorted(out), os.waitstatus_to_exitcode(st))
`
		out, errs, err := run(t, sandlock.Command(base(), py, "-c", code))
		if err != nil || out != "[0, 1, 2, 3] 7\n" {
			t.Fatalf("python: %q %q %v", out, errs, err)
		}
	})
}

// TestSeccompExtraDeny: names in syscalls.extra_deny fail with EPERM; the
// same calls without it reach the kernel.
func TestSeccompExtraDeny(t *testing.T) {
	p := base()
	p.Syscalls.ExtraDeny = []string{"getcwd", "uname", "personality"}
	checkOps(t, p, []opCase{
		{raw(unix.SYS_GETCWD, 0, 0), epermOK},
		{raw(unix.SYS_UNAME, 0), epermOK},
		{"personality:0xffffffff", epermOK},
		{raw(unix.SYS_GETPPID), "OK"},
	})
	checkOps(t, base(), []opCase{
		{raw(unix.SYS_GETCWD, 0, 0), "ERANGE"},
		{raw(unix.SYS_UNAME, 0), "EFAULT"},
	})
	for _, tc := range []struct {
		names []string
		want  string
	}{
		{[]string{"getcwd", "frobnicate"}, `"frobnicate": unknown system call name`},
		{[]string{"execve"}, "execve: cannot be denied"},
	} {
		p := base()
		p.Syscalls.ExtraDeny = tc.names
		err := sandlock.Command(p, "true").Run()
		var pe *sandlock.PolicyError
		if !errors.As(err, &pe) || pe.Field != "syscalls.extra_deny" || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("extra_deny %v: %v, want a *PolicyError with %q", tc.names, err, tc.want)
		}
	}
}

// signalOf returns the signal that killed the sandbox's program, or 0.
func signalOf(err error) syscall.Signal {
	var ee *sandlock.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return ws.Signal()
		}
	}
	var xe *exec.ExitError
	if errors.As(err, &xe) {
		if ws, ok := xe.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return ws.Signal()
		}
	}
	return 0
}

// TestCLINoSupervisor: run --no-supervisor confines the CLI itself and
// execs the program: exit status, Landlock, the relaxed filter, nesting a
// full sandbox inside, and the flags it cannot honour.
func TestCLINoSupervisor(t *testing.T) {
	t.Run("exit status and output", func(t *testing.T) {
		out, errs, code := cli(t, "run", "--no-supervisor", "--", "sh", "-c", "echo hi; exit 42")
		if code != 42 || out != "hi\n" {
			t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errs)
		}
	})
	t.Run("landlock", func(t *testing.T) {
		_, errs, code := cli(t, "run", "--no-supervisor", "--", "cat", "/etc/hostname")
		if code == 0 || !strings.Contains(errs, "Permission denied") {
			t.Fatalf("read /etc/hostname: exit %d, stderr %q", code, errs)
		}
		out, _, code := cli(t, "run", "--no-supervisor", "-r", "/etc/hostname", "--", "cat", "/etc/hostname")
		if code != 0 || out == "" {
			t.Fatalf("read /etc/hostname when granted: exit %d", code)
		}
	})
	t.Run("nested", func(t *testing.T) {
		out, errs, code := cli(t, "run", "--no-supervisor", "-r", cliPath, "--",
			cliPath, "run", "--", "echo", "nested-works")
		if code != 0 || out != "nested-works\n" {
			t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errs)
		}
	})
	t.Run("filter", func(t *testing.T) {
		self, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		cases := []opCase{
			// Denied in both modes.
			{raw(unix.SYS_BPF, 0xffff, 0, 0), epermOK},
			{raw(unix.SYS_IO_URING_SETUP, 0, 0), epermOK},
			{raw(unix.SYS_PERF_EVENT_OPEN, 0, 0, badFd, badFd, 0), epermOK},
			{raw(unix.SYS_INIT_MODULE, 0, 0, 0), epermOK},
			{raw(unix.SYS_CLOCK_SETTIME, unix.CLOCK_MONOTONIC, 0), epermOK},
			{"shmget", epermOK},
			{raw(unix.SYS_GETCWD, 0, 0), epermOK}, // --extra-deny-syscall
			// Relaxed: no argument filters, clone3 and ptrace reach the
			// kernel.
			{raw(unix.SYS_CLONE3, 0, 0), "EINVAL"},
			{raw(unix.SYS_PTRACE, unix.PTRACE_ATTACH, noPid), "ESRCH"},
			{"personality:0xffffffff", "OK"},
			{"socket:2:2", "OK"},
			{"ioctlpipe:0x541b", "OK"},
			{"getpid", "OK"},
		}
		var ops []string
		for _, c := range cases {
			ops = append(ops, c.op)
		}
		cmd := exec.Command(cliPath, append([]string{"run", "--no-supervisor", "-r", self,
			"--extra-deny-syscall", "getcwd", "--", self}, ops...)...)
		cmd.Env = append(os.Environ(), helperEnv+"=probe")
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%v\n%s", err, b)
		}
		got := map[string]string{}
		for _, line := range strings.Split(string(b), "\n") {
			if op, r, ok := strings.Cut(line, ": "); ok {
				got[op] = r
			}
		}
		for _, c := range cases {
			if got[c.op] != c.want {
				t.Errorf("%s: got %q, want %s", c.op, got[c.op], c.want)
			}
		}
	})
	t.Run("x32 killed", func(t *testing.T) {
		prog, err := x32Program(t)
		switch {
		case err != nil && runtime.GOARCH != "amd64":
			t.Skip(err) // x32 is an amd64 ABI
		case err != nil:
			t.Fatal(err)
		}
		err = exec.Command(cliPath, "run", "--no-supervisor", "-r", prog, "--", prog).Run()
		if sig := signalOf(err); sig != syscall.SIGSYS {
			t.Fatalf("got %v, want SIGSYS", err)
		}
	})
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"incompatible flags", []string{"--timeout", "5", "--status-fd", "2", "-m", "1G"},
			"--no-supervisor is incompatible with: --max-memory, --status-fd, --timeout"},
		{"bad syscall name", []string{"--extra-deny-syscall", "frobnicate"}, `--extra-deny-syscall "frobnicate": unknown system call name`},
		{"not found", []string{}, "executable file not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append(append([]string{"run", "--no-supervisor"}, tc.args...), "--", "no-such-program-xyz")
			_, errs, code := cli(t, args...)
			if code < 125 || !strings.Contains(errs, tc.want) {
				t.Fatalf("exit %d, stderr %q, want %q", code, errs, tc.want)
			}
		})
	}
	t.Run("policy file field", func(t *testing.T) {
		pf := workDir + "/nosup-policy.json"
		if err := os.WriteFile(pf, []byte(`{"limits":{"timeout":"5s"}}`), 0o644); err != nil {
			t.Fatal(err)
		}
		_, errs, code := cli(t, "run", "--no-supervisor", "--policy-file", pf, "--", "true")
		if code != 125 || !strings.Contains(errs, "limits.timeout") {
			t.Fatalf("exit %d, stderr %q", code, errs)
		}
	})
}

// TestCLIDumpFilter: check --dump-filter prints the listing of the filter
// that run's policy flags give.
func TestCLIDumpFilter(t *testing.T) {
	count := func(out string) string {
		first, _, _ := strings.Cut(strings.TrimPrefix(out, "# mode: sandbox\n"), "\n")
		return first
	}
	out, errs, code := cli(t, "check", "--dump-filter")
	if code != 0 || !strings.Contains(out, "# seccomp filter for linux/") || !strings.Contains(out, "ret ALLOW") ||
		!strings.Contains(out, "ret KILL_PROCESS") || !strings.Contains(out, "; mount") {
		t.Fatalf("exit %d, stderr %q, listing:\n%s", code, errs, out)
	}
	more, _, code := cli(t, "check", "--dump-filter", "--extra-deny-syscall", "getcwd", "--extra-allow-syscall", "sysv_ipc")
	if code != 0 || count(more) == count(out) || !strings.Contains(more, "; getcwd") {
		t.Errorf("extra flags did not change the filter: %q vs %q", count(more), count(out))
	}
	arm, _, code := cli(t, "check", "--dump-filter", "--no-supervisor", "--arch", "arm64")
	if code != 0 || !strings.Contains(arm, "# mode: --no-supervisor") || !strings.Contains(arm, "linux/arm64") {
		t.Errorf("arm64 no-supervisor listing: exit %d\n%s", code, arm)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--dump-filter", "--extra-deny-syscall", "nope"}, `--extra-deny-syscall "nope": unknown system call name`},
		{[]string{"--dump-filter", "--extra-allow-syscall", "ptrace"}, "unknown system call group"},
		{[]string{"--dump-filter", "--arch", "mips"}, "GOARCH mips"},
		{[]string{"-r", "/usr"}, "-r only apply with --dump-filter"},
	} {
		_, errs, code := cli(t, append([]string{"check"}, tc.args...)...)
		if code != 125 || !strings.Contains(errs, tc.want) {
			t.Errorf("check %v: exit %d, stderr %q, want %q", tc.args, code, errs, tc.want)
		}
	}
}
