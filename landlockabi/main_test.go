//go:build linux

package landlockabi

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// Tests never restrict the test process itself. A test that needs a
// restricted process re-executes the test binary with helperEnv set;
// TestMain then runs the helper steps given as arguments instead of the
// tests, in that child, and prints one "step<TAB>result" line per step.
//
// Ladder:
//
//	test (parent)                          helper child (same binary)
//	BuildRuleset → fd ─ ExtraFiles → fd 3
//	exec binary, env helperEnv=1 ───────►  init: LockOSThread (main thread)
//	                                       TestMain: for each step:
//	                                         nnp | setuid:N | seccomp-errno:E
//	                                         restrict:FLAGS (RestrictSelf(3,…))
//	                                         read:P | write:P | bind:N | …
//	                                         print "step\tok" or "step\tEACCES"
//	◄── stdout lines ───────────────────── exit 0
//	compare with the expected results
const helperEnv = "LANDLOCKABI_TEST_HELPER"

// helperRulesetFd is where the child finds the ruleset (ExtraFiles[0]).
const helperRulesetFd = 3

func init() {
	if os.Getenv(helperEnv) != "" {
		// Keep the main goroutine on the main thread (the thread group
		// leader), so that Landlock, no_new_privs and seccomp, which apply
		// to the calling thread, cover the thread that runs every step and
		// the leader that kill(getpid(), 0) targets.
		runtime.LockOSThread()
	}
}

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(runHelperSteps(os.Args[1:]))
	}
	// The runtime opens its poller fds on first use: make that happen
	// before the snapshot so they do not count as leaks.
	if r, w, err := os.Pipe(); err == nil {
		r.Close()
		w.Close()
	}
	before := openFds()
	code := m.Run()
	if code == 0 {
		if leaked := leakedFds(before, openFds()); len(leaked) > 0 {
			fmt.Fprintf(os.Stderr, "FAIL: leaked fds after tests: %v\n", leaked)
			code = 1
		}
		if kids := childPids(); len(kids) > 0 {
			fmt.Fprintf(os.Stderr, "FAIL: children left after tests: %v\n", kids)
			code = 1
		}
	}
	os.Exit(code)
}

// openFds maps each open fd to what it points to.
func openFds() map[string]string {
	out := map[string]string{}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return out
	}
	for _, e := range ents {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err != nil {
			continue // The fd used to read the directory itself.
		}
		out[e.Name()] = target
	}
	return out
}

func leakedFds(before, after map[string]string) []string {
	var leaked []string
	for fd, target := range after {
		if before[fd] != target {
			leaked = append(leaked, fd+"→"+target)
		}
	}
	slices.Sort(leaked)
	return leaked
}

func childPids() []string {
	var kids []string
	tasks, _ := filepath.Glob("/proc/self/task/*/children")
	for _, p := range tasks {
		b, err := os.ReadFile(p)
		if err == nil {
			kids = append(kids, strings.Fields(string(b))...)
		}
	}
	return kids
}

// runHelperSteps runs in the helper child. It returns the exit code.
func runHelperSteps(steps []string) int {
	for _, step := range steps {
		name, arg, _ := strings.Cut(step, ":")
		res := "ok"
		err := runStep(name, arg)
		var errno unix.Errno
		switch {
		case err == nil:
		case errors.As(err, &errno):
			res = unix.ErrnoName(errno)
			if errors.Is(err, ErrNotSupported) {
				res += " notsupported"
			}
		default:
			fmt.Fprintf(os.Stderr, "helper step %q: %v\n", step, err)
			return 2
		}
		fmt.Printf("%s\t%s\n", step, res)
	}
	return 0
}

// helperSock remembers the abstract listeners a helper created, so they
// stay open while later steps connect to them.
var helperSocks []int

func runStep(name, arg string) error {
	num := func() uint64 {
		n, err := strconv.ParseUint(arg, 0, 64)
		if err != nil {
			panic(fmt.Sprintf("helper step %s: bad number %q", name, arg))
		}
		return n
	}
	switch name {
	case "nnp":
		return unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
	case "setuid":
		// syscall.Setgroups/Setgid/Setuid (which unix.Setgid and
		// unix.Setuid call) change every thread of the process.
		if err := syscall.Setgroups(nil); err != nil {
			return err
		}
		if err := unix.Setgid(int(num())); err != nil {
			return err
		}
		return unix.Setuid(int(num()))
	case "seccomp-errno":
		return installErrnoFilter(unix.SYS_LANDLOCK_CREATE_RULESET, errnoByName(arg))
	case "restrict":
		return RestrictSelf(helperRulesetFd, uint32(num()))
	case "abiversion":
		_, err := ABIVersion()
		return err
	case "read":
		fd, err := unix.Open(arg, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		_, err = unix.Read(fd, make([]byte, 64))
		if errors.Is(err, unix.EISDIR) {
			_, err = unix.Getdents(fd, make([]byte, 4096))
		}
		return err
	case "write":
		fd, err := unix.Open(arg, unix.O_WRONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		return unix.Close(fd)
	case "bind", "connect":
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		sa := &unix.SockaddrInet4{Port: int(num()), Addr: [4]byte{127, 0, 0, 1}}
		if name == "bind" {
			return unix.Bind(fd, sa)
		}
		return unix.Connect(fd, sa)
	case "rename":
		from, to, _ := strings.Cut(arg, "|")
		return unix.Rename(from, to)
	case "kill":
		return unix.Kill(int(num()), 0)
	case "killself":
		return unix.Kill(unix.Getpid(), 0)
	case "listen-abstract":
		fd, err := listenAbstract(arg)
		if err == nil {
			helperSocks = append(helperSocks, fd)
		}
		return err
	case "connect-abstract":
		fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		return unix.Connect(fd, &unix.SockaddrUnix{Name: "@" + arg})
	}
	panic("unknown helper step " + name)
}

// errnoByName returns the errno whose name is name ("ENOSYS").
func errnoByName(name string) unix.Errno {
	if name == "EOPNOTSUPP" {
		return unix.EOPNOTSUPP // ErrnoName calls it ENOTSUP, the same value on Linux.
	}
	for e := unix.Errno(1); e < 4096; e++ {
		if unix.ErrnoName(e) == name {
			return e
		}
	}
	panic("unknown errno " + name)
}

func listenAbstract(name string) (int, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: "@" + name}); err != nil {
		unix.Close(fd)
		return -1, err
	}
	if err := unix.Listen(fd, 8); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// runHelper runs steps in a helper child that gets rulesetFd (if ≥ 0) as
// fd 3, and returns one result per step ("ok", "EACCES", …).
func runHelper(t *testing.T, rulesetFd int, steps ...string) []string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, steps...)
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	if _, ok := os.LookupEnv("GORACE"); !ok {
		// Under -race a child otherwise sleeps 1 s at exit.
		cmd.Env = append(cmd.Env, "GORACE=atexit_sleep_ms=0")
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if rulesetFd >= 0 {
		dup, err := unix.FcntlInt(uintptr(rulesetFd), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		f := os.NewFile(uintptr(dup), "ruleset")
		defer f.Close()
		cmd.ExtraFiles = []*os.File{f}
	}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helper %q: %v\nstderr:\n%s", steps, err, stderr.String())
	}
	var res []string
	for i, line := range strings.Split(strings.TrimSuffix(string(out), "\n"), "\n") {
		step, r, ok := strings.Cut(line, "\t")
		if !ok || i >= len(steps) || step != steps[i] {
			t.Fatalf("helper %q: unexpected output line %q\nstdout:\n%s", steps, line, out)
		}
		res = append(res, r)
	}
	if len(res) != len(steps) {
		t.Fatalf("helper %q: %d results for %d steps\nstdout:\n%s", steps, len(res), len(steps), out)
	}
	return res
}

// expectSteps runs the steps in a helper and compares each result with
// want, which pairs each step with its expected result.
func expectSteps(t *testing.T, rulesetFd int, want ...[2]string) {
	t.Helper()
	steps := make([]string, len(want))
	for i, w := range want {
		steps[i] = w[0]
	}
	got := runHelper(t, rulesetFd, steps...)
	for i, w := range want {
		if got[i] != w[1] {
			t.Errorf("step %q: got %s, want %s", w[0], got[i], w[1])
		}
	}
}

// requireABI returns the kernel's Landlock ABI, or skips the test naming
// what needs ABI n. With SANDLOCK_TEST_STRICT=1 it fails instead.
func requireABI(t *testing.T, n int, what string) int {
	t.Helper()
	abi, err := ABIVersion()
	skip := t.Skipf
	if os.Getenv("SANDLOCK_TEST_STRICT") == "1" {
		skip = t.Fatalf
	}
	switch {
	case err != nil:
		skip("needs Landlock ABI %d for %s, kernel has no Landlock: %v", n, what, err)
	case abi < n:
		skip("needs Landlock ABI %d for %s, kernel has %d", n, what, abi)
	}
	return abi
}
