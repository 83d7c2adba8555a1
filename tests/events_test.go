package tests

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/sandlock-go/sandlock-go/sandlock"
)

func init() {
	// execrace:N calls execve("/bin/echo", ["echo", X]) N times while
	// another thread keeps rewriting X between "fine00000" and
	// "malicious". It reports "denied=D other=O" (exec failures); a
	// successful exec replaces the probe with echo, which prints X.
	extraProbeOps["execrace"] = func(a []string) error {
		n, _ := strconv.Atoi(a[0])
		fine, bad := []byte("fine00000\x00"), []byte("malicious\x00")
		arg := make([]byte, len(fine))
		copy(arg, fine)
		name := []byte("echo\x00")
		path := []byte("/bin/echo\x00")
		argv := []uintptr{uintptr(unsafe.Pointer(&name[0])), uintptr(unsafe.Pointer(&arg[0])), 0}
		envp := []uintptr{0}
		var stop atomic.Bool
		done := make(chan struct{})
		go func() {
			runtime.LockOSThread()
			for i := 0; !stop.Load(); i++ {
				src := fine
				if i%2 == 1 {
					src = bad
				}
				for j := range src {
					*(*byte)(unsafe.Pointer(&arg[j])) = src[j] // racy on purpose
				}
			}
			close(done)
		}()
		denied, other := 0, 0
		for range n {
			_, _, e := unix.Syscall(unix.SYS_EXECVE, uintptr(unsafe.Pointer(&path[0])),
				uintptr(unsafe.Pointer(&argv[0])), uintptr(unsafe.Pointer(&envp[0])))
			if e == unix.EPERM {
				denied++
			} else {
				other++
			}
		}
		stop.Store(true)
		<-done
		runtime.KeepAlive(arg)
		runtime.KeepAlive(name)
		runtime.KeepAlive(path)
		return fmt.Errorf("denied=%d other=%d", denied, other)
	}
}

// eventLog collects a callback's events.
type eventLog struct {
	mu  sync.Mutex
	evs []sandlock.Event
}

func (l *eventLog) add(ev *sandlock.Event) {
	l.mu.Lock()
	l.evs = append(l.evs, *ev)
	l.mu.Unlock()
}

func (l *eventLog) all() []sandlock.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]sandlock.Event(nil), l.evs...)
}

// probeSandbox is a sandbox running the probe with ops.
func probeSandbox(t *testing.T, p sandlock.Policy, ops ...string) *sandlock.Sandbox {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p.Filesystem.Read = append(p.Filesystem.Read, self)
	sb := sandlock.Command(p, self, ops...)
	sb.Env = append(os.Environ(), helperEnv+"=probe")
	return sb
}

// TestEventsMetadata: a shell running cat reports its execs (with argv,
// pid and parent), its fork and its opens.
func TestEventsMetadata(t *testing.T) {
	var log eventLog
	p := base()
	p.OnEvent = func(ev *sandlock.Event, _ *sandlock.EventContext) sandlock.EventVerdict {
		log.add(ev)
		return sandlock.Allow
	}
	sb := sandlock.Command(p, "/bin/sh", "-c", "/bin/cat /proc/version >/dev/null; echo done")
	out, errs, err := run(t, sb)
	if err != nil || out != "done\n" {
		t.Fatalf("%q %q %v", out, errs, err)
	}
	var execs, opens, forks int
	for _, ev := range log.all() {
		if ev.Pid <= 0 || ev.PPid <= 0 || ev.Tid <= 0 {
			t.Errorf("event without ids: %+v", ev)
		}
		switch ev.Syscall {
		case "execve":
			execs++
			if ev.Category != sandlock.CategoryProcess {
				t.Errorf("execve category %v", ev.Category)
			}
			if ev.Argv == nil {
				t.Errorf("execve of a single-threaded process without argv: %s", ev.ArgvUnsafe)
			}
		case "openat", "open":
			opens++
			if ev.Category != sandlock.CategoryFile {
				t.Errorf("%s category %v", ev.Syscall, ev.Category)
			}
		case "clone", "fork", "vfork":
			forks++
		}
	}
	if execs < 2 || opens == 0 || forks == 0 {
		t.Fatalf("execs %d opens %d forks %d: %+v", execs, opens, forks, log.all())
	}
	first := log.all()[0]
	if first.Syscall != "execve" || strings.Join(first.Argv, " ") != "/bin/sh -c /bin/cat /proc/version >/dev/null; echo done" {
		t.Errorf("first event %+v", first)
	}
}

// argvGuard denies every exec whose argv is unknown or holds "malicious".
func argvGuard(log *eventLog) sandlock.EventFunc {
	return func(ev *sandlock.Event, _ *sandlock.EventContext) sandlock.EventVerdict {
		if ev.Syscall != "execve" && ev.Syscall != "execveat" {
			return sandlock.Allow
		}
		log.add(ev)
		if ev.Argv == nil || ev.ArgvContains("malicious") {
			return sandlock.Deny
		}
		return sandlock.Allow
	}
}

// TestEventsDenyByArgv: the shell's exec of "echo malicious" is denied
// (EPERM: the shell reports it), its twin "echo fine" runs.
func TestEventsDenyByArgv(t *testing.T) {
	var log eventLog
	p := base()
	p.OnEvent = argvGuard(&log)
	out, errs, err := run(t, sandlock.Command(p, "/bin/sh", "-c", "/bin/echo malicious; /bin/echo fine"))
	if out != "fine\n" || !strings.Contains(errs, "Operation not permitted") {
		t.Fatalf("stdout %q stderr %q err %v", out, errs, err)
	}
	for _, ev := range log.all() {
		if ev.Argv == nil {
			t.Errorf("unexpected unsafe argv: %+v", ev)
		}
	}
}

// TestEventsArgvRace: one thread rewrites the argument between "fine00000"
// and "malicious" while another calls execve 2000 times; the callback
// denies "malicious", and the program never runs with it. (A caller with
// other threads gets no argv at all, so the guard denies every exec.)
func TestEventsArgvRace(t *testing.T) {
	var log eventLog
	p := base()
	p.OnEvent = argvGuard(&log)
	sb := probeSandbox(t, p, "execrace:2000")
	out, errs, err := run(t, sb)
	if strings.Contains(out, "malicious") {
		t.Fatalf("the denied argv ran: %q", out)
	}
	if err != nil || !strings.Contains(out, "denied=2000 other=0") {
		t.Fatalf("stdout %q stderr %q err %v", out, errs, err)
	}
	for _, ev := range log.all()[1:] { // the first is the probe's own exec
		if ev.Argv != nil || !strings.Contains(ev.ArgvUnsafe, "threads") {
			t.Fatalf("argv of a multi-threaded caller reported: %+v", ev)
		}
	}
}

// TestEventsDenyErrno: once the probe runs, its opens fail with the
// callback's errno (EACCES, 13); the twin allows them.
func TestEventsDenyErrno(t *testing.T) {
	for _, tc := range []struct {
		errno syscall.Errno
		want  string
	}{{syscall.EACCES, "EACCES"}, {0, "OK"}} {
		var armed atomic.Bool
		p := base()
		p.OnEvent = func(ev *sandlock.Event, _ *sandlock.EventContext) sandlock.EventVerdict {
			switch {
			case ev.Category == sandlock.CategoryProcess && ev.Syscall != "execve":
				armed.Store(true) // the probe's fork
			case ev.Category == sandlock.CategoryFile && armed.Load() && tc.errno != 0:
				return sandlock.DenyErrno(tc.errno)
			}
			return sandlock.Allow
		}
		out, errs, err := run(t, probeSandbox(t, p, "forkn:1:fork", "read:/etc/ld.so.cache"))
		if err != nil || !strings.Contains(out, "read:/etc/ld.so.cache: "+tc.want+"\n") {
			t.Errorf("errno %d: %q %q %v, want %s", tc.errno, out, errs, err, tc.want)
		}
	}
}

// TestEventsAudit: audited opens run and are in the sandbox's audit log.
func TestEventsAudit(t *testing.T) {
	p := base()
	p.OnEvent = func(ev *sandlock.Event, _ *sandlock.EventContext) sandlock.EventVerdict {
		if ev.Category == sandlock.CategoryFile {
			return sandlock.Audit
		}
		return sandlock.Allow
	}
	sb := probeSandbox(t, p, "read:/etc/ld.so.cache")
	out, errs, err := run(t, sb)
	if err != nil || !strings.Contains(out, "read:/etc/ld.so.cache: OK") {
		t.Fatalf("%q %q %v", out, errs, err)
	}
	evs, dropped := sb.AuditLog()
	if len(evs) == 0 || dropped != 0 {
		t.Fatalf("audit log %d events, %d dropped", len(evs), dropped)
	}
	for _, ev := range evs {
		if ev.Category != sandlock.CategoryFile || ev.Pid != sb.Pid() {
			t.Errorf("audited %+v", ev)
		}
	}
}

// TestEventsDenyPath: DenyPath on the first event blocks the program's
// open of that file (by any name: a hard link too), while its sibling
// opens; AllowPath on another file undoes an earlier DenyPath.
func TestEventsDenyPath(t *testing.T) {
	dir := t.TempDir()
	secret, sibling, link, again := filepath.Join(dir, "secret"), filepath.Join(dir, "sibling"), filepath.Join(dir, "link"), filepath.Join(dir, "again")
	for _, f := range []string{secret, sibling, again} {
		must(t, os.WriteFile(f, []byte("x"), 0o644))
	}
	must(t, os.Link(secret, link))
	p := base()
	p.Filesystem.Read = append(p.Filesystem.Read, dir)
	var once sync.Once
	var ctxErr error
	p.OnEvent = func(ev *sandlock.Event, ctx *sandlock.EventContext) sandlock.EventVerdict {
		once.Do(func() {
			ctxErr = errors.Join(ctx.DenyPath(secret), ctx.DenyPath(again), ctx.AllowPath(again))
		})
		return sandlock.Allow
	}
	checkOps(t, p, []opCase{
		{"read:" + secret, "EACCES"},
		{"read:" + link, "EACCES"},
		{"read:" + sibling, "OK"},
		{"read:" + again, "OK"},
	})
	if ctxErr != nil {
		t.Fatal(ctxErr)
	}
}

// TestEventsRestrictMaxProcesses: restricted to 3 on the first event,
// the probe makes 2 processes and the third fails with EAGAIN; unrestricted
// (the policy's 64) all 5 are made.
func TestEventsRestrictMaxProcesses(t *testing.T) {
	for _, tc := range []struct {
		restrict int
		want     string
	}{{3, "error made=2 errno=EAGAIN"}, {0, "OK"}} {
		p := limited(64)
		var ctxErr error
		var once sync.Once
		p.OnEvent = func(ev *sandlock.Event, ctx *sandlock.EventContext) sandlock.EventVerdict {
			if tc.restrict > 0 {
				once.Do(func() { ctxErr = ctx.RestrictMaxProcesses(tc.restrict) })
			}
			return sandlock.Allow
		}
		checkOps(t, p, []opCase{{"forkn:5:fork", tc.want}})
		if ctxErr != nil {
			t.Fatal(ctxErr)
		}
	}
	// Nothing enforces a limit the policy does not set.
	p := base()
	var ctxErr error
	p.OnEvent = func(ev *sandlock.Event, ctx *sandlock.EventContext) sandlock.EventVerdict {
		ctxErr = ctx.RestrictMaxProcesses(3)
		return sandlock.Allow
	}
	checkOps(t, p, []opCase{{"forkn:5:fork", "OK"}})
	if !errors.Is(ctxErr, sandlock.ErrNotEnforced) {
		t.Fatalf("restricting an unset limit: %v", ctxErr)
	}
}

// TestEventsRestrictMaxMemory: restricted to 64M, a 200M allocation kills
// the sandbox with the memory limit; unrestricted (the policy's 512M) it
// succeeds.
func TestEventsRestrictMaxMemory(t *testing.T) {
	py := requirePython(t)
	for _, restrict := range []bool{true, false} {
		p := base()
		p.Limits.MaxMemory = "512M"
		p.OnEvent = func(ev *sandlock.Event, ctx *sandlock.EventContext) sandlock.EventVerdict {
			if restrict && ev.Syscall == "execve" {
				if err := ctx.RestrictMaxMemory(64 << 20); err != nil {
					t.Error(err)
				}
			}
			return sandlock.Allow
		}
		out, errs, err := run(t, sandlock.Command(p, py, "-c", memHog, "bytearray", "200"))
		switch {
		case restrict && !errors.Is(err, sandlock.ErrMemoryLimit):
			t.Errorf("restricted: %v (stdout %q, stderr %q), want the memory limit", err, out, errs)
		case !restrict && (err != nil || out != "ok\n"):
			t.Errorf("unrestricted: %v (stdout %q, stderr %q)", err, out, errs)
		}
	}
}
