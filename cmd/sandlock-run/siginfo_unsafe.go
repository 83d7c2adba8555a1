package main

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// sigchldStatus returns si_status of a SIGCHLD siginfo filled by waitid:
// the stop signal for CLD_STOPPED. On 64-bit Linux it is the int32 at
// offset 24 (after si_signo, si_errno, si_code, padding, si_pid and si_uid;
// include/uapi/asm-generic/siginfo.h).
func sigchldStatus(info *unix.Siginfo) syscall.Signal {
	return syscall.Signal(*(*int32)(unsafe.Add(unsafe.Pointer(info), 24)))
}
