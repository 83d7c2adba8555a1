//go:build linux

package sandlock

import "golang.org/x/sys/unix"

// seccompProgram compiles the policy's seccomp filter for the child, or
// returns nil when the sandbox installs none. Placeholder until the filter
// compiler lands (issue: seccomp).
func (p *Policy) seccompProgram() ([]unix.SockFilter, error) {
	return nil, nil
}
