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
	r, w *os.File    // the pipe; r stays ours until a watchdog has it
	proc *os.Process // nil until started
	// live counts the sandboxes registered and not ended.
	live     int
	starting bool
	timer    *time.Timer
}

// watchdogDelay is how long a started sandbox runs before the watchdog
// process is started. Most sandboxes of a short-lived owner (sandlock-run
// /bin/true) end sooner and never pay for it (a fork and exec of this
// binary and a Go runtime start-up, ~1.5 ms of CPU); an owner killed
// within the delay leaves only the leader covered (PDEATHSIG).
const watchdogDelay = 20 * time.Millisecond

// watchdogOpen registers a sandbox with its first session or group.
func watchdogOpen(op byte, sandbox, id int) {
	watchdog.mu.Lock()
	defer watchdog.mu.Unlock()
	watchdog.live++
	watchdogWriteLocked(op, sandbox, id)
}

// watchdogTell records one more session or group of a sandbox.
func watchdogTell(op byte, sandbox, id int) {
	watchdog.mu.Lock()
	defer watchdog.mu.Unlock()
	watchdogWriteLocked(op, sandbox, id)
}

// watchdogClose tells that a sandbox ended (after its sweep). When no
// sandbox is left and no watchdog was started, the pipe and its records
// are dropped.
func watchdogClose(sandbox int) {
	watchdog.mu.Lock()
	defer watchdog.mu.Unlock()
	watchdog.live--
	if watchdog.live == 0 && watchdog.proc == nil && !watchdog.starting {
		watchdogResetLocked()
		return
	}
	watchdogWriteLocked(wdEnd, sandbox, 0)
}

// watchdogArm makes sure the watchdog is started watchdogDelay from now
// if it is not running yet. Start calls it once the program runs.
func watchdogArm() {
	watchdog.mu.Lock()
	defer watchdog.mu.Unlock()
	if watchdog.proc != nil || watchdog.starting || watchdog.timer != nil {
		return
	}
	watchdog.timer = time.AfterFunc(watchdogDelay, watchdogStart)
}

// watchdogWriteLocked writes one record. The pipe is non-blocking: a
// record that does not fit (a watchdog that stopped reading) is dropped,
// which leaves that sandbox uncovered should the owner die: best effort.
func watchdogWriteLocked(op byte, sandbox, id int) {
	var rec [wdRecordSize]byte
	rec[0] = op
	binary.LittleEndian.PutUint32(rec[1:], uint32(sandbox))
	binary.LittleEndian.PutUint32(rec[5:], uint32(id))
	if watchdog.w == nil {
		r, w, err := os.Pipe()
		if err != nil {
			return
		}
		// Room for the records written before the watchdog starts and
		// while it pauses between reads.
		_, _ = unix.FcntlInt(w.Fd(), unix.F_SETPIPE_SZ, 1<<20)
		_ = unix.SetNonblock(int(w.Fd()), true)
		watchdog.r, watchdog.w = r, w
	}
	// A record is smaller than PIPE_BUF: written whole or not at all.
	if _, err := unix.Write(int(watchdog.w.Fd()), rec[:]); err != nil && err != unix.EAGAIN {
		// EPIPE: the watchdog died. Start over (the records of the
		// sandboxes still running are lost with it).
		watchdogResetLocked()
	}
}

// watchdogResetLocked drops the pipe and reaps a watchdog that exited.
func watchdogResetLocked() {
	if watchdog.w != nil {
		watchdog.w.Close()
	}
	if watchdog.r != nil {
		watchdog.r.Close()
	}
	watchdog.r, watchdog.w = nil, nil
	if p := watchdog.proc; p != nil {
		_, _ = p.Wait()
		watchdog.proc = nil
	}
	if watchdog.timer != nil {
		watchdog.timer.Stop()
		watchdog.timer = nil
	}
}

// watchdogStart starts the watchdog process on the pipe, if sandboxes are
// still registered.
func watchdogStart() {
	watchdog.mu.Lock()
	watchdog.timer = nil
	r := watchdog.r
	if watchdog.live == 0 || r == nil || watchdog.proc != nil || watchdog.starting {
		watchdog.mu.Unlock()
		return
	}
	watchdog.starting = true
	watchdog.mu.Unlock()
	p := startWatchdog(r)
	watchdog.mu.Lock()
	defer watchdog.mu.Unlock()
	watchdog.starting = false
	if p == nil {
		return // not startable: the records stay in the pipe, uncovered
	}
	if watchdog.r != r {
		// Reset meanwhile (StopWatchdog): this one reads a dropped pipe
		// and exits at its end of file.
		_, _ = p.Wait()
		return
	}
	watchdog.proc = p
	watchdog.r.Close() // the watchdog has it now
	watchdog.r = nil
}

// startWatchdog starts the watchdog process reading r. The process is
// not waited for while we live (it exits when we do), except after a
// failed write showed it gone.
func startWatchdog(r *os.File) *os.Process {
	null, err := os.Open(os.DevNull)
	if err != nil {
		return nil
	}
	defer null.Close()
	p, err := os.StartProcess("/proc/self/exe", []string{"sandlock-watchdog"}, &os.ProcAttr{
		Dir:   "/",
		Env:   []string{watchdogEnv + "=3"},
		Files: []*os.File{null, null, null, r},
		Sys:   &syscall.SysProcAttr{Setsid: true},
	})
	if err != nil {
		return nil
	}
	return p
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
// leaked fds and children, say. A later Start starts a new watchdog.
func StopWatchdog() {
	watchdog.mu.Lock()
	defer watchdog.mu.Unlock()
	watchdogResetLocked()
}
