//go:build linux

package sandlock

import (
	"bytes"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// Throttle timing: the sandbox's CPU time is sampled every throttleTick
// while it runs; unused budget is kept up to throttleBurst of wall time
// (so an idle sandbox cannot save up for a long burst at full speed).
const (
	throttleTick  = 20 * time.Millisecond
	throttleBurst = 100 * time.Millisecond
)

// clockTicks is USER_HZ, the unit of the CPU times in /proc/PID/stat. It
// is 100 on every Linux architecture Go supports.
const clockTicks = 100

// cpuThrottle enforces Limits.MaxCPU with a SIGSTOP/SIGCONT duty cycle
// driven by measured CPU time (upstream runs a fixed wall-clock duty
// cycle, which slows an idle or I/O-bound sandbox for nothing and lets a
// multi-threaded one use several cores' worth).
//
// A token bucket: the sandbox earns pct% of each wall-clock second and
// spends the CPU time its process group used (utime+stime of each live
// process, and cutime+cstime of the children they reaped, from
// /proc/PID/stat, walking the tree from the leader). When it owes time
// the group is stopped for as long as it takes to earn it back, then
// continued. Multi-threaded and multi-process sandboxes are held to pct%
// of one core in total.
//
// One goroutine per sandbox, started by Start after the exec and ended by
// the reap (stop), which waits for it: nothing outlives the sandbox. It
// signals only under process.mu while the leader is not reaped (the group
// id is then reserved), and never continues a sandbox that Pause stopped.
type cpuThrottle struct {
	p    *process
	pct  int64
	quit chan struct{}
	done chan struct{}
}

func startThrottle(p *process, pct int) *cpuThrottle {
	t := &cpuThrottle{p: p, pct: int64(pct), quit: make(chan struct{}), done: make(chan struct{})}
	go t.run()
	return t
}

// stop ends the throttle and waits for it; the sandbox is left continued
// unless it is paused.
func (t *cpuThrottle) stop() {
	close(t.quit)
	<-t.done
}

func (t *cpuThrottle) run() {
	defer close(t.done)
	timer := time.NewTimer(throttleTick)
	defer timer.Stop()
	last, lastCPU := time.Now(), t.usage()
	var budget time.Duration
	stopped := false
	for {
		select {
		case <-t.quit:
			if stopped {
				t.signal(unix.SIGCONT)
			}
			return
		case <-timer.C:
		}
		now, cpu := time.Now(), t.usage()
		used := max(cpu-lastCPU, 0) // a reap by someone outside makes it go back
		budget += now.Sub(last)*time.Duration(t.pct)/100 - used
		budget = min(budget, throttleBurst*time.Duration(t.pct)/100)
		last, lastCPU = now, cpu
		next := throttleTick
		switch {
		case budget < 0:
			if !stopped {
				if !t.signal(unix.SIGSTOP) {
					return // reaped
				}
				stopped = true
			}
			next = -budget * 100 / time.Duration(t.pct)
		case stopped:
			if !t.signal(unix.SIGCONT) {
				return
			}
			stopped = false
		}
		timer.Reset(next)
	}
}

// signal sends sig to the sandbox's process group unless it is reaped, and
// unless sig is SIGCONT and the sandbox is paused. It reports whether the
// sandbox is still there.
func (t *cpuThrottle) signal(sig unix.Signal) bool {
	p := t.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.reaped || p.exited {
		return false
	}
	if sig == unix.SIGCONT && p.paused {
		return true
	}
	_ = p.signalLocked(sig)
	return true
}

// usage is the CPU time used by the sandbox's process group so far.
func (t *cpuThrottle) usage() time.Duration {
	var ticks int64
	seen := map[int]bool{}
	queue := []int{t.p.pid}
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		if seen[pid] {
			continue
		}
		seen[pid] = true
		if n, pgrp := cpuTicks(pid); pgrp == t.p.pgid {
			ticks += n
		}
		for k := range childrenOf(pid) {
			queue = append(queue, k)
		}
	}
	return time.Duration(ticks) * time.Second / clockTicks
}

// cpuTicks returns utime+stime+cutime+cstime of process pid in clock
// ticks, and its process group, from /proc/PID/stat.
func cpuTicks(pid int) (ticks int64, pgrp int) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0
	}
	// Fields from 3 (state): pgrp is field 5, utime..cstime 14..17.
	f := bytes.Fields(b[i+1:])
	if len(f) < 15 {
		return 0, 0
	}
	pgrp, _ = strconv.Atoi(string(f[2]))
	for _, s := range f[11:15] {
		n, _ := strconv.ParseInt(string(s), 10, 64)
		ticks += n
	}
	return ticks, pgrp
}
