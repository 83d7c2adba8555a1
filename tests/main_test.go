package tests

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sandlock-go/sandlock-go/clone3"
	"github.com/sandlock-go/sandlock-go/sandlock"
	"github.com/sandlock-go/sandlock-go/tests/testelf"
)

// helperEnv selects a helper role when the test binary re-executes itself.
const helperEnv = "SANDLOCK_TEST_HELPER"

var (
	cliPath  string // the sandlock-run binary built for the tests
	exitPath string // a tiny static program that exits 0
	workDir  string
)

func TestMain(m *testing.M) {
	if role := os.Getenv(helperEnv); role != "" {
		os.Exit(runHelper(role))
	}
	if os.Getenv("SANDLOCK_TEST_LEGACY_CLONE") == "1" {
		clone3.SetForceLegacy(true)
	}
	var err error
	workDir, err = os.MkdirTemp("", "sandlock-tests-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if exitPath, err = testelf.WriteExitProgram(workDir, 0); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cliPath = filepath.Join(workDir, "sandlock-run")
	build := exec.Command("go", "build", "-o", cliPath, "../cmd/sandlock-run")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build sandlock-run: %v\n%s", err, out)
		os.Exit(1)
	}
	fdsBefore := openFds()
	code := m.Run()
	// The watchdog lives as long as the process; end it (and check it
	// goes) with the rest.
	sandlock.StopWatchdog()
	if code == 0 {
		code = checkLeaks(fdsBefore)
	}
	os.RemoveAll(workDir)
	os.Exit(code)
}

// checkLeaks fails the run when the tests left fds open or children behind
// (living or unreaped).
func checkLeaks(before map[string]string) int {
	deadline := time.Now().Add(5 * time.Second)
	for {
		var leaks []string
		after := openFds()
		for fd, target := range after {
			if _, ok := before[fd]; !ok {
				leaks = append(leaks, fmt.Sprintf("fd %s -> %s", fd, target))
			}
		}
		if kids := children(os.Getpid()); len(kids) > 0 {
			leaks = append(leaks, fmt.Sprintf("children %v", kids))
		}
		if len(leaks) == 0 {
			return 0
		}
		if time.Now().After(deadline) {
			fmt.Fprintf(os.Stderr, "leak check: %s\n", strings.Join(leaks, "; "))
			return 1
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func openFds() map[string]string {
	m := map[string]string{}
	ents, _ := os.ReadDir("/proc/self/fd")
	for _, e := range ents {
		t, err := os.Readlink("/proc/self/fd/" + e.Name())
		if err == nil && !strings.HasPrefix(t, "/proc/") && !strings.Contains(t, "/fd") {
			m[e.Name()] = t
		}
	}
	return m
}

// children lists the pids of all children of pid, over all its threads.
func children(pid int) []int {
	var kids []int
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	for _, t := range tasks {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", pid, t.Name()))
		for _, f := range strings.Fields(string(b)) {
			n, _ := strconv.Atoi(f)
			kids = append(kids, n)
		}
	}
	return kids
}

// procState returns the State letter of /proc/PID/status, or "" when the
// process does not exist.
func procState(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "State:"); ok {
			return strings.TrimSpace(v)[:1]
		}
	}
	return ""
}

// procIDs is what /proc/PID/stat says of a process's family.
type procIDs struct{ pid, ppid, pgrp, session int }

// allProcs lists every process on the machine with its ids (zombies
// included, threads not).
func allProcs() []procIDs {
	var out []procIDs
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
		// pid (comm) state ppid pgrp session ...: comm may hold spaces.
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) < 4 {
			continue
		}
		id := procIDs{pid: pid}
		id.ppid, _ = strconv.Atoi(f[1])
		id.pgrp, _ = strconv.Atoi(f[2])
		id.session, _ = strconv.Atoi(f[3])
		out = append(out, id)
	}
	return out
}

// dead reports whether pid is gone or a zombie (PID 1 here does not reap).
func dead(pid int) bool {
	s := procState(pid)
	return s == "" || s == "Z" || s == "X"
}

// waitDead polls until pid is dead or the deadline passes.
func waitDead(t *testing.T, pid int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !dead(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("process %d still alive (state %s)", pid, procState(pid))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// base is the policy most tests start from: the system paths read-only, the
// harmless devices writable, /proc readable. Everything else is denied.
func base() sandlock.Policy {
	var p sandlock.Policy
	p.Filesystem.ReadIfExists = append(append([]string{}, sandlock.SystemPaths...), "/proc")
	p.Filesystem.WriteIfExists = append([]string{}, sandlock.SystemDevices...)
	return p
}

// run runs a sandbox and returns its stdout, stderr and error.
func run(t *testing.T, sb *sandlock.Sandbox) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	sb.Stdout, sb.Stderr = &out, &errb
	err := sb.Run()
	return out.String(), errb.String(), err
}

func runHelper(role string) int {
	switch role {
	case "probe":
		return runProbe(os.Args[1:])
	case "confine":
		return runConfineHelper(os.Args[2], os.Args[3])
	case "owner":
		// Create a parked sandbox, report its pid, then wait to be killed.
		sb := sandlock.Command(base(), "sleep", "1000")
		if err := sb.Create(); err != nil {
			fmt.Println("error", err)
			return 1
		}
		fmt.Println(sb.Pid())
		select {}
	case "owner-running":
		sb := sandlock.Command(base(), "sleep", "1000")
		if err := sb.Spawn(); err != nil {
			fmt.Println("error", err)
			return 1
		}
		fmt.Println(sb.Pid())
		select {}
	}
	fmt.Fprintln(os.Stderr, "unknown helper", role)
	return 2
}
