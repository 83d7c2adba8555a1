//go:build linux

package sandlock

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// The network feature's supervisor side: connect, sendto, sendmsg,
// sendmmsg and bind of INET and INET6 sockets are decided and made on
// behalf of the sandbox. Every handler follows the same steps:
//
//  1. pin the socket: pidfd_getfd(fd) gives the supervisor its own
//     reference to the very socket the call names, so the protocol read
//     from it (SO_DOMAIN, SO_TYPE, SO_PROTOCOL) cannot change under the
//     decision;
//  2. copy the sockaddr (and payload) out of the caller's memory once,
//     then check with NOTIF_ID_VALID that the caller still waits in this
//     call (readChecked);
//  3. decide on the copy;
//  4. make the call on the pinned socket with the copy, and answer with
//     its result. The kernel never reads the caller's memory again, so
//     flipping the sockaddr after the check changes nothing.
//
// Blocked destinations answer ECONNREFUSED (upstream's choice: programs
// treat it as "nothing listens there") and nothing is sent.

// Linux socket constants used here (the same on amd64 and arm64).
const (
	ipprotoICMP   = 1
	ipprotoTCP    = 6
	ipprotoUDP    = 17
	ipprotoICMPV6 = 58
	msgFastOpen   = 0x20000000 // MSG_FASTOPEN

	// maxSockaddr is sizeof(struct sockaddr_storage): the kernel refuses
	// longer addresses with EINVAL.
	maxSockaddr = 128
	// maxDatagram bounds a datagram copied out of the sandbox: an IP
	// datagram cannot be longer.
	maxDatagram = 65536
	// maxStreamChunk bounds the payload of a TCP Fast Open send copied
	// out at once (a short write is legal on a stream).
	maxStreamChunk = 1 << 20
)

// netSup is the network feature of one sandbox.
type netSup struct {
	m   *netModel
	lfd int
	sv  *supervision // the policy callback's state (sv.live), if any

	mu sync.Mutex
	// bound are the ports the sandbox bound (by protocol): a SO_REUSEPORT
	// socket may join them.
	bound map[bindKey]bool

	// inflight are the pinned sockets in a blocking call; the watcher
	// shuts them down when the supervisor ends.
	watch    sync.Once
	flightMu sync.Mutex
	inflight map[int]bool
	quitting bool
}

func setupNetwork(sv *supervision) (map[string]dispatch, error) {
	m := sv.policy.net
	if m == nil {
		var err error
		if m, err = sv.policy.buildNetModel(nil); err != nil {
			return nil, err
		}
	}
	ns := &netSup{m: m, lfd: sv.lfd, sv: sv}
	if sv.live != nil {
		// The policy callback's RestrictNetwork narrows what allowed
		// accepts from now on.
		sv.live.enforceNetwork()
	}
	// Quick handlers: pinning, copying and deciding never block; a call
	// that may block on the socket (blockingCall) detaches first.
	return map[string]dispatch{
		"connect":  {fn: ns.connect},
		"sendto":   {fn: ns.sendto},
		"sendmsg":  {fn: ns.sendmsg},
		"sendmmsg": {fn: ns.sendmmsg},
		"bind":     {fn: ns.bind},
	}, nil
}

// netCalls are the system calls the network feature handles when on.
func netCalls(p *Policy) []string {
	if !p.networkSupervised() {
		return nil
	}
	return []string{"connect", "sendto", "sendmsg", "sendmmsg", "bind"}
}

// pinnedSocket is the supervisor's reference to a sandboxed socket.
type pinnedSocket struct {
	fd                  int
	domain, typ, proto  int
	inet                bool
	netProto            netProto // 0: a transport the policy cannot allow
	stream, nonblocking bool
}

func (s *pinnedSocket) close() { unix.Close(s.fd) }

// pidfdThread is PIDFD_THREAD (O_EXCL): a pidfd for one thread (6.9+).
const pidfdThread = unix.O_EXCL

// pin takes the caller's fd. An error is the errno to answer: EBADF for
// a bad fd, ENOTSOCK, or ESRCH when the caller is gone. Where
// pidfd_getfd is refused (EPERM: ptrace access denied by an LSM or Yama
// scope 3), the call fails with EPERM: there is no safe fallback, since
// letting the kernel run the call would re-read the address.
func pin(n *notif, fd int) (*pinnedSocket, unix.Errno) {
	if fd < 0 {
		return nil, unix.EBADF
	}
	pidfd, err := unix.PidfdOpen(n.pid, pidfdThread)
	if err == unix.EINVAL {
		pidfd, err = unix.PidfdOpen(n.pid, 0) // before 6.9: the thread is a process, or shares its fd table
	}
	if err != nil {
		return nil, unix.ESRCH
	}
	sfd, err := unix.PidfdGetfd(pidfd, fd, 0)
	unix.Close(pidfd)
	if err != nil {
		var errno unix.Errno
		if !errors.As(err, &errno) {
			errno = unix.EBADF
		}
		return nil, errno
	}
	s := &pinnedSocket{fd: sfd}
	if s.domain, err = unix.GetsockoptInt(sfd, unix.SOL_SOCKET, unix.SO_DOMAIN); err != nil {
		unix.Close(sfd)
		return nil, unix.ENOTSOCK
	}
	s.inet = s.domain == unix.AF_INET || s.domain == unix.AF_INET6
	if !s.inet {
		return s, 0 // decided on the domain alone: save the other calls
	}
	s.typ, _ = unix.GetsockoptInt(sfd, unix.SOL_SOCKET, unix.SO_TYPE)
	s.proto, _ = unix.GetsockoptInt(sfd, unix.SOL_SOCKET, unix.SO_PROTOCOL)
	if fl, err := unix.FcntlInt(uintptr(sfd), unix.F_GETFL, 0); err == nil {
		s.nonblocking = fl&unix.O_NONBLOCK != 0
	}
	s.stream = s.typ == unix.SOCK_STREAM
	switch {
	case s.typ == unix.SOCK_STREAM && s.proto == ipprotoTCP:
		s.netProto = protoTCP
	case s.typ == unix.SOCK_DGRAM && s.proto == ipprotoUDP:
		s.netProto = protoUDP
	case s.typ == unix.SOCK_DGRAM && (s.proto == ipprotoICMP || s.proto == ipprotoICMPV6):
		s.netProto = protoICMP
	}
	return s, 0
}

// sockaddrDest reads the destination of an INET or INET6 sockaddr as the
// kernel will for a socket of domain. ok false: no destination (AF_UNSPEC
// on INET6: the connected peer is used); errno: the kernel would refuse
// the address (too short, wrong family).
func sockaddrDest(domain int, sa []byte) (a netip.Addr, port uint16, ok bool, errno unix.Errno) {
	if len(sa) < 2 {
		return a, 0, false, unix.EINVAL
	}
	fam := int(binary.NativeEndian.Uint16(sa))
	switch {
	case fam == unix.AF_INET || fam == unix.AF_UNSPEC && domain == unix.AF_INET:
		// udp_sendmsg reads sin_addr and sin_port of an AF_UNSPEC
		// address on an IPv4 socket: judge it as that destination.
		if len(sa) < unix.SizeofSockaddrInet4 {
			return a, 0, false, unix.EINVAL
		}
		return netip.AddrFrom4([4]byte(sa[4:8])), binary.BigEndian.Uint16(sa[2:]), true, 0
	case fam == unix.AF_INET6:
		if len(sa) < 24 { // SIN6_LEN_RFC2133
			return a, 0, false, unix.EINVAL
		}
		return netip.AddrFrom16([16]byte(sa[8:24])).Unmap(), binary.BigEndian.Uint16(sa[2:]), true, 0
	case fam == unix.AF_UNSPEC:
		return a, 0, false, 0
	}
	return a, 0, false, unix.EAFNOSUPPORT
}

// allowed decides a destination for socket s: the policy, then the
// policy callback's restrictions (RestrictNetwork).
func (ns *netSup) allowed(s *pinnedSocket, a netip.Addr, port uint16) bool {
	return s.netProto != 0 && ns.m.allows(s.netProto, a, port) &&
		(ns.sv == nil || ns.sv.live.networkAllowed(a))
}

// report tells the policy callback, if there is one, about a network call
// decided on the copy of its destination (denied: the policy refuses it).
// It returns the errno the callback's verdict calls for, or 0. The
// callback may block: the handler detaches first.
func (ns *netSup) report(n *notif, name string, a netip.Addr, port uint16, denied bool) unix.Errno {
	if ns.sv == nil || ns.sv.live == nil || ns.sv.live.hub == nil {
		return 0
	}
	n.detach()
	return unix.Errno(ns.sv.networkEvent(n, name, a, port, denied))
}

// readArg copies size bytes at addr out of the caller (then checks the
// notification): 0 or the errno to answer.
func (ns *netSup) readArg(n *notif, addr uint64, size int) ([]byte, unix.Errno) {
	b := make([]byte, size)
	if size == 0 {
		return b, 0
	}
	if addr == 0 {
		return nil, unix.EFAULT
	}
	return b, readChecked(ns.lfd, n, addr, b)
}

// lazyDetachAfter is how long a call on behalf may block before its
// handler detaches (hands the receiving role to another thread). Most
// blocking connects and sends on behalf return sooner (loopback, LAN,
// buffer space), and a hand-off costs a thread wake-up (~50 µs here);
// other notifications wait at most this long behind a slow one.
const lazyDetachAfter = 200 * time.Microsecond

// lazyDetach detaches n from a timer if the call it guards is still
// running then. finish must be called before the handler returns: after
// it no detach happens, and one that happened is visible to the caller.
type lazyDetach struct {
	mu   sync.Mutex
	done bool
	t    *time.Timer
}

func startLazyDetach(n *notif) *lazyDetach {
	l := &lazyDetach{}
	quit := n.quit
	l.t = time.AfterFunc(lazyDetachAfter, func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		select {
		case <-quit: // ending: no thread to hand over to
		default:
			if !l.done {
				n.detach()
			}
		}
	})
	return l
}

func (l *lazyDetach) finish() {
	l.mu.Lock()
	l.done = true
	l.mu.Unlock()
	l.t.Stop()
}

// blockingCall runs call, a system call on the pinned socket that may
// block (connect, send on a full buffer): the handler detaches if it is
// still blocked after lazyDetachAfter, so that other notifications go on,
// and the supervisor can end: when n.quit closes, every socket blocked in
// such a call is shut down, which wakes it. One watcher per sandbox,
// started at the first blocking call: a watcher per call would cost a
// thread wake-up per call. EINTR (the Go runtime's signals reach this
// thread) is retried by call itself.
func (ns *netSup) blockingCall(n *notif, s *pinnedSocket, call func() (int, unix.Errno)) (int, unix.Errno) {
	if s.nonblocking {
		return call()
	}
	ns.watch.Do(func() {
		quit := n.quit // n is reused by its thread for the next notification
		go func() {
			<-quit
			ns.flightMu.Lock()
			ns.quitting = true
			for fd := range ns.inflight {
				unix.Shutdown(fd, unix.SHUT_RDWR)
			}
			ns.flightMu.Unlock()
		}()
	})
	ns.flightMu.Lock()
	if ns.quitting {
		ns.flightMu.Unlock()
		return 0, unix.EINTR
	}
	if ns.inflight == nil {
		ns.inflight = map[int]bool{}
	}
	ns.inflight[s.fd] = true
	ns.flightMu.Unlock()
	l := startLazyDetach(n)
	r, e := call()
	l.finish()
	ns.flightMu.Lock()
	delete(ns.inflight, s.fd) // before the caller closes s.fd
	ns.flightMu.Unlock()
	return r, e
}

func answer(r int, e unix.Errno) verdictResp {
	if e != 0 {
		return respErrno(e)
	}
	return respVal(int64(r))
}

// connect: connect(fd, addr, addrlen).
//
// TOCTOU: the sockaddr is copied once and the pinned socket is connected
// with that copy; the decision never looks at the caller's memory again
// and the caller's fd table may change without effect (we hold the
// socket). A blocking connect detaches first (blockingCall), so it runs
// on a thread of its own, and is woken by a shutdown when the supervisor
// ends.
func (ns *netSup) connect(n *notif) verdictResp {
	fd, addr, addrlen := int(int32(n.args[0])), n.args[1], int(int32(n.args[2]))
	if addrlen < 0 || addrlen > maxSockaddr {
		return respErrno(unix.EINVAL)
	}
	s, e := pin(n, fd)
	if e != 0 {
		return respErrno(e)
	}
	defer s.close()
	if !s.inet {
		return ns.otherDomain(n, s)
	}
	sa, e := ns.readArg(n, addr, addrlen)
	if e != 0 {
		return respErrno(e)
	}
	if len(sa) < 2 {
		return respErrno(unix.EINVAL)
	}
	// connect with AF_UNSPEC is a disconnect on every INET socket
	// (inet_stream_connect, inet_dgram_connect): no destination. Anything
	// else is judged as the address it names.
	if binary.NativeEndian.Uint16(sa) != unix.AF_UNSPEC {
		a, port, ok, e := sockaddrDest(s.domain, sa)
		if e != 0 {
			return respErrno(e)
		}
		allowed := ok && ns.allowed(s, a, port)
		if e := ns.report(n, "connect", a, port, !allowed); e != 0 {
			return respErrno(e)
		}
		if !allowed {
			return respErrno(unix.ECONNREFUSED)
		}
	}
	return answer(ns.blockingCall(n, s, func() (int, unix.Errno) {
		e := rawConnect(s.fd, sa)
		interrupted := false
		for e == unix.EINTR {
			// A blocking connect interrupted by one of our own signals
			// goes on in the background: calling again waits for it
			// (EALREADY on a non-blocking socket cannot happen here).
			interrupted = true
			e = rawConnect(s.fd, sa)
		}
		if e == unix.EISCONN && interrupted {
			e = 0
		}
		return 0, e
	}))
}

// otherDomain answers a call on a socket that is not INET or INET6.
// AF_UNIX calls are the kernel's (Landlock scopes abstract sockets;
// named sockets are files) and are let through: the decision read only
// the socket's domain, from the pinned socket, never the caller's
// memory. Races: see docs/notes-net.md ("AF_UNIX").
func (ns *netSup) otherDomain(n *notif, s *pinnedSocket) verdictResp {
	if s.domain == unix.AF_UNIX {
		return respContinue
	}
	// Netlink and the rest: made on behalf they would run with the
	// supervisor's privileges (netlink_connect checks CAP_NET_ADMIN of
	// the caller), and continued they could be raced: refuse.
	return respErrno(unix.ECONNREFUSED)
}
