package bpfasm

import (
	"encoding/binary"
	"fmt"
)

// Action is a seccomp filter return value: an action in the high 16 bits
// (SECCOMP_RET_ACTION_FULL) and data in the low 16 bits (SECCOMP_RET_DATA).
// The constants are from include/uapi/linux/seccomp.h.
type Action uint32

// Seccomp actions, from least to most permissive.
const (
	// ActionKillProcess is SECCOMP_RET_KILL_PROCESS. Requires Linux 4.14.
	ActionKillProcess Action = 0x80000000
	// ActionKillThread is SECCOMP_RET_KILL_THREAD (formerly SECCOMP_RET_KILL).
	ActionKillThread Action = 0x00000000
	// ActionTrap is SECCOMP_RET_TRAP: deliver SIGSYS; the data is si_errno.
	ActionTrap Action = 0x00030000
	// ActionErrno is SECCOMP_RET_ERRNO: fail with the errno in the data.
	ActionErrno Action = 0x00050000
	// ActionUserNotif is SECCOMP_RET_USER_NOTIF. Requires Linux 5.0.
	ActionUserNotif Action = 0x7fc00000
	// ActionTrace is SECCOMP_RET_TRACE: notify a ptrace tracer with the data.
	ActionTrace Action = 0x7ff00000
	// ActionLog is SECCOMP_RET_LOG: allow after logging. Requires Linux 4.14.
	ActionLog Action = 0x7ffc0000
	// ActionAllow is SECCOMP_RET_ALLOW.
	ActionAllow Action = 0x7fff0000
)

// Masks of the parts of a return value.
const (
	// ActionFullMask is SECCOMP_RET_ACTION_FULL.
	ActionFullMask Action = 0xffff0000
	// ActionMask is SECCOMP_RET_ACTION, the pre-4.14 action mask.
	ActionMask Action = 0x7fff0000
	// DataMask is SECCOMP_RET_DATA.
	DataMask Action = 0x0000ffff
)

// Errno returns ActionErrno with errno as its data.
func Errno(errno uint16) Action { return ActionErrno | Action(errno) }

// Kind returns the action without its data.
func (a Action) Kind() Action { return a & ActionFullMask }

// Data returns the data of the action.
func (a Action) Data() uint16 { return uint16(a & DataMask) }

// WithData returns the action with its data replaced by data.
func (a Action) WithData(data uint16) Action { return a.Kind() | Action(data) }

// actionNames maps action kinds to the names used by String and ParseText.
var actionNames = []struct {
	kind     Action
	name     string
	withData bool // always print the data, even when it is 0
}{
	{ActionKillProcess, "KILL_PROCESS", false},
	{ActionKillThread, "KILL_THREAD", false},
	{ActionTrap, "TRAP", true},
	{ActionErrno, "ERRNO", true},
	{ActionUserNotif, "USER_NOTIF", false},
	{ActionTrace, "TRACE", true},
	{ActionLog, "LOG", false},
	{ActionAllow, "ALLOW", false},
}

// String returns the action as in a disassembly listing: "ALLOW",
// "ERRNO(1)", "KILL_PROCESS", or "0x12340000" for an unknown action.
func (a Action) String() string {
	if s, ok := actionString(uint32(a)); ok {
		return s
	}
	return fmt.Sprintf("%#x", uint32(a))
}

// actionString returns the name of k as a seccomp action, if it has one.
func actionString(k uint32) (string, bool) {
	a := Action(k)
	for _, n := range actionNames {
		if a.Kind() != n.kind {
			continue
		}
		if a.Data() == 0 && !n.withData {
			return n.name, true
		}
		return fmt.Sprintf("%s(%d)", n.name, a.Data()), true
	}
	return "", false
}

// Offsets in struct seccomp_data (include/uapi/linux/seccomp.h) of the
// 32-bit words that a filter can load. The offsets of the halves of 64-bit
// fields assume a little-endian machine; see [ArgLow].
const (
	// SeccompDataSize is sizeof(struct seccomp_data); BPF_LEN loads it.
	SeccompDataSize = 64
	// OffsetNr is the offset of the system call number (int nr).
	OffsetNr uint32 = 0
	// OffsetArch is the offset of the AUDIT_ARCH_* value (__u32 arch).
	OffsetArch uint32 = 4
	// OffsetIPLow is the offset of the low half of instruction_pointer on a
	// little-endian machine.
	OffsetIPLow uint32 = 8
	// OffsetIPHigh is the offset of the high half of instruction_pointer on a
	// little-endian machine.
	OffsetIPHigh uint32 = 12
	// OffsetArgs is the offset of args[0].
	OffsetArgs uint32 = 16
	// NumArgs is the number of system call arguments in seccomp_data.
	NumArgs = 6
)

// ArgLow returns the offset of the low 32 bits of system call argument i
// (0 to 5) on a little-endian machine: 16+8*i. Comparing only the low half is
// right for arguments that the kernel truncates to int. ArgLow panics if i is
// out of range.
func ArgLow(i int) uint32 {
	if i < 0 || i >= NumArgs {
		panic(fmt.Sprintf("bpfasm: seccomp argument index %d out of range", i))
	}
	return OffsetArgs + 8*uint32(i)
}

// ArgHigh returns the offset of the high 32 bits of system call argument i
// (0 to 5) on a little-endian machine: 20+8*i. ArgHigh panics if i is out of
// range.
func ArgHigh(i int) uint32 { return ArgLow(i) + 4 }

// SeccompData is struct seccomp_data from include/uapi/linux/seccomp.h, the
// input of a seccomp filter.
type SeccompData struct {
	// Nr is the system call number.
	Nr int32
	// Arch is the AUDIT_ARCH_* value of the system call convention.
	Arch uint32
	// IP is the instruction pointer at the time of the system call.
	IP uint64
	// Args are the system call arguments, unmasked.
	Args [NumArgs]uint64
}

// Marshal returns the 64-byte little-endian encoding of d, the buffer that
// [Run] and [Interpreter.Run] read.
func (d SeccompData) Marshal() []byte {
	var b [SeccompDataSize]byte
	d.put(&b)
	return b[:]
}

// put writes the little-endian encoding of d into b.
func (d *SeccompData) put(b *[SeccompDataSize]byte) {
	le := binary.LittleEndian
	le.PutUint32(b[0:], uint32(d.Nr))
	le.PutUint32(b[4:], d.Arch)
	le.PutUint64(b[8:], d.IP)
	for i, a := range d.Args {
		le.PutUint64(b[16+8*i:], a)
	}
}

// Unmarshal sets d from the 64-byte little-endian encoding in b. It returns
// an error wrapping [ErrDataSize] if b is not 64 bytes long.
func (d *SeccompData) Unmarshal(b []byte) error {
	if len(b) != SeccompDataSize {
		return fmt.Errorf("%w: got %d bytes", ErrDataSize, len(b))
	}
	le := binary.LittleEndian
	d.Nr = int32(le.Uint32(b[0:]))
	d.Arch = le.Uint32(b[4:])
	d.IP = le.Uint64(b[8:])
	for i := range d.Args {
		d.Args[i] = le.Uint64(b[16+8*i:])
	}
	return nil
}

// fieldName returns a description of the seccomp_data word at offset off
// (little-endian layout), such as "nr" or "args[1] high", or "".
func fieldName(off uint32) string {
	if off >= SeccompDataSize || off%4 != 0 {
		return ""
	}
	switch off {
	case OffsetNr:
		return "nr"
	case OffsetArch:
		return "arch"
	case OffsetIPLow:
		return "ip"
	case OffsetIPHigh:
		return "ip high"
	}
	i := (off - OffsetArgs) / 8
	if (off-OffsetArgs)%8 == 0 {
		return fmt.Sprintf("args[%d]", i)
	}
	return fmt.Sprintf("args[%d] high", i)
}
