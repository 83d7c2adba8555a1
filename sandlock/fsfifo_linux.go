//go:build linux

package sandlock

import (
	"errors"
	"time"

	"golang.org/x/sys/unix"
)

// Opens on behalf that may block forever.
//
// A blocking open of a FIFO waits in the kernel for its peer (a reader
// for a writer and the other way round). Made on behalf, that wait sits
// on an opener thread, with a supervisor thread waiting for it. If the
// peer never comes (the sandbox opens a FIFO nobody writes, then ends or
// is killed), neither thread ever returned, the supervisor never ended,
// and Wait hung forever. The wait is interruptible, but only by a signal
// the thread handles without SA_RESTART, and Go installs every handler
// with SA_RESTART: the open would just restart.
//
// So the supervisor thread watches the open: while it is blocked, it
// checks every fifoWatchPeriod whether the supervisor is ending (quit) or
// the notification is gone (its caller died). Then the open has no one to
// answer, and the supervisor gives it its peer: it opens the other end
// itself, non-blocking, and closes it at once, which wakes the opener;
// the fd the opener then gets is refused by ADDFD (the notification is
// gone) and closed. If the supervisor cannot open the other end (its
// permission bits refuse the owner), the opener thread is abandoned: it
// leaves the opener's wait group and ends whenever its open returns.
//
// TOCTOU: the peer is opened through /proc/self/fd/N of the O_PATH fd the
// decision was made on (the FIFO itself, never the path again); the
// supervisor's fd is never given to the sandbox. The job holds its own
// dup of that fd, so that an abandoned job never reopens a reused fd
// number. The only effect the sandbox can see is a writer that comes and
// goes on a FIFO one of its processes was opening when it died (other
// readers of that FIFO may then see end of file): the same as the dead
// process itself opening and closing it.

// fifoWatchPeriod is how often a blocked FIFO open checks whether its
// caller or the supervisor is gone.
const fifoWatchPeriod = 100 * time.Millisecond

// fifoMayBlock reports whether an open with flags of an object of mode
// may wait for a peer: a FIFO opened read-only or write-only without
// O_NONBLOCK (O_RDWR never waits).
func fifoMayBlock(mode uint32, flags uint64) bool {
	return mode&unix.S_IFMT == unix.S_IFIFO && flags&unix.O_NONBLOCK == 0 &&
		flags&unix.O_ACCMODE != unix.O_RDWR
}

// wakeFIFO opens the other end of the FIFO behind fd (O_PATH) without
// blocking and closes it, which ends a blocking open of it with flags. It
// runs on a fresh goroutine, not on the capless supervisor thread, so that
// an owner running as root can always open it. It reports whether it did.
func wakeFIFO(fd int, flags uint64) bool {
	peer := uint64(unix.O_WRONLY)
	if flags&unix.O_ACCMODE == unix.O_WRONLY {
		peer = unix.O_RDONLY
	}
	done := make(chan bool, 1)
	go func() {
		for _, f := range []uint64{unix.O_RDWR, peer} {
			pfd, err := openat2m(unix.AT_FDCWD, procSelfFd(fd), f|unix.O_NONBLOCK|unix.O_CLOEXEC, 0, 0)
			if err == nil {
				unix.Close(pfd)
				done <- true
				return
			}
		}
		done <- false
	}()
	return <-done
}

// doWatched runs fn on a restricted thread like do, but while fn has not
// returned it calls gone every fifoWatchPeriod; once gone reports true it
// calls wake once (which should make fn return), and if wake fails it
// abandons the thread and returns errOpenerAbandoned without waiting for
// fn (which must then own everything it uses).
func (o *opener) doWatched(fn func(), gone func() bool, wake func() bool) error {
	t, err := o.get()
	if err != nil {
		return err
	}
	t.job.Store(&fn)
	if err := wakeByte(t.reqW); err != nil {
		o.retire(t)
		return errors.Join(errOpenerRestrict, err)
	}
	woken := false
	for !woken {
		fds := []unix.PollFd{{Fd: int32(t.repR), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, int(fifoWatchPeriod/time.Millisecond))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			o.abandon(t)
			return errors.Join(errOpenerRestrict, err)
		}
		if n > 0 {
			break
		}
		if !gone() {
			continue
		}
		if !wake() {
			o.abandon(t)
			return errOpenerAbandoned
		}
		woken = true
	}
	if err := waitByte(t.repR); err != nil {
		o.retire(t)
		return errors.Join(errOpenerRestrict, err)
	}
	if t.job.Load() != nil {
		o.retire(t)
		return errOpenerRestrict
	}
	o.put(t)
	return nil
}

// errOpenerAbandoned reports that a blocked operation on behalf was left
// running on its thread.
var errOpenerAbandoned = errors.New("sandlock: operation on behalf abandoned")

// abandon leaves t to finish its job alone: it is out of the wait group
// (close does not wait for it) and exits once the job returns (its
// request pipe is closed).
func (o *opener) abandon(t *openerThread) {
	unix.Close(t.reqW)
	o.release(t)
}

// notifGone reports whether the supervisor is ending or n's caller no
// longer waits for an answer.
func notifGone(n *notif) bool {
	select {
	case <-n.quit:
		return true
	default:
	}
	return !idValid(n.lfd, n.id)
}
