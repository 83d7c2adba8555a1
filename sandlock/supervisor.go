//go:build linux

package sandlock

import (
	"encoding/binary"
	"errors"
	"os"
	"runtime"
	"sync"
	"syscall"

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
// kernel run the call as it is), an errno, or a return value.
type verdictResp struct {
	cont  bool
	errno syscall.Errno
	val   int64
}

var respContinue = verdictResp{cont: true}

func respErrno(e syscall.Errno) verdictResp { return verdictResp{errno: e} }

// notifHandler decides one notification. It runs on the supervisor's
// thread and must be quick: every other notification of the sandbox waits
// for it.
type notifHandler func(n *notif) verdictResp

// supervisor answers the seccomp notifications of one sandbox. Its loop
// runs on a locked OS thread: poll(listener, stop) then NOTIF_RECV, the
// handler, NOTIF_SEND. It ends when the filter has no users left (POLLHUP:
// every process of the sandbox is gone and reaped) or when stop is called,
// and closes the listener and its eventfd itself, so that no fd and no
// thread outlives it.
type supervisor struct {
	listener *os.File
	stopFd   int // eventfd: written by stop
	handlers map[int]notifHandler
	// syncWakeUp reports whether SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP is set.
	syncWakeUp bool
	// onExit, if set, runs on the loop's goroutine after the loop ended:
	// the handlers' own clean-up.
	onExit func()

	stopOnce sync.Once
	done     chan struct{}
}

// startSupervisor takes ownership of listener and starts the loop. On
// error the listener is closed.
func startSupervisor(listener *os.File, handlers map[int]notifHandler, syncWakeUp bool, onExit func()) (*supervisor, error) {
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		listener.Close()
		return nil, os.NewSyscallError("eventfd", err)
	}
	s := &supervisor{listener: listener, stopFd: efd, handlers: handlers, onExit: onExit, done: make(chan struct{})}
	// Wake the supervisor on the CPU of the notifying thread (6.6+). The
	// flag is passed by value; without it the kernel still works, only the
	// wake-ups may cross CPUs more often.
	s.syncWakeUp = syncWakeUp && unix.IoctlSetInt(int(listener.Fd()), unix.SECCOMP_IOCTL_NOTIF_SET_FLAGS,
		unix.SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP) == nil
	go s.loop()
	return s, nil
}

// stop ends the loop and waits until it has closed its fds. It may be
// called more than once, and after the loop ended by itself.
func (s *supervisor) stop() {
	s.stopOnce.Do(func() {
		var one [8]byte
		binary.LittleEndian.PutUint64(one[:], 1)
		for {
			if _, err := unix.Write(s.stopFd, one[:]); err != unix.EINTR {
				break
			}
		}
	})
	<-s.done
}

func (s *supervisor) loop() {
	// A thread of its own: the notifying thread wakes exactly this one, and
	// blocking in poll or ioctl never holds up a goroutine queue.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	defer close(s.done)
	defer func() {
		if s.onExit != nil {
			s.onExit()
		}
	}()
	defer s.listener.Close()
	// stopFd is closed only here, after the loop; stop's write happens
	// before (stopOnce runs it before waiting for done).
	defer func() {
		s.stopOnce.Do(func() {}) // no write after the close
		unix.Close(s.stopFd)
	}()
	lfd := int(s.listener.Fd())
	fds := []unix.PollFd{{Fd: int32(lfd), Events: unix.POLLIN}, {Fd: int32(s.stopFd), Events: unix.POLLIN}}
	buf := make([]byte, notifSize)
	resp := make([]byte, notifRespSize)
	var n notif
	for {
		fds[0].Revents, fds[1].Revents = 0, 0
		if _, err := unix.Poll(fds, -1); err != nil {
			if err == unix.EINTR {
				continue
			}
			return
		}
		if fds[1].Revents != 0 {
			return
		}
		ev := fds[0].Revents
		if ev&unix.POLLIN == 0 {
			if ev&(unix.POLLHUP|unix.POLLERR|unix.POLLNVAL) != 0 {
				return // no filter users left
			}
			continue
		}
		clear(buf)
		err := ioctlBuf(lfd, unix.SECCOMP_IOCTL_NOTIF_RECV, buf)
		switch {
		case err == nil:
		case errors.Is(err, unix.EINTR), errors.Is(err, unix.ENOENT):
			// EINTR: Go's preemption signal. ENOENT: the caller died
			// (or was interrupted) before we received its notification.
			continue
		default:
			return
		}
		n.decode(buf)
		v := respContinue
		if h := s.handlers[n.nr]; h != nil {
			v = h(&n)
		}
		encodeResp(resp, n.id, v)
		// ENOENT: the caller died or was interrupted meanwhile; nothing
		// to answer.
		for ioctlBuf(lfd, unix.SECCOMP_IOCTL_NOTIF_SEND, resp) == unix.EINTR {
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
