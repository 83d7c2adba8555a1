package tests

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Probe operations for the network tests. Addresses are written with '_'
// for ':' (the probe splits its arguments at ':'): "__1" is ::1,
// "__ffff_127.0.0.1" is ::ffff:127.0.0.1. FAM is 4 or 6, the socket's
// family; an IPv4 address on an IPv6 socket is sent as IPv4-mapped.
func init() {
	ops := map[string]func(a []string) error{
		// tcp:FAM:ADDR:PORT connects (blocking), sends "x", closes.
		"tcp": func(a []string) error { return tcpConnect(a[0], a[1], a[2], false) },
		// tcpnb:FAM:ADDR:PORT connects non-blocking: EINPROGRESS, then
		// waits for the result (SO_ERROR).
		"tcpnb": func(a []string) error { return tcpConnect(a[0], a[1], a[2], true) },
		// tfo:FAM:ADDR:PORT sends "x" with MSG_FASTOPEN (a connect).
		"tfo": func(a []string) error {
			fd, sa, err := sockFor(a[0], unix.SOCK_STREAM, a[1], a[2])
			if err != nil {
				return err
			}
			defer unix.Close(fd)
			return unix.Sendto(fd, []byte("x"), unix.MSG_FASTOPEN, sa)
		},
		// udp:FAM:ADDR:PORT sendto.
		"udp": func(a []string) error {
			fd, sa, err := sockFor(a[0], unix.SOCK_DGRAM, a[1], a[2])
			if err != nil {
				return err
			}
			defer unix.Close(fd)
			return unix.Sendto(fd, []byte("sendto"), 0, sa)
		},
		// udpmsg:FAM:ADDR:PORT sendmsg with msg_name.
		"udpmsg": func(a []string) error {
			fd, sa, err := sockFor(a[0], unix.SOCK_DGRAM, a[1], a[2])
			if err != nil {
				return err
			}
			defer unix.Close(fd)
			_, err = unix.SendmsgN(fd, []byte("sendmsg"), nil, sa, 0)
			return err
		},
		// udpconn:FAM:ADDR:PORT:ADDR2:PORT2 connects to the first
		// destination, sends "conn" (no address), then sends "override"
		// to the second with an explicit address.
		"udpconn": func(a []string) error {
			fd, sa, err := sockFor(a[0], unix.SOCK_DGRAM, a[1], a[2])
			if err != nil {
				return err
			}
			defer unix.Close(fd)
			if err := unix.Connect(fd, sa); err != nil {
				return fmt.Errorf("connect: %w", err)
			}
			if err := unix.Send(fd, []byte("conn"), 0); err != nil {
				return fmt.Errorf("send: %w", err)
			}
			_, sa2, err := sockFor(a[0], -1, a[3], a[4])
			if err != nil {
				return err
			}
			return unix.Sendto(fd, []byte("override"), 0, sa2)
		},
		// udpdisc:FAM:ADDR:PORT connects, dissolves the association with
		// connect(AF_UNSPEC), then sends without an address (which must
		// then fail with EDESTADDRREQ).
		"udpdisc": func(a []string) error {
			fd, sa, err := sockFor(a[0], unix.SOCK_DGRAM, a[1], a[2])
			if err != nil {
				return err
			}
			defer unix.Close(fd)
			if err := unix.Connect(fd, sa); err != nil {
				return fmt.Errorf("connect: %w", err)
			}
			unspec := make([]byte, 16) // sa_family 0
			if _, _, e := unix.Syscall(unix.SYS_CONNECT, uintptr(fd), uintptr(unsafe.Pointer(&unspec[0])), uintptr(len(unspec))); e != 0 {
				return fmt.Errorf("disconnect: %w", e)
			}
			return unix.Send(fd, []byte("after"), 0)
		},
		// udpmmsg:FAM:ADDR:P1,P2,... sendmmsg, one message per port
		// ("m0", "m1", ...); reports "sent=N lens=L0,L1,..." or the errno.
		"udpmmsg": func(a []string) error { return sendmmsg(a[0], a[1], strings.Split(a[2], ",")) },
		// race:ADDR:GOOD:BAD:N makes N blocking connects from one
		// thread while another flips the shared sockaddr's port between
		// GOOD and BAD; reports "ok=K refused=R".
		"race": func(a []string) error {
			n, _ := strconv.Atoi(a[3])
			return connectRace(a[0], a[1], a[2], n)
		},
		// ubind:FAM:ADDR:PORT binds a UDP socket.
		"ubind": func(a []string) error {
			fd, sa, err := sockFor(a[0], unix.SOCK_DGRAM, a[1], a[2])
			if err != nil {
				return err
			}
			defer unix.Close(fd)
			return unix.Bind(fd, sa)
		},
		// tbind:FAM:ADDR:PORT[:reuseport] binds a TCP socket and listens.
		"tbind": func(a []string) error {
			fd, sa, err := sockFor(a[0], unix.SOCK_STREAM, a[1], a[2])
			if err != nil {
				return err
			}
			defer unix.Close(fd)
			if len(a) > 3 && a[3] == "reuseport" {
				unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
			}
			if err := unix.Bind(fd, sa); err != nil {
				return err
			}
			return unix.Listen(fd, 1)
		},
		// sock:FAM:TYPE:PROTO creates a socket (TYPE 1 stream, 2 dgram).
		"sock": func(a []string) error {
			t, _ := strconv.Atoi(a[1])
			p, _ := strconv.Atoi(a[2])
			fd, err := unix.Socket(family(a[0]), t, p)
			if err == nil {
				unix.Close(fd)
			}
			return err
		},
		// srcroute:v4|v6|tos sets IPv4 loose source routing through
		// 127.0.0.9, an IPv6 routing header, or (the twin) IP_TOS.
		"srcroute": func(a []string) error {
			fam, typ := unix.AF_INET, unix.SOCK_STREAM
			if a[0] == "v6" {
				fam, typ = unix.AF_INET6, unix.SOCK_DGRAM
			}
			fd, err := unix.Socket(fam, typ|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				return err
			}
			defer unix.Close(fd)
			switch a[0] {
			case "v4":
				lsrr := []byte{0x83, 7, 4, 127, 0, 0, 9, 1} // LSRR via 127.0.0.9, then NOP
				return unix.SetsockoptString(fd, unix.SOL_IP, unix.IP_OPTIONS, string(lsrr))
			case "v6":
				rthdr := make([]byte, 24) // type 2 header with one address
				rthdr[1], rthdr[2], rthdr[3] = 2, 2, 1
				return unix.SetsockoptString(fd, unix.SOL_IPV6, unix.IPV6_RTHDR, string(rthdr))
			}
			return unix.SetsockoptInt(fd, unix.SOL_IP, unix.IP_TOS, 0x10)
		},
		// stall:SLOWPORT:GOODPORT: one thread connects (blocking, 3 s send
		// timeout) to 127.0.0.1:SLOWPORT, whose accept queue is full so
		// its SYNs are dropped; once that thread is inside connect,
		// another connects to GOODPORT. Reports the order the two
		// finished in: "good,slow" when the slow connect did not hold
		// up the supervisor.
		"stall": func(a []string) error { return stallOrder(a[0], a[1]) },
		// ping:FAM:ADDR sends one ICMP echo request from a ping socket.
		"ping": func(a []string) error {
			fam, proto, typ := unix.AF_INET, unix.IPPROTO_ICMP, byte(8)
			if a[0] == "6" {
				fam, proto, typ = unix.AF_INET6, unix.IPPROTO_ICMPV6, 128
			}
			fd, err := unix.Socket(fam, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, proto)
			if err != nil {
				return err
			}
			defer unix.Close(fd)
			_, sa, err := sockFor(a[0], -1, a[1], "0")
			if err != nil {
				return err
			}
			echo := []byte{typ, 0, 0, 0, 0, 1, 0, 1}
			return unix.Sendto(fd, echo, 0, sa)
		},
		// unixconn:PATH connects a stream AF_UNIX socket to PATH.
		"unixconn": func(a []string) error {
			fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				return err
			}
			defer unix.Close(fd)
			return unix.Connect(fd, &unix.SockaddrUnix{Name: a[0]})
		},
	}
	for name, fn := range ops {
		if _, dup := extraProbeOps[name]; dup {
			panic("probe op registered twice: " + name)
		}
		extraProbeOps[name] = fn
	}
}

func family(f string) int {
	if f == "6" {
		return unix.AF_INET6
	}
	return unix.AF_INET
}

// sockFor makes a socket of family fam and type typ (none when typ < 0)
// and the sockaddr of addr:port for it.
func sockFor(fam string, typ int, addr, port string) (int, unix.Sockaddr, error) {
	a, err := netip.ParseAddr(strings.ReplaceAll(addr, "_", ":"))
	if err != nil {
		return -1, nil, err
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return -1, nil, err
	}
	var sa unix.Sockaddr
	if fam == "6" {
		sa = &unix.SockaddrInet6{Port: p, Addr: netip.AddrFrom16(a.As16()).As16()}
	} else {
		sa = &unix.SockaddrInet4{Port: p, Addr: a.As4()}
	}
	if typ < 0 {
		return -1, sa, nil
	}
	fd, err := unix.Socket(family(fam), typ|unix.SOCK_CLOEXEC, 0)
	return fd, sa, err
}

func tcpConnect(fam, addr, port string, nonblocking bool) error {
	typ := unix.SOCK_STREAM
	if nonblocking {
		typ |= unix.SOCK_NONBLOCK
	}
	fd, sa, err := sockFor(fam, typ, addr, port)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	err = retry(func() error { return unix.Connect(fd, sa) })
	if nonblocking {
		if err != unix.EINPROGRESS {
			return fmt.Errorf("non-blocking connect: %v, want EINPROGRESS", err)
		}
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
		if _, err := unix.Poll(pfd, 5000); err != nil {
			return err
		}
		soerr, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
		if err != nil {
			return err
		}
		if soerr != 0 {
			return unix.Errno(soerr)
		}
	} else if err != nil {
		return err
	}
	_, err = unix.Write(fd, []byte("x"))
	return err
}

func sendmmsg(fam, addr string, ports []string) error {
	fd, _, err := sockFor(fam, unix.SOCK_DGRAM, addr, "1")
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	type mmsghdr struct {
		hdr unix.Msghdr
		len uint32
		_   [4]byte
	}
	msgs := make([]mmsghdr, len(ports))
	names := make([][]byte, len(ports))
	bufs := make([][]byte, len(ports))
	iovs := make([]unix.Iovec, len(ports))
	for i, p := range ports {
		_, sa, err := sockFor(fam, -1, addr, p)
		if err != nil {
			return err
		}
		names[i] = rawSockaddr(sa)
		bufs[i] = []byte(fmt.Sprintf("m%d", i))
		iovs[i].Base = &bufs[i][0]
		iovs[i].SetLen(len(bufs[i]))
		msgs[i].hdr.Name = &names[i][0]
		msgs[i].hdr.Namelen = uint32(len(names[i]))
		msgs[i].hdr.Iov = &iovs[i]
		msgs[i].hdr.SetIovlen(1)
	}
	n, _, e := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(fd), uintptr(unsafe.Pointer(&msgs[0])), uintptr(len(msgs)), 0, 0, 0)
	runtime.KeepAlive(msgs)
	runtime.KeepAlive(names)
	runtime.KeepAlive(bufs)
	runtime.KeepAlive(iovs)
	if e != 0 {
		return e
	}
	var lens []string
	for _, m := range msgs {
		lens = append(lens, strconv.Itoa(int(m.len)))
	}
	return fmt.Errorf("sent=%d lens=%s", n, strings.Join(lens, ","))
}

// rawSockaddr encodes an INET or INET6 sockaddr as the kernel reads it.
func rawSockaddr(sa unix.Sockaddr) []byte {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		b := make([]byte, unix.SizeofSockaddrInet4)
		binary.NativeEndian.PutUint16(b, unix.AF_INET)
		binary.BigEndian.PutUint16(b[2:], uint16(sa.Port))
		copy(b[4:], sa.Addr[:])
		return b
	case *unix.SockaddrInet6:
		b := make([]byte, unix.SizeofSockaddrInet6)
		binary.NativeEndian.PutUint16(b, unix.AF_INET6)
		binary.BigEndian.PutUint16(b[2:], uint16(sa.Port))
		copy(b[8:], sa.Addr[:])
		return b
	}
	return nil
}

// connectRace: one thread connects n times with a shared sockaddr while
// another keeps flipping its port between good and bad.
func connectRace(addr, good, bad string, n int) error {
	_, sa, err := sockFor("4", -1, addr, good)
	if err != nil {
		return err
	}
	raw := rawSockaddr(sa)
	g, _ := strconv.Atoi(good)
	b, _ := strconv.Atoi(bad)
	portWord := (*uint32)(unsafe.Pointer(&raw[0])) // family and port, one aligned word
	word := func(port int) uint32 {
		var w [4]byte
		binary.NativeEndian.PutUint16(w[:], unix.AF_INET)
		binary.BigEndian.PutUint16(w[2:], uint16(port))
		return binary.NativeEndian.Uint32(w[:])
	}
	wg, wb := word(g), word(b)
	var stop atomic.Bool
	var wg2 sync.WaitGroup
	wg2.Add(1)
	go func() {
		defer wg2.Done()
		runtime.LockOSThread()
		for !stop.Load() {
			atomic.StoreUint32(portWord, wb)
			atomic.StoreUint32(portWord, wg)
		}
	}()
	ok, refused, other := 0, 0, map[string]int{}
	for range n {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			stop.Store(true)
			wg2.Wait()
			return err
		}
		// Reset on close: no TIME_WAIT pile-up over thousands of connects.
		unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
		_, _, e := unix.Syscall(unix.SYS_CONNECT, uintptr(fd), uintptr(unsafe.Pointer(&raw[0])), uintptr(len(raw)))
		switch e {
		case 0:
			// Wait for the listener's greeting: the connection was
			// accepted before the reset of the close.
			var b [1]byte
			if n, err := unix.Read(fd, b[:]); n != 1 {
				other["read "+errName(err)]++
			}
			ok++
		case unix.ECONNREFUSED:
			refused++
		default:
			other[unix.ErrnoName(e)]++
		}
		unix.Close(fd)
	}
	stop.Store(true)
	wg2.Wait()
	runtime.KeepAlive(raw)
	if len(other) > 0 {
		return fmt.Errorf("ok=%d refused=%d other=%v", ok, refused, other)
	}
	return fmt.Errorf("ok=%d refused=%d", ok, refused)
}

func stallOrder(slowPort, goodPort string) error {
	var mu sync.Mutex
	var order []string
	done := func(name string) {
		mu.Lock()
		order = append(order, name)
		mu.Unlock()
	}
	tids := make(chan int, 1)
	slowDone := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		defer close(slowDone)
		fd, sa, err := sockFor("4", unix.SOCK_STREAM, "127.0.0.1", slowPort)
		if err != nil {
			tids <- -1
			return
		}
		defer unix.Close(fd)
		unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &unix.Timeval{Sec: 3})
		tids <- unix.Gettid()
		unix.Connect(fd, sa)
		done("slow")
	}()
	tid := <-tids
	if tid < 0 {
		return errors.New("slow socket")
	}
	// Wait until the slow thread is inside connect (syscall 42 on amd64,
	// 203 on arm64), read from /proc, so the order below means something.
	want := "42 "
	if runtime.GOARCH == "arm64" {
		want = "203 "
	}
	for {
		b, err := os.ReadFile(fmt.Sprintf("/proc/self/task/%d/syscall", tid))
		if err != nil {
			return err
		}
		if strings.HasPrefix(string(b), want) {
			break
		}
		runtime.Gosched()
	}
	if err := tcpConnect("4", "127.0.0.1", goodPort, false); err != nil {
		return fmt.Errorf("good connect: %w", err)
	}
	done("good")
	<-slowDone
	return errors.New(strings.Join(order, ","))
}
