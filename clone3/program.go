package clone3

import (
	"encoding/binary"
	"fmt"
)

// Step flags. They are read by the trampoline; keep them in sync with the
// F_* constants in the assembly files.
const (
	// FlagIgnore makes the trampoline ignore an error result.
	FlagIgnore = 1 << 0
	// FlagStore makes the trampoline store the low 32 bits of a successful
	// result at the arena address in the step's Ret slot.
	FlagStore = 1 << 1
	// FlagExpect makes the trampoline fail with errno Ferr unless the
	// successful result equals Exp.
	FlagExpect = 1 << 2
)

// Layout of one step in the arena: eleven little-endian uint64 words,
// {nr, a0, a1, a2, a3, a4, a5, flags, ret, exp, ferr}.
const stepSize = 88

// Layout of the arena header. The assembly files use the same offsets (H_*).
const (
	hSteps     = 0   // address of step 0
	hNSteps    = 8   // number of steps
	hStatusFD  = 16  // fd the failure record is written to (u32)
	hErrTag    = 24  // failure record: 1<<63 | step index
	hErrVal    = 32  // failure record: errno
	hLegacy    = 40  // non-zero: use clone(2) instead of clone3(2)
	hLFlags    = 48  // clone(2) flags, including the exit signal
	hStackTop  = 56  // initial stack pointer for clone(2)
	hPidfd     = 64  // the kernel writes the pidfd here (s32)
	hFullMask  = 72  // all signals
	hOldMask   = 80  // the spawning thread's mask, saved by the trampoline
	hCloneArgs = 88  // struct clone_args, CLONE_ARGS_SIZE_VER2 bytes
	hMainOnly  = 176 // non-zero: clone only on the main thread, else return errNotMain
	headerSize = 184
)

// errNotMain is the "errno" rawSpawn returns when hMainOnly is set and it
// runs on a thread other than the process's main thread. It is above every
// real errno.
const errNotMain = 0x10000

// Record tags sent by the child on the status channel. A record is two
// little-endian uint64 words {tag, value}.
const (
	recordSize  = 16
	tagReady    = 1
	tagFailMask = 1 << 63
)

// Arg is one argument of a step: either a plain value or the address of an
// offset inside the arena, relocated when the arena is mapped.
type Arg struct {
	Val uint64
	Rel bool // Val is an arena offset; the trampoline sees base+Val
}

// V returns a plain argument.
func V(v uint64) Arg { return Arg{Val: v} }

// Ref returns an argument that is the address of arena offset off.
func Ref(off int) Arg { return Arg{Val: uint64(off), Rel: true} }

// Step is one raw system call of the child program.
type Step struct {
	Nr    uintptr
	Args  [6]Arg
	Flags uint64
	Ret   int // arena offset for FlagStore, or -1
	Exp   uint64
	Ferr  uint64
	// Desc names the step in errors, e.g. "chdir /nonexistent".
	Desc string
}

// Program is the child's step list and its data, laid out relative to an
// arena that does not exist yet. It is pure data: it can be built and
// inspected without touching the kernel.
type Program struct {
	data   []byte // the arena image after the header and before the steps
	relocs []int  // offsets in data holding arena offsets to relocate
	Steps  []Step
	// listenerSlot is where the seccomp step stores the listener when
	// the parent takes it with pidfd_getfd (0: not used).
	listenerSlot int
}

// newProgram returns a Program whose data area starts right after the header.
func newProgram() *Program {
	return &Program{data: make([]byte, headerSize, 4096)}
}

// Alloc reserves n zeroed bytes aligned to align and returns their offset.
func (p *Program) Alloc(n, align int) int {
	for len(p.data)%align != 0 {
		p.data = append(p.data, 0)
	}
	off := len(p.data)
	p.data = append(p.data, make([]byte, n)...)
	return off
}

// CString stores s with a terminating NUL. s must not contain NUL; callers
// validate that before building.
func (p *Program) CString(s string) int {
	off := p.Alloc(len(s)+1, 1)
	copy(p.data[off:], s)
	return off
}

// PutU64 writes v at offset off.
func (p *Program) PutU64(off int, v uint64) {
	binary.LittleEndian.PutUint64(p.data[off:], v)
}

// PutRef writes the arena address of target at offset off.
func (p *Program) PutRef(off, target int) {
	p.PutU64(off, uint64(target))
	p.relocs = append(p.relocs, off)
}

// CStringArray stores a NULL-terminated array of pointers to C strings and
// returns its offset (argv, envp).
func (p *Program) CStringArray(ss []string) int {
	offs := make([]int, len(ss))
	for i, s := range ss {
		offs[i] = p.CString(s)
	}
	arr := p.Alloc(8*(len(ss)+1), 8)
	for i, o := range offs {
		p.PutRef(arr+8*i, o)
	}
	return arr
}

// Add appends a step and returns its index. Ret must be -1 unless the step
// has FlagStore.
func (p *Program) Add(s Step) int {
	p.Steps = append(p.Steps, s)
	return len(p.Steps) - 1
}

// Call appends a step with plain and relative arguments.
func (p *Program) Call(desc string, nr uintptr, args ...Arg) int {
	s := Step{Nr: nr, Desc: desc, Ret: -1}
	if len(args) > 6 {
		panic("clone3: more than six arguments")
	}
	copy(s.Args[:], args)
	return p.Add(s)
}

// image lays out the arena image: header, data, then steps, 16-byte
// aligned at the end (the stack goes above it in the arena). It returns the
// image, the offset of the steps and the relocation list (offsets in the
// image that hold arena offsets). The header fields that depend on the base
// address are filled by the mapper.
func (p *Program) image() (img []byte, stepsOff int, relocs []int, err error) {
	for len(p.data)%8 != 0 {
		p.data = append(p.data, 0)
	}
	stepsOff = len(p.data)
	relocs = append(relocs, p.relocs...)
	img = append(p.data, make([]byte, stepSize*len(p.Steps))...)
	for i, s := range p.Steps {
		w := img[stepsOff+i*stepSize:]
		put := func(slot int, v uint64, rel bool) {
			binary.LittleEndian.PutUint64(w[8*slot:], v)
			if rel {
				relocs = append(relocs, stepsOff+i*stepSize+8*slot)
			}
		}
		put(0, uint64(s.Nr), false)
		for j, a := range s.Args {
			put(1+j, a.Val, a.Rel)
		}
		put(7, s.Flags, false)
		if s.Flags&FlagStore != 0 {
			if s.Ret < 0 || s.Ret+4 > stepsOff {
				return nil, 0, nil, fmt.Errorf("clone3: step %d (%s): store offset %d outside the data area", i, s.Desc, s.Ret)
			}
			put(8, uint64(s.Ret), true)
		}
		put(9, s.Exp, false)
		put(10, s.Ferr, false)
	}
	for len(img)%16 != 0 {
		img = append(img, 0)
	}
	binary.LittleEndian.PutUint64(img[hNSteps:], uint64(len(p.Steps)))
	return img, stepsOff, relocs, nil
}
