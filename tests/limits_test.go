package tests

import (
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sandlock-go/sandlock-go/sandlock"
)

// The resource limits' kernel tests: real programs under MaxMemory,
// MaxCPU and CPUCores, asserting what the program saw and how it ended.

// memHog allocates argv[2] MiB one way (argv[1]) and prints "ok", or
// "failed ERRNO" when the allocation failed without a kill.
const memHog = `
import ctypes, mmap, os, sys
libc = ctypes.CDLL(None, use_errno=True)
vp, sz = ctypes.c_void_p, ctypes.c_size_t
libc.mmap.restype, libc.mmap.argtypes = vp, [vp, sz, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
libc.mremap.restype, libc.mremap.argtypes = vp, [vp, sz, sz, ctypes.c_int]
libc.mprotect.argtypes = [vp, sz, ctypes.c_int]
libc.sbrk.restype, libc.sbrk.argtypes = vp, [ctypes.c_long]
FAILED = ctypes.c_void_p(-1).value
PROT_RW, PRIV_ANON = 3, 0x22
MB = 1 << 20
kind, n = sys.argv[1], int(sys.argv[2]) * MB

def check(ok):
    if not ok:
        print("failed", os.strerror(ctypes.get_errno()))
        sys.exit(3)

def touch(p, n):
    ctypes.memset(p, 1, n)

if kind == "bytearray":
    b = bytearray(n)
elif kind == "mmap-shared":
    m = mmap.mmap(-1, n)
    m[n - 1] = 1
elif kind == "mmap-private":
    m = mmap.mmap(-1, n, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
elif kind == "brk":
    p = libc.sbrk(n)
    check(p != FAILED)
    touch(p, n)
elif kind == "mremap":
    p = libc.mmap(None, MB, PROT_RW, PRIV_ANON, -1, 0)
    check(p != FAILED)
    q = libc.mremap(p, MB, n, 1)
    check(q != FAILED)
    touch(q, n)
elif kind == "mprotect":
    # Reserve 256 MiB inaccessible (not counted), then make n of it
    # writable (counted).
    p = libc.mmap(None, 256 * MB, 0, PRIV_ANON, -1, 0)
    check(p != FAILED)
    check(libc.mprotect(p, n, PROT_RW) == 0)
    touch(p, n)
elif kind == "fork":
    # The child's copy of the parent's n is charged at the fork: the child
    # may write all of it without another notified call.
    b = bytearray(n)
    pid = os.fork()
    if pid == 0:
        for i in range(0, n, 4096): b[i] = 2
        os._exit(0)
    _, st = os.waitpid(pid, 0)
    check(st == 0)
elif kind == "fixed-again":
    # MAP_FIXED over memory already counted, five times: no double count.
    p = libc.mmap(None, n, PROT_RW, PRIV_ANON, -1, 0)
    check(p != FAILED)
    for i in range(5):
        check(libc.mmap(p, n, PROT_RW, PRIV_ANON | 0x10, -1, 0) == p)
    touch(p, n)
elif kind == "mprotect-again":
    # Writable memory made writable again, five times: no double count.
    p = libc.mmap(None, n, PROT_RW, PRIV_ANON, -1, 0)
    check(p != FAILED)
    for i in range(5):
        check(libc.mprotect(p, n, PROT_RW) == 0)
    touch(p, n)
elif kind == "children":
    # Three children, one after the other, each allocating n.
    import subprocess
    for i in range(3):
        subprocess.run([sys.executable, "-c", "b = bytearray(%d); b[-1] = 1" % n], check=True)
print("ok")
`

// TestMemoryLimit: under 64M, hogs of every allocation path (200M) are
// killed and the result says the memory limit; their 40M twins succeed, as
// do three sequential 40M children (each child's memory is credited when it
// exits). A fork charges the child's copy; remapping or re-protecting
// memory already counted does not count it twice.
func TestMemoryLimit(t *testing.T) {
	py := requirePython(t)
	p := base()
	p.Limits.MaxMemory = "64M"
	kinds := []string{"bytearray", "mmap-shared", "mmap-private", "brk", "mremap", "mprotect"}
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			out, errs, err := run(t, sandlock.Command(p, py, "-c", memHog, kind, "200"))
			var ee *sandlock.ExitError
			if !errors.As(err, &ee) || !errors.Is(err, sandlock.ErrMemoryLimit) || !strings.Contains(err.Error(), "memory limit exceeded") {
				t.Fatalf("200M: %v (stdout %q, stderr %q), want the memory limit", err, out, errs)
			}
			out, errs, err = run(t, sandlock.Command(p, py, "-c", memHog, kind, "40"))
			if err != nil || out != "ok\n" {
				t.Fatalf("40M: %v (stdout %q, stderr %q)", err, out, errs)
			}
		})
	}
	// Upper bounds that would double count, checked exactly before a kill.
	for _, kind := range []string{"fixed-again", "mprotect-again"} {
		t.Run(kind, func(t *testing.T) {
			out, errs, err := run(t, sandlock.Command(p, py, "-c", memHog, kind, "40"))
			if err != nil || out != "ok\n" {
				t.Fatalf("40M: %v (stdout %q, stderr %q)", err, out, errs)
			}
		})
	}
	t.Run("fork", func(t *testing.T) {
		out, errs, err := run(t, sandlock.Command(p, py, "-c", memHog, "fork", "15"))
		if err != nil || out != "ok\n" {
			t.Fatalf("15M and a forked copy: %v (stdout %q, stderr %q)", err, out, errs)
		}
		_, _, err = run(t, sandlock.Command(p, py, "-c", memHog, "fork", "40"))
		if !errors.Is(err, sandlock.ErrMemoryLimit) {
			t.Fatalf("40M and a forked copy: %v, want the memory limit", err)
		}
	})
	t.Run("children", func(t *testing.T) {
		out, errs, err := run(t, sandlock.Command(p, py, "-c", memHog, "children", "40"))
		if err != nil || out != "ok\n" {
			t.Fatalf("3 x 40M children: %v (stdout %q, stderr %q)", err, out, errs)
		}
		// Twin: the same children at 200M are killed.
		_, _, err = run(t, sandlock.Command(p, py, "-c", memHog, "children", "200"))
		if !errors.Is(err, sandlock.ErrMemoryLimit) {
			t.Fatalf("3 x 200M children: %v, want the memory limit", err)
		}
	})
	t.Run("nolimit", func(t *testing.T) {
		for _, kind := range kinds {
			out, errs, err := run(t, sandlock.Command(base(), py, "-c", memHog, kind, "200"))
			if err != nil || out != "ok\n" {
				t.Errorf("%s 200M without a limit: %v (stdout %q, stderr %q)", kind, err, out, errs)
			}
		}
	})
}

// TestMemoryLimitThreads: threads share their process's memory and are
// counted once: 8 live threads each allocating 5M stay under 64M, while
// the same threads allocating 20M each are killed. (Thread stacks count
// at their mapped size: the test keeps them small.)
func TestMemoryLimitThreads(t *testing.T) {
	py := requirePython(t)
	code := `
import sys, threading
threading.stack_size(512 << 10)
n = int(sys.argv[1]) << 20
bufs = []
all_live = threading.Barrier(8)
def work():
    bufs.append(bytearray(n))
    all_live.wait()
ts = [threading.Thread(target=work) for _ in range(8)]
for t in ts: t.start()
for t in ts: t.join()
print(len(bufs))
`
	p := base()
	p.Limits.MaxMemory = "64M"
	out, errs, err := run(t, sandlock.Command(p, py, "-c", code, "5"))
	if err != nil || out != "8\n" {
		t.Fatalf("8 threads x 5M: %v (stdout %q, stderr %q)", err, out, errs)
	}
	_, _, err = run(t, sandlock.Command(p, py, "-c", code, "20"))
	if !errors.Is(err, sandlock.ErrMemoryLimit) {
		t.Fatalf("8 threads x 20M: %v, want the memory limit", err)
	}
}

// busyShare spins for about two seconds and prints two shares of the wall
// time it spun: the CPU time it got, and the time it was runnable (running
// or waiting for a CPU, from /proc/self/schedstat), which is the wall time
// minus the time it was stopped.
const busyShare = `
import time
def sched():
    run, wait, _ = open("/proc/self/schedstat").read().split()
    return int(run) + int(wait)
t0, c0, s0 = time.monotonic(), time.process_time(), sched()
while time.monotonic() - t0 < 2:
    pass
wall = time.monotonic() - t0
print("%.3f %.3f" % ((time.process_time() - c0) / wall, (sched() - s0) / 1e9 / wall))
`

func runShare(t *testing.T, p sandlock.Policy) (cpu, runnable float64) {
	t.Helper()
	out, errs, err := run(t, sandlock.Command(p, requirePython(t), "-c", busyShare))
	if err != nil {
		t.Fatalf("%v (stderr %q)", err, errs)
	}
	if _, err := fmt.Sscanf(out, "%g %g", &cpu, &runnable); err != nil {
		t.Fatalf("output %q: %v", out, err)
	}
	return cpu, runnable
}

// TestCPULimit: a busy loop under MaxCPU 20 gets well under half a core
// over two seconds (measured 0.20 on a quiet machine). Its twin without a
// limit is never stopped: runnable (running or waiting for a CPU) nearly
// all the time, and on a quiet machine it gets most of a core. The CPU
// share of the twin is only logged: the machine's two vCPUs are shared
// with other tests, which can take most of them, while being runnable
// does not depend on them.
func TestCPULimit(t *testing.T) {
	p := base()
	p.Limits.MaxCPU = 20
	cpu, runnable := runShare(t, p)
	t.Logf("MaxCPU 20: CPU share %.2f, runnable %.2f", cpu, runnable)
	if cpu >= 0.5 {
		t.Errorf("MaxCPU 20: CPU share %.2f, want < 0.5", cpu)
	}
	cpu, runnable = runShare(t, base())
	t.Logf("no limit: CPU share %.2f, runnable %.2f", cpu, runnable)
	if runnable <= 0.9 {
		t.Errorf("no limit: runnable %.2f of the time, want > 0.9 (never stopped)", runnable)
	}
}

// TestCPULimitKeepsPause: a paused sandbox stays stopped while its CPU
// throttle runs, and runs again after Resume.
func TestCPULimitKeepsPause(t *testing.T) {
	p := base()
	p.Limits.MaxCPU = 30
	sb := sandlock.Command(p, "/bin/sh", "-c", "while :; do :; done")
	if err := sb.Spawn(); err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	pid := sb.Pid()
	if err := sb.Pause(); err != nil {
		t.Fatal(err)
	}
	// Many throttle periods: every sample must see the program stopped.
	for i := range 40 {
		time.Sleep(10 * time.Millisecond)
		if st := procState(pid); st != "T" {
			t.Fatalf("sample %d: paused sandbox in state %q, want T (stopped)", i, st)
		}
	}
	if err := sb.Resume(); err != nil {
		t.Fatal(err)
	}
	// Twin: resumed, the program runs again (the throttle stops it part
	// of the time, so look for a running sample).
	running := false
	for range 200 {
		if procState(pid) == "R" {
			running = true
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if !running {
		t.Fatalf("resumed sandbox never seen running")
	}
	if err := sb.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = sb.Wait()
}

// TestCPUCores: CPUCores is the affinity the program sees; without it the
// program sees every CPU the test process may use.
func TestCPUCores(t *testing.T) {
	py := requirePython(t)
	code := `import os; print(sorted(os.sched_getaffinity(0)))`
	var all unix.CPUSet
	if err := unix.SchedGetaffinity(0, &all); err != nil {
		t.Fatal(err)
	}
	var want []string
	last := 0
	for c := range runtime.NumCPU() * 4 {
		if all.IsSet(c) {
			want = append(want, strconv.Itoa(c))
			last = c
		}
	}
	p := base()
	p.Limits.CPUCores = []int{last}
	out, errs, err := run(t, sandlock.Command(p, py, "-c", code))
	if err != nil || out != fmt.Sprintf("[%d]\n", last) {
		t.Fatalf("CPUCores [%d]: %q %q %v", last, out, errs, err)
	}
	out, errs, err = run(t, sandlock.Command(base(), py, "-c", code))
	if err != nil || out != "["+strings.Join(want, ", ")+"]\n" {
		t.Fatalf("no CPUCores: %q %q %v, want %v", out, errs, err, want)
	}
	// A CPU this machine lacks is an error before anything is forked.
	p.Limits.CPUCores = []int{1023}
	err = sandlock.Command(p, "/bin/true").Run()
	var pe *sandlock.PolicyError
	if !errors.As(err, &pe) || pe.Field != "limits.cpu_cores" || !strings.Contains(err.Error(), "1023") {
		t.Fatalf("CPU 1023: %v, want a PolicyError naming limits.cpu_cores and 1023", err)
	}
}

// TestCLILimits: the flags, their errors naming flag and value, and the
// memory limit's report and exit status.
func TestCLILimits(t *testing.T) {
	py := requirePython(t)
	for _, tc := range []cliCase{
		{name: "memory hog", args: []string{"run", "-m", "64M", "--", py, "-c", memHog, "bytearray", "200"},
			code: 122, stderr: "memory limit exceeded"},
		{name: "memory twin", args: []string{"run", "--max-memory", "64M", "--", py, "-c", memHog, "bytearray", "40"},
			code: 0, stdout: "ok\n"},
		{name: "bad size", args: []string{"run", "-m", "64X", "--", "/bin/true"}, code: 125, stderr: `--max-memory "64X"`},
		{name: "bad cpu", args: []string{"run", "-c", "101", "--", "/bin/true"}, code: 125, stderr: "--cpu 101"},
		{name: "cpu", args: []string{"run", "-c", "50", "--", "/bin/true"}, code: 0},
		{name: "cores", args: []string{"run", "--cpu-cores", "0", "--", py, "-c", "import os; print(sorted(os.sched_getaffinity(0)))"},
			code: 0, stdout: "[0]\n"},
		{name: "missing core", args: []string{"run", "--cpu-cores", "0,1000", "--", "/bin/true"}, code: 125, stderr: "--cpu-cores 1000"},
		{name: "bad cores", args: []string{"run", "--cpu-cores", "3-1", "--", "/bin/true"}, code: 125, stderr: `-cpu-cores: "3-1"`},
	} {
		tc.check(t)
	}
}

// TestMemoryLimitRlimit: the RLIMIT_DATA backstop is set in every process of a sandbox with a memory limit, and not without one.
func TestMemoryLimitRlimit(t *testing.T) {
	p := base()
	p.Limits.MaxMemory = "64M"
	out, errs, err := run(t, sandlock.Command(p, "/bin/sh", "-c", "ulimit -d; (ulimit -d)"))
	if err != nil || out != "65536\n65536\n" {
		t.Fatalf("ulimit -d under 64M: %q %q %v", out, errs, err)
	}
	out, _, err = run(t, sandlock.Command(base(), "/bin/sh", "-c", "ulimit -d"))
	if err != nil || out == "65536\n" {
		t.Fatalf("ulimit -d without a limit: %q %v", out, err)
	}
}
