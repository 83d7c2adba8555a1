//go:build linux

package clone3

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Rlimit is one resource limit the child sets with prlimit64 before it parks.
type Rlimit struct {
	Resource int // unix.RLIMIT_*
	Cur, Max uint64
}

// Landlock asks the child to call landlock_restrict_self on a ruleset the
// parent built.
type Landlock struct {
	// RulesetFD is the parent's ruleset fd. The child moves it high with
	// O_CLOEXEC before it uses it; the parent keeps ownership.
	RulesetFD int
	// Flags are landlock_restrict_self flags.
	Flags uint64
}

// Seccomp asks the child to install a seccomp filter.
type Seccomp struct {
	// Filter is the classic BPF program.
	Filter []unix.SockFilter
	// Flags are seccomp(SECCOMP_SET_MODE_FILTER) flags. With
	// SECCOMP_FILTER_FLAG_NEW_LISTENER the listener fd is handed to the
	// parent with the READY record (SCM_RIGHTS) and appears in
	// [Child.Listener].
	Flags uint64
	// ListenerByPidfd changes how the listener reaches the parent: the
	// child keeps it (O_CLOEXEC: execve closes it), writes READY with
	// write(2), and the parent takes the listener with pidfd_getfd. The
	// child then makes no sendmsg after installing the filter, so the
	// filter may notify sendmsg (the network policy does). Needs
	// pidfd_getfd access to the child (Linux 5.6, ptrace rules).
	ListenerByPidfd bool
}

// Attr describes the child. Every field is data; nothing is run in the child
// but the steps compiled from it.
type Attr struct {
	// Path is the file execve runs. Argv[0] may differ.
	Path string
	Argv []string
	Env  []string
	// Files maps child fd i to the parent's fd Files[i]; -1 leaves fd i
	// closed. Every other fd is closed in the child before it parks. The
	// caller keeps these fds open until Spawn returns.
	Files []int
	// Dir, when not empty, is the child's working directory.
	Dir string
	// Setsid starts a new session; otherwise Setpgid starts a new process
	// group whose id is the child's pid.
	Setsid  bool
	Setpgid bool
	// Foreground makes the child's new process group the foreground group
	// of the terminal on child fd 0. Requires Setpgid.
	Foreground bool
	// Rlimits are applied in order with prlimit64.
	Rlimits []Rlimit
	// CPUAffinity, when not empty, lists the CPUs the child binds itself
	// to with sched_setaffinity before it parks (inherited by the
	// program and everything it starts). Each must be in [0, 1024).
	CPUAffinity []int
	// NoNewPrivs sets PR_SET_NO_NEW_PRIVS.
	NoNewPrivs bool
	// DropCapabilities empties the child's capability sets (effective,
	// permitted, inheritable, ambient) right after NO_NEW_PRIVS. With
	// LockRoot it also sets and locks SECBIT_NOROOT and
	// SECBIT_NO_CAP_AMBIENT_RAISE (and locks KEEP_CAPS off), so that not even
	// a root program regains capabilities at execve: one prctl instead of
	// one PR_CAPBSET_DROP per capability (41 system calls, a fifth of a
	// spawn here). Setting securebits needs CAP_SETPCAP: set LockRoot only
	// when the parent has it.
	DropCapabilities bool
	LockRoot         bool
	// Landlock and Seccomp are optional policy steps, in this order, after
	// NO_NEW_PRIVS.
	Landlock *Landlock
	Seccomp  *Seccomp
	// Legacy forces the clone(2) path even when clone3 is available.
	Legacy bool
}

// forceLegacy makes every spawn use clone(2); set by tests with SetForceLegacy.
var forceLegacy atomic.Bool

// clone3Missing is set once clone3 returned ENOSYS.
var clone3Missing atomic.Bool

// SetForceLegacy makes every later Spawn use the legacy clone(2) path. It is
// meant for tests of the fallback; it returns the previous setting.
func SetForceLegacy(v bool) bool { return forceLegacy.Swap(v) }

// UsingLegacy reports whether spawns use clone(2): forced, or clone3 missing.
func UsingLegacy() bool { return forceLegacy.Load() || clone3Missing.Load() }

const stackSize = 16 << 10

// fastWaitMillis bounds the blocking wait for a status record on the calling
// thread before the wait moves to the runtime's poller.
const fastWaitMillis = 20

// Child is a child parked between its policy and execve.
type Child struct {
	// Pid is the child's process id; the child is the caller's to reap.
	Pid int
	// Pidfd refers to the child (CLONE_PIDFD, close-on-exec). It is closed by
	// Close.
	Pidfd int
	// Listener is the seccomp listener the child handed over, or nil.
	Listener *os.File

	status  *os.File // parent end of the status channel, non-blocking
	eventfd int
	steps   []Step // for naming a failed step
	// listenerSlot is the arena offset holding the child's listener fd
	// (Seccomp.ListenerByPidfd), or 0.
	listenerSlot int

	// ioMu keeps Close from closing the fds under Release: Release holds
	// it shared, Close exclusively.
	ioMu sync.RWMutex

	mu     sync.Mutex
	arena  *arena
	execed bool // the status channel reported EOF
	closed bool
}

// Spawn starts the child described by attr and returns once it is parked
// (READY received). On any error the child, if one was created, is reaped
// and every fd is closed.
func Spawn(ctx context.Context, attr *Attr) (*Child, error) {
	if err := validate(attr); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("socketpair", err)
	}
	parentEnd, childEnd := fds[0], fds[1]
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(parentEnd)
		unix.Close(childEnd)
		return nil, os.NewSyscallError("eventfd", err)
	}
	if err := unix.SetNonblock(parentEnd, true); err != nil {
		unix.Close(parentEnd)
		unix.Close(childEnd)
		unix.Close(efd)
		return nil, os.NewSyscallError("fcntl", err)
	}
	status := os.NewFile(uintptr(parentEnd), "clone3-status")

	legacy := attr.Legacy || UsingLegacy()
	prog, err := compile(attr, childEnd, efd, legacy)
	var a *arena
	if err == nil {
		var img []byte
		var stepsOff int
		var relocs []int
		img, stepsOff, relocs, err = prog.image()
		if err == nil {
			a, err = mapArena(img, stepsOff, relocs)
		}
	}
	if err != nil {
		status.Close()
		unix.Close(childEnd)
		unix.Close(efd)
		return nil, fmt.Errorf("clone3: build child program: %w", err)
	}
	if legacy {
		a.put(hLegacy, 1)
		a.put(hLFlags, unix.CLONE_VM|unix.CLONE_PIDFD|uint64(unix.SIGCHLD))
	} else {
		a.put(hCloneArgs, unix.CLONE_VM|unix.CLONE_PIDFD|unix.CLONE_CLEAR_SIGHAND)
	}
	a.put(hStatusFD, uint64(childEnd))
	a.put(hPidfd, ^uint64(0))
	pid, errno := spawnOnThread(a, childEnd)
	if errno == 0 {
		c := &Child{Pid: pid, Pidfd: int(int32(a.get(hPidfd))), status: status, eventfd: efd, steps: prog.Steps, arena: a,
			listenerSlot: prog.listenerSlot}
		return c.awaitReady(ctx, attr.Seccomp != nil && attr.Seccomp.Flags&unix.SECCOMP_FILTER_FLAG_NEW_LISTENER != 0)
	}
	// No child exists: the arena and fds are ours alone. The spawner closed
	// childEnd.
	a.free()
	status.Close()
	unix.Close(efd)
	if syscall.Errno(errno) == unix.ENOSYS && !legacy {
		clone3Missing.Store(true)
		return Spawn(ctx, attr)
	}
	if legacy {
		return nil, os.NewSyscallError("clone", syscall.Errno(errno))
	}
	return nil, os.NewSyscallError("clone3", syscall.Errno(errno))
}

// awaitReady waits for the READY record. On failure it reaps the child.
func (c *Child) awaitReady(ctx context.Context, wantListener bool) (*Child, error) {
	tag, val, fd, err := c.readRecord(ctx)
	switch {
	case err == nil && tag == tagReady:
		if fd < 0 && c.listenerSlot > 0 {
			// ListenerByPidfd: the child stored its listener's number.
			lfd, gerr := unix.PidfdGetfd(c.Pidfd, int(int32(c.arena.get(c.listenerSlot))), 0)
			if gerr != nil {
				c.killAndReap()
				return nil, fmt.Errorf("clone3: take the seccomp listener from the child: %w", os.NewSyscallError("pidfd_getfd", gerr))
			}
			fd = lfd
		}
		if fd >= 0 {
			c.Listener = os.NewFile(uintptr(fd), "seccomp-listener")
		}
		if wantListener && c.Listener == nil {
			c.killAndReap()
			return nil, errors.New("clone3: child reported READY without its seccomp listener")
		}
		return c, nil
	case err == nil:
		if fd >= 0 {
			unix.Close(fd)
		}
		cerr := c.childError(tag, val)
		c.killAndReap()
		return nil, cerr
	default:
		c.killAndReap()
		return nil, err
	}
}

func (c *Child) childError(tag, val uint64) error {
	if tag&tagFailMask == 0 {
		return fmt.Errorf("clone3: unexpected status record %#x", tag)
	}
	step := int(tag &^ tagFailMask)
	op := fmt.Sprintf("step %d", step)
	if step < len(c.steps) {
		op = c.steps[step].Desc
	}
	return &ChildError{Step: step, Op: op, Errno: syscall.Errno(val)}
}

var errEOF = errors.New("status channel EOF")

// readRecord reads one record, with the fd it carries (or -1). EOF gives
// errEOF wrapped in ErrDied for callers that expected a record.
func (c *Child) readRecord(ctx context.Context) (tag, val uint64, fd int, err error) {
	rc, err := c.status.SyscallConn()
	if err != nil {
		return 0, 0, -1, err
	}
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, func() { c.status.SetReadDeadline(aLongTimeAgo) })
		defer func() {
			if !stop() {
				c.status.SetReadDeadline(noDeadline)
			}
		}()
	}
	// The child answers within tens of microseconds: wait for it on this
	// thread first. Parking the goroutine in the runtime's poller instead
	// costs several thread hand-offs (context switches), which on a small
	// VM cost more than the whole set-up of the child. A slow child (one
	// stopped by SIGSTOP, say) falls through to the poller after
	// fastWaitMillis, where the context can cancel the wait.
	if ctx.Err() == nil {
		pfd := []unix.PollFd{{Fd: int32(c.status.Fd()), Events: unix.POLLIN}}
		for {
			_, err := unix.Poll(pfd, fastWaitMillis)
			if err != unix.EINTR {
				break
			}
		}
	}
	var (
		buf  [recordSize]byte
		oob  = make([]byte, unix.CmsgSpace(4))
		n    int
		oobn int
		rerr error
	)
	fd = -1
	err = rc.Read(func(s uintptr) bool {
		n, oobn, _, _, rerr = unix.Recvmsg(int(s), buf[:], oob, unix.MSG_CMSG_CLOEXEC)
		return rerr != unix.EAGAIN
	})
	if err != nil {
		if ctx.Err() != nil {
			return 0, 0, -1, ctx.Err()
		}
		return 0, 0, -1, err
	}
	if rerr != nil {
		return 0, 0, -1, os.NewSyscallError("recvmsg", rerr)
	}
	if oobn > 0 {
		if msgs, perr := unix.ParseSocketControlMessage(oob[:oobn]); perr == nil {
			for _, m := range msgs {
				if fds, perr := unix.ParseUnixRights(&m); perr == nil {
					for i, f := range fds {
						if i == 0 && fd < 0 {
							fd = f
						} else {
							unix.Close(f)
						}
					}
				}
			}
		}
	}
	if n == 0 {
		if fd >= 0 {
			unix.Close(fd)
		}
		c.mu.Lock()
		c.execed = true
		c.mu.Unlock()
		return 0, 0, -1, errEOF
	}
	if n != recordSize {
		if fd >= 0 {
			unix.Close(fd)
		}
		return 0, 0, -1, fmt.Errorf("clone3: short status record (%d bytes)", n)
	}
	return binary.LittleEndian.Uint64(buf[0:]), binary.LittleEndian.Uint64(buf[8:]), fd, nil
}

// dead reports, without blocking, whether the child closed its status
// channel while it was parked, which means it died.
func (c *Child) dead() bool {
	pfd := []unix.PollFd{{Fd: int32(c.status.Fd()), Events: unix.POLLIN}}
	n, err := unix.Poll(pfd, 0)
	return err == nil && n > 0 && pfd[0].Revents&(unix.POLLIN|unix.POLLHUP) != 0
}

// Release lets the parked child continue to execve and waits until the exec
// happened (nil), the exec failed (*ChildError) or the child died (ErrDied).
func (c *Child) Release(ctx context.Context) error {
	c.ioMu.RLock()
	defer c.ioMu.RUnlock()
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return ErrDied
	}
	if c.dead() {
		_, _, _, err := c.readRecord(ctx)
		if err == nil || errors.Is(err, errEOF) {
			return ErrDied
		}
		return err
	}
	if err := ctx.Err(); err != nil {
		return err // nothing released
	}
	var one [8]byte
	binary.LittleEndian.PutUint64(one[:], 1)
	if _, err := unix.Write(c.eventfd, one[:]); err != nil {
		return os.NewSyscallError("write eventfd", err)
	}
	tag, val, fd, err := c.readRecord(ctx)
	if fd >= 0 {
		unix.Close(fd)
	}
	if errors.Is(err, errEOF) {
		// The child exec'd or died; either way its mm is no longer ours,
		// so the arena can go. If the release is still unread in the
		// eventfd (we hold it too), the child died while parked.
		c.freeArena()
		pfd := []unix.PollFd{{Fd: int32(c.eventfd), Events: unix.POLLIN}}
		if n, perr := unix.Poll(pfd, 0); perr == nil && n > 0 && pfd[0].Revents&unix.POLLIN != 0 {
			return ErrDied
		}
		return nil
	}
	if err != nil {
		return err
	}
	return c.childError(tag, val)
}

// Signal sends sig to the child through its pidfd.
func (c *Child) Signal(sig syscall.Signal) error {
	err := unix.PidfdSendSignal(c.Pidfd, sig, nil, 0)
	if err == unix.ESRCH {
		return os.ErrProcessDone
	}
	return err
}

func (c *Child) killAndReap() {
	_ = unix.PidfdSendSignal(c.Pidfd, unix.SIGKILL, nil, 0)
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PIDFD, c.Pidfd, &info, unix.WEXITED, nil)
		if err != unix.EINTR {
			break
		}
	}
	c.Close()
}

func (c *Child) freeArena() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.arena != nil {
		c.arena.free()
		c.arena = nil
	}
}

// Close releases the child's resources: the status channel, the eventfd, the
// pidfd, the listener and the arena.
//
// Preconditions: the child has exec'd (Release returned nil) or has been
// reaped. Closing a parked, live child would unmap memory it still runs on.
func (c *Child) Close() {
	c.ioMu.Lock()
	defer c.ioMu.Unlock()
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	c.mu.Unlock()
	c.freeArena()
	c.status.Close()
	unix.Close(c.eventfd)
	unix.Close(c.Pidfd)
	if c.Listener != nil {
		c.Listener.Close()
	}
}

// spawner is the dedicated, permanently locked OS thread every clone runs on.
// PR_SET_PDEATHSIG fires when the creating thread exits, so the creating
// thread must live as long as the process.
type spawnReq struct {
	hdr     uintptr
	childFd int
	pid     uintptr
	errno   uintptr
	done    chan struct{}
}

var (
	spawnOnce sync.Once
	spawnCh   chan *spawnReq
)

func spawnOnThread(a *arena, childFd int) (int, uintptr) {
	// On the process's main thread the clone can happen right here: Go never
	// lets the main thread exit before the process (a goroutine that exits
	// while locked to it wedges it instead), so PDEATHSIG cannot fire early.
	// The trampoline itself checks that it runs on the main thread
	// (hMainOnly), so the check and the clone cannot be split by a thread
	// switch. This saves the hand-off to the spawner thread, and for a
	// program that spawns from its main goroutine (sandlock-run), the
	// creation of that thread altogether.
	a.put(hMainOnly, 1)
	pid, errno := rawSpawn(a.base)
	a.put(hMainOnly, 0)
	if errno != errNotMain {
		unix.Close(childFd)
		return int(pid), errno
	}
	spawnOnce.Do(func() {
		spawnCh = make(chan *spawnReq)
		go func() {
			runtime.LockOSThread() // never unlocked: the thread lives as long as the process
			for r := range spawnCh {
				r.pid, r.errno = rawSpawn(r.hdr)
				// Close our copy of the child's end before the next clone,
				// so that the next child never inherits it.
				unix.Close(r.childFd)
				close(r.done)
			}
		}()
	})
	r := &spawnReq{hdr: a.base, childFd: childFd, done: make(chan struct{})}
	spawnCh <- r
	<-r.done
	return int(r.pid), r.errno
}

func validate(attr *Attr) error {
	if attr.Path == "" {
		return invalid("empty path")
	}
	if len(attr.Argv) == 0 {
		return invalid("empty argv")
	}
	check := func(what, s string) error {
		if strings.IndexByte(s, 0) >= 0 {
			return invalid("%s contains a NUL byte: %q", what, s)
		}
		return nil
	}
	if err := check("path", attr.Path); err != nil {
		return err
	}
	if err := check("dir", attr.Dir); err != nil {
		return err
	}
	for _, s := range attr.Argv {
		if err := check("argument", s); err != nil {
			return err
		}
	}
	for _, s := range attr.Env {
		if err := check("environment variable", s); err != nil {
			return err
		}
	}
	if attr.Foreground && !attr.Setpgid {
		return invalid("Foreground requires Setpgid")
	}
	if attr.Setsid && attr.Setpgid {
		return invalid("Setsid and Setpgid are exclusive")
	}
	for _, c := range attr.CPUAffinity {
		if c < 0 || c >= 1024 {
			return invalid("CPU %d outside [0, 1024)", c)
		}
	}
	if attr.Seccomp != nil && (len(attr.Seccomp.Filter) == 0 || len(attr.Seccomp.Filter) > 4096) {
		return invalid("seccomp filter of %d instructions", len(attr.Seccomp.Filter))
	}
	return nil
}

var (
	aLongTimeAgo = time.Unix(1, 0)
	noDeadline   time.Time
)
