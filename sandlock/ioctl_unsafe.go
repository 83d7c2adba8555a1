//go:build linux

package sandlock

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// ioctlBuf calls ioctl(fd, req, &buf[0]). buf must be non-empty and sized
// for req.
func ioctlBuf(fd int, req uint, buf []byte) error {
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(req), uintptr(unsafe.Pointer(&buf[0])))
	if e != 0 {
		return e
	}
	return nil
}

// seccompOp calls seccomp(op, flags, &buf[0]) (buf may be nil).
func seccompOp(op, flags uint, buf []byte) error {
	var p unsafe.Pointer
	if len(buf) > 0 {
		p = unsafe.Pointer(&buf[0])
	}
	_, _, e := unix.Syscall(unix.SYS_SECCOMP, uintptr(op), uintptr(flags), uintptr(p))
	if e != 0 {
		return e
	}
	return nil
}
