//go:build linux

package sandlock

import (
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// seccompInstallAllThreads installs prog in the calling process with
// seccomp(SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC): every thread
// gets the filter at once, or none does.
//
// Preconditions: every thread has NO_NEW_PRIVS; prog is valid and not
// empty.
func seccompInstallAllThreads(prog []unix.SockFilter) error {
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	r, _, e := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_TSYNC,
		uintptr(unsafe.Pointer(&fprog)))
	runtime.KeepAlive(prog)
	if e != 0 {
		return e
	}
	if r != 0 {
		// With TSYNC a positive result is the thread that could not be
		// synchronized (it has an unrelated filter).
		return fmt.Errorf("thread %d cannot take the filter (SECCOMP_FILTER_FLAG_TSYNC)", r)
	}
	return nil
}
