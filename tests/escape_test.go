package tests

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sandlock-go/sandlock-go/sandlock"
)

// escapeScript starts a background process that setsid's away into a
// session of its own (and one that only leaves the group), records their
// pids, and exits at once.
const escapeScript = `
setsid sh -c 'echo $$ > "$1/setsid"; exec sleep 300' sh "$1" &
python3 -c 'import os, sys, time
os.setpgid(0, 0)
open(sys.argv[1] + "/setpgid", "w").write(str(os.getpid()))
time.sleep(300)' "$1" &
while [ ! -s "$1/setsid" ] || [ ! -s "$1/setpgid" ]; do sleep 0.01; done
exit 0
`

// readPids reads the pids the script recorded.
func readPids(t *testing.T, dir string) []int {
	t.Helper()
	var pids []int
	for _, name := range []string{"setsid", "setpgid"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			t.Fatalf("%s: %q", name, b)
		}
		pids = append(pids, pid)
	}
	return pids
}

// TestNoSurvivorsSetsid: processes that left the sandbox's process group
// (setsid, setpgid) die with it. Twin: the same script outside a sandbox
// leaves both running (so the escape is real), and they are killed here.
func TestNoSurvivorsSetsid(t *testing.T) {
	requirePython(t)
	dir := t.TempDir()
	p := base()
	p.Filesystem.Write = append(p.Filesystem.Write, dir)
	sb := sandlock.Command(p, "sh", "-c", escapeScript, "sh", dir)
	var out bytes.Buffer
	sb.Stdout, sb.Stderr = &out, &out
	if err := sb.Run(); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, pid := range readPids(t, dir) {
		waitDead(t, pid, 5*time.Second)
	}

	dir = t.TempDir()
	cmd := exec.Command("sh", "-c", escapeScript, "sh", dir)
	// No pipes: the escaped processes would hold them open.
	if err := cmd.Run(); err != nil {
		t.Fatalf("unsandboxed: %v", err)
	}
	for _, pid := range readPids(t, dir) {
		if dead(pid) {
			t.Errorf("unsandboxed pid %d died: the twin does not escape", pid)
		}
		syscall.Kill(pid, syscall.SIGKILL)
	}
}

// TestNoSurvivorsTimeout: a sandbox killed by its timeout takes its
// setsid'd descendants with it.
func TestNoSurvivorsTimeout(t *testing.T) {
	requirePython(t)
	dir := t.TempDir()
	p := base()
	p.Filesystem.Write = append(p.Filesystem.Write, dir)
	p.Limits.Timeout = sandlock.Duration(3 * time.Second)
	sb := sandlock.Command(p, "sh", "-c", strings.Replace(escapeScript, "exit 0", "sleep 300", 1), "sh", dir)
	err := sb.Run()
	if !errors.Is(err, sandlock.ErrTimedOut) {
		t.Fatalf("want a timeout, got %v", err)
	}
	for _, pid := range readPids(t, dir) {
		waitDead(t, pid, 5*time.Second)
	}
}

// joinProbe tries to move itself into its parent's process group (another
// group of the same session), then into a new group of its own.
const joinProbe = `import os
try:
    os.setpgid(0, os.getpgid(os.getppid()))
    print("join=ok")
except OSError as e:
    print("join=%d" % e.errno)
os.setpgid(0, 0)
print("new=ok")`

// TestForegroundSetpgidConfined: a sandbox in the terminal's foreground
// shares the caller's session, where setpgid could hide a process in a
// group the sandbox does not own (sandlock-run's, the shell's): that is
// EPERM, while a new group of its own is fine. Twin: the same program run
// by the shell directly joins its parent's group.
func TestForegroundSetpgidConfined(t *testing.T) {
	py := requirePython(t)
	master, slave := openPTY(t)
	defer master.Close()
	probe := filepath.Join(t.TempDir(), "join.py")
	if err := os.WriteFile(probe, []byte(joinProbe), 0o644); err != nil {
		t.Fatal(err)
	}
	script := cliPath + ` run -r ` + probe + ` -- ` + py + ` ` + probe + `; echo sep; ` + py + ` ` + probe + `; echo end` // not last: bash would exec it
	cmd := exec.Command("bash", "-m", "-c", script)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	var out bytes.Buffer
	eof := make(chan struct{})
	go func() {
		defer close(eof)
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			out.Write(buf[:n])
			if err != nil {
				return
			}
		}
	}()
	errc := make(chan error, 1)
	go func() { errc <- cmd.Wait() }()
	select {
	case err := <-errc:
		<-eof
		if err != nil {
			t.Fatalf("bash: %v\n%s", err, out.String())
		}
	case <-time.After(20 * time.Second):
		killSession(cmd.Process.Pid)
		t.Fatal("stuck")
	}
	got := strings.Fields(strings.ReplaceAll(out.String(), "\r", ""))
	want := []string{"join=1", "new=ok", "sep", "join=ok", "new=ok", "end"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestOwnerKilledKillsSandbox: when sandlock-run is SIGKILLed (no clean-up
// of its own), the sandbox's leader, its session and what setsid'd away
// all die: PDEATHSIG takes the leader, the watchdog the rest. The twin is
// the check that all of them were alive just before the kill.
func TestOwnerKilledKillsSandbox(t *testing.T) {
	requirePython(t)
	dir := t.TempDir()
	script := `echo $$ > "$1/leader"; ` + strings.Replace(escapeScript, "exit 0", "sleep 300", 1)
	cmd := exec.Command(cliPath, "run", "-w", dir, "--", "sh", "-c", script, "sh", dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, e1 := os.Stat(filepath.Join(dir, "setsid"))
		_, e2 := os.Stat(filepath.Join(dir, "setpgid"))
		if e1 == nil && e2 == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the sandbox did not start its processes")
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // the files are written before they are complete
	pids := readPids(t, dir)
	b, err := os.ReadFile(filepath.Join(dir, "leader"))
	if err != nil {
		t.Fatal(err)
	}
	leader, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	pids = append(pids, leader)
	for _, pid := range pids {
		if dead(pid) {
			t.Fatalf("pid %d is not running before the owner is killed", pid)
		}
	}
	// The watchdog starts once the program has run for a moment
	// (sandlock.watchdogDelay); wait until it is there.
	for !hasWatchdog(cmd.Process.Pid) {
		if time.Now().After(deadline) {
			t.Fatal("sandlock-run started no watchdog")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	for _, pid := range pids {
		waitDead(t, pid, 10*time.Second)
	}
}

// hasWatchdog reports whether process owner has a live watchdog child.
func hasWatchdog(owner int) bool {
	for _, kid := range children(owner) {
		b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(kid), "cmdline"))
		if err == nil && strings.HasPrefix(string(b), "sandlock-watchdog\x00") && !dead(kid) {
			return true
		}
	}
	return false
}
