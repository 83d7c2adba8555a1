//go:build linux

package sandlock

import (
	"encoding/binary"
	"os"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// struct msghdr and struct mmsghdr on 64-bit Linux.
const (
	msghdrSize  = 56
	mmsghdrSize = 64 // msghdr, unsigned int msg_len, padding
	iovecSize   = 16
	uioMaxIOV   = 1024     // UIO_MAXIOV
	maxControl  = 64 << 10 // far above net.core.optmem_max; more is ENOBUFS
)

// sendMsg is one message copied out of the sandbox.
type sendMsg struct {
	name    []byte
	iov     [][]byte
	control []byte
}

// readMsghdr copies the struct msghdr at addr and everything it points to.
// Payloads are bounded: a datagram by maxDatagram (EMSGSIZE beyond), a
// stream send by maxStreamChunk (a short write, legal on a stream).
func (ns *netSup) readMsghdr(n *notif, s *pinnedSocket, addr uint64) (*sendMsg, unix.Errno) {
	h, e := ns.readArg(n, addr, msghdrSize)
	if e != 0 {
		return nil, e
	}
	le := binary.LittleEndian
	namePtr, nameLen := le.Uint64(h[0:]), int(int32(le.Uint32(h[8:])))
	iovPtr, iovLen := le.Uint64(h[16:]), le.Uint64(h[24:])
	ctlPtr, ctlLen := le.Uint64(h[32:]), le.Uint64(h[40:])
	m := &sendMsg{}
	switch {
	case nameLen < 0:
		return nil, unix.EINVAL
	case namePtr == 0:
		nameLen = 0
	case nameLen > maxSockaddr:
		nameLen = maxSockaddr // the kernel truncates too
	}
	if m.name, e = ns.readArg(n, namePtr, nameLen); e != 0 {
		return nil, e
	}
	if iovLen > uioMaxIOV {
		return nil, unix.EMSGSIZE
	}
	vecs, e := ns.readArg(n, iovPtr, int(iovLen)*iovecSize)
	if e != 0 {
		return nil, e
	}
	budget := uint64(maxStreamChunk)
	if !s.stream {
		budget = maxDatagram
	}
	for i := range int(iovLen) {
		base, l := le.Uint64(vecs[i*iovecSize:]), le.Uint64(vecs[i*iovecSize+8:])
		if l > budget {
			if !s.stream {
				return nil, unix.EMSGSIZE
			}
			l = budget
		}
		budget -= l
		b, e := ns.readArg(n, base, int(l))
		if e != 0 {
			return nil, e
		}
		m.iov = append(m.iov, b)
	}
	if ctlLen > maxControl {
		return nil, unix.ENOBUFS
	}
	if m.control, e = ns.readArg(n, ctlPtr, int(ctlLen)); e != 0 {
		return nil, e
	}
	if sourceRouted(m.control) {
		return nil, unix.EPERM
	}
	return m, 0
}

// sourceRouted reports whether control (cmsghdr {u64 len; s32 level;
// s32 type; data}, 8-aligned) carries IPv4 options (IP_RETOPTS: source
// routing sends to the route's first hop, not the checked destination) or
// an IPv6 routing header. The filter denies the same as socket options.
func sourceRouted(control []byte) bool {
	le := binary.LittleEndian
	for off := 0; off+16 <= len(control); {
		l := le.Uint64(control[off:])
		level, typ := int32(le.Uint32(control[off+8:])), int32(le.Uint32(control[off+12:]))
		if level == unix.SOL_IP && typ == unix.IP_RETOPTS ||
			level == unix.SOL_IPV6 && (typ == unix.IPV6_RTHDR || typ == unix.IPV6_2292RTHDR) {
			return true
		}
		if l < 16 || l > uint64(len(control)-off) {
			break // the kernel stops (or fails) on a bad length too
		}
		off += int((l + 7) &^ 7)
	}
	return false
}

// send sends m on the pinned socket after checking its destination, if
// it names one. flags are the caller's; MSG_NOSIGNAL is added so that a
// broken pipe signals the caller, not the supervisor.
func (ns *netSup) send(n *notif, s *pinnedSocket, m *sendMsg, flags int) (int, unix.Errno) {
	if len(m.name) > 0 {
		a, port, ok, e := sockaddrDest(s.domain, m.name)
		if e != 0 {
			return 0, e
		}
		denied := ok && !ns.allowed(s, a, port)
		if ok {
			if e := ns.report(n, "sendto", a, port, denied); e != 0 {
				return 0, e
			}
		}
		if denied {
			return 0, unix.ECONNREFUSED
		}
	}
	if s.stream && flags&msgFastOpen != 0 && len(m.name) == 0 {
		// TCP Fast Open needs the destination in this call; the kernel
		// refuses it without one. Refuse it ourselves so the deferred
		// connect of TCP_FASTOPEN_CONNECT cannot pick another one.
		return 0, unix.EINVAL
	}
	call := func() (int, unix.Errno) {
		for {
			r, e := rawSendmsg(s.fd, m.name, m.iov, m.control, flags|unix.MSG_NOSIGNAL)
			if e != unix.EINTR {
				return r, e
			}
		}
	}
	var r int
	var e unix.Errno
	if flags&unix.MSG_DONTWAIT != 0 {
		r, e = call()
	} else {
		r, e = ns.blockingCall(n, s, call)
	}
	// A sendmmsg batch may detach at its first blocking message; the
	// rest then run detached too.
	if e == unix.EPIPE && flags&unix.MSG_NOSIGNAL == 0 {
		if tgid := tgidOf(n.pid); tgid > 0 {
			unix.Tgkill(tgid, n.pid, unix.SIGPIPE)
		}
	}
	return r, e
}

// sendto: sendto(fd, buf, len, flags, dest, addrlen). The filter lets
// addrlen == 0 through without a notification (no destination is used
// then); here addrlen != 0 or the filter was bypassed.
//
// TOCTOU: the address and the payload are copied once and sent with
// sendmsg on the pinned socket; nothing is re-read from the caller.
// The no-address answer CONTINUE depends on registers only.
func (ns *netSup) sendto(n *notif) verdictResp {
	fd, buf, size, flags := int(int32(n.args[0])), n.args[1], n.args[2], int(int32(n.args[3]))
	dest, addrlen := n.args[4], int(int32(n.args[5]))
	if dest == 0 || addrlen == 0 {
		return respContinue // the kernel uses no address (registers only)
	}
	if addrlen < 0 || addrlen > maxSockaddr {
		return respErrno(unix.EINVAL)
	}
	s, e := pin(n, fd)
	if e != 0 {
		return respErrno(e)
	}
	defer s.close()
	if !s.inet {
		return ns.otherDomainSend(n, s, flags)
	}
	m := &sendMsg{}
	if m.name, e = ns.readArg(n, dest, addrlen); e != 0 {
		return respErrno(e)
	}
	l := min(size, maxStreamChunk)
	if !s.stream && size > maxDatagram {
		return respErrno(unix.EMSGSIZE)
	}
	payload, e := ns.readArg(n, buf, int(l))
	if e != 0 {
		return respErrno(e)
	}
	m.iov = [][]byte{payload}
	return answer(ns.send(n, s, m, flags))
}

// sendmsg: sendmsg(fd, msg, flags).
//
// TOCTOU: the msghdr, the address, every iovec and the control data are
// copied once (readMsghdr) and sent from the copies on the pinned socket.
// Sockets that are not INET are answered on their domain alone, before
// any memory is read.
func (ns *netSup) sendmsg(n *notif) verdictResp {
	s, e := pin(n, int(int32(n.args[0])))
	if e != 0 {
		return respErrno(e)
	}
	defer s.close()
	if !s.inet {
		return ns.otherDomainSend(n, s, int(int32(n.args[2])))
	}
	m, e := ns.readMsghdr(n, s, n.args[1])
	if e != 0 {
		return respErrno(e)
	}
	return answer(ns.send(n, s, m, int(int32(n.args[2]))))
}

// sendmmsg: sendmmsg(fd, msgvec, vlen, flags). Messages are sent in
// order, each checked like sendmsg; the first failure (a blocked
// destination: ECONNREFUSED) stops the batch. The answer is the number
// sent, or the first error when none was; each sent message's msg_len is
// written back.
//
// TOCTOU: as sendmsg, per message. msg_len is written after the send,
// as the kernel does.
func (ns *netSup) sendmmsg(n *notif) verdictResp {
	s, e := pin(n, int(int32(n.args[0])))
	if e != 0 {
		return respErrno(e)
	}
	defer s.close()
	if !s.inet {
		return ns.otherDomainSend(n, s, int(int32(n.args[3])))
	}
	vec, vlen, flags := n.args[1], min(uint64(uint32(n.args[2])), uioMaxIOV), int(int32(n.args[3]))
	sent := 0
	for i := range vlen {
		m, e := ns.readMsghdr(n, s, vec+i*mmsghdrSize)
		var r int
		if e == 0 {
			r, e = ns.send(n, s, m, flags)
		}
		if e != 0 {
			if sent == 0 {
				return respErrno(e)
			}
			break
		}
		var l [4]byte
		binary.LittleEndian.PutUint32(l[:], uint32(r))
		writeChildMem(n.pid, vec+i*mmsghdrSize+msghdrSize, l[:])
		sent++
	}
	return respVal(int64(sent))
}

// unprivilegedPortStart is net.ipv4.ip_unprivileged_port_start: the
// sandbox holds no capability, so it may never bind below it, and the
// supervisor binding on its behalf must not either.
var unprivilegedPortStart = sync.OnceValue(func() uint16 {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_unprivileged_port_start")
	if err != nil {
		return 1024
	}
	v, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || v < 0 || v > 65536 {
		return 1024
	}
	return uint16(min(v, 65535))
})

// bind: bind(fd, addr, addrlen) of an INET socket, on behalf: the port
// must be allowed by the bind policy (Network.Bind / DenyBind; TCP and
// UDP alike) and unprivileged. A socket with SO_REUSEPORT may only join a
// port that is free or that the sandbox bound itself: otherwise it would
// join a host service's reuseport group (same uid) and take part of its
// traffic.
//
// TOCTOU: the address is copied once and bound on the pinned socket.
// Between the free-port probe and the bind a host service could bind the
// port; the window is one system call wide (see docs/notes-net.md).
func (ns *netSup) bind(n *notif) verdictResp {
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
		// AF_UNIX names are files (Landlock's make_sock right) or
		// abstract; netlink binds are the netlink layer's.
		return respContinue
	}
	sa, e := ns.readArg(n, addr, addrlen)
	if e != 0 {
		return respErrno(e)
	}
	a, port, ok, e := sockaddrDest(s.domain, sa)
	switch {
	case e != 0:
		return respErrno(e)
	case !ok:
		return respErrno(unix.EAFNOSUPPORT)
	}
	denied := s.netProto == 0 || !ns.m.allowsBind(port) || port != 0 && port < unprivilegedPortStart()
	if e := ns.report(n, "bind", a, port, denied); e != 0 {
		return respErrno(e)
	}
	if denied {
		return respErrno(unix.EACCES)
	}
	key := bindKey{proto: s.netProto, port: port}
	if port != 0 && !ns.ownPort(key) {
		if rp, _ := unix.GetsockoptInt(s.fd, unix.SOL_SOCKET, unix.SO_REUSEPORT); rp != 0 && portTaken(s, sa) {
			return respErrno(unix.EADDRINUSE)
		}
	}
	if e := rawBind(s.fd, sa); e != 0 {
		return respErrno(e)
	}
	if port != 0 {
		ns.mu.Lock()
		if ns.bound == nil {
			ns.bound = map[bindKey]bool{}
		}
		ns.bound[key] = true
		ns.mu.Unlock()
	}
	return respVal(0)
}

type bindKey struct {
	proto netProto
	port  uint16
}

func (ns *netSup) ownPort(k bindKey) bool {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	return ns.bound[k]
}

// portTaken probes whether sa is bound by anyone: a fresh socket of the
// same kind without SO_REUSEPORT cannot bind it then.
func portTaken(s *pinnedSocket, sa []byte) bool {
	fd, err := unix.Socket(s.domain, s.typ|unix.SOCK_CLOEXEC, s.proto)
	if err != nil {
		return true // fail closed
	}
	defer unix.Close(fd)
	if s.domain == unix.AF_INET6 {
		if v6only, _ := unix.GetsockoptInt(s.fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY); v6only != 0 {
			unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1)
		}
	}
	return rawBind(fd, sa) == unix.EADDRINUSE
}
