package tests

import (
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sandlock-go/sandlock-go/sandlock"
)

// Probe operations for the supervisor's concurrency tests.
func init() {
	ops := map[string]func(args []string) error{
		// pair calls getppid on one thread and, once that call is
		// under way, getgid on another; it reports both results.
		"pair": func([]string) error {
			var wg sync.WaitGroup
			var ppid, gid uintptr
			var e1, e2 syscall.Errno
			wg.Add(2)
			go func() {
				defer wg.Done()
				runtime.LockOSThread()
				ppid, _, e1 = unix.RawSyscall(unix.SYS_GETPPID, 0, 0, 0)
			}()
			go func() {
				defer wg.Done()
				runtime.LockOSThread()
				gid, _, e2 = unix.RawSyscall(unix.SYS_GETGID, 0, 0, 0)
			}()
			wg.Wait()
			return fmt.Errorf("getppid=%d/%v getgid=%d/%v", ppid, errnoOrNil(e1), gid, errnoOrNil(e2))
		},
		// hammer:N:M runs N OS threads, each making M getppid and M
		// getgid calls, and checks every answer against what the
		// handlers return for the calling thread (its tid, and its
		// tid+7). It fails naming the first wrong answer.
		"hammer": func(a []string) error {
			n, _ := strconv.Atoi(a[0])
			m, _ := strconv.Atoi(a[1])
			var wg sync.WaitGroup
			var mu sync.Mutex
			var bad error
			var calls int
			start := make(chan struct{})
			for range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					runtime.LockOSThread()
					tid := uintptr(unix.Gettid())
					<-start
					for i := range 2 * m {
						nr, want := uintptr(unix.SYS_GETPPID), tid
						if i%2 == 1 {
							nr, want = unix.SYS_GETGID, tid+7
						}
						got, _, e := unix.RawSyscall(nr, 0, 0, 0)
						mu.Lock()
						calls++
						if (e != 0 || got != want) && bad == nil {
							bad = fmt.Errorf("thread %d call %d nr %d: got %d errno %v, want %d", tid, i, nr, got, e, want)
						}
						mu.Unlock()
					}
				}()
			}
			close(start)
			wg.Wait()
			if bad != nil {
				return bad
			}
			if calls != 2*n*m {
				return fmt.Errorf("%d calls, want %d", calls, 2*n*m)
			}
			return nil
		},
	}
	for name, fn := range ops {
		if _, dup := extraProbeOps[name]; dup {
			panic("probe op registered twice: " + name)
		}
		extraProbeOps[name] = fn
	}
}

// TestSupervisorSlowHandlerConcurrent: a handler that blocks does not stall
// the sandbox's other notifications. The getppid handler waits until the
// getgid handler ran (which in turn waits until getppid's is under way):
// with one notification at a time the two would wait for each other until
// their 20 s safety timeouts and the calls would fail with ETIMEDOUT.
// Twin: the same calls with handlers that do not wait.
func TestSupervisorSlowHandlerConcurrent(t *testing.T) {
	entered, released := make(chan struct{}), make(chan struct{})
	hs := []sandlock.SyscallHandler{
		{Syscall: "getppid", Handler: sandlock.HandlerFunc(func(*sandlock.Notification) sandlock.Verdict {
			close(entered)
			select {
			case <-released:
				return sandlock.Return(1111)
			case <-time.After(20 * time.Second):
				return sandlock.Fail(syscall.ETIMEDOUT)
			}
		})},
		{Syscall: "getgid", Handler: sandlock.HandlerFunc(func(*sandlock.Notification) sandlock.Verdict {
			select {
			case <-entered:
				close(released)
				return sandlock.Return(2222)
			case <-time.After(20 * time.Second):
				return sandlock.Fail(syscall.ETIMEDOUT)
			}
		})},
	}
	want := "error getppid=1111/<nil> getgid=2222/<nil>"
	if got := probeHandlers(t, base(), hs, "pair")["pair"]; got != want {
		t.Errorf("blocking handlers: %q, want %q", got, want)
	}
	hs = []sandlock.SyscallHandler{
		{Syscall: "getppid", Handler: sandlock.HandlerFunc(func(*sandlock.Notification) sandlock.Verdict { return sandlock.Return(1111) }), Quick: true},
		{Syscall: "getgid", Handler: sandlock.HandlerFunc(func(*sandlock.Notification) sandlock.Verdict { return sandlock.Return(2222) })},
	}
	if got := probeHandlers(t, base(), hs, "pair")["pair"]; got != want {
		t.Errorf("plain handlers: %q, want %q", got, want)
	}
}

// TestSupervisorHammer: 1000 threads make notified calls at once, half
// answered by a quick handler on the receiving thread, half by a slow one
// on threads of their own. Every call gets the answer meant for its own
// thread: no ENOSYS (a listener gone), no EBUSY, no answer crossed.
func TestSupervisorHammer(t *testing.T) {
	tidOf := func(n *sandlock.Notification) int64 { return int64(n.Pid) }
	hs := []sandlock.SyscallHandler{
		{Syscall: "getppid", Quick: true, Handler: sandlock.HandlerFunc(func(n *sandlock.Notification) sandlock.Verdict {
			return sandlock.Return(tidOf(n))
		})},
		{Syscall: "getgid", Handler: sandlock.HandlerFunc(func(n *sandlock.Notification) sandlock.Verdict {
			return sandlock.Return(tidOf(n) + 7)
		})},
	}
	if got := probeHandlers(t, base(), hs, "hammer:1000:20")["hammer:1000:20"]; got != "OK" {
		t.Errorf("hammer: %s", got)
	}
}
