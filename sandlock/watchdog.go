//go:build linux

package sandlock

import (
	"encoding/binary"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The watchdog kills the sandboxes of a process that died without
// cleaning up (SIGKILL, a crash): "killing the owner kills every
// sandboxed process". PDEATHSIG covers only the leader of a sandbox;
// the rest of its session and anything that escaped would run on.
//
// It is this program again (/proc/self/exe), started once per owner
// process at its first Create, in a session of its own so that signals
// for the owner's job do not reach it. The owner keeps the write end of a
// pipe and tells it, in fixed-size records, which sessions and groups each
// sandbox has (escapes) and when a sandbox ended. When the pipe reports
// end of file (the owner is gone, whatever the cause) it sweeps what is
// still registered, with the same guards as escapes.sweep, and exits.
//
// It is best effort in one respect: a watchdog that cannot be started
// (the binary was deleted or is not executable) or that was killed
// leaves the owner-death case uncovered, and nothing else changes;
// Sandbox.Close, Wait, timeouts and limits still sweep from the owner.

// watchdogEnv marks the watchdog's environment; the init function turns
// the program into the watchdog when it is set.
const watchdogEnv = "SANDLOCK_WATCHDOG_PIPE_FD"

// Record opcodes.
const (
	wdSession = 'S' // id is a session of sandbox
	wdGroup   = 'G' // id is a process group of sandbox
	wdEnd     = 'E' // sandbox ended: forget it
)

const wdRecordSize = 9 // op, sandbox (uint32), id (uint32)

// wdBatchPause is how long the watchdog leaves its pipe alone after each
// read.
const wdBatchPause = 100 * time.Millisecond

func init() {
	if os.Getenv(watchdogEnv) == "3" {
		runWatchdog(os.NewFile(3, "watchdog"))
		os.Exit(0)
	}
}

var watchdog struct {
	mu   sync.Mutex
	w    *os.File    // nil: not started, or gone
	proc *os.Process // nil until started
	// ready is closed when the start in flight finished (started or
	// failed); Start waits for it, so that no program runs before its
	// watchdog exists.
	ready chan struct{}
}

// watchdogTell sends one record, starting the watchdog first if needed.
// Errors are ignored: see the note on best effort above.
//
// The watchdog process is started in the background (os.StartProcess
// waits for its exec, ~1 ms, overlapped with the rest of Create); records
// written meanwhile wait in the pipe, whose read end we hold until the
// watchdog has it.
func watchdogTell(op byte, sandbox, id int) {
	var rec [wdRecordSize]byte
	rec[0] = op
	binary.LittleEndian.PutUint32(rec[1:], uint32(sandbox))
	binary.LittleEndian.PutUint32(rec[5:], uint32(id))
	watchdog.mu.Lock()
	defer watchdog.mu.Unlock()
	if watchdog.w == nil {
		if op == wdEnd {
			return
		}
		r, w, err := os.Pipe()
		if err != nil {
			return
		}
		// Room for the records written while the watchdog pauses
		// (best effort: the default 64 KiB also works, writes then wait).
		_, _ = unix.FcntlInt(w.Fd(), unix.F_SETPIPE_SZ, 1<<20)
		ready := make(chan struct{})
		watchdog.w, watchdog.ready = w, ready
		go startWatchdog(r, w, ready)
	}
	// A record is smaller than PIPE_BUF: written whole or not at all.
	if _, err := watchdog.w.Write(rec[:]); err != nil {
		// The watchdog died or never started: start a new one at the
		// next registration (the records of running sandboxes are lost
		// with it).
		watchdog.w.Close()
		watchdog.w = nil
		if p := watchdog.proc; p != nil {
			_, _ = p.Wait() // it exited (EPIPE): reap it
			watchdog.proc = nil
		}
	}
}

// watchdogWait waits until the watchdog start in flight, if any, is over.
func watchdogWait() {
	watchdog.mu.Lock()
	ready := watchdog.ready
	watchdog.mu.Unlock()
	if ready != nil {
		<-ready
	}
}

// startWatchdog starts the watchdog process reading r, then closes our
// copy of r (a failed start thus makes the next write fail with EPIPE).
// The process is not waited for while we live (it exits when we do),
// except after a failed write showed it gone.
func startWatchdog(r, w *os.File, ready chan struct{}) {
	defer close(ready)
	defer r.Close()
	null, err := os.Open(os.DevNull)
	if err != nil {
		return
	}
	defer null.Close()
	p, err := os.StartProcess("/proc/self/exe", []string{"sandlock-watchdog"}, &os.ProcAttr{
		Dir:   "/",
		Env:   []string{watchdogEnv + "=3"},
		Files: []*os.File{null, null, null, r},
		Sys:   &syscall.SysProcAttr{Setsid: true},
	})
	if err != nil {
		return
	}
	watchdog.mu.Lock()
	if watchdog.w == w {
		watchdog.proc = p
	}
	watchdog.mu.Unlock()
}

// runWatchdog is the watchdog's main loop.
func runWatchdog(r *os.File) {
	sessions := map[uint32][]int{}
	groups := map[uint32][]int{}
	fd := int(r.Fd())
	buf := make([]byte, 64<<10)
	var pending []byte
	for {
		n, err := unix.Read(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if n <= 0 {
			break // end of file (or an error): the owner is gone
		}
		pending = append(pending, buf[:n]...)
		for len(pending) >= wdRecordSize {
			rec := pending[:wdRecordSize]
			sb := binary.LittleEndian.Uint32(rec[1:])
			id := int(binary.LittleEndian.Uint32(rec[5:]))
			switch rec[0] {
			case wdSession:
				sessions[sb] = append(sessions[sb], id)
			case wdGroup:
				groups[sb] = append(groups[sb], id)
			case wdEnd:
				delete(sessions, sb)
				delete(groups, sb)
			}
			pending = pending[wdRecordSize:]
		}
		pending = append([]byte(nil), pending...)
		// Not waiting in read meanwhile makes the owner's writes cheap
		// (a pipe write wakes a waiting reader: a thread wake-up per
		// sandbox otherwise). The owner's death is noticed within this
		// pause; the pipe (1 MiB) holds the records of the meantime.
		time.Sleep(wdBatchPause)
	}
	var ss, gs []int
	for _, v := range sessions {
		ss = append(ss, v...)
	}
	for _, v := range groups {
		gs = append(gs, v...)
	}
	if len(ss)+len(gs) == 0 {
		return
	}
	self := os.Getpid()
	for range 100 {
		if killMembers(self, ss, gs) == 0 {
			return
		}
	}
}

// StopWatchdog ends the watchdog process that kills this program's
// sandboxes should it die without cleaning up, and reaps it. The watchdog
// sweeps the sandboxes still registered before it exits, so call it only
// once every Sandbox is closed: from a test's TestMain that checks for
// leaked fds and children, say. A later Create starts a new watchdog.
func StopWatchdog() {
	watchdogWait()
	watchdog.mu.Lock()
	defer watchdog.mu.Unlock()
	if watchdog.w == nil {
		return
	}
	watchdog.w.Close()
	if watchdog.proc != nil {
		_, _ = watchdog.proc.Wait()
	}
	watchdog.w, watchdog.proc = nil, nil
}
