//go:build linux

package clone3

import (
	"encoding/binary"
	"unsafe"

	"golang.org/x/sys/unix"
)

// arena is one child's mmap'd memory: header, data, steps and stack.
//
// Invariant: the arena is unmapped only after the child can no longer touch
// it, that is after the status channel reported EOF (the child exec'd, which
// replaced its mm, or died) or after the child was reaped. The child shares
// the parent's address space (CLONE_VM) until execve, so unmapping earlier
// would make the child fault.
type arena struct {
	mem  []byte
	base uintptr
}

// mapArena maps img and relocates it. stepsOff and stackOff come from
// Program.image.
func mapArena(img []byte, stepsOff, stackOff int, relocs []int) (*arena, error) {
	size := (len(img) + unix.Getpagesize() - 1) &^ (unix.Getpagesize() - 1)
	mem, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil, err
	}
	copy(mem, img)
	a := &arena{mem: mem, base: uintptr(unsafe.Pointer(&mem[0]))}
	for _, off := range relocs {
		v := binary.LittleEndian.Uint64(mem[off:])
		binary.LittleEndian.PutUint64(mem[off:], uint64(a.base)+v)
	}
	a.put(hSteps, uint64(a.base)+uint64(stepsOff))
	stackTop := uint64(a.base) + uint64(len(mem))
	stackTop &^= 15
	a.put(hStackTop, stackTop)
	a.put(hFullMask, ^uint64(0))
	// struct clone_args (include/uapi/linux/sched.h), CLONE_ARGS_SIZE_VER2.
	ca := hCloneArgs
	a.put(ca+8, uint64(a.base)+hPidfd)            // pidfd
	a.put(ca+32, uint64(unix.SIGCHLD))            // exit_signal
	a.put(ca+40, uint64(a.base)+uint64(stackOff)) // stack (lowest byte)
	a.put(ca+48, stackTop-uint64(a.base)-uint64(stackOff))
	return a, nil
}

func (a *arena) put(off int, v uint64) { binary.LittleEndian.PutUint64(a.mem[off:], v) }
func (a *arena) get(off int) uint64    { return binary.LittleEndian.Uint64(a.mem[off:]) }

// free unmaps the arena. See the invariant on arena.
func (a *arena) free() {
	if a != nil && a.mem != nil {
		_ = unix.Munmap(a.mem)
		a.mem = nil
	}
}

// handledSignals lists the signals whose disposition in this process is a
// handler (not SIG_DFL, not SIG_IGN). SIGKILL and SIGSTOP cannot have one.
func handledSignals() []int {
	var sigs []int
	var act [32]byte // struct sigaction as the kernel sees it; handler first
	for sig := 1; sig <= 64; sig++ {
		if sig == int(unix.SIGKILL) || sig == int(unix.SIGSTOP) {
			continue
		}
		_, _, e := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), 0, uintptr(unsafe.Pointer(&act[0])), 8, 0, 0)
		if e != 0 {
			continue
		}
		if h := binary.LittleEndian.Uint64(act[:]); h > 1 { // 0 = SIG_DFL, 1 = SIG_IGN
			sigs = append(sigs, sig)
		}
	}
	return sigs
}
