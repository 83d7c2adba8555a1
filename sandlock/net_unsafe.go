//go:build linux

package sandlock

import (
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Raw socket calls on the supervisor's copy of a sandboxed socket, with a
// sockaddr copied out of the sandbox's memory (kept byte for byte, so that
// the kernel interprets exactly what was checked).

func bytePtr(b []byte) unsafe.Pointer {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Pointer(&b[0])
}

// rawConnect is connect(fd, sa, len(sa)).
func rawConnect(fd int, sa []byte) unix.Errno {
	_, _, e := unix.Syscall(unix.SYS_CONNECT, uintptr(fd), uintptr(bytePtr(sa)), uintptr(len(sa)))
	runtime.KeepAlive(sa)
	return e
}

// rawBind is bind(fd, sa, len(sa)).
func rawBind(fd int, sa []byte) unix.Errno {
	_, _, e := unix.Syscall(unix.SYS_BIND, uintptr(fd), uintptr(bytePtr(sa)), uintptr(len(sa)))
	runtime.KeepAlive(sa)
	return e
}

// rawSendmsg is sendmsg(fd, msg, flags) with msg built from name, the
// payload iovecs and control: every pointer is the supervisor's own copy.
func rawSendmsg(fd int, name []byte, iov [][]byte, control []byte, flags int) (int, unix.Errno) {
	var msg unix.Msghdr
	if len(name) > 0 {
		msg.Name = (*byte)(bytePtr(name))
		msg.Namelen = uint32(len(name))
	}
	vecs := make([]unix.Iovec, len(iov))
	for i, b := range iov {
		vecs[i].Base = (*byte)(bytePtr(b))
		vecs[i].SetLen(len(b))
	}
	if len(vecs) > 0 {
		msg.Iov = &vecs[0]
		msg.SetIovlen(len(vecs))
	}
	if len(control) > 0 {
		msg.Control = (*byte)(bytePtr(control))
		msg.SetControllen(len(control))
	}
	n, _, e := unix.Syscall(unix.SYS_SENDMSG, uintptr(fd), uintptr(unsafe.Pointer(&msg)), uintptr(flags))
	runtime.KeepAlive(name)
	runtime.KeepAlive(iov)
	runtime.KeepAlive(vecs)
	runtime.KeepAlive(control)
	return int(n), e
}
