//go:build linux

package sandlock

import (
	"encoding/binary"
	"errors"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// notif is a struct seccomp_notif received from the listener.
type notif struct {
	id    uint64
	pid   int // the calling thread, in our pid namespace
	nr    int
	arch  uint32
	ip    uint64
	args  [6]uint64
	flags uint32
	// lfd is the listener the notification came from, for ID_VALID,
	// ADDFD and answering.
	lfd int
	// quit is closed when the supervisor is ending: a slow handler that
	// blocks (a connect on behalf) selects on it and gives up.
	quit <-chan struct{}
	// sup and role implement detach and runSlow's timer: role moves once
	// from roleRunning to roleFinished (the handler returned first) or
	// rolePromoted (the receiving role went to another thread).
	sup  *supervisor
	role atomic.Int32
}

const (
	roleRunning int32 = iota
	roleFinished
	rolePromoted
)

// detach turns the running quick handler into a slow one: it hands the
// receiving role to another thread, so that the handler may block from
// here on. A handler that blocks only sometimes (a connect on behalf of a
// blocking socket) is registered quick and detaches when it must. It may
// be called from another goroutine while the handler blocks, provided
// that call happens before the handler returns (the network feature's
// lazyDetach orders them with a mutex).
func (n *notif) detach() {
	if n.sup != nil && n.role.CompareAndSwap(roleRunning, rolePromoted) {
		n.sup.promote()
	}
}

// Sizes of struct seccomp_notif and struct seccomp_notif_resp (uapi, the
// same on amd64 and arm64; the ioctl numbers encode them too).
const (
	notifSize     = 80
	notifRespSize = 24
)

func (n *notif) decode(b []byte) {
	le := binary.LittleEndian
	n.id = le.Uint64(b[0:])
	n.pid = int(le.Uint32(b[8:]))
	n.flags = le.Uint32(b[12:])
	n.nr = int(int32(le.Uint32(b[16:])))
	n.arch = le.Uint32(b[20:])
	n.ip = le.Uint64(b[24:])
	for i := range n.args {
		n.args[i] = le.Uint64(b[32+8*i:])
	}
}

// verdictResp is a handler's answer to one notification: CONTINUE (let the
// kernel run the call as it is), an errno, a return value, or sent: the
// handler answered itself (SECCOMP_IOCTL_NOTIF_ADDFD with
// SECCOMP_ADDFD_FLAG_SEND), and the loop must not answer again.
type verdictResp struct {
	cont  bool
	sent  bool
	errno syscall.Errno
	val   int64
}

var respContinue = verdictResp{cont: true}

func respErrno(e syscall.Errno) verdictResp { return verdictResp{errno: e} }

func respVal(v int64) verdictResp { return verdictResp{val: v} }

// notifHandler decides one notification.
type notifHandler func(n *notif) verdictResp

// dispatch is what the supervisor runs for one system call number.
//
// A quick handler (slow false) runs on the thread that received the
// notification while it still holds the receiving role: quick handlers of
// one sandbox never run concurrently with each other, so they need no lock
// among themselves (the process limit's bookkeeping relies on it). They
// must not block: every other notification of the sandbox waits for them.
//
// A slow handler (one that may block: a connect or an open made on
// behalf, a user's Go code, a policy callback) starts on the receiving
// thread too, but if it has not returned after promoteAfter the receiving
// role moves to another thread (runSlow); slow handlers may thus run
// concurrently with everything, each on its own thread, and lock what
// they share.
type dispatch struct {
	fn   notifHandler
	slow bool
}

// supervisor answers the seccomp notifications of one sandbox.
//
// Threads follow the leader/followers pattern: exactly one thread, the
// leader, polls the listener (poll(listener, stop) then NOTIF_RECV). It
// answers a quick notification itself and goes on receiving. When a slow
// one takes longer than promoteAfter, a follower (an idle thread, or a new
// one) is promoted to leader meanwhile, and the old leader, once it has
// answered, becomes an idle follower (or exits when enough are idle). So the
// notification that was received is answered by the thread the kernel
// woke, on the CPU the notifying thread woke it on (no hand-off on the
// path of a quick call), and a slow decision never stalls the others.
//
// Only the leader calls NOTIF_RECV: a RECV blocked with nothing pending
// could not be woken when the sandbox ends. The supervisor ends when the
// filter has no users left (POLLHUP: every process of the sandbox is gone
// and reaped) or when stop is called; the last thread out closes the
// listener and the eventfd and runs onExit, so that no fd and no thread
// outlives it.
type supervisor struct {
	listener *os.File
	lfd      int
	stopFd   int // eventfd: written by stop
	handlers map[int]dispatch
	// syncWakeUp reports whether SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP is set.
	syncWakeUp bool
	// onExit, if set, runs once after every thread of the supervisor
	// ended: the handlers' own clean-up.
	onExit func()

	// lead carries the leader role: whoever receives from it polls the
	// listener. quit is closed when the supervisor is ending.
	lead    chan struct{}
	quit    chan struct{}
	quitOne sync.Once
	threads sync.WaitGroup
	mu      sync.Mutex
	idle    int // threads waiting on lead
	// nthreads counts the supervisor's threads (leader, busy and idle
	// followers): promote starts no new one at maxThreads.
	nthreads int

	stopOnce sync.Once
	done     chan struct{}
}

// maxIdleFollowers bounds the threads kept for later slow notifications.
const maxIdleFollowers = 4

// maxThreads bounds the threads of one supervisor. Without a bound, each
// notification whose slow handler blocks (a FIFO open, a connect on
// behalf, a callback) took a thread of its own, so a sandbox with
// thousands of threads blocked that way made the supervisor's process
// start thousands of OS threads, and at 10 000 the Go runtime aborts the
// whole process ("thread exhaustion"): every sandbox of that process and
// the owner's own program with it. At the bound the leader role waits for
// the first busy thread to finish (promote): the sandbox's further
// notifications queue in the kernel meanwhile, which only that sandbox
// feels. An opener thread (fsopener_linux.go) works only for a supervisor
// thread waiting on it, so a sandbox costs at most about 2 × maxThreads
// threads.
const maxThreads = 128

// allThreads counts the supervisor threads of every sandbox of this
// process. Promotions stop at maxAllThreads, so that many hostile
// sandboxes together cannot drive the process to Go's thread limit
// (10 000, a fatal error for the whole process): each blocked handler
// may hold an opener thread too. A supervisor's first thread is always
// started (counted, never refused): every sandbox gets a leader.
var allThreads atomic.Int32

const maxAllThreads = 2048

// startSupervisor takes ownership of listener and starts the loop. On
// error the listener is closed.
func startSupervisor(listener *os.File, handlers map[int]dispatch, syncWakeUp bool, onExit func()) (*supervisor, error) {
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		listener.Close()
		return nil, os.NewSyscallError("eventfd", err)
	}
	s := &supervisor{
		listener: listener, lfd: int(listener.Fd()), stopFd: efd, handlers: handlers, onExit: onExit,
		lead: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{}),
	}
	// Wake the supervisor on the CPU of the notifying thread (6.6+). The
	// flag is passed by value; without it the kernel still works, only the
	// wake-ups may cross CPUs more often.
	s.syncWakeUp = syncWakeUp && unix.IoctlSetInt(s.lfd, unix.SECCOMP_IOCTL_NOTIF_SET_FLAGS,
		unix.SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP) == nil
	s.threads.Add(1)
	s.nthreads = 1
	allThreads.Add(1)
	go s.thread(true)
	go s.finish()
	return s, nil
}

// stop ends the supervisor and waits until it has closed its fds. It may
// be called more than once, and after the supervisor ended by itself.
// Slow handlers still running finish first (their answers then fail with
// ENOENT if the caller is gone). quit is closed here too, not only by the
// leader that sees the eventfd: with every thread busy in a blocked
// handler (maxThreads) there may be no leader to see it, and the blocked
// handlers give up only when quit closes.
func (s *supervisor) stop() {
	s.stopOnce.Do(func() {
		var one [8]byte
		binary.LittleEndian.PutUint64(one[:], 1)
		for {
			if _, err := unix.Write(s.stopFd, one[:]); err != unix.EINTR {
				break
			}
		}
		s.end()
	})
	<-s.done
}

// finish waits for every thread, then releases what they shared.
func (s *supervisor) finish() {
	s.threads.Wait()
	if s.onExit != nil {
		s.onExit()
	}
	s.listener.Close()
	s.stopOnce.Do(func() {}) // no write after the close
	unix.Close(s.stopFd)
	close(s.done)
}

func (s *supervisor) end() { s.quitOne.Do(func() { close(s.quit) }) }

// thread is one supervisor thread: leader when it holds the role (the
// first thread starts with it), else an idle follower waiting for it.
func (s *supervisor) thread(leader bool) {
	// A thread of its own: the notifying thread wakes exactly this one, and
	// blocking in poll, ioctl or a slow handler never holds up a
	// goroutine queue.
	//
	// The thread drops every capability first, and is never unlocked (Go
	// ends it with the goroutine, so no other goroutine runs capless):
	// whatever a handler does on behalf of the sandbox (resolve a path,
	// open, connect) is then checked by the kernel with the credentials
	// the sandbox has (the same uid, no capabilities), never with an
	// owner's CAP_DAC_OVERRIDE or CAP_DAC_READ_SEARCH. Reading the
	// sandbox's memory and /proc files needs none: same uid.
	runtime.LockOSThread()
	defer s.threads.Done()
	defer func() {
		s.mu.Lock()
		s.nthreads--
		s.mu.Unlock()
		allThreads.Add(-1)
	}()
	if err := dropThreadCapabilities(); err != nil {
		s.end() // fail closed: no handler runs with the owner's privileges
		return
	}
	fds := []unix.PollFd{{Fd: int32(s.lfd), Events: unix.POLLIN}, {Fd: int32(s.stopFd), Events: unix.POLLIN}}
	buf := make([]byte, notifSize)
	resp := make([]byte, notifRespSize)
	var n notif
	for {
		if !leader {
			s.mu.Lock()
			s.idle++
			s.mu.Unlock()
			select {
			case <-s.lead:
			case <-s.quit:
				return
			}
			s.mu.Lock()
			s.idle--
			s.mu.Unlock()
			leader = true
		}
		if !s.receive(fds, buf, &n) {
			s.end()
			return
		}
		v := respContinue
		n.sup = s
		n.role.Store(roleRunning)
		switch d, ok := s.handlers[n.nr]; {
		case !ok:
		case d.slow:
			v = s.runSlow(d, &n)
		default:
			v = d.fn(&n)
		}
		if !n.role.CompareAndSwap(roleRunning, roleFinished) {
			leader = false // promoted meanwhile: a follower once answered
		}
		if !v.sent {
			encodeResp(resp, n.id, v)
			// ENOENT: the caller died or was interrupted meanwhile;
			// nothing to answer.
			for ioctlBuf(s.lfd, unix.SECCOMP_IOCTL_NOTIF_SEND, resp) == unix.EINTR {
			}
		}
		if !leader {
			s.mu.Lock()
			enough := s.idle >= maxIdleFollowers
			s.mu.Unlock()
			if enough {
				return
			}
		}
	}
}

// promoteAfter is how long a slow handler runs on the receiving thread
// before the leader role moves to another thread.
const promoteAfter = 50 * time.Microsecond

// runSlow runs a slow handler on the leader's thread, and hands the
// leader role to another thread only if the handler is still running
// after promoteAfter. Most "slow" handlers (a user's Go code, an open on
// behalf) answer within microseconds: promoting up front cost a thread
// wake-up per call, 3× the whole round trip (docs/design.md, Supervisor,
// Measured). A handler that blocks delays the sandbox's other
// notifications by promoteAfter plus the timer's latency, once.
//
// The notification's role moves once from running to either finished (by
// the handler's thread: it stays leader) or promoted (by the timer or an
// explicit detach: it is a follower when the handler returns); the CAS
// decides which came first.
func (s *supervisor) runSlow(d dispatch, n *notif) verdictResp {
	t := time.AfterFunc(promoteAfter, n.detach)
	v := d.fn(n)
	t.Stop()
	return v
}

// promote hands the leader role to an idle follower, or to a new thread,
// or, when the supervisor has maxThreads already, to whichever thread
// waits for it next (a busy one once its handler returned). The role is
// one token: only its holder promotes, so the send never blocks.
func (s *supervisor) promote() {
	s.mu.Lock()
	spawn := s.idle == 0 && s.nthreads < maxThreads && allThreads.Load() < maxAllThreads
	if spawn {
		s.threads.Add(1)
		s.nthreads++
		allThreads.Add(1)
	}
	s.mu.Unlock()
	if spawn {
		go s.thread(true)
		return
	}
	s.lead <- struct{}{}
}

// receive polls and receives the next notification into n. It returns
// false when the supervisor must end: stopped, no filter users left, or
// the listener failed.
func (s *supervisor) receive(fds []unix.PollFd, buf []byte, n *notif) bool {
	for {
		fds[0].Revents, fds[1].Revents = 0, 0
		if _, err := unix.Poll(fds, -1); err != nil {
			if err == unix.EINTR {
				continue
			}
			return false
		}
		if fds[1].Revents != 0 {
			return false
		}
		ev := fds[0].Revents
		if ev&unix.POLLIN == 0 {
			if ev&(unix.POLLHUP|unix.POLLERR|unix.POLLNVAL) != 0 {
				return false // no filter users left
			}
			continue
		}
		clear(buf)
		err := ioctlBuf(s.lfd, unix.SECCOMP_IOCTL_NOTIF_RECV, buf)
		switch {
		case err == nil:
			n.decode(buf)
			n.lfd, n.quit = s.lfd, s.quit
			return true
		case errors.Is(err, unix.EINTR), errors.Is(err, unix.ENOENT):
			// EINTR: Go's preemption signal. ENOENT: the caller died
			// (or was interrupted) before we received its notification.
			continue
		default:
			return false
		}
	}
}

func encodeResp(b []byte, id uint64, v verdictResp) {
	le := binary.LittleEndian
	le.PutUint64(b[0:], id)
	var val int64
	var errno int32
	var flags uint32
	switch {
	case v.cont:
		flags = unix.SECCOMP_USER_NOTIF_FLAG_CONTINUE
	case v.errno != 0:
		errno = -int32(v.errno)
	default:
		val = v.val
	}
	le.PutUint64(b[8:], uint64(val))
	le.PutUint32(b[16:], uint32(errno))
	le.PutUint32(b[20:], flags)
}

// idValid reports whether notification id is still pending: its caller is
// alive and still waits in the same system call, so that what was read
// from its memory belongs to this call (SECCOMP_IOCTL_NOTIF_ID_VALID).
func idValid(listenerFd int, id uint64) bool {
	b := binary.LittleEndian.AppendUint64(nil, id)
	return ioctlBuf(listenerFd, unix.SECCOMP_IOCTL_NOTIF_ID_VALID, b) == nil
}

// dropThreadCapabilities empties the calling thread's capability sets
// (capset acts on the calling thread only). The caller must keep the
// thread locked until it exits.
func dropThreadCapabilities() error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var none [2]unix.CapUserData
	return os.NewSyscallError("capset", unix.Capset(&hdr, &none[0]))
}
