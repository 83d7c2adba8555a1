package tests

import (
	"bytes"
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

// fifoPolicy is base() with dir writable and the open interception on (a
// Deny of a file in dir).
func fifoPolicy(t *testing.T, dir string) sandlock.Policy {
	t.Helper()
	secret := filepath.Join(dir, "secret")
	must(t, os.WriteFile(secret, []byte("x"), 0o600))
	p := base()
	p.Filesystem.Write = []string{dir}
	p.Filesystem.Deny = []string{secret}
	return p
}

// waitWithin waits for sb and fails the test if Wait has not returned
// within d (a hang, not a timing assertion: d is far above any run).
func waitWithin(t *testing.T, sb *sandlock.Sandbox, d time.Duration, unblock func()) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- sb.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		t.Errorf("Wait did not return within %v: the supervisor hangs", d)
		unblock()
		return <-done
	}
}

// TestReviewFIFOOpenAtEnd: a sandboxed program opens a FIFO nobody will
// ever write (the supervisor opens it on behalf and blocks) and is killed.
// Wait must still return: the open made on behalf must not outlive the
// sandbox. Twin: the same open with a writer completes.
func TestReviewFIFOOpenAtEnd(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	must(t, syscall.Mkfifo(fifo, 0o600))
	p := fifoPolicy(t, dir)
	p.Limits.Timeout = sandlock.Duration(2 * time.Second)
	sb := sandlock.Command(p, "/bin/sh", "-c", "exec cat "+fifo)
	must(t, sb.Spawn())
	err := waitWithin(t, sb, 30*time.Second, func() {
		// Give the stuck opener its peer so that the test ends.
		if f, err := os.OpenFile(fifo, os.O_WRONLY, 0); err == nil {
			f.Close()
		}
	})
	if err == nil {
		t.Fatal("cat of a FIFO without writer ended without error; want the timeout's kill")
	}

	// Twin: a writer in the sandbox; cat reads what it wrote.
	p2 := fifoPolicy(t, t.TempDir())
	p2.Filesystem.Write = append(p2.Filesystem.Write, dir)
	out, stderr, err := shell(t, p2, "(echo hello > "+fifo+") & cat "+fifo+"; wait")
	if err != nil || out != "hello\n" {
		t.Fatalf("twin: out %q, stderr %q, err %v", out, stderr, err)
	}
}

// selfThreads is the test process's thread count.
func selfThreads(t *testing.T) int {
	t.Helper()
	return procStatusField(t, os.Getpid(), "Threads:")
}

func procStatusField(t *testing.T, pid int, field string) int {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	return -1
}

// fifoThreadsScript starts n threads that each open the FIFO for reading
// (blocking until a writer comes), then reports how many got it.
const fifoThreadsScript = `
import os, sys, threading
threading.stack_size(65536)
n, fifo = int(sys.argv[1]), sys.argv[2]
ok = []
def reader():
    fd = os.open(fifo, os.O_RDONLY)
    ok.append(fd)
    os.close(fd)
ts = [threading.Thread(target=reader) for _ in range(n)]
for t in ts: t.start()
for t in ts: t.join()
print("opened", len(ok))
`

// TestReviewSupervisorThreadBound: 600 threads of a sandbox block in FIFO
// opens made on behalf. Each used to take a supervisor thread and an
// opener thread of the owner's process (1 200 threads; at 5 000 the Go
// runtime aborts the owner's whole process at its 10 000-thread limit).
// The owner's thread count must stay bounded while they block; once a
// writer comes every open succeeds (twin: the bound delays, never fails).
func TestReviewSupervisorThreadBound(t *testing.T) {
	py := requirePython(t)
	const n = 600
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	must(t, syscall.Mkfifo(fifo, 0o666))
	p := fifoPolicy(t, dir)
	sb := sandlock.Command(p, py, "-c", fifoThreadsScript, strconv.Itoa(n), fifo)
	var out, errb bytes.Buffer
	sb.Stdout, sb.Stderr = &out, &errb
	before := selfThreads(t)
	must(t, sb.Spawn())
	// Wait until the program has all its threads, then watch the
	// supervisor's side while they block.
	for range 2000 {
		if procStatusField(t, sb.Pid(), "Threads:") >= n+1 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	peak := 0
	for range 100 {
		peak = max(peak, selfThreads(t)-before)
		time.Sleep(20 * time.Millisecond)
	}
	w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
	must(t, err)
	err = waitWithin(t, sb, 120*time.Second, func() {})
	w.Close()
	t.Logf("peak extra threads in the owner: %d", peak)
	if err != nil || strings.TrimSpace(out.String()) != "opened "+strconv.Itoa(n) {
		t.Fatalf("out %q, stderr %q, err %v", out.String(), errb.String(), err)
	}
	if peak > 400 {
		t.Fatalf("%d blocked opens made the owner start %d threads; want a bound (at most about 2 × 128)", n, peak)
	}
}

// TestReviewFIFOManyAtEnd: 300 threads blocked in FIFO opens (more than
// the supervisor's thread bound: no thread is left to lead) and the
// sandbox is killed by its timeout: Wait must return.
func TestReviewFIFOManyAtEnd(t *testing.T) {
	py := requirePython(t)
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	must(t, syscall.Mkfifo(fifo, 0o666))
	p := fifoPolicy(t, dir)
	p.Limits.Timeout = sandlock.Duration(3 * time.Second)
	sb := sandlock.Command(p, py, "-c", fifoThreadsScript, "300", fifo)
	must(t, sb.Spawn())
	err := waitWithin(t, sb, 60*time.Second, func() {
		if f, err := os.OpenFile(fifo, os.O_WRONLY, 0); err == nil {
			f.Close()
		}
	})
	if err == nil {
		t.Fatal("the program ended by itself; want the timeout's kill")
	}
}

// TestReviewChattrReadOnly: FS_IOC_SETFLAGS needs only ownership of the
// file, not write access: a sandbox could set inode flags (chattr +d) on a
// file it may only read. The host's flags must not change; twin: lsattr
// (FS_IOC_GETFLAGS) and reading the file work.
func TestReviewChattrReadOnly(t *testing.T) {
	for _, tool := range []string{"chattr", "lsattr"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	dir := t.TempDir()
	f := filepath.Join(dir, "f")
	must(t, os.WriteFile(f, []byte("data\n"), 0o644))
	before, err := exec.Command("lsattr", f).Output()
	if err != nil {
		t.Skipf("the test's file system has no inode flags (lsattr: %v)", err)
	}
	p := base()
	p.Filesystem.Read = []string{dir}
	out, stderr, err := shell(t, p, "cat "+f+"; lsattr "+f+" >/dev/null && echo getflags-ok; chattr +d "+f+" && echo SETFLAGS-WORKED")
	after, _ := exec.Command("lsattr", f).Output()
	if string(after) != string(before) {
		t.Errorf("inode flags of a read-only file changed: %q -> %q", before, after)
	}
	if strings.Contains(out, "SETFLAGS-WORKED") {
		t.Errorf("chattr succeeded on a read-only file")
	}
	if !strings.Contains(out, "data\ngetflags-ok\n") {
		t.Errorf("twin: out %q, stderr %q, err %v", out, stderr, err)
	}
}
