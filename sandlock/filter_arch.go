package sandlock

import (
	"runtime"
	"sync"
)

// Values from include/uapi/linux/audit.h and arch/x86/include/uapi/asm/unistd.h.
const (
	auditArchX86_64  = 0xc000003e // AUDIT_ARCH_X86_64: amd64 and x32
	auditArchI386    = 0x40000003 // AUDIT_ARCH_I386: int 0x80 from any x86 process
	auditArchAArch64 = 0xc00000b7 // AUDIT_ARCH_AARCH64
	auditArchARM     = 0x40000028 // AUDIT_ARCH_ARM: the compat entry of arm64
	x32SyscallBit    = 0x40000000 // __X32_SYSCALL_BIT
)

// filterArch is one architecture the filter compiler can target. Filters are
// plain data, so a filter for either architecture can be compiled (and run
// in the interpreter) anywhere.
type filterArch struct {
	goarch string
	// audit is the AUDIT_ARCH_* value of the native system call entry;
	// every other value (the compat entry) is killed.
	audit uint32
	// compat is the AUDIT_ARCH_* value of the 32-bit compat entry, for
	// tests and listings.
	compat uint32
	// x32 is set on amd64, where numbers with x32SyscallBit enter the x32
	// ABI with the native AUDIT_ARCH value.
	x32 bool
	// names maps numbers to names ("" where there is no system call).
	names []string
	// numbers maps names to numbers.
	numbers map[string]int
}

// maxNr is the highest system call number the table knows. The filter
// returns ENOSYS for anything above it.
func (a *filterArch) maxNr() int { return len(a.names) - 1 }

// nr returns the number of the named system call, if the architecture has
// it.
func (a *filterArch) nr(name string) (int, bool) {
	n, ok := a.numbers[name]
	return n, ok
}

// name returns the name of system call nr, or "".
func (a *filterArch) name(nr int) string {
	if nr < 0 || nr >= len(a.names) {
		return ""
	}
	return a.names[nr]
}

func newFilterArch(goarch string, audit, compat uint32, x32 bool, names []string) *filterArch {
	a := &filterArch{goarch: goarch, audit: audit, compat: compat, x32: x32, names: names,
		numbers: make(map[string]int, len(names))}
	for nr, n := range names {
		if n != "" {
			a.numbers[n] = nr
		}
	}
	return a
}

// filterArches are the architectures with a system call table, by GOARCH.
var filterArches = sync.OnceValue(func() map[string]*filterArch {
	return map[string]*filterArch{
		"amd64": newFilterArch("amd64", auditArchX86_64, auditArchI386, true, syscallNamesAMD64[:]),
		"arm64": newFilterArch("arm64", auditArchAArch64, auditArchARM, false, syscallNamesARM64[:]),
	}
})

// archFor returns the architecture for goarch ("" means the running one),
// or nil when there is no table for it.
func archFor(goarch string) *filterArch {
	if goarch == "" {
		goarch = runtime.GOARCH
	}
	return filterArches()[goarch]
}

// knownSyscall reports whether name is a system call of any architecture
// with a table. Policies are portable: a name that exists on amd64 only
// ("open", "fork", "iopl") is accepted everywhere and denies nothing on an
// architecture that does not have that system call.
func knownSyscall(name string) bool {
	for _, a := range filterArches() {
		if _, ok := a.numbers[name]; ok {
			return true
		}
	}
	return false
}
