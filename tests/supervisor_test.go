package tests

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sandlock-go/sandlock-go/sandlock"
)

// The supervisor's kernel tests: each runs a program in a real sandbox
// whose filter notifies process creation, and asserts what the program saw.

// limited is base() with a process limit.
func limited(n int) sandlock.Policy {
	p := base()
	p.Limits.MaxProcesses = n
	return p
}

// TestSupervisorMaxProcesses: the probe (itself one process) makes up to
// 20 processes that stay alive under MaxProcesses 8: exactly 7 are made
// and the 8th creation fails with EAGAIN, through every creation path.
// Twins: the same without a limit, and sequential forks under a tight one.
func TestSupervisorMaxProcesses(t *testing.T) {
	checkOps(t, limited(8), []opCase{
		{"forkn:20:fork", "error made=7 errno=EAGAIN"},
		{"forkn:20:clone", "error made=7 errno=EAGAIN"},
		{"forkn:20:spawn", "error made=7 errno=EAGAIN"},
		{"forkn:7:clone", "OK"},
		// CLONE_PARENT would put the child outside the counted tree.
		{"forkn:1:cloneparent", "error made=0 errno=EPERM"},
		{"gothreads", "OK"},
	})
	checkOps(t, base(), []opCase{
		{"forkn:20:fork", "OK"},
		{"forkn:20:clone", "OK"},
		{"forkn:20:spawn", "OK"},
		// Denied in every sandbox by the filter: the probe is the
		// leader, its CLONE_PARENT child would be the test process's.
		// The plain clone above is its twin.
		{"forkn:1:cloneparent", "error made=0 errno=EPERM"},
	})
	checkOps(t, limited(3), []opCase{
		{"forkseq:20", "OK"},
		{"forkn:2:clone", "OK"},
		{"forkn:3:clone", "error made=2 errno=EAGAIN"},
	})
}

// TestSupervisorThreads: threads never count. 64 threads under
// MaxProcesses 2 run, while a second process still fits and a third not.
func TestSupervisorThreads(t *testing.T) {
	py := requirePython(t)
	code := `
import os, threading, time
done = []
def work(i):
    time.sleep(0.05)
    done.append(i)
ts = [threading.Thread(target=work, args=(i,)) for i in range(64)]
for t in ts: t.start()
for t in ts: t.join()
pid = os.fork()
if pid == 0:
    time.sleep(0.2)
    os._exit(0)
try:
    os.fork()
    third = "made"
except OSError as e:
    third = os.strerror(e.errno)
os.waitpid(pid, 0)
print(len(done), third)
`
	out, errs, err := run(t, sandlock.Command(limited(2), py, "-c", code))
	if err != nil || out != "64 Resource temporarily unavailable\n" {
		t.Fatalf("python threads: %q %q %v", out, errs, err)
	}
}

// TestSupervisorPythonFork: os.fork in a loop under MaxProcesses 8 makes 7
// children, then EAGAIN; without the limit all 20.
func TestSupervisorPythonFork(t *testing.T) {
	py := requirePython(t)
	code := `
import os, time
kids, err = [], None
for i in range(20):
    try:
        pid = os.fork()
    except OSError as e:
        err = e.errno
        break
    if pid == 0:
        time.sleep(0.3)
        os._exit(0)
    kids.append(pid)
for k in kids: os.waitpid(k, 0)
print(len(kids), err)
`
	for _, tc := range []struct {
		max  int
		want string
	}{{8, "7 11\n"}, {0, "20 None\n"}} {
		out, errs, err := run(t, sandlock.Command(limited(tc.max), py, "-c", code))
		if err != nil || out != tc.want {
			t.Errorf("max %d: %q %q %v, want %q", tc.max, out, errs, err, tc.want)
		}
	}
}

// TestSupervisorForkBomb runs a bash fork bomb for two seconds under
// MaxProcesses 8 and samples the sandbox's process group meanwhile: never
// more than 8 processes, zombies included, and the bomb did reach the
// limit's neighbourhood.
func TestSupervisorForkBomb(t *testing.T) {
	p := limited(8)
	p.Limits.Timeout = sandlock.Duration(2 * time.Second)
	sb := sandlock.Command(p, "bash", "-c", "b() { b | b & }; b; sleep 10")
	if err := sb.Spawn(); err != nil {
		t.Fatal(err)
	}
	pgid := sb.Pid()
	var most int
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			most = max(most, len(groupMembers(pgid)))
			time.Sleep(time.Millisecond)
		}
	}()
	err := sb.Wait()
	close(stop)
	wg.Wait()
	if !errors.Is(err, sandlock.ErrTimedOut) {
		t.Errorf("the bomb ended before the timeout: %v", err)
	}
	if most > 8 || most < 4 {
		t.Errorf("at most %d live processes seen, want 4..8", most)
	}
}

// groupMembers lists the processes (not threads) of process group pgid,
// zombies included.
func groupMembers(pgid int) []int {
	var out []int
	for _, p := range allProcs() {
		if p.pgrp == pgid {
			out = append(out, p.pid)
		}
	}
	return out
}

// TestSupervisorNested: a supervised sandbox inside a supervised sandbox
// fails with ErrNestedSupervisor (wrapping the kernel's EBUSY); one without
// a supervisor runs there, and --no-supervisor nesting runs too.
func TestSupervisorNested(t *testing.T) {
	checkOps(t, limited(50), []opCase{
		{"nested:10", "EBUSY"},
		{"nested:0", "OK"},
	})
	// Every sandbox is supervised (escape tracking), so an unsupervised
	// nested sandbox means one that needs nothing but that: it runs
	// without a listener of its own (the outer supervisor sees its
	// setsid calls too).
	checkOps(t, base(), []opCase{{"nested:10", "EBUSY"}, {"nested:0", "OK"}})
	// Twin: outside any sandbox the same nested op works.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, "nested:10")
	cmd.Env = append(os.Environ(), helperEnv+"=probe")
	if out, err := cmd.CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "nested:10: OK" {
		t.Errorf("nested:10 outside a sandbox: %v %q", err, out)
	}

	_, errs, code := cli(t, "run", "-P", "50", "-r", cliPath, "--", cliPath, "run", "-P", "10", "--", "true")
	if code == 0 || !strings.Contains(errs, "already inside a supervised sandbox; use --no-supervisor") {
		t.Errorf("nested -P: exit %d, stderr %q", code, errs)
	}
	out, errs, code := cli(t, "run", "-P", "50", "-r", cliPath, "--", cliPath, "run", "--no-supervisor", "--", "echo", "inner")
	if code != 0 || out != "inner\n" {
		t.Errorf("--no-supervisor inside -P: exit %d, %q %q", code, out, errs)
	}
}

// TestSupervisorCloseParked: a supervised sandbox closed before Start, and
// one that ran, leave no fd behind (the loop closed the listener and its
// eventfd before Close/Wait returned).
func TestSupervisorCloseParked(t *testing.T) {
	before := len(openFds())
	for range 5 {
		sb := sandlock.Command(limited(4), "/bin/true")
		if err := sb.Create(); err != nil {
			t.Fatal(err)
		}
		if err := sb.Close(); err != nil {
			t.Fatal(err)
		}
		if err := sandlock.Command(limited(4), "/bin/true").Run(); err != nil {
			t.Fatal(err)
		}
	}
	if after := len(openFds()); after != before {
		t.Errorf("fds: %d before, %d after: %v", before, after, openFds())
	}
}

func requirePython(t *testing.T) string {
	t.Helper()
	const py = "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		t.Skipf("needs %s", py)
	}
	return py
}

// probeHandlers is probe() with handlers: it runs the probe with ops in a
// sandbox and returns each op's result.
func probeHandlers(t *testing.T, policy sandlock.Policy, hs []sandlock.SyscallHandler, ops ...string) map[string]string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	policy.Filesystem.Read = append(policy.Filesystem.Read, self)
	sb := sandlock.Command(policy, self, ops...)
	sb.Env = append(os.Environ(), helperEnv+"=probe")
	sb.Handlers = hs
	out, errs, err := run(t, sb)
	if err != nil {
		t.Fatalf("probe: %v\nstdout: %s\nstderr: %s", err, out, errs)
	}
	res := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if op, r, ok := strings.Cut(line, ": "); ok {
			res[op] = r
		}
	}
	return res
}

// TestSupervisorUserHandlers: user handlers run in registration order
// until one answers; the first answer wins and later handlers are not
// asked; calls without handlers are untouched.
func TestSupervisorUserHandlers(t *testing.T) {
	var mu sync.Mutex
	var order []string
	record := func(name string, v sandlock.Verdict) sandlock.Handler {
		return sandlock.HandlerFunc(func(*sandlock.Notification) sandlock.Verdict {
			mu.Lock()
			order = append(order, name)
			mu.Unlock()
			return v
		})
	}
	hs := []sandlock.SyscallHandler{
		{Syscall: "getppid", Handler: record("first", sandlock.Continue())},
		{Syscall: "getppid", Handler: record("second", sandlock.Fail(syscall.EACCES))},
		{Syscall: "getppid", Handler: record("third", sandlock.Fail(syscall.EXDEV))},
		{Syscall: "getuid", Handler: record("uid", sandlock.Return(4242))},
	}
	got := probeHandlers(t, base(), hs, raw(unix.SYS_GETPPID), raw(unix.SYS_GETPID), "getuid")
	for op, want := range map[string]string{raw(unix.SYS_GETPPID): "EACCES", raw(unix.SYS_GETPID): "OK", "getuid": "error uid=4242"} {
		if got[op] != want {
			t.Errorf("%s: %q, want %q", op, got[op], want)
		}
	}
	if strings.Join(order, ",") != "first,second,uid" {
		t.Errorf("handlers ran in order %v", order)
	}
}

// TestSupervisorUserHandlerAfterBuiltin: the process limit decides first; a
// user handler on clone sees only the creations the limit let through.
func TestSupervisorUserHandlerAfterBuiltin(t *testing.T) {
	deny := []sandlock.SyscallHandler{{Syscall: "clone", Handler: sandlock.HandlerFunc(func(n *sandlock.Notification) sandlock.Verdict {
		return sandlock.Fail(syscall.EPERM)
	})}}
	got := probeHandlers(t, limited(1), deny, "forkn:1:clone")
	if got["forkn:1:clone"] != "error made=0 errno=EAGAIN" {
		t.Errorf("limit 1: %q, want EAGAIN from the limit", got["forkn:1:clone"])
	}
	got = probeHandlers(t, limited(2), deny, "forkn:1:clone", "gothreads")
	if got["forkn:1:clone"] != "error made=0 errno=EPERM" || got["gothreads"] != "OK" {
		t.Errorf("limit 2: %v, want EPERM from the handler and threads unaffected", got)
	}
}

// TestSupervisorReadMemory: a handler reads chdir's path with ReadMemory
// and answers on the copy; an unreadable pointer is EFAULT.
func TestSupervisorReadMemory(t *testing.T) {
	h := sandlock.HandlerFunc(func(n *sandlock.Notification) sandlock.Verdict {
		buf := make([]byte, 7)
		if err := n.ReadMemory(n.Args[0], buf); err != nil {
			return sandlock.Fail(err.(syscall.Errno))
		}
		if string(buf) == "/magic\x00" {
			return sandlock.Fail(syscall.EXDEV)
		}
		return sandlock.Fail(syscall.ENOTDIR)
	})
	got := probeHandlers(t, base(), []sandlock.SyscallHandler{{Syscall: "chdir", Handler: h}},
		"chdir:/magic", "chdir:/tmp", raw(unix.SYS_CHDIR, 1))
	for op, want := range map[string]string{"chdir:/magic": "EXDEV", "chdir:/tmp": "ENOTDIR", raw(unix.SYS_CHDIR, 1): "EFAULT"} {
		if got[op] != want {
			t.Errorf("%s: %q, want %q", op, got[op], want)
		}
	}
}

// TestSupervisorHandlerRejected: a handler on a denied call, on a call the
// sandbox makes itself, on an unknown name or without a Handler fails
// Create with an error naming the call; a handler on an allowed call (the
// twin) is accepted.
func TestSupervisorHandlerRejected(t *testing.T) {
	cont := sandlock.HandlerFunc(func(*sandlock.Notification) sandlock.Verdict { return sandlock.Continue() })
	p := base()
	p.Syscalls.ExtraDeny = []string{"getcwd"}
	for _, tc := range []struct {
		name string
		h    sandlock.Handler
		ok   bool
	}{
		{"mount", cont, false},
		{"clone3", cont, false},
		{"getcwd", cont, false}, // extra_deny
		{"execve", cont, false},
		{"no_such_call", cont, false},
		{"getppid", nil, false},
		{"getppid", cont, true},
		{"ioctl", cont, true}, // argument-filtered: denied commands never reach it
	} {
		sb := sandlock.Command(p, "/bin/true")
		sb.Handlers = []sandlock.SyscallHandler{{Syscall: tc.name, Handler: tc.h}}
		err := sb.Run()
		switch {
		case tc.ok && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case !tc.ok && (!errors.Is(err, sandlock.ErrHandlerRejected) || !strings.Contains(err.Error(), tc.name)):
			t.Errorf("%s: %v, want ErrHandlerRejected naming it", tc.name, err)
		}
		sb.Close()
	}
}

// TestSupervisorZombieBomb: children that exit at once but are never
// reaped still count (zombies hold their pids): under MaxProcesses 8 the
// 8th fork fails with EAGAIN; once the parent reaps them, forking works
// again (the twin within), and without a limit all 20 are made.
func TestSupervisorZombieBomb(t *testing.T) {
	py := requirePython(t)
	code := `
import os
n, err = 0, None
for i in range(20):
    try:
        pid = os.fork()
    except OSError as e:
        err = e.errno
        break
    if pid == 0:
        os._exit(0)
    n += 1
while True:
    try:
        os.waitpid(-1, 0)
    except ChildProcessError:
        break
pid = os.fork()
if pid == 0:
    os._exit(0)
os.waitpid(pid, 0)
print(n, err, "again")
`
	for _, tc := range []struct {
		max  int
		want string
	}{{8, "7 11 again\n"}, {0, "20 None again\n"}} {
		out, errs, err := run(t, sandlock.Command(limited(tc.max), py, "-c", code))
		if err != nil || out != tc.want {
			t.Errorf("max %d: %q %q %v, want %q", tc.max, out, errs, err, tc.want)
		}
	}
}
