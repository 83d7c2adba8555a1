//go:build linux

package sandlock

import (
	"fmt"
	"runtime"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/sandlock-go/sandlock-go/clone3"
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

// dropCapabilitiesAllThreads empties every capability set of every thread
// (ambient, then effective/permitted/inheritable with capset), after
// locking SECBIT_NOROOT and friends when lockRoot (needs CAP_SETPCAP), so
// that the program exec'd next gets none, even as root.
func dropCapabilitiesAllThreads(lockRoot bool) error {
	if lockRoot {
		if _, _, e := syscall.AllThreadsSyscall(unix.SYS_PRCTL, unix.PR_SET_SECUREBITS, clone3.LockedSecurebits, 0); e != 0 {
			return fmt.Errorf("prctl(PR_SET_SECUREBITS): %w", e)
		}
	}
	if _, _, e := syscall.AllThreadsSyscall(unix.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0); e != 0 {
		return fmt.Errorf("prctl(PR_CAP_AMBIENT_CLEAR_ALL): %w", e)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	_, _, e := syscall.AllThreadsSyscall(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0)
	runtime.KeepAlive(&hdr)
	runtime.KeepAlive(&data)
	if e != 0 {
		return fmt.Errorf("capset: %w", e)
	}
	return nil
}
