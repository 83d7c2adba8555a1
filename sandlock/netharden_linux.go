//go:build linux

package sandlock

import "golang.org/x/sys/unix"

// Hardening of the network layer found by review (docs/notes-net-review.md).

// landlockNetSupervised is landlockNet for a sandbox with a supervisor.
// When the supervisor handles connect and bind, it makes every INET
// connect and bind on behalf (its own calls are not under the sandbox's
// Landlock domain), so Landlock handles both TCP rights and grants no
// port: a TCP connect or bind that reaches the kernel from the sandbox
// itself can only come from a call the supervisor let through because the
// socket was not INET when it was pinned (AF_UNIX is CONTINUE), with
// another thread having swapped a TCP socket onto the fd since
// (dup2 between pin and the kernel's own fdget). Landlock then refuses it
// (EACCES) instead of judging it by the port backstop, which allows every
// address on an allowed port, and every destination in deny mode.
//
// Where Landlock has no network rights (ABI < 4, best effort) nothing
// changes: the rights cannot be handled either way.
func (p *Policy) landlockNetSupervised() (netRules, error) {
	r, err := p.landlockNet()
	if err != nil || !p.networkSupervised() || !landlockNetAvailable() {
		return r, err
	}
	return netRules{}, nil
}

// otherDomainSend answers sendto, sendmsg or sendmmsg (flags: the call's
// flags register) on a socket that is not INET or INET6. MSG_FASTOPEN is
// refused with EOPNOTSUPP before anything else: AF_UNIX ignores the flag,
// but a CONTINUE lets the kernel look the fd up again, and a TCP socket
// swapped onto it meanwhile would make a Fast Open connect, which neither
// the supervisor nor Landlock's connect hook sees. The flags are a
// register: the caller cannot change them after the check.
func (ns *netSup) otherDomainSend(n *notif, s *pinnedSocket, flags int) verdictResp {
	if flags&msgFastOpen != 0 {
		return respErrno(unix.EOPNOTSUPP)
	}
	return ns.otherDomain(n, s)
}
