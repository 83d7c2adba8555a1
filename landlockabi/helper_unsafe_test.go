//go:build linux

package landlockabi

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// installErrnoFilter installs, on the calling thread, a seccomp filter that
// fails system call nr with errno and allows everything else. Helper
// children use it to play a kernel without Landlock (ENOSYS) or with
// Landlock disabled at boot (EOPNOTSUPP). It needs no_new_privs or
// CAP_SYS_ADMIN.
func installErrnoFilter(nr uintptr, errno unix.Errno) error {
	filter := []unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 0}, // seccomp_data.nr
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 0, Jf: 1, K: uint32(nr)},
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ERRNO | uint32(errno)},
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ALLOW},
	}
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	return unix.Prctl(unix.PR_SET_SECCOMP, unix.SECCOMP_MODE_FILTER, uintptr(unsafe.Pointer(&prog)), 0, 0)
}
