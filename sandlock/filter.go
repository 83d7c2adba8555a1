//go:build linux

package sandlock

import (
	"golang.org/x/sys/unix"

	"github.com/sandlock-go/sandlock-go/bpfasm"
)

// seccompProgram compiles the policy's seccomp filter for the child (see
// filter_compile.go for its layout), or returns nil when the sandbox
// installs none (test hooks may also replace it by an allow-all filter).
//
// Preconditions: p.Validate() is nil.
func (p *Policy) seccompProgram() ([]unix.SockFilter, error) {
	switch {
	case p.seccomp.disabled:
		return nil, nil
	case p.seccomp.allowAll:
		return []unix.SockFilter{{Code: 0x06, K: unix.SECCOMP_RET_ALLOW}}, nil // ret ALLOW
	}
	cfg, err := p.filterConfig("", false)
	if err != nil {
		return nil, err
	}
	f, err := compileFilterCached(cfg)
	if err != nil {
		return nil, err
	}
	return sockFilters(f.prog), nil
}

// sockFilters converts a program to the kernel's struct sock_filter.
func sockFilters(prog []bpfasm.Instruction) []unix.SockFilter {
	out := make([]unix.SockFilter, len(prog))
	for i, ins := range prog {
		out[i] = unix.SockFilter{Code: ins.Code, Jt: ins.Jt, Jf: ins.Jf, K: ins.K}
	}
	return out
}
