//go:build linux

package sandlock

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// The virtual NETLINK_ROUTE socket.
//
// socket(AF_NETLINK, SOCK_RAW|SOCK_DGRAM, NETLINK_ROUTE) is notified (the
// filter picks it by its register arguments) and answered with one end of
// a socketpair(AF_UNIX, SOCK_SEQPACKET), installed in the caller with
// SECCOMP_IOCTL_NOTIF_ADDFD and SECCOMP_ADDFD_FLAG_SEND. A goroutine
// answers rtnetlink requests on the other end (nlReplies) until the
// program closes its end or the supervisor ends.
//
// The pair is made to behave as netlink by construction where it can:
//
//   - SEQPACKET keeps message boundaries both ways, and its sendmsg ignores
//     the destination address, so sendto(fd, req, sockaddr_nl) works as is.
//   - Our end is bound to an abstract name of exactly 12 bytes (the size of
//     a sockaddr_nl) whose bytes 4..7 are zero: recvmsg/recvfrom then write
//     a 12-byte source address whose nl_pid is 0, which is what glibc
//     (ifaddrs.c, check_pf.c) and iproute2 check to accept a message "from
//     the kernel". glibc's ifaddrs leaves that buffer uninitialised, so an
//     unbound peer (the kernel writes no address) would make it spin.
//   - MSG_PEEK|MSG_TRUNC report the datagram's full length, as netlink does.
//
// Only two calls cannot be made right by construction, since an AF_UNIX
// socket refuses a sockaddr_nl and names itself AF_UNIX: bind(fd, addr, 12)
// (the filter notifies only binds of that length) and getsockname (notified
// always, about 10 µs per call, in supervised sandboxes only). Both find
// out whether fd is a virtual netlink socket by the socket's inode
// (/proc/TID/fd/FD), and answer CONTINUE when it is not.
type netvirt struct {
	mu     sync.Mutex
	socks  map[nlSockID]*nlSock // by the program's end
	closed bool
	wg     sync.WaitGroup
}

// nlSockID identifies the program's end of a virtual netlink socket.
type nlSockID struct{ dev, ino uint64 }

// nlSock is one virtual netlink socket.
type nlSock struct {
	id   nlSockID
	port atomic.Uint32 // getsockname's nl_pid and the replies' nlmsg_pid
	f    *os.File      // our end, non-blocking (served through the poller)
}

var netvirtFeature = feature{
	name:        "virtual netlink",
	calls:       func(*Policy) []string { return []string{"socket", "bind", "getsockname"} },
	argFiltered: []string{"socket", "bind"},
	ambient:     true,
	setup:       setupNetvirt,
}

func setupNetvirt(sv *supervision) (map[string]dispatch, error) {
	v := &netvirt{socks: map[nlSockID]*nlSock{}}
	sv.atExit = append(sv.atExit, v.close)
	return map[string]dispatch{
		"socket":      {fn: v.socket},
		"bind":        {fn: v.bind},
		"getsockname": {fn: v.getsockname},
	}, nil
}

// close ends every server and waits for them: nothing outlives the
// supervisor. The programs' ends then read end-of-file.
func (v *netvirt) close() {
	v.mu.Lock()
	v.closed = true
	for _, s := range v.socks {
		s.f.Close()
	}
	v.mu.Unlock()
	v.wg.Wait()
}

// socket answers socket(AF_NETLINK, type, NETLINK_ROUTE) with a virtual
// netlink socket; any other socket is not its business.
//
// TOCTOU: the decision reads registers only; the answer is the installed
// fd (ADDFD with SEND answers atomically with the install).
func (v *netvirt) socket(n *notif) verdictResp {
	if int32(n.args[0]) != afNETLINK || int32(n.args[2]) != netlinkRoute {
		return respContinue
	}
	typ := int(int32(n.args[1]))
	switch typ & sockTypeMask {
	case unix.SOCK_RAW, unix.SOCK_DGRAM:
	default:
		return respErrno(unix.ESOCKTNOSUPPORT)
	}
	if typ&^(sockTypeMask|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK) != 0 {
		return respErrno(unix.EINVAL)
	}
	s, theirs, err := v.newSock(n.pid, typ&unix.SOCK_NONBLOCK != 0)
	if err != nil {
		return respErrno(errnoOr(err, unix.ENOMEM))
	}
	var fdFlags uint32
	if typ&unix.SOCK_CLOEXEC != 0 {
		fdFlags = unix.O_CLOEXEC
	}
	// struct seccomp_notif_addfd {id, flags, srcfd, newfd, newfd_flags}
	req := binary.LittleEndian.AppendUint64(nil, n.id)
	req = binary.LittleEndian.AppendUint32(req, unix.SECCOMP_ADDFD_FLAG_SEND)
	req = binary.LittleEndian.AppendUint32(req, uint32(theirs))
	req = binary.LittleEndian.AppendUint32(req, 0)
	req = binary.LittleEndian.AppendUint32(req, fdFlags)
	err = ioctlBuf(n.lfd, unix.SECCOMP_IOCTL_NOTIF_ADDFD, req)
	unix.Close(theirs)
	if err != nil {
		// Not installed (EMFILE, or the caller is gone: ENOENT, whose
		// answer the kernel then drops).
		v.drop(s)
		return respErrno(errnoOr(err, unix.EMFILE))
	}
	return verdictResp{sent: true}
}

// newSock makes a virtual netlink socket for the process of thread tid and
// starts serving it. It returns the program's end, to be installed.
func (v *netvirt) newSock(tid int, nonblock bool) (*nlSock, int, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, -1, os.NewSyscallError("socketpair", err)
	}
	ours, theirs := fds[0], fds[1]
	fail := func(err error) (*nlSock, int, error) {
		unix.Close(ours)
		unix.Close(theirs)
		return nil, -1, err
	}
	if err := bindNetlinkLike(ours); err != nil {
		return fail(err)
	}
	if err := unix.SetNonblock(ours, true); err != nil {
		return fail(os.NewSyscallError("fcntl", err))
	}
	if nonblock {
		if err := unix.SetNonblock(theirs, true); err != nil {
			return fail(os.NewSyscallError("fcntl", err))
		}
	}
	var st unix.Stat_t
	if err := unix.Fstat(theirs, &st); err != nil {
		return fail(os.NewSyscallError("fstat", err))
	}
	s := &nlSock{id: nlSockID{st.Dev, st.Ino}, f: os.NewFile(uintptr(ours), "virtual netlink")}
	port := tgidOf(tid)
	if port == 0 {
		port = tid
	}
	s.port.Store(uint32(port))
	v.mu.Lock()
	if v.closed {
		v.mu.Unlock()
		s.f.Close()
		unix.Close(theirs)
		return nil, -1, errors.New("sandlock: supervisor ending")
	}
	v.socks[s.id] = s
	v.wg.Add(1)
	v.mu.Unlock()
	go v.serve(s)
	return s, theirs, nil
}

// bindNetlinkLike binds fd to a fresh abstract name of 10 bytes, so that
// its address is 12 bytes long with bytes 4..7 (a sockaddr_nl's nl_pid)
// zero: "\0" R "\0\0\0\0" R R R R, R random. The name is inert: nothing
// can connect to one end of a pair, and Landlock scopes the sandbox's
// abstract sockets anyway.
func bindNetlinkLike(fd int) error {
	for range 16 {
		r := rand.Uint64()
		name := []byte{'@', byte(r), 0, 0, 0, 0, byte(r >> 8), byte(r >> 16), byte(r >> 24), byte(r>>32) | 1}
		err := unix.Bind(fd, &unix.SockaddrUnix{Name: string(name)})
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.EADDRINUSE) {
			return os.NewSyscallError("bind", err)
		}
	}
	return os.NewSyscallError("bind", unix.EADDRINUSE)
}

// drop forgets s and closes our end (its server then exits).
func (v *netvirt) drop(s *nlSock) {
	v.mu.Lock()
	if v.socks[s.id] == s {
		delete(v.socks, s.id)
	}
	v.mu.Unlock()
	s.f.Close()
}

// serve answers the requests of one virtual socket until the program
// closed every copy of its end, or the supervisor closed ours.
func (v *netvirt) serve(s *nlSock) {
	defer v.wg.Done()
	defer v.drop(s)
	rc, err := s.f.SyscallConn()
	if err != nil {
		return
	}
	buf := make([]byte, 64<<10)
	for {
		var n int
		var rerr error
		eof := false
		err := rc.Read(func(fd uintptr) bool {
			n, rerr = unix.Read(int(fd), buf)
			if rerr == unix.EAGAIN {
				return false
			}
			if rerr == nil && n == 0 {
				// A zero-length datagram, or the end: SEQPACKET says
				// both with 0. The end also raises POLLRDHUP.
				fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLRDHUP}}
				if c, _ := unix.Poll(fds, 0); c > 0 && fds[0].Revents&(unix.POLLRDHUP|unix.POLLHUP) != 0 {
					eof = true
				}
			}
			return true
		})
		if err != nil || eof || (rerr != nil && rerr != unix.EINTR) {
			return
		}
		for _, d := range nlReplies(buf[:n], s.port.Load()) {
			if _, err := s.f.Write(d); err != nil {
				return
			}
		}
	}
}

// lookup returns the virtual socket that fd of thread tid is, or nil.
//
// TOCTOU: another thread may close or replace fd right after; the answers
// built on lookup stay harmless either way. A virtual socket taken for a
// real one gets CONTINUE, and the kernel's AF_UNIX bind/getsockname fail
// or describe the pair. A real socket taken for a virtual one gets a
// bind "done" that bound nothing, or a getsockname answered with a netlink
// address: no access is granted by either.
func (v *netvirt) lookup(tid int, fd uint64) *nlSock {
	v.mu.Lock()
	none := len(v.socks) == 0
	v.mu.Unlock()
	if none || int32(fd) < 0 {
		return nil // the common case: no virtual socket is open
	}
	var st unix.Stat_t
	if err := unix.Stat("/proc/"+strconv.Itoa(tid)+"/fd/"+strconv.Itoa(int(int32(fd))), &st); err != nil {
		return nil
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.socks[nlSockID{st.Dev, st.Ino}]
}

// bind answers bind(fd, addr, 12) on a virtual socket: a sockaddr_nl is
// accepted (a non-zero nl_pid becomes the socket's port id; multicast
// groups are accepted and never deliver anything, the view is static),
// anything else is EINVAL as in the kernel's netlink_bind.
//
// TOCTOU: the address is read once (readChecked) and the call is answered
// from that copy, never CONTINUEd after the read.
func (v *netvirt) bind(n *notif) verdictResp {
	s := v.lookup(n.pid, n.args[0])
	if s == nil {
		return respContinue
	}
	var sa [sockaddrNLLen]byte
	if e := readChecked(n.lfd, n, n.args[1], sa[:]); e != 0 {
		return respErrno(e)
	}
	if binary.LittleEndian.Uint16(sa[:]) != afNETLINK {
		return respErrno(unix.EINVAL)
	}
	if pid := binary.LittleEndian.Uint32(sa[4:]); pid != 0 {
		s.port.Store(pid)
	}
	return respVal(0)
}

// getsockname answers getsockname on a virtual socket with
// {AF_NETLINK, nl_pid = port id, nl_groups = 0}, truncated to the
// caller's length, and the full length (12) in *addrlen.
//
// TOCTOU: the caller's memory is opened (/proc/TID/mem) before the
// notification is re-validated, so the writes go to the caller's address
// space or fail, never to a process that reused its pid.
func (v *netvirt) getsockname(n *notif) verdictResp {
	s := v.lookup(n.pid, n.args[0])
	if s == nil {
		return respContinue
	}
	mem, err := os.OpenFile("/proc/"+strconv.Itoa(n.pid)+"/mem", os.O_RDWR, 0)
	if err != nil {
		return respErrno(unix.EFAULT)
	}
	defer mem.Close()
	if !idValid(n.lfd, n.id) {
		return respErrno(unix.ENOENT)
	}
	var lenBuf [4]byte
	if k, err := mem.ReadAt(lenBuf[:], int64(n.args[2])); err != nil || k != 4 {
		return respErrno(unix.EFAULT)
	}
	ulen := int32(binary.LittleEndian.Uint32(lenBuf[:]))
	if ulen < 0 {
		return respErrno(unix.EINVAL)
	}
	var sa [sockaddrNLLen]byte
	binary.LittleEndian.PutUint16(sa[:], afNETLINK)
	binary.LittleEndian.PutUint32(sa[4:], s.port.Load())
	if k := min(int(ulen), len(sa)); k > 0 {
		if w, err := mem.WriteAt(sa[:k], int64(n.args[1])); err != nil || w != k {
			return respErrno(unix.EFAULT)
		}
	}
	binary.LittleEndian.PutUint32(lenBuf[:], sockaddrNLLen)
	if w, err := mem.WriteAt(lenBuf[:], int64(n.args[2])); err != nil || w != 4 {
		return respErrno(unix.EFAULT)
	}
	return respVal(0)
}

// errnoOr returns the errno err wraps, or def.
func errnoOr(err error, def unix.Errno) unix.Errno {
	var e unix.Errno
	if errors.As(err, &e) {
		return e
	}
	return def
}
