package tests

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sandlock-go/sandlock-go/clone3"
	"github.com/sandlock-go/sandlock-go/sandlock"
)

// lifecycleTests run once with clone3 and once with the forced clone(2)
// fallback (TestLifecycleLegacyClone).
var lifecycleTests = []struct {
	name string
	fn   func(t *testing.T)
}{
	{"SpawnWaitHello", testSpawnWaitHello},
	{"SpawnTwice", testSpawnTwice},
	{"CreateParks", testCreateParks},
	{"StartWithoutCreate", testStartWithoutCreate},
	{"CloseCreatedLeavesNothing", testCloseCreated},
	{"KilledWhileParked", testKilledWhileParked},
	{"CleanExecState", testCleanExecState},
	{"ExtraFiles", testExtraFiles},
	{"BadDir", testBadDir},
	{"ExitCodeAndSignal", testExitCodeAndSignal},
	{"TimeoutKillsGrandchildren", testTimeoutKillsGrandchildren},
	{"SurvivorsKilledAfterExit", testSurvivorsKilled},
	{"PauseResume", testPauseResume},
	{"OwnerDeathKillsParkedChild", testOwnerDeath},
	{"ThreadExitDoesNotKillChild", testThreadExit},
	{"Concurrent200", testConcurrent},
}

func TestLifecycle(t *testing.T) {
	for _, tc := range lifecycleTests {
		t.Run(tc.name, tc.fn)
	}
}

func TestLifecycleLegacyClone(t *testing.T) {
	prev := clone3.SetForceLegacy(true)
	defer clone3.SetForceLegacy(prev)
	for _, tc := range lifecycleTests {
		t.Run(tc.name, tc.fn)
	}
}

func testSpawnWaitHello(t *testing.T) {
	sb := sandlock.Command(base(), "echo", "hello")
	var out strings.Builder
	sb.Stdout = &out
	if err := sb.Spawn(); err != nil {
		t.Fatal(err)
	}
	if sb.State() != sandlock.StateRunning {
		t.Errorf("state after Spawn = %v", sb.State())
	}
	if err := sb.Wait(); err != nil {
		t.Fatal(err)
	}
	if out.String() != "hello\n" || sb.ProcessState.ExitCode() != 0 {
		t.Errorf("output %q, exit %d", out.String(), sb.ProcessState.ExitCode())
	}
	if sb.State() != sandlock.StateStopped {
		t.Errorf("state after Wait = %v", sb.State())
	}
}

func testSpawnTwice(t *testing.T) {
	sb := sandlock.Command(base(), "sleep", "10")
	defer sb.Close()
	if err := sb.Spawn(); err != nil {
		t.Fatal(err)
	}
	err := sb.Spawn()
	if !errors.Is(err, sandlock.ErrAlreadyRunning) || !strings.Contains(err.Error(), "already running") {
		t.Fatalf("second Spawn: %v", err)
	}
	if err := sb.Create(); !errors.Is(err, sandlock.ErrAlreadyRunning) {
		t.Fatalf("Create while running: %v", err)
	}
}

// markerSandbox returns a sandbox whose program creates the file marker,
// in a directory only it may write to.
func markerSandbox(t *testing.T) (*sandlock.Sandbox, string) {
	t.Helper()
	dir := t.TempDir()
	marker := filepath.Join(dir, "marker")
	p := base()
	p.Filesystem.Write = []string{dir}
	return sandlock.Command(p, "/bin/sh", "-c", "echo ran > "+marker), marker
}

func testCreateParks(t *testing.T) {
	sb, marker := markerSandbox(t)
	defer sb.Close()
	if err := sb.Create(); err != nil {
		t.Fatal(err)
	}
	pid := sb.Pid()
	if pid <= 0 {
		t.Fatalf("Pid = %d after Create", pid)
	}
	// READY is sent just before the park's read: allow the child a moment
	// to get into it.
	deadline := time.Now().Add(2 * time.Second)
	for procState(pid) != "S" && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if st := procState(pid); st != "S" {
		t.Errorf("parked child state %q, want S", st)
	}
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		t.Fatal(err)
	}
	if self, _ := os.Executable(); exe != self || strings.HasSuffix(exe, "/sh") || strings.HasSuffix(exe, "/dash") || strings.HasSuffix(exe, "/bash") {
		t.Errorf("parked child exe %q: has it exec'd already?", exe)
	}
	time.Sleep(20 * time.Millisecond)
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("the command ran before Start")
	}
	if err := sb.Start(); err != nil {
		t.Fatal(err)
	}
	if err := sb.Wait(); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(marker); err != nil || string(b) != "ran\n" {
		t.Fatalf("marker after Wait: %q, %v", b, err)
	}
}

func testStartWithoutCreate(t *testing.T) {
	sb := sandlock.Command(base(), "true")
	err := sb.Start()
	if !errors.Is(err, sandlock.ErrNotCreated) || !strings.Contains(err.Error(), "has not been created") {
		t.Fatalf("Start without Create: %v", err)
	}
	if err := sb.Wait(); !errors.Is(err, sandlock.ErrNotCreated) {
		t.Fatalf("Wait without Create: %v", err)
	}
	if err := sb.Kill(); !errors.Is(err, sandlock.ErrNotRunning) {
		t.Fatalf("Kill without Create: %v", err)
	}
	// And a created one cannot be waited for before Start.
	sb2 := sandlock.Command(base(), "true")
	defer sb2.Close()
	if err := sb2.Create(); err != nil {
		t.Fatal(err)
	}
	if err := sb2.Wait(); !errors.Is(err, sandlock.ErrNotStarted) {
		t.Fatalf("Wait before Start: %v", err)
	}
	if err := sb2.Pause(); !errors.Is(err, sandlock.ErrNotStarted) {
		t.Fatalf("Pause before Start: %v", err)
	}
}

func testCloseCreated(t *testing.T) {
	sb := sandlock.Command(base(), "true")
	if err := sb.Create(); err != nil {
		t.Fatal(err)
	}
	pid := sb.Pid()
	if err := sb.Close(); err != nil {
		t.Fatal(err)
	}
	// Reaped, not a zombie: /proc/PID is gone.
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("/proc/%d after Close: %v (state %q)", pid, err, procState(pid))
	}
	if err := sb.Start(); !errors.Is(err, sandlock.ErrClosed) {
		t.Fatalf("Start after Close: %v", err)
	}
	if err := sb.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func testKilledWhileParked(t *testing.T) {
	sb := sandlock.Command(base(), "true")
	defer sb.Close()
	if err := sb.Create(); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(sb.Pid(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Dead (a zombie: nobody reaped it yet) before Start, however loaded
	// the machine.
	waitDead(t, sb.Pid(), 10*time.Second)
	err := sb.Start()
	if !errors.Is(err, sandlock.ErrDiedBeforeStart) {
		t.Fatalf("Start after SIGKILL: %v", err)
	}
	err = sb.Wait()
	var ee *sandlock.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("Wait: %v", err)
	}
	ws := ee.Sys().(syscall.WaitStatus)
	if !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("Wait reports %v, want killed by SIGKILL", ee)
	}
}

// testCleanExecState: the program sees fds 0, 1, 2 only, an empty signal
// mask, no caught and no blocked signals, and the RLIMIT_NOFILE default.
func testCleanExecState(t *testing.T) {
	// Fds the test process holds open, not close-on-exec, must not leak.
	leak, err := os.Open("/dev/null")
	if err != nil {
		t.Fatal(err)
	}
	defer leak.Close()
	if _, err := unixClearCloexec(leak); err != nil {
		t.Fatal(err)
	}
	sb := sandlock.Command(base(), "/bin/sh", "-c",
		"ls /proc/self/fd | tr '\\n' ' '; echo; cat /proc/self/status; ulimit -n; ulimit -Hn")
	out, _, err := run(t, sb)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(out, "\n")
	// ls itself has its directory open as fd 3.
	if lines[0] != "0 1 2 3 " {
		t.Errorf("fds seen by the program: %q, want 0 1 2 (+ls's own 3)", lines[0])
	}
	wants := []string{"SigBlk:\t0000000000000000", "SigCgt:\t0000000000000000", "NoNewPrivs:\t1",
		"CapInh:\t0000000000000000", "CapPrm:\t0000000000000000", "CapEff:\t0000000000000000", "CapAmb:\t0000000000000000"}
	// (cat was exec'd by sh: even as root it got no capability back.)
	for _, want := range wants {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	var lim syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	wantSoft := min(1024, lim.Max)
	if !strings.Contains(out, fmt.Sprintf("\n%d\n%d\n", wantSoft, lim.Max)) {
		t.Errorf("RLIMIT_NOFILE: want soft %d hard %d in\n%s", wantSoft, lim.Max, out)
	}
}

func testExtraFiles(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	sb := sandlock.Command(base(), "/bin/sh", "-c", "echo extra >&3; ls /proc/self/fd | tr '\\n' ' '")
	sb.ExtraFiles = []*os.File{w}
	out, _, err := run(t, sb)
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	if out != "0 1 2 3 4 " { // 3 = ExtraFiles[0], 4 = ls's directory
		t.Errorf("fds: %q", out)
	}
	b, _ := io.ReadAll(r)
	if string(b) != "extra\n" {
		t.Errorf("extra file got %q", b)
	}
}

func testBadDir(t *testing.T) {
	sb := sandlock.Command(base(), "true")
	sb.Dir = "/nonexistent"
	err := sb.Run()
	var ce *sandlock.ChildError
	if !errors.As(err, &ce) {
		t.Fatalf("bad Dir: %T %v", err, err)
	}
	if ce.Op != "chdir /nonexistent" || !errors.Is(err, syscall.ENOENT) || err.Error() != "chdir /nonexistent: no such file or directory" {
		t.Fatalf("bad Dir: %q (op %q)", err, ce.Op)
	}
	if sb.Pid() != 0 || sb.State() != sandlock.StateNew {
		t.Errorf("after a failed Create: pid %d state %v", sb.Pid(), sb.State())
	}
	// The positive twin: a good Dir.
	sb = sandlock.Command(base(), "pwd")
	sb.Dir = "/tmp"
	out, _, err := run(t, sb)
	if err != nil || out != "/tmp\n" {
		t.Fatalf("good Dir: %q %v", out, err)
	}
}

func testExitCodeAndSignal(t *testing.T) {
	err := sandlock.Command(base(), "sh", "-c", "exit 42").Run()
	var ee *sandlock.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 42 {
		t.Fatalf("exit 42: %v", err)
	}
	err = sandlock.Command(base(), "sh", "-c", "kill -TERM $$").Run()
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGTERM {
		t.Fatalf("SIGTERM: %v", err)
	}
	if err := sandlock.Command(base(), "true").Run(); err != nil {
		t.Fatalf("true: %v", err)
	}
}

// startGrandchild runs sh that starts a background sleep and prints its pid.
func readPid(t *testing.T, r io.Reader) int {
	t.Helper()
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil {
		t.Fatalf("read pid: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

func testTimeoutKillsGrandchildren(t *testing.T) {
	p := base()
	p.Limits.Timeout = sandlock.Duration(300 * time.Millisecond)
	sb := sandlock.Command(p, "sh", "-c", "sleep 1000 & echo $!; wait")
	pr, pw := io.Pipe()
	sb.Stdout = pw
	if err := sb.Spawn(); err != nil {
		t.Fatal(err)
	}
	grandchild := readPid(t, pr)
	go io.Copy(io.Discard, pr)
	err := sb.Wait()
	pw.Close()
	if !errors.Is(err, sandlock.ErrTimedOut) || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("Wait: %v", err)
	}
	waitDead(t, grandchild, 5*time.Second)
	// Positive twin: a program that ends in time is not reported timed out.
	p.Limits.Timeout = sandlock.Duration(10 * time.Second)
	if err := sandlock.Command(p, "true").Run(); err != nil {
		t.Fatalf("within the timeout: %v", err)
	}
}

func testSurvivorsKilled(t *testing.T) {
	// The program exits but leaves a background process in its group.
	sb := sandlock.Command(base(), "sh", "-c", "sleep 1000 >/dev/null 2>&1 & echo $!")
	out, _, err := run(t, sb)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(out))
	waitDead(t, pid, 5*time.Second)
}

func testPauseResume(t *testing.T) {
	sb := sandlock.Command(base(), "sleep", "1000")
	defer sb.Close()
	if err := sb.Spawn(); err != nil {
		t.Fatal(err)
	}
	if err := sb.Pause(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for procState(sb.Pid()) != "T" && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if st := procState(sb.Pid()); st != "T" || sb.State() != sandlock.StatePaused {
		t.Fatalf("after Pause: proc %q, state %v", st, sb.State())
	}
	if err := sb.Resume(); err != nil {
		t.Fatal(err)
	}
	for procState(sb.Pid()) == "T" && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if st := procState(sb.Pid()); st == "T" || sb.State() != sandlock.StateRunning {
		t.Fatalf("after Resume: proc %q, state %v", st, sb.State())
	}
	if err := sb.Kill(); err != nil {
		t.Fatal(err)
	}
	var ee *sandlock.ExitError
	if err := sb.Wait(); !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("Wait after Kill: %v", err)
	}
}

func testOwnerDeath(t *testing.T) {
	for _, role := range []string{"owner", "owner-running"} {
		t.Run(role, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), helperEnv+"="+role)
			if clone3.UsingLegacy() {
				cmd.Env = append(cmd.Env, "SANDLOCK_TEST_LEGACY_CLONE=1")
			}
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			pid := readPid(t, out)
			if dead(pid) {
				t.Fatalf("sandboxed process %d not alive while its owner lives", pid)
			}
			cmd.Process.Kill()
			cmd.Wait()
			waitDead(t, pid, 5*time.Second)
		})
	}
}

func testThreadExit(t *testing.T) {
	sb := sandlock.Command(base(), "sleep", "1000")
	defer sb.Close()
	done := make(chan error)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		done <- sb.Create()
	}()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if dead(sb.Pid()) {
		t.Fatal("the parked child died with the creating goroutine's thread")
	}
	if err := sb.Start(); err != nil {
		t.Fatal(err)
	}
	if dead(sb.Pid()) {
		t.Fatal("child died")
	}
}

func testConcurrent(t *testing.T) {
	const n = 200
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := sandlock.Command(base(), "echo", strconv.Itoa(i)).Output()
			if err == nil && string(out) != strconv.Itoa(i)+"\n" {
				err = fmt.Errorf("sandbox %d printed %q", i, out)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

// TestDroppedSandboxIsKilled: a Sandbox dropped without Close is killed and
// reaped by its cleanup (the safety net behind Close).
func TestDroppedSandboxIsKilled(t *testing.T) {
	pid := func() int {
		sb := sandlock.Command(base(), "sleep", "1000")
		if err := sb.Spawn(); err != nil {
			t.Fatal(err)
		}
		return sb.Pid()
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		runtime.GC()
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); errors.Is(err, os.ErrNotExist) {
			return // killed and reaped, not even a zombie
		}
		if time.Now().After(deadline) {
			t.Fatalf("dropped sandbox %d still exists (state %q)", pid, procState(pid))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestContextCancel: a cancelled context stops Create, leaving no child, and
// a live context changes nothing.
func TestContextCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	before := len(children(os.Getpid()))
	sb := sandlock.Command(base(), "true")
	if err := sb.CreateContext(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("CreateContext with a cancelled context: %v", err)
	}
	if sb.State() != sandlock.StateNew || len(children(os.Getpid())) != before {
		t.Fatalf("state %v, children %v", sb.State(), children(os.Getpid()))
	}
	sb = sandlock.Command(base(), "true")
	ctx, cancel = context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := sb.CreateContext(ctx); err != nil {
		t.Fatal(err)
	}
	if err := sb.StartContext(ctx); err != nil {
		t.Fatal(err)
	}
	if err := sb.Wait(); err != nil {
		t.Fatal(err)
	}
}

// TestExtraFilesNilEntry: a nil ExtraFiles entry leaves that fd closed while
// the next one is passed.
func TestExtraFilesNilEntry(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	sb := sandlock.Command(base(), "/bin/sh", "-c", "for fd in 3 4 5; do test -e /proc/$$/fd/$fd && echo -n open$fd || echo -n closed$fd; done; echo via4 >&4")
	sb.ExtraFiles = []*os.File{nil, w}
	out, _, err := run(t, sb)
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	if out != "closed3open4closed5" {
		t.Errorf("fds: %q", out)
	}
	if b, _ := io.ReadAll(r); string(b) != "via4\n" {
		t.Errorf("fd 4 got %q", b)
	}
}

// TestKillStoppedParkedChild: a parked child that was stopped never execs,
// yet Kill and Close still reach it while Start waits.
func TestKillStoppedParkedChild(t *testing.T) {
	sb := sandlock.Command(base(), "true")
	if err := sb.Create(); err != nil {
		t.Fatal(err)
	}
	if err := sb.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	// Start only once the child is stopped, so that it cannot consume the
	// release on its way into the stop.
	deadline := time.Now().Add(5 * time.Second)
	for procState(sb.Pid()) != "T" && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	started := make(chan error, 1)
	go func() { started <- sb.Start() }()
	time.Sleep(50 * time.Millisecond)
	killed := make(chan error, 1)
	go func() { killed <- sb.Kill() }()
	select {
	case err := <-killed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Kill blocked behind Start")
	}
	select {
	case err := <-started:
		if !errors.Is(err, sandlock.ErrDiedBeforeStart) {
			t.Fatalf("Start of a child killed while parked: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Start did not return after Kill")
	}
	if err := sb.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestStartCancelledContextReleasesNothing: Start with a cancelled context
// leaves the sandbox parked, and the program never runs.
func TestStartCancelledContextReleasesNothing(t *testing.T) {
	sb, marker := markerSandbox(t)
	defer sb.Close()
	if err := sb.Create(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := sb.StartContext(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("StartContext: %v", err)
	}
	time.Sleep(20 * time.Millisecond)
	if _, err := os.Stat(marker); err == nil || sb.State() != sandlock.StateCreated {
		t.Fatalf("released with a cancelled context (state %v)", sb.State())
	}
	if err := sb.Start(); err != nil {
		t.Fatal(err)
	}
	if err := sb.Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Fatal("did not run after a later Start")
	}
}
