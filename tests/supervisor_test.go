package tests

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

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
		// No cloneparent twin here: the probe is the leader, its
		// CLONE_PARENT child would be the test process's.
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
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...: comm may hold spaces.
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) > 2 && f[2] == strconv.Itoa(pgid) {
			out = append(out, pid)
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
	// Twin: outside a supervised sandbox the same nested op works.
	checkOps(t, base(), []opCase{{"nested:10", "OK"}})

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
		t.Skip(fmt.Sprintf("needs %s", py))
	}
	return py
}
