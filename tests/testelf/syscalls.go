package testelf

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
)

// Entry is a way of making a system call from an amd64 program.
type Entry string

// System call entries of SyscallProgram.
const (
	// Native makes getpid with the syscall instruction and number 39.
	Native Entry = "native"
	// X32 makes getpid through the x32 ABI: the syscall instruction with
	// number 39 | 0x40000000 (__X32_SYSCALL_BIT). seccomp sees it with
	// AUDIT_ARCH_X86_64 and the x32 bit in nr, whether or not the kernel
	// has CONFIG_X86_X32_ABI.
	X32 Entry = "x32"
	// Int80 makes getpid through the i386 entry: int 0x80 with number 20.
	// seccomp sees it with AUDIT_ARCH_I386. Kernels without IA32
	// emulation deliver SIGSEGV instead.
	Int80 Entry = "int80"
)

// SyscallProgram returns an amd64 executable that makes one getpid through
// entry and then exits with status 0 through the native entry. It is only
// available on amd64.
func SyscallProgram(entry Entry) ([]byte, error) {
	if runtime.GOARCH != "amd64" {
		return nil, fmt.Errorf("testelf: no %s program for GOARCH %s", entry, runtime.GOARCH)
	}
	var text []byte
	switch entry {
	case Native:
		text = []byte{0xb8, 39, 0, 0, 0, 0x0f, 0x05} // mov eax, 39; syscall
	case X32:
		text = []byte{0xb8, 39, 0, 0, 0x40, 0x0f, 0x05} // mov eax, 0x40000027; syscall
	case Int80:
		text = []byte{0xb8, 20, 0, 0, 0, 0xcd, 0x80} // mov eax, 20; int 0x80
	default:
		return nil, fmt.Errorf("testelf: unknown entry %q", entry)
	}
	text = append(text,
		0xbf, 0, 0, 0, 0, // mov edi, 0
		0xb8, 231, 0, 0, 0, // mov eax, SYS_exit_group
		0x0f, 0x05, // syscall
	)
	return build(62, text), nil // EM_X86_64
}

// WriteSyscallProgram writes SyscallProgram(entry) as an executable file in
// dir and returns its path.
func WriteSyscallProgram(dir string, entry Entry) (string, error) {
	b, err := SyscallProgram(entry)
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, "getpid-"+string(entry))
	return p, os.WriteFile(p, b, 0o755)
}
