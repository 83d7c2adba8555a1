package tests

import (
	"bytes"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPTY returns a new pseudo-terminal pair.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("needs /dev/ptmx: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	return m, s
}

// TestCLIForegroundTerminal: on a terminal, the sandboxed program is the
// terminal's foreground process group (so it can read it and ^C reaches it),
// and sandlock-run has the terminal back afterwards.
func TestCLIForegroundTerminal(t *testing.T) {
	master, slave := openPTY(t)
	defer master.Close()
	// sh is the session leader with the pty as its controlling terminal;
	// it runs sandlock-run in the foreground, then reports whether its own
	// process group is in the foreground again.
	// The second sandlock-run fails after its child took the terminal
	// (chdir comes first, TIOCSPGRP last): the terminal must come back too.
	script := cliPath + ` run -r /proc -- sh -c 'ps -o stat= -p $$'; ps -o stat= -p $$; ` +
		cliPath + ` run --cwd /nonexistent -- true 2>/dev/null; ps -o stat= -p $$`
	cmd := exec.Command("sh", "-c", script)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	var out bytes.Buffer
	done := make(chan struct{})
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			out.Write(buf[:n])
			if err != nil {
				close(done)
				return
			}
		}
	}()
	errc := make(chan error, 1)
	go func() { errc <- cmd.Wait() }()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("sh: %v\n%s", err, out.String())
		}
	case <-time.After(20 * time.Second):
		killSession(cmd.Process.Pid)
		t.Fatalf("stuck (a background process stopped by SIGTTOU/SIGTTIN?):\n%s", out.String())
	}
	master.Close()
	<-done
	lines := strings.Fields(out.String())
	if len(lines) != 3 || !strings.Contains(lines[0], "+") || !strings.Contains(lines[1], "+") || !strings.Contains(lines[2], "+") {
		t.Fatalf("want both the sandboxed sh and the outer sh in the foreground (stat with +), got %q", out.String())
	}
}

// TestCLIJobControl: ^Z stops the sandboxed program and sandlock-run with
// it, so the shell gets its prompt back; fg continues both.
func TestCLIJobControl(t *testing.T) {
	master, slave := openPTY(t)
	defer master.Close()
	script := cliPath + ` run -- sleep 3; echo "st=$?"; fg >/dev/null; echo "fgst=$?"`
	cmd := exec.Command("bash", "-m", "-c", script)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	var mu sync.Mutex
	var out bytes.Buffer
	eof := make(chan struct{})
	go func() {
		defer close(eof)
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			mu.Lock()
			out.Write(buf[:n])
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	time.Sleep(300 * time.Millisecond)
	master.Write([]byte{0x1a}) // ^Z
	errc := make(chan error, 1)
	go func() { errc <- cmd.Wait() }()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("bash: %v", err)
		}
	case <-time.After(20 * time.Second):
		killSession(cmd.Process.Pid)
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("stuck:\n%q", out.String())
	}
	// Everything bash wrote is read once the master reports the slave
	// closed (EIO), which happens after the last writer exited.
	select {
	case <-eof:
	case <-time.After(10 * time.Second):
	}
	mu.Lock()
	defer mu.Unlock()
	s := out.String()
	if !strings.Contains(s, "st=147") || !strings.Contains(s, "fgst=0") {
		t.Fatalf("want the job stopped by ^Z (st=147) and finished after fg (fgst=0), got %q", s)
	}
}

// killSession SIGKILLs every process of session sid: a failed job-control
// test must not leave a stopped sandlock-run behind (PID 1 here would never
// reap it, and a stopped process ignores everything but SIGKILL).
func killSession(sid int) {
	for _, p := range allProcs() {
		if p.session == sid {
			syscall.Kill(p.pid, syscall.SIGKILL)
		}
	}
}
