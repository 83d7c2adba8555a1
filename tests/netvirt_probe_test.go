package tests

import (
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Probe operations for the virtual netlink tests.
func init() {
	ops := map[string]func(args []string) error{
		// goifaces reports net.Interfaces() as "ifaces=NAME/INDEX,...".
		"goifaces": func([]string) error {
			ifs, err := net.Interfaces()
			if err != nil {
				return err
			}
			var names []string
			for _, i := range ifs {
				names = append(names, fmt.Sprintf("%s/%d", i.Name, i.Index))
			}
			return fmt.Errorf("ifaces=%s", strings.Join(names, ","))
		},
		// goaddrs reports net.InterfaceAddrs() as "addrs=A,...".
		"goaddrs": func([]string) error {
			as, err := net.InterfaceAddrs()
			if err != nil {
				return err
			}
			var s []string
			for _, a := range as {
				s = append(s, a.String())
			}
			return fmt.Errorf("addrs=%s", strings.Join(s, ","))
		},
		// nlraw runs a NETLINK_ROUTE conversation by hand and checks
		// every step the way careful programs do; nil means all held.
		"nlraw": func([]string) error { return nlRaw() },
		// nlnonblock: a SOCK_NONBLOCK netlink socket reads EAGAIN when
		// nothing was asked.
		"nlnonblock": func([]string) error {
			fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
			if err != nil {
				return err
			}
			defer unix.Close(fd)
			_, _, err = unix.Recvfrom(fd, make([]byte, 64), 0)
			return err
		},
		// nlmany:N opens N netlink sockets, asks each for the links and
		// leaves them all open (the sandbox's end closes them).
		"nlmany": func(a []string) error {
			n, _ := strconv.Atoi(a[0])
			for i := range n {
				fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW, unix.NETLINK_ROUTE)
				if err != nil {
					return fmt.Errorf("socket %d: %w", i, err)
				}
				if err := unix.Sendto(fd, nlRequest(unix.RTM_GETLINK, unix.NLM_F_DUMP, 1, []byte{0}), 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
					return fmt.Errorf("sendto %d: %w", i, err)
				}
			}
			return nil
		},
		// listdir:DIR reports the entries of DIR as "entries=A,B".
		"listdir": func(a []string) error {
			es, err := os.ReadDir(a[0])
			if err != nil {
				return err
			}
			var names []string
			for _, e := range es {
				names = append(names, e.Name())
			}
			return fmt.Errorf("entries=%s", strings.Join(names, ","))
		},
	}
	for name, fn := range ops {
		if _, dup := extraProbeOps[name]; dup {
			panic("probe op registered twice: " + name)
		}
		extraProbeOps[name] = fn
	}
}

// nlRequest builds one netlink request: a header and a body.
func nlRequest(typ, flags uint16, seq uint32, body []byte) []byte {
	b := binary.LittleEndian.AppendUint32(nil, uint32(unix.NLMSG_HDRLEN+len(body)))
	b = binary.LittleEndian.AppendUint16(b, typ)
	b = binary.LittleEndian.AppendUint16(b, flags|unix.NLM_F_REQUEST)
	b = binary.LittleEndian.AppendUint32(b, seq)
	b = binary.LittleEndian.AppendUint32(b, 0)
	b = append(b, body...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	binary.LittleEndian.PutUint32(b, uint32(len(b)))
	return b
}

// nlTalk sends req on fd and collects the replies of sequence seq until
// NLMSG_DONE, an NLMSG_ERROR, or (for a query) the first answer.
func nlTalk(fd int, port, seq uint32, req []byte, dump bool) ([]syscall.NetlinkMessage, error) {
	if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, fmt.Errorf("sendto: %w", err)
	}
	var got []syscall.NetlinkMessage
	buf := make([]byte, 8192)
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return nil, fmt.Errorf("recvfrom: %w", err)
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return nil, fmt.Errorf("parse: %w", err)
		}
		for _, m := range msgs {
			if m.Header.Pid != port || m.Header.Seq != seq {
				return nil, fmt.Errorf("reply pid %d seq %d, want %d %d", m.Header.Pid, m.Header.Seq, port, seq)
			}
			got = append(got, m)
			if m.Header.Type == unix.NLMSG_DONE || m.Header.Type == unix.NLMSG_ERROR || !dump {
				return got, nil
			}
		}
	}
}

// nlErrno returns the error an NLMSG_ERROR carries.
func nlErrno(m syscall.NetlinkMessage) syscall.Errno {
	return syscall.Errno(-int32(binary.LittleEndian.Uint32(m.Data)))
}

func nlRaw() error {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	defer unix.Close(fd)
	if fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil || fl&unix.FD_CLOEXEC == 0 {
		return fmt.Errorf("FD_CLOEXEC not set (%d, %v)", fl, err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("bind: %w", err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return fmt.Errorf("getsockname: %w", err)
	}
	nl, ok := sa.(*unix.SockaddrNetlink)
	if !ok || nl.Pid != uint32(os.Getpid()) {
		return fmt.Errorf("getsockname: %#v, want netlink with pid %d", sa, os.Getpid())
	}
	port := nl.Pid

	// The IPv4 addresses: 127.0.0.1/8 on lo, then DONE.
	body := []byte{unix.AF_INET, 0, 0, 0, 0, 0, 0, 0}
	msgs, err := nlTalk(fd, port, 7, nlRequest(unix.RTM_GETADDR, unix.NLM_F_DUMP, 7, body), true)
	if err != nil {
		return fmt.Errorf("getaddr: %w", err)
	}
	if len(msgs) != 2 || msgs[0].Header.Type != unix.RTM_NEWADDR || msgs[1].Header.Type != unix.NLMSG_DONE {
		return fmt.Errorf("getaddr v4: %d messages", len(msgs))
	}
	attrs, err := syscall.ParseNetlinkRouteAttr(&msgs[0])
	if err != nil {
		return fmt.Errorf("getaddr attrs: %w", err)
	}
	d := msgs[0].Data
	if d[0] != unix.AF_INET || d[1] != 8 || binary.LittleEndian.Uint32(d[4:]) != 1 ||
		!slices.ContainsFunc(attrs, func(a syscall.NetlinkRouteAttr) bool {
			return a.Attr.Type == unix.IFA_LOCAL && net.IP(a.Value).Equal(net.IPv4(127, 0, 0, 1))
		}) {
		return fmt.Errorf("getaddr v4: %x", d)
	}

	// Changes are refused as the kernel refuses them without
	// CAP_NET_ADMIN.
	link := make([]byte, 16)
	msgs, err = nlTalk(fd, port, 8, nlRequest(unix.RTM_NEWLINK, unix.NLM_F_ACK|unix.NLM_F_CREATE, 8, link), false)
	if err != nil {
		return fmt.Errorf("newlink: %w", err)
	}
	if msgs[0].Header.Type != unix.NLMSG_ERROR || nlErrno(msgs[0]) != unix.EPERM {
		return fmt.Errorf("newlink: type %d errno %v", msgs[0].Header.Type, nlErrno(msgs[0]))
	}

	// A query by name: lo exists, eth0 does not.
	byName := func(name string, seq uint32) (syscall.NetlinkMessage, error) {
		body := make([]byte, 16)
		attr := binary.LittleEndian.AppendUint16(nil, uint16(4+len(name)+1))
		attr = binary.LittleEndian.AppendUint16(attr, unix.IFLA_IFNAME)
		attr = append(append(attr, name...), 0)
		msgs, err := nlTalk(fd, port, seq, nlRequest(unix.RTM_GETLINK, 0, seq, append(body, attr...)), false)
		if err != nil {
			return syscall.NetlinkMessage{}, err
		}
		return msgs[0], nil
	}
	m, err := byName("eth0", 9)
	if err != nil || m.Header.Type != unix.NLMSG_ERROR || nlErrno(m) != unix.ENODEV {
		return fmt.Errorf("getlink eth0: %v %+v", err, m.Header)
	}
	m, err = byName("lo", 10)
	if err != nil || m.Header.Type != unix.RTM_NEWLINK || binary.LittleEndian.Uint32(m.Data[4:]) != 1 {
		return fmt.Errorf("getlink lo: %v %+v", err, m.Header)
	}

	// The kernel's own path: syscall.NetlinkRIB (what net.Interfaces
	// uses) on a fresh socket.
	rib, err := syscall.NetlinkRIB(syscall.RTM_GETLINK, syscall.AF_UNSPEC)
	if err != nil {
		return fmt.Errorf("NetlinkRIB: %w", err)
	}
	msgs, err = syscall.ParseNetlinkMessage(rib)
	if err != nil || len(msgs) != 2 {
		return fmt.Errorf("NetlinkRIB: %d messages, %v", len(msgs), err)
	}
	return nil
}
