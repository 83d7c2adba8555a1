//go:build linux

package sandlock

import (
	"golang.org/x/sys/unix"
)

// listenFeature gates listen(2) in every sandbox. A TCP socket that was
// never bound gets an ephemeral port from listen itself (inet_autobind),
// which Landlock does not see: it governs bind and connect only. Without
// this gate a sandbox with no network rights at all could still accept
// inbound connections from the host or the network on that port. listen
// on a socket without a port is allowed when the policy lets the sandbox
// bind port 0 (an ephemeral port: `network.bind` "0" or "*"), as bind(0)
// would be.
var listenFeature = feature{
	name: "listen gate",
	calls: func(p *Policy) []string {
		if p.seccomp.nested {
			return nil
		}
		return []string{"listen"}
	},
	setup:    setupListen,
	optional: true, // nested: the outer sandbox's gate sees these calls too
}

func setupListen(sv *supervision) (map[string]dispatch, error) {
	m := sv.policy.net
	if m == nil {
		var err error
		if m, err = sv.policy.buildNetModel(nil); err != nil {
			return nil, err
		}
	}
	ephemeral := m.allowsBind(0)
	return map[string]dispatch{"listen": {fn: func(n *notif) verdictResp { return listenOnBehalf(n, ephemeral) }}}, nil
}

// listenOnBehalf answers listen(fd, backlog): on the socket pinned with
// pidfd_getfd, EACCES for an INET socket without a port unless ephemeral
// ports may be bound, then listen on the pinned socket itself.
//
// TOCTOU: the decision reads the registers and the pinned socket's own
// state (getsockname), never the caller's memory; the listen is made on
// that same socket, so a socket swapped onto the fd number meanwhile is
// not the one that listens. listen never blocks: a quick handler.
func listenOnBehalf(n *notif, ephemeral bool) verdictResp {
	s, e := pin(n, int(int32(n.args[0])))
	if e != 0 {
		return respErrno(e)
	}
	defer s.close()
	if s.inet && !ephemeral {
		sa, err := unix.Getsockname(s.fd)
		if err != nil {
			return respErrno(errnoOr(err, unix.EINVAL))
		}
		port := 0
		switch a := sa.(type) {
		case *unix.SockaddrInet4:
			port = a.Port
		case *unix.SockaddrInet6:
			port = a.Port
		}
		if port == 0 {
			return respErrno(unix.EACCES)
		}
	}
	if !idValid(n.lfd, n.id) {
		return respErrno(unix.ENOENT)
	}
	if err := unix.Listen(s.fd, int(int32(n.args[1]))); err != nil {
		return respErrno(errnoOr(err, unix.EINVAL))
	}
	return respVal(0)
}
