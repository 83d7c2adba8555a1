//go:build linux

package sandlock

import (
	"errors"
	"os"
	"runtime"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/sandlock-go/sandlock-go/landlockabi"
)

// opener runs the file system operations the supervisor makes on behalf of
// a sandbox (the final open, create, link, rename, symlink, truncate) on
// threads that carry the sandbox's own Landlock ruleset, so that the
// kernel checks each of them against the same grants as if the sandbox had
// made it: an operation on behalf never grants more than Landlock grants
// the sandbox, with Landlock's exact semantics (refer, truncate and
// ioctl_dev rights recorded on the opened file, creation rights, ...).
//
// Each thread is a locked OS thread that dropped every capability, set
// no_new_privs and called
// landlock_restrict_self on itself (both are per thread) and unshared its
// fs_struct (CLONE_FS) so that it can take the caller's umask for a create
// without touching the rest of the process. The thread never unlocks: Go
// ends it when its goroutine returns, so the restriction never reaches
// other goroutines. New runtime threads are never cloned from a locked
// thread (the runtime's template thread makes them).
//
// Threads are made on demand (an open may block: a FIFO waits for its
// peer) and up to maxIdleOpeners wait for the next job.
type opener struct {
	rulesetFd int // our own copy, -1 when the sandbox has no Landlock
	jobs      chan func()

	mu     sync.Mutex
	idle   int
	closed bool
	wg     sync.WaitGroup
	quit   chan struct{}
}

const maxIdleOpeners = 4

// newOpener copies rulesetFd (-1: no Landlock) for the threads it will
// start.
func newOpener(rulesetFd int) (*opener, error) {
	o := &opener{rulesetFd: -1, jobs: make(chan func()), quit: make(chan struct{})}
	if rulesetFd >= 0 {
		fd, err := unix.FcntlInt(uintptr(rulesetFd), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			return nil, os.NewSyscallError("fcntl F_DUPFD_CLOEXEC", err)
		}
		o.rulesetFd = fd
	}
	return o, nil
}

// errOpenerRestrict reports that a thread could not restrict itself; the
// operation fails closed (EACCES).
var errOpenerRestrict = errors.New("sandlock: opener thread could not apply the sandbox's Landlock ruleset")

// do runs fn on a restricted thread and waits for it. It returns
// errOpenerRestrict, without running fn, when no restricted thread can be
// had.
func (o *opener) do(fn func()) error {
	done := make(chan struct{})
	job := func() { fn(); close(done) }
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return errOpenerRestrict
	}
	spawn := o.idle == 0
	if spawn {
		o.wg.Add(1)
	} else {
		o.idle--
	}
	o.mu.Unlock()
	if spawn {
		started := make(chan error, 1)
		go o.thread(started)
		if err := <-started; err != nil {
			return err
		}
	}
	o.jobs <- job
	<-done
	return nil
}

// thread is one restricted thread.
func (o *opener) thread(started chan<- error) {
	runtime.LockOSThread()
	// No UnlockOSThread: the thread dies with the goroutine.
	defer o.wg.Done()
	if err := o.restrictThread(); err != nil {
		started <- err
		return
	}
	started <- nil
	for {
		select {
		case job := <-o.jobs:
			job()
		case <-o.quit:
			return
		}
		o.mu.Lock()
		if o.closed || o.idle >= maxIdleOpeners {
			o.mu.Unlock()
			return
		}
		o.idle++
		o.mu.Unlock()
	}
}

func (o *opener) restrictThread() error {
	if err := unix.Unshare(unix.CLONE_FS); err != nil {
		return errors.Join(errOpenerRestrict, os.NewSyscallError("unshare CLONE_FS", err))
	}
	// No capabilities, as in the sandbox (which drops them all): an
	// owner running as root must not lend CAP_DAC_OVERRIDE,
	// CAP_DAC_READ_SEARCH or CAP_FOWNER to operations on behalf, which
	// would then succeed where the sandbox's own would fail. capset
	// changes the calling thread only.
	if err := dropThreadCapabilities(); err != nil {
		return errors.Join(errOpenerRestrict, err)
	}
	if o.rulesetFd < 0 {
		return nil
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return errors.Join(errOpenerRestrict, os.NewSyscallError("prctl NO_NEW_PRIVS", err))
	}
	if err := landlockabi.RestrictSelf(o.rulesetFd, 0); err != nil {
		return errors.Join(errOpenerRestrict, err)
	}
	return nil
}

// close stops idle threads, waits for busy ones, and closes the ruleset.
// Only after the supervisor's threads ended (no do in flight).
func (o *opener) close() {
	o.mu.Lock()
	o.closed = true
	o.mu.Unlock()
	close(o.quit)
	o.wg.Wait()
	if o.rulesetFd >= 0 {
		unix.Close(o.rulesetFd)
		o.rulesetFd = -1
	}
}
