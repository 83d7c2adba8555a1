//go:build linux

package clone3

import (
	"encoding/binary"
	"sync"
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

// Arenas of poolSize bytes are kept for reuse (at most poolMax of them): a
// fresh mapping costs an mmap, page faults and an munmap per child, about a
// tenth of a spawn. Larger arenas (huge environments or filters) are mapped
// and unmapped each time.
const (
	poolSize = 64 << 10
	poolMax  = 16
)

var arenaPool struct {
	mu   sync.Mutex
	free [][]byte
}

// mapArena maps an arena for img plus stackSize bytes of stack at its end
// and relocates img into it. stepsOff comes from Program.image.
func mapArena(img []byte, stepsOff int, relocs []int) (*arena, error) {
	need := len(img) + stackSize
	var mem []byte
	if need <= poolSize {
		arenaPool.mu.Lock()
		if n := len(arenaPool.free); n > 0 {
			mem = arenaPool.free[n-1]
			arenaPool.free = arenaPool.free[:n-1]
		}
		arenaPool.mu.Unlock()
		need = poolSize
	}
	if mem == nil {
		size := (need + unix.Getpagesize() - 1) &^ (unix.Getpagesize() - 1)
		var err error
		mem, err = unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
		if err != nil {
			return nil, err
		}
	}
	// Everything the child reads lies in img, which overwrites whatever a
	// previous child left; the stack above it needs no clearing.
	copy(mem, img)
	a := &arena{mem: mem, base: uintptr(unsafe.Pointer(&mem[0]))}
	stackOff := len(img)
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

// free returns the arena to the pool or unmaps it. See the invariant on
// arena: the child must be unable to touch it any more.
func (a *arena) free() {
	if a == nil || a.mem == nil {
		return
	}
	mem := a.mem
	a.mem = nil
	if len(mem) == poolSize {
		arenaPool.mu.Lock()
		if len(arenaPool.free) < poolMax {
			arenaPool.free = append(arenaPool.free, mem)
			mem = nil
		}
		arenaPool.mu.Unlock()
	}
	if mem != nil {
		_ = unix.Munmap(mem)
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
