package testelf

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
)

// ExitProgram returns an ELF64 executable for GOARCH that exits with code.
func ExitProgram(code uint8) ([]byte, error) {
	var machine uint16
	var text []byte
	switch runtime.GOARCH {
	case "amd64":
		machine = 62 // EM_X86_64
		text = []byte{
			0xbf, code, 0, 0, 0, // mov edi, code
			0xb8, 231, 0, 0, 0, // mov eax, SYS_exit_group
			0x0f, 0x05, // syscall
		}
	case "arm64":
		machine = 183                                                            // EM_AARCH64
		text = binary.LittleEndian.AppendUint32(nil, 0xd2800000|uint32(code)<<5) // movz x0, #code
		text = binary.LittleEndian.AppendUint32(text, 0xd2800000|94<<5|8)        // movz x8, #SYS_exit_group
		text = binary.LittleEndian.AppendUint32(text, 0xd4000001)                // svc #0
	default:
		return nil, fmt.Errorf("testelf: no program for GOARCH %s", runtime.GOARCH)
	}
	return build(machine, text), nil
}

// build wraps text in a static ELF64 executable for machine, loaded at
// 0x400000 with one PT_LOAD segment (read and execute) and its entry
// point at the start of text.
func build(machine uint16, text []byte) []byte {
	const (
		ehsize = 64
		phsize = 56
		vaddr  = 0x400000
	)
	size := uint64(ehsize + phsize + len(text))
	le := binary.LittleEndian
	b := []byte{0x7f, 'E', 'L', 'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	b = le.AppendUint16(b, 2) // ET_EXEC
	b = le.AppendUint16(b, machine)
	b = le.AppendUint32(b, 1)                   // EV_CURRENT
	b = le.AppendUint64(b, vaddr+ehsize+phsize) // e_entry
	b = le.AppendUint64(b, ehsize)              // e_phoff
	b = le.AppendUint64(b, 0)                   // e_shoff
	b = le.AppendUint32(b, 0)                   // e_flags
	b = le.AppendUint16(b, ehsize)              // e_ehsize
	b = le.AppendUint16(b, phsize)              // e_phentsize
	b = le.AppendUint16(b, 1)                   // e_phnum
	b = le.AppendUint16(b, 0)                   // e_shentsize
	b = le.AppendUint16(b, 0)                   // e_shnum
	b = le.AppendUint16(b, 0)                   // e_shstrndx
	b = le.AppendUint32(b, 1)                   // PT_LOAD
	b = le.AppendUint32(b, 5)                   // PF_R|PF_X
	b = le.AppendUint64(b, 0)                   // p_offset
	b = le.AppendUint64(b, vaddr)               // p_vaddr
	b = le.AppendUint64(b, vaddr)               // p_paddr
	b = le.AppendUint64(b, size)                // p_filesz
	b = le.AppendUint64(b, size)                // p_memsz
	b = le.AppendUint64(b, 0x1000)              // p_align
	return append(b, text...)
}

// WriteExitProgram writes ExitProgram(code) as an executable file in dir and
// returns its path.
func WriteExitProgram(dir string, code uint8) (string, error) {
	b, err := ExitProgram(code)
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, fmt.Sprintf("exit%d", code))
	return p, os.WriteFile(p, b, 0o755)
}
