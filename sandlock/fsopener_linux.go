//go:build linux

package sandlock

import (
	"errors"
	"os"
	"runtime"
	"sync"
	"sync/atomic"

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
//
// The hand-off is a pair of pipes per thread, not a Go channel: the
// caller writes one byte to wake the thread and blocks in read for its
// answer, both on locked threads, so the kernel wakes each side directly
// and (a pipe write is a synchronous wake-up) tends to run it on the CPU
// of the thread that is about to sleep. Through channels each direction
// went through the Go scheduler (readying a goroutine locked to another
// thread hands a P over and wakes that thread, often on the other CPU):
// about 35 µs per job on the 2-vCPU VM, against a few µs through pipes
// (docs/notes-perf.md).
type opener struct {
	rulesetFd int // our own copy, -1 when the sandbox has no Landlock

	mu     sync.Mutex
	free   []*openerThread // idle threads, most recently used last
	closed bool
	wg     sync.WaitGroup
}

// openerThread is one restricted thread and its two pipes: req wakes the
// thread for job (or to exit when job is nil), rep wakes the caller when
// job returned.
type openerThread struct {
	reqR, reqW int
	repR, repW int
	job        atomic.Pointer[func()]
	// released is set by whoever takes the thread out of the opener's
	// wait group: the thread when it ends, or abandon (fsfifo_linux.go).
	released atomic.Bool
}

// release takes t out of o's wait group, once.
func (o *opener) release(t *openerThread) {
	if t.released.CompareAndSwap(false, true) {
		o.wg.Done()
	}
}

const maxIdleOpeners = 4

// newOpener copies rulesetFd (-1: no Landlock) for the threads it will
// start.
func newOpener(rulesetFd int) (*opener, error) {
	o := &opener{rulesetFd: -1}
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
	t, err := o.get()
	if err != nil {
		return err
	}
	t.job.Store(&fn)
	if err := wakeByte(t.reqW); err != nil {
		o.retire(t)
		return errors.Join(errOpenerRestrict, err)
	}
	if err := waitByte(t.repR); err != nil {
		// Cannot happen while the thread lives (we hold the write end
		// open); never reuse a thread in an unknown state.
		o.retire(t)
		return errors.Join(errOpenerRestrict, err)
	}
	// The thread stored nil after fn returned: what fn wrote is ours.
	if t.job.Load() != nil {
		o.retire(t)
		return errOpenerRestrict
	}
	o.put(t)
	return nil
}

// get takes an idle thread, or starts a new one.
func (o *opener) get() (*openerThread, error) {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return nil, errOpenerRestrict
	}
	if k := len(o.free); k > 0 {
		t := o.free[k-1]
		o.free = o.free[:k-1]
		o.mu.Unlock()
		return t, nil
	}
	o.wg.Add(1)
	o.mu.Unlock()
	return o.start()
}

// start starts a thread. The caller did wg.Add.
func (o *opener) start() (*openerThread, error) {
	t := &openerThread{reqR: -1, reqW: -1, repR: -1, repW: -1}
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		o.wg.Done()
		return nil, errors.Join(errOpenerRestrict, os.NewSyscallError("pipe2", err))
	}
	t.reqR, t.reqW = p[0], p[1]
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.closeFds()
		o.wg.Done()
		return nil, errors.Join(errOpenerRestrict, os.NewSyscallError("pipe2", err))
	}
	t.repR, t.repW = p[0], p[1]
	started := make(chan error, 1)
	go o.thread(t, started)
	if err := <-started; err != nil {
		return nil, err
	}
	return t, nil
}

// put returns t to the idle threads, or ends it when enough are idle or
// the opener is closed.
func (o *opener) put(t *openerThread) {
	o.mu.Lock()
	if !o.closed && len(o.free) < maxIdleOpeners {
		o.free = append(o.free, t)
		o.mu.Unlock()
		return
	}
	o.mu.Unlock()
	o.retire(t)
}

// retire tells t to exit (a wake-up without a job).
func (o *opener) retire(t *openerThread) {
	t.job.Store(nil)
	unix.Close(t.reqW) // read returns 0: the thread exits
}

// thread is one restricted thread. It owns reqR, repR and repW; reqW is
// the caller's (closed by retire).
func (o *opener) thread(t *openerThread, started chan<- error) {
	runtime.LockOSThread()
	// No UnlockOSThread: the thread dies with the goroutine.
	defer o.release(t)
	defer func() {
		unix.Close(t.reqR)
		unix.Close(t.repR)
		unix.Close(t.repW)
	}()
	if err := o.restrictThread(); err != nil {
		unix.Close(t.reqW)
		started <- err
		return
	}
	started <- nil
	for {
		if waitByte(t.reqR) != nil {
			return // retired (EOF) or the pipe failed
		}
		fn := t.job.Load()
		if fn == nil {
			return
		}
		(*fn)()
		t.job.Store(nil)
		if wakeByte(t.repW) != nil {
			return
		}
	}
}

func (t *openerThread) closeFds() {
	for _, fd := range []int{t.reqR, t.reqW, t.repR, t.repW} {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
}

// errPipeClosed is waitByte's end of file.
var errPipeClosed = errors.New("sandlock: opener pipe closed")

// wakeByte writes one byte to a pipe.
func wakeByte(fd int) error {
	b := [1]byte{1}
	for {
		_, err := unix.Write(fd, b[:])
		if err != unix.EINTR {
			return err
		}
	}
}

// waitByte blocks until one byte can be read from a pipe.
func waitByte(fd int) error {
	var b [1]byte
	for {
		n, err := unix.Read(fd, b[:])
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return err
		case n == 0:
			return errPipeClosed
		}
		return nil
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

// close ends every thread and closes the ruleset. Only after the
// supervisor's threads ended (no do in flight).
func (o *opener) close() {
	o.mu.Lock()
	o.closed = true
	idle := o.free
	o.free = nil
	o.mu.Unlock()
	for _, t := range idle {
		o.retire(t)
	}
	o.wg.Wait()
	if o.rulesetFd >= 0 {
		unix.Close(o.rulesetFd)
		o.rulesetFd = -1
	}
}
