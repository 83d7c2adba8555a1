//go:build linux

package sandlock

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// errChildMemory is wrapped by the errors of readChildMem; handlers answer
// it with EFAULT (fail closed, never CONTINUE).
var errChildMemory = errors.New("sandlock: cannot read the sandboxed process's memory")

// readChildMem reads len(buf) bytes at addr in the memory of process pid
// with process_vm_readv, or through /proc/PID/mem where that is not
// available (ENOSYS, EPERM from a seccomp filter of our own). A short read
// is an error: the arguments of a system call are all or nothing.
//
// The discipline around it (docs/design.md, "Supervisor"): what was read
// may change the moment after, so a handler decides on this copy, then
// checks the notification with idValid before it acts, and never answers
// CONTINUE after a decision that depended on it.
func readChildMem(pid int, addr uint64, buf []byte) error {
	if len(buf) == 0 {
		return nil
	}
	local := []unix.Iovec{{Base: &buf[0]}}
	local[0].SetLen(len(buf))
	remote := []unix.RemoteIovec{{Base: uintptr(addr), Len: len(buf)}}
	n, err := unix.ProcessVMReadv(pid, local, remote, 0)
	if err == nil && n == len(buf) {
		return nil
	}
	if err == nil {
		return fmt.Errorf("%w: short read of %d/%d bytes at %#x", errChildMemory, n, len(buf), addr)
	}
	if err != unix.ENOSYS && err != unix.EPERM {
		return fmt.Errorf("%w: process_vm_readv at %#x: %w", errChildMemory, addr, err)
	}
	f, ferr := os.Open(fmt.Sprintf("/proc/%d/mem", pid))
	if ferr != nil {
		return fmt.Errorf("%w: %w", errChildMemory, ferr)
	}
	defer f.Close()
	if n, ferr := f.ReadAt(buf, int64(addr)); ferr != nil || n != len(buf) {
		return fmt.Errorf("%w: /proc/%d/mem at %#x: %d/%d bytes: %v", errChildMemory, pid, addr, n, len(buf), ferr)
	}
	return nil
}

// readChecked is readChildMem followed by the NOTIF_ID_VALID check of
// notification n: nil means buf holds what the caller of n had at addr while
// it was still waiting in that call. Errors are the errno to answer with:
// EFAULT for unreadable memory, ENOENT when the caller is gone.
func readChecked(listenerFd int, n *notif, addr uint64, buf []byte) syscall.Errno {
	if err := readChildMem(n.pid, addr, buf); err != nil {
		return unix.EFAULT
	}
	if !idValid(listenerFd, n.id) {
		return unix.ENOENT
	}
	return 0
}

// writeChildMem writes buf at addr in the memory of process pid
// (process_vm_writev, or /proc/PID/mem where that is refused). Callers
// write only results of a call on behalf into buffers the call named,
// after checking the notification is still pending.
func writeChildMem(pid int, addr uint64, buf []byte) error {
	if len(buf) == 0 {
		return nil
	}
	local := []unix.Iovec{{Base: &buf[0]}}
	local[0].SetLen(len(buf))
	remote := []unix.RemoteIovec{{Base: uintptr(addr), Len: len(buf)}}
	if n, err := unix.ProcessVMWritev(pid, local, remote, 0); err == nil && n == len(buf) {
		return nil
	}
	f, err := os.OpenFile(fmt.Sprintf("/proc/%d/mem", pid), os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if n, err := f.WriteAt(buf, int64(addr)); err != nil || n != len(buf) {
		return unix.EFAULT
	}
	return nil
}
